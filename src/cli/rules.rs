//! `flowsentry rules check` and `flowsentry rules list`: rule files checked with every error
//! as FILE:LINE:COLUMN, and the metrics and rules a file holds.
//!
//! In: rule files (or the embedded pack). Out: stdout; exit 2 when a file has errors.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Subcommand;

use flowsentry::metrics::Metric;
use flowsentry::rules::{self, fmt_duration};

#[derive(Subcommand)]
pub enum RulesCmd {
    /// Check rule files; prints every error as FILE:LINE:COLUMN and exits 2 if any.
    Check { files: Vec<PathBuf> },
    /// List the metrics and the rules of a file (default: the embedded pack).
    List { file: Option<PathBuf> },
}

pub fn rules_check(files: Vec<PathBuf>) -> Result<ExitCode> {
    if files.is_empty() {
        bail!("name at least one rule file (the embedded pack is `flowsentry rules list`)");
    }
    let mut bad = 0;
    let mut out = std::io::stdout().lock();
    for p in &files {
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: cannot read: {e}", p.display());
                bad += 1;
                continue;
            }
        };
        match rules::parse_rules(&text, &p.display().to_string()) {
            Ok(rs) => writeln!(
                out,
                "{}: ok, {} rules ({} window states)",
                p.display(),
                rs.rules.len(),
                rs.specs.len()
            )?,
            Err(errs) => {
                for e in &errs {
                    writeln!(out, "{e}")?;
                }
                bad += errs.len();
            }
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

pub fn rules_list(file: Option<PathBuf>) -> Result<ExitCode> {
    let rs = crate::load_rules(file.as_ref())?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Metrics a condition can read (per key, over the rule's window, after its filter):"
    )?;
    for m in Metric::ALL {
        writeln!(out, "  {:<20} {}", m.name(), m.describe())?;
    }
    writeln!(out, "\nRules in {}:", rs.source)?;
    for r in &rs.rules {
        writeln!(
            out,
            "  {:<12} sid {:<8} sev {} by {:<3} window {:<5} slide {:<5} cooldown {:<5} {}",
            r.id,
            r.signature_id,
            r.severity,
            r.group_by.name(),
            fmt_duration(r.window_ns),
            fmt_duration(r.slide_ns),
            fmt_duration(r.cooldown_ns),
            r.condition_text
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
