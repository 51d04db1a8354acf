//! SIGHUP re-reads the rule file during a run: rules kept unchanged keep their windows (their
//! alerts are those of a run without the reload), changed and new rules start fresh, removed
//! ones stop, and a file that does not load is rejected while the old rules keep running.
//!
//! The demo capture (90 s of capture time) is replayed at 10x, so the run takes about 9 s
//! and the signal, sent 3 s in, lands near capture time 30 s: after the port scan and host
//! sweep alerts, before the floods (46 s and later). Unchanged rules must give the same alerts
//! wherever the reload lands; the checks on changed and removed rules leave seconds of margin.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::eve;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowsentry"))
}

fn demo() -> PathBuf {
    common::repo().join("captures/demo.pcap")
}

/// A rule over all traffic with a 90 s window: it fires once the capture's packet count
/// passes 15,000, 66 s in, well after the reload, so it fires in time only if its
/// window kept the packets from before the reload. `volume_twin`, the same rule under
/// another name, shares its window state (and is removed by the edit).
fn volume(id: &str) -> String {
    format!(
        "\n[[rule]]\nid = \"{id}\"\ngroup_by = \"all\"\nwindow = \"90s\"\nslide = \"1s\"\n\
         cooldown = \"1h\"\ncondition = \"packets >= 15000\"\n"
    )
}

const NEW_RULE: &str = r#"
[[rule]]
id = "new_rule"
group_by = "all"
window = "1s"
slide = "1s"
cooldown = "1h"
condition = "packets >= 1"
"#;

const UDP_FLOOD: &str = "(pps >= 2000 or bps >= 50M) and distinct_dst_hosts <= 10";

fn pack() -> String {
    flowsentry::rules::DEFAULT_RULES.to_string() + &volume("volume") + &volume("volume_twin")
}

/// The pack after the edit: `udp_flood` changed (it can no longer fire on the demo; so
/// `port_scan` and `block_scan`, which yield to it, start fresh too), `volume_twin` removed, `new_rule`
/// added; everything else unchanged.
fn edited() -> String {
    let p = flowsentry::rules::DEFAULT_RULES.to_string() + &volume("volume");
    assert!(
        p.contains(UDP_FLOOD),
        "the default pack's udp_flood changed"
    );
    p.replace(UDP_FLOOD, "pps >= 100000000") + NEW_RULE
}

/// Replay the demo with `rules`, at 10x when `hup` (then: after 3 s, write `hup` to the
/// rule file and send SIGHUP). The alerts, parsed (each checked against the EVE schema),
/// the summary and the process output.
fn run(dir: &Path, rules: &str, hup: Option<&str>) -> (Vec<Value>, Value, Output) {
    let r = dir.join("rules.toml");
    let a = dir.join("alerts.jsonl");
    let s = dir.join("summary.json");
    std::fs::write(&r, rules).unwrap();
    let mut cmd = bin();
    cmd.args(["replay", "--no-tui", "--shards", "2", "--rules"])
        .arg(&r)
        .arg("--alerts")
        .arg(&a)
        .arg("--summary")
        .arg(&s)
        .arg(demo())
        .stderr(std::process::Stdio::piped());
    if hup.is_some() {
        cmd.args(["--speed", "10"]);
    }
    let child = cmd.spawn().unwrap();
    if let Some(next) = hup {
        std::thread::sleep(Duration::from_secs(3));
        std::fs::write(&r, next).unwrap();
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    }
    let out = child.wait_with_output().unwrap();
    let alerts = std::fs::read_to_string(&a)
        .unwrap()
        .lines()
        .map(eve::alert)
        .collect();
    let summary = serde_json::from_str(&std::fs::read_to_string(&s).unwrap()).unwrap();
    (alerts, summary, out)
}

fn rule(a: &Value) -> &str {
    a["alert"]["rule"].as_str().unwrap_or("?")
}

fn of<'a>(alerts: &'a [Value], ids: &[&str]) -> Vec<&'a Value> {
    alerts.iter().filter(|a| ids.contains(&rule(a))).collect()
}

/// Seconds from the capture's start (2026-01-01T00:00:00Z) to the alert's window end.
fn at_s(a: &Value) -> f64 {
    let t = a["timestamp"].as_str().unwrap();
    let hms = &t[11..26];
    let p: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    p[0] * 3600.0 + p[1] * 60.0 + p[2]
}

#[test]
fn a_reload_keeps_the_windows_of_unchanged_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _, out) = run(dir.path(), &pack(), None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (got, summary, out) = run(dir.path(), &pack(), Some(&edited()));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(summary["rule_reloads"], 1, "{err}");
    assert!(err.contains("rules reloaded from"), "{err}");
    assert!(
        err.contains(
            "4 started fresh (port_scan, block_scan, udp_flood, new_rule), 1 removed (volume_twin)"
        ),
        "{err}"
    );

    // Unchanged rules: the same alerts, byte for byte, as without the reload.
    let pack = flowsentry::rules::default_rules();
    let unchanged: Vec<&str> = pack
        .rules
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !["udp_flood", "port_scan", "block_scan"].contains(id))
        .chain(["volume"])
        .collect();
    let (b, g) = (of(&base, &unchanged), of(&got, &unchanged));
    let brief = |v: &[&Value]| -> Vec<String> {
        v.iter()
            .map(|a| {
                format!(
                    "{} {} {}",
                    a["timestamp"],
                    rule(a),
                    a["alert"]["context"]["metrics"]
                )
            })
            .collect()
    };
    assert_eq!(brief(&g), brief(&b), "alerts of the unchanged rules differ");
    assert!(
        g == b,
        "alerts of the unchanged rules differ (in evidence or ids)"
    );
    let volume = of(&base, &["volume"]);
    assert_eq!(volume.len(), 1, "the 90 s rule fires once");
    assert!(
        at_s(volume[0]) > 40.0,
        "it fires after the reload point: {}",
        at_s(volume[0])
    );
    assert!(
        b.len() >= 5,
        "the unchanged rules fire before and after the reload: {b:?}"
    );

    // Changed, removed: their alerts after the reload are gone; new: it starts with it.
    for id in ["udp_flood", "volume_twin"] {
        assert_eq!(of(&base, &[id]).len(), 1, "{id} fires without the reload");
        assert!(of(&got, &[id]).is_empty(), "{id} fired after the reload");
    }
    let new = of(&got, &["new_rule"]);
    assert_eq!(new.len(), 1, "the new rule fires once (cooldown 1 h)");
    assert!(at_s(new[0]) > 15.0, "from the reload on: {}", at_s(new[0]));
    assert_eq!(summary["alerts_by_rule"]["new_rule"], 1);
}

#[test]
fn a_bad_rule_file_is_rejected_and_the_old_rules_keep_running() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _, _) = run(dir.path(), &pack(), None);
    let bad = "[[rule]]\nid = \"x\"\ncondition = \"packets >>> 1\"\nwindow = \"1s\"\n";
    let (got, summary, out) = run(dir.path(), &pack(), Some(bad));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "a rejected reload loses nothing: {err}"
    );
    assert_eq!(summary["rule_reloads"], 0);
    assert_eq!(summary["rule_reloads_rejected"], 1);
    assert!(err.contains("rule reload rejected"), "{err}");
    assert!(
        err.contains("rules.toml:3:"),
        "the error names file and line: {err}"
    );
    assert!(got == base, "the old rules ran on, unchanged");
}
