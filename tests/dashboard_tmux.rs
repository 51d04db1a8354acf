//! The terminal dashboard end to end: the real binary in a real terminal (tmux).
//!
//! A synthetic port scan is replayed at 5x under the dashboard in a 120x40 tmux pane; the
//! screen is read with `capture-pane` until the attacker's address, rates and the
//! `port_scan` alert are on it and the replay has finished; the pane is resized to 80x24
//! and read again; `q` quits. The process must exit 0, leave the alternate screen (the
//! pane shows the shell and the summary, not the dashboard) and have written the alert
//! file. A second run quits while the replay is still going, with `--alerts -`: the alerts
//! must not reach the screen as JSON.
//!
//! Needs tmux: skipped with a message when it is missing, unless FLOWSENTRY_REQUIRE_ALL=1
//! (CI), where that fails. Each test uses its own tmux server (`-S`, a socket in the test's
//! temporary directory), killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_flowsentry");

fn tmux_available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("FLOWSENTRY_REQUIRE_ALL").as_deref() == Ok("1") {
            panic!("tmux is required (FLOWSENTRY_REQUIRE_ALL=1); scripts/setup.sh installs it");
        }
        eprintln!("skipped: tmux is not installed (scripts/setup.sh installs it)");
    }
    ok
}

/// A tmux server of our own with one session; killed when dropped, even on a panic.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, w: u16, h: u16) -> Tmux {
        let t = Tmux {
            socket: dir.join("tmux.sock"),
        };
        // A plain shell with a known prompt; no user configuration.
        let out = t.cmd(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "dash",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
            "env",
            "PS1=$ ",
            "sh",
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        t
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running tmux")
    }

    fn send(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "dash"];
        a.extend_from_slice(keys);
        let out = self.cmd(&a);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
    }

    /// Type a command line into the shell.
    fn type_line(&self, line: &str) {
        self.send(&["-l", line]);
        self.send(&["Enter"]);
    }

    fn screen(&self) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-t", "dash"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Read the screen until `ok` holds; panic with the last screen after `timeout`.
    fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            if start.elapsed() > timeout {
                panic!("timed out waiting for {what}; the screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn resize(&self, w: u16, h: u16) {
        let out = self.cmd(&[
            "resize-window",
            "-t",
            "dash",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
        ]);
        assert!(out.status.success(), "tmux resize-window: {out:?}");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn synth(dir: &Path, scenario: &str) -> PathBuf {
    let out = dir.join(format!("{scenario}.pcap"));
    let st = Command::new(BIN)
        .args(["synth", "--scenario", scenario, "--out"])
        .arg(&out)
        .output()
        .expect("running flowsentry synth");
    assert!(st.status.success(), "synth: {st:?}");
    out
}

fn wait_file(p: &Path, timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(p) {
            if s.ends_with('\n') {
                return s;
            }
        }
        assert!(
            start.elapsed() < timeout,
            "{} did not appear in {timeout:?}",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

#[test]
fn replay_under_the_dashboard_then_quit_restores_the_terminal() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 24 s of capture time: a SYN scan of 1000 ports from 192.0.2.10, light background.
    let pcap = synth(dir.path(), "port-scan");
    let alerts = dir.path().join("alerts.jsonl");
    let exit = dir.path().join("exit");
    let t = Tmux::start(dir.path(), 120, 40);
    t.type_line(&format!(
        "{} replay {} --speed 5 --shards 2 --alerts {}; echo EXIT=$? > {}",
        quote(Path::new(BIN)),
        quote(&pcap),
        quote(&alerts),
        quote(&exit)
    ));

    // While it runs: the header, rates, the attacker in the sources table.
    let s = t.wait_for("the running dashboard", Duration::from_secs(60), |s| {
        s.contains("top sources") && s.contains("192.0.2.10") && s.contains("pkt/s")
    });
    assert!(s.contains("replay"), "{s}");

    // Finished: the final state stays on the screen until q.
    let s = t.wait_for(
        "the finished replay with its alert",
        Duration::from_secs(90),
        |s| s.contains("FINISHED") && s.lines().any(|l| l.contains("failed_ports=")),
    );
    let alert_row = s
        .lines()
        .find(|l| l.contains("port_scan") && l.contains("failed_ports="))
        .unwrap_or_else(|| panic!("no port_scan alert row with its metric:\n{s}"));
    assert!(alert_row.contains("192.0.2.10"), "{alert_row}");
    let source_row = s
        .lines()
        .find(|l| l.trim_start_matches('│').starts_with("192.0.2.10"))
        .unwrap_or_else(|| panic!("no source row for 192.0.2.10:\n{s}"));
    assert!(
        source_row.contains("1000"),
        "1000 distinct ports: {source_row}"
    );
    assert!(s.contains("k bit/s") || s.contains("M bit/s"), "{s}");
    assert!(s.lines().count() >= 39, "{s}");
    assert!(!exit.exists(), "the dashboard stays up until q");

    // Filter to the scanner, then open the details of its newest alert.
    t.send(&["/"]);
    t.send(&["-l", "192.0.2.0/28"]);
    t.send(&["Enter"]);
    t.wait_for("the filter", Duration::from_secs(10), |s| {
        s.contains("filter 192.0.2.0/28") && !s.contains("203.0.113.10 ")
    });
    t.send(&["Tab", "Enter"]);
    t.wait_for("the alert's details", Duration::from_secs(10), |s| {
        s.contains("alert port_scan on 192.0.2.10") && s.contains("distinct_failed_ports >= 100")
    });
    t.send(&["Escape"]);

    // Down to 80x24: still drawn, the essentials still there.
    t.resize(80, 24);
    let s = t.wait_for("the dashboard at 80x24", Duration::from_secs(10), |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines.first().is_some_and(|l| l.contains("flowsentry"))
            && lines.iter().any(|l| l.contains("top sources"))
            && s.contains("port_scan")
    });
    assert!(
        s.lines().all(|l| l.chars().count() <= 80),
        "a line wider than the pane:\n{s}"
    );

    // And back up to 120x40.
    t.resize(120, 40);
    t.wait_for("the dashboard at 120x40", Duration::from_secs(10), |s| {
        s.lines()
            .any(|l| l.chars().count() > 100 && l.contains("rule hits"))
    });

    t.send(&["q"]);
    let code = wait_file(&exit, Duration::from_secs(30));
    assert_eq!(code.trim(), "EXIT=0");
    // The alternate screen is left: the shell and the summary, not the dashboard.
    let s = t.wait_for("the shell after exit", Duration::from_secs(10), |s| {
        s.contains("flowsentry summary") && s.lines().any(|l| l.trim() == "$")
    });
    assert!(
        !s.contains("top sources (") && !s.contains("FINISHED"),
        "{s}"
    );
    assert!(
        s.contains("port_scan 1"),
        "the summary's alerts by rule:\n{s}"
    );
    let written = std::fs::read_to_string(&alerts).unwrap();
    assert!(
        written
            .lines()
            .any(|l| l.contains("\"rule\":\"port_scan\"") && l.contains("192.0.2.10")),
        "{written}"
    );
    // The shell works again (the terminal is not left in raw mode).
    t.type_line("echo back-in-the-$((20+22))-shell");
    t.wait_for("the shell to answer", Duration::from_secs(10), |s| {
        s.contains("back-in-the-42-shell")
    });
}

#[test]
fn quitting_mid_replay_stops_the_pipeline_and_keeps_alerts_off_the_screen() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 20 s of capture time at 1x: still running when q arrives.
    let pcap = synth(dir.path(), "syn-flood");
    let exit = dir.path().join("exit");
    let summary = dir.path().join("summary.json");
    let t = Tmux::start(dir.path(), 100, 30);
    t.type_line(&format!(
        "{} replay {} --speed 1 --summary {}; echo EXIT=$? > {}",
        quote(Path::new(BIN)),
        quote(&pcap),
        quote(&summary),
        quote(&exit)
    ));
    t.wait_for("the running dashboard", Duration::from_secs(60), |s| {
        s.contains("RUNNING") && s.contains("alerts: dashboard only")
    });
    t.send(&["q"]);
    let code = wait_file(&exit, Duration::from_secs(30));
    // The replay read part of its input: a stop, not a complete run (as Ctrl-C).
    assert_eq!(code.trim(), "EXIT=3");
    let s = t.wait_for("the summary", Duration::from_secs(10), |s| {
        s.contains("flowsentry summary") && !s.contains("RUNNING")
    });
    assert!(
        !s.contains("\"event_type\""),
        "alert JSON on the screen:\n{s}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let wall = json["wall_seconds"].as_f64().unwrap();
    assert!(wall < 15.0, "q stopped the replay early (wall {wall} s)");
    let st = &json["stopped_early"];
    let read = st["input_bytes_read"].as_u64().unwrap();
    assert!(read < st["input_bytes"].as_u64().unwrap(), "{json}");
}
