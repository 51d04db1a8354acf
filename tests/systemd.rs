//! dist/flowsentry.service: `systemd-analyze verify` accepts it without a warning, and it
//! runs the documented command. Without systemd-analyze (package `systemd`) the test
//! skips, or fails under `FLOWSENTRY_REQUIRE_ALL=1` (CI).

mod common;

use std::process::Command;

const EXEC_START: &str =
    "ExecStart=/usr/local/bin/flowsentry live --config /etc/flowsentry/flowsentry.toml --no-tui";

fn unit() -> String {
    std::fs::read_to_string(common::repo().join("dist/flowsentry.service")).unwrap()
}

#[test]
fn the_unit_runs_the_documented_command() {
    let text = unit();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ExecStart="))
        .collect();
    assert_eq!(lines, [EXEC_START]);
    for want in [
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillSignal=SIGTERM",
        "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN",
        "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
    ] {
        assert!(text.lines().any(|l| l == want), "missing {want}");
    }
    // Exit status 3 means records were lost: not a success (see the unit's comment).
    assert!(!text.lines().any(|l| l.starts_with("SuccessExitStatus=")));
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    if !analyze.is_ok_and(|o| o.status.success()) {
        common::required("systemd-analyze (package systemd) is missing");
        return;
    }
    // verify checks that ExecStart's binary exists and is executable, and
    // /usr/local/bin/flowsentry need not be installed here: the copy verified runs the
    // freshly built binary instead; every other line is the shipped one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flowsentry.service");
    let built = env!("CARGO_BIN_EXE_flowsentry");
    let text = unit().replace(
        "ExecStart=/usr/local/bin/flowsentry ",
        &format!("ExecStart={built} "),
    );
    assert!(text.contains(built));
    std::fs::write(&path, text).unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "systemd-analyze verify failed:\n{err}");
    // Unknown or invalid lines are only warned about (exit status 0): none may name the unit.
    let about_unit: Vec<&str> = err.lines().filter(|l| l.contains("flowsentry")).collect();
    assert!(
        about_unit.is_empty(),
        "warnings:\n{}",
        about_unit.join("\n")
    );
}
