//! `--config FILE` end to end, through the built binary: options from the file are used,
//! the command line wins, and errors name FILE:LINE:COLUMN with exit status 2. (The merge
//! itself, and the shipped dist/flowsentry.toml for every command, are unit-tested in
//! src/cli/config/tests.rs.)

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowsentry"))
}

/// `flowsentry ARGS... --config DIR/c.toml` with `text` as the file.
fn run(dir: &Path, text: &str, args: &[&str]) -> Output {
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, text).unwrap();
    bin().args(args).arg("--config").arg(&cfg).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn summary_shards(p: &Path) -> u64 {
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    s["shards"].as_u64().expect("shards in the summary")
}

#[test]
fn replay_takes_its_options_from_the_file_and_the_command_line_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (alerts, summary) = (dir.path().join("a.jsonl"), dir.path().join("s.json"));
    let text = format!(
        "# the embedded demo capture (no files)\nalerts = {:?}\nsummary = {:?}\nshards = 2\n\
         no-tui = true\nquiet = true\n",
        alerts.display().to_string(),
        summary.display().to_string()
    );
    let o = run(dir.path(), &text, &["replay"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "alerts went to the file, not stdout");
    let n = std::fs::read_to_string(&alerts).unwrap().lines().count();
    assert_eq!(n, 6, "the demo's six alerts");
    assert_eq!(summary_shards(&summary), 2);

    std::fs::remove_file(&summary).unwrap();
    let o = run(dir.path(), &text, &["replay", "--shards", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(summary_shards(&summary), 1, "the command line wins");
}

#[test]
fn an_unknown_key_is_an_error_at_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        "shards = 2\nquiet = true\nshard = 3\n",
        &["replay"],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("c.toml:3:1: unknown key `shard`"), "{e}");
    assert!(e.contains("did you mean `shards`?"), "{e}");
}

#[test]
fn a_bad_value_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), "quiet = true\nshards = \"many\"\n", &["replay"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("c.toml:2:10: key `shards`: invalid value 'many'"),
        "{e}"
    );
    // A value of the wrong type is caught before clap sees it.
    let o = run(dir.path(), "no-tui = 1\n", &["replay"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("c.toml:1:10: `no-tui` takes true or false"),
        "{}",
        stderr(&o)
    );
    // A syntax error too.
    let o = run(dir.path(), "quiet = true\nshards = = 2\n", &["replay"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("c.toml:2:"), "{}", stderr(&o));
}

#[test]
fn other_commands_tables_are_checked_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("s.json");
    let text = format!(
        "no-tui = true\nquiet = true\nalerts = {:?}\nsummary = {:?}\n\n[collect]\nlisten = [\"0.0.0.0:2055\"]\n",
        dir.path().join("a.jsonl").display().to_string(),
        summary.display().to_string()
    );
    let o = run(dir.path(), &text, &["replay"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(summary.exists());

    let o = run(
        dir.path(),
        "[collect]\nlistne = [\"0.0.0.0:2055\"]\n",
        &["replay"],
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "a table is checked whichever command runs"
    );
    assert!(stderr(&o).contains("c.toml:2:1: unknown key `listne` for `flowsentry collect`"));

    let o = run(
        dir.path(),
        "quiet = true\nlisten = [\"0.0.0.0:2055\"]\n",
        &["replay"],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("c.toml:2:1: unknown key `listen` for `flowsentry replay`"),
        "{e}"
    );
    assert!(e.contains("put it under [collect]"), "{e}");
}

#[test]
fn secrets_are_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[kafka-properties]\n\"sasl.password\" = { nested = \"hunter2\" }\n";
    let o = run(dir.path(), text, &["replay"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("c.toml:2:1: Kafka property `sasl.password`"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
}

#[test]
fn the_help_explains_the_option() {
    for cmd in ["replay", "live", "consume", "collect", "publish"] {
        let o = bin().args([cmd, "--help"]).output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("--config <FILE>"), "{cmd}: {out}");
        assert!(out.contains("dist/flowsentry.toml"), "{cmd}: {out}");
    }
}
