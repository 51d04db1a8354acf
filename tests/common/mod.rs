//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flowsentry::pipeline::{self, PipelineConfig};
use flowsentry::rules::{default_rules, RuleSet};
use flowsentry::sink::MemorySink;
use flowsentry::source::PcapFiles;
use flowsentry::summary::Summary;

pub mod eve;
pub mod exporters;
pub mod http;
pub mod kafka;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/captures/NAME`, or `None` (skip) when the folder is absent outside CI.
pub fn shared(name: &str) -> Option<PathBuf> {
    let p = repo().join("../shared/captures").join(name);
    if p.exists() {
        return Some(p);
    }
    required(&format!("{} is missing", p.display()));
    None
}

/// In CI (`FLOWSENTRY_REQUIRE_ALL=1`) a missing prerequisite fails the test; elsewhere the
/// test says why and returns.
pub fn required(why: &str) {
    if std::env::var("FLOWSENTRY_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("required for this test: {why}");
    }
    eprintln!("skipping: {why}");
}

pub fn replay_with(
    files: &[PathBuf],
    rules: RuleSet,
    cfg: PipelineConfig,
) -> (Summary, MemorySink) {
    let mut src = PcapFiles::open(files, None).expect("open captures");
    let out = pipeline::run(&mut src, Arc::new(rules), &cfg, MemorySink::default());
    let (summary, sink) = out.expect("replay");
    for l in &sink.lines {
        eve::alert(l);
    }
    (summary, sink)
}

/// The alert's key: the destination for `dst` rules, else the source.
pub fn key_of(j: &serde_json::Value) -> &serde_json::Value {
    if j["alert"]["context"]["group_by"] == "dst" {
        &j["dest_ip"]
    } else {
        &j["src_ip"]
    }
}

pub fn replay(file: &Path, shards: usize) -> (Summary, MemorySink) {
    replay_with(
        &[file.to_path_buf()],
        default_rules(),
        PipelineConfig {
            shards,
            ..Default::default()
        },
    )
}

/// (rule, key) of every alert.
pub fn found(sink: &MemorySink) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = sink
        .lines
        .iter()
        .map(|l| {
            let j = eve::alert(l);
            let key = key_of(&j);
            (
                j["alert"]["rule"].as_str().unwrap().to_string(),
                key.as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// `flowsentry replay FILE`: the exit status and the summary JSON.
pub fn replay_summary(file: &Path) -> (std::process::ExitStatus, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("summary.json");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_flowsentry"))
        .args([
            "replay",
            "-q",
            "--no-tui",
            "--alerts",
            "/dev/null",
            "--summary",
        ])
        .arg(&s)
        .arg(file)
        .status()
        .unwrap();
    let j = std::fs::read_to_string(&s)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (st, j)
}

/// The family a rule id names (its suffix, less a `_dst`/`_src` grouping mark);
/// reflection and amplification are one, and so are `brute_force` and `..._guessing`.
pub fn family(rule: &str) -> &str {
    if rule == "brute_force" || rule.ends_with("_guessing") {
        return "guessing";
    }
    let rule = rule.trim_end_matches("_dst").trim_end_matches("_src");
    match rule.rsplit('_').next().unwrap_or("") {
        "amplification" => "reflection",
        f => f,
    }
}
