//! `flowsentry synth`: deterministic captures with labels (the demo, the bench mixes).
//!
//! In: a scenario, a seed, a size. Out: a pcap file and its labels as JSON Lines.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use flowsentry::synth::{self, Scenario, SynthConfig};

#[derive(Args)]
pub struct SynthArgs {
    /// Scenario to generate.
    #[arg(long, value_parser = scenario)]
    pub scenario: Scenario,
    /// Output capture (classic pcap, Ethernet).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Labels (JSON Lines); default: OUT with extension .labels.jsonl.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Approximate packet count (bench, many-clients, spoofed-million, scan-heavy).
    #[arg(long, value_name = "N")]
    packets: Option<u64>,
}

fn scenario(s: &str) -> Result<Scenario, String> {
    Scenario::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        format!("unknown scenario `{s}`; known: {}", names.join(", "))
    })
}

pub fn synth_cmd(a: SynthArgs) -> Result<ExitCode> {
    let labels = a
        .labels
        .clone()
        .unwrap_or_else(|| a.out.with_extension("labels.jsonl"));
    let cfg = SynthConfig {
        scenario: a.scenario,
        seed: a.seed,
        scale: a.packets,
        ..Default::default()
    };
    let s = synth::generate(&cfg, &a.out, Some(&labels))?;
    eprintln!(
        "flowsentry: wrote {} ({} packets, {} sources, {:.1} s of capture time) and {} ({} labels)",
        a.out.display(),
        s.packets,
        s.sources,
        s.duration_ns as f64 / 1e9,
        labels.display(),
        s.labels.len()
    );
    Ok(ExitCode::SUCCESS)
}
