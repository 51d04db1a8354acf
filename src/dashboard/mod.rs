//! Dashboard: a terminal view of a running pipeline.
//!
//! In: the pipeline's [`Telemetry`](crate::telemetry::Telemetry), copied a few times per
//! second, and the rule set. Out: a screen (ratatui on crossterm) and nothing else.
//! Guarantees: the pipeline never waits for the screen: the dashboard only reads atomics
//! and copies short-lived snapshots of the rings and the source map; the pipeline runs on
//! its own threads and keeps running while the view is paused. Text that came from outside
//! the program (rule files, alert text, later packet payloads) goes through [`escape`]
//! before it reaches a terminal cell.
//!
//! Parts, by what flows through them:
//! - [`snapshot`]: telemetry -> [`Snapshot`], plain data.
//! - [`state`]: a snapshot plus the view's own state (focus, sort, filter, selection,
//!   pause, pop-ups) and the key handling; no terminal, unit-tested.
//! - [`view`]: a state -> a frame of any ratatui backend; snapshot-tested with
//!   `TestBackend`.
//! - [`run`]: the terminal: raw mode and the alternate screen, the event loop, the
//!   pipeline's thread, and restoring the terminal on exit, on error and on panic.

pub mod run;
pub mod snapshot;
pub mod state;
pub mod view;

use std::borrow::Cow;
use std::fmt::Write as _;

pub use run::{log_writer, run, run_pipeline, DashboardError};
pub use snapshot::Snapshot;
pub use state::{Action, DashState, Key, Options, Panel, SortColumn};

/// Make text safe to draw: control characters (C0, DEL, C1, so every escape sequence's
/// introducer), Unicode bidirectional overrides and other invisible format characters
/// are replaced by a visible escape (`\x1b`, `\u{202e}`); newlines and tabs too, since a
/// cell holds one line. Text without any of them is returned as it is.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        let _ = match c {
            '\n' => write!(out, "\\n"),
            '\r' => write!(out, "\\r"),
            '\t' => write!(out, "\\t"),
            c if (c as u32) < 0x100 => write!(out, "\\x{:02x}", c as u32),
            c => write!(out, "\\u{{{:x}}}", c as u32),
        };
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' // zero-width spaces and marks
            | '\u{2028}'..='\u{202e}' // line/paragraph separators, bidi embeddings/overrides
            | '\u{2060}'..='\u{206f}' // word joiner, bidi isolates, invisible operators
            | '\u{feff}' // byte order mark
            | '\u{fff9}'..='\u{fffb}' // interlinear annotations
        )
}

/// The one place the dashboard's tests build an [`Alert`](crate::alert::Alert) field by
/// field (a new field is added here); tests change fields with `..test_alert(..)`.
#[cfg(test)]
pub(crate) fn test_alert(
    rule: u16,
    key: crate::record::Addr,
    end_ns: u64,
    values: Vec<(crate::metrics::Metric, f64)>,
) -> crate::alert::Alert {
    crate::alert::Alert {
        rule,
        group_by: crate::rules::GroupBy::Src,
        flow: None,
        key,
        window_start_ns: end_ns.saturating_sub(1_000_000_000),
        window_end_ns: end_ns,
        first_ns: end_ns.saturating_sub(1_000_000_000),
        last_ns: end_ns.saturating_sub(100_000_000),
        peer: None,
        proto: Some(6),
        values,
        zscores: Default::default(),
        host_group: Default::default(),
        evidence: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_terminal_control_sequences() {
        let e = escape("scan\x1b[2J\x1b]0;owned\x07 done");
        assert_eq!(e, "scan\\x1b[2J\\x1b]0;owned\\x07 done");
        assert!(!e.chars().any(|c| c.is_control()));
    }

    #[test]
    fn escapes_c1_newlines_and_bidi_overrides() {
        assert_eq!(escape("a\u{9b}31mb"), "a\\x9b31mb");
        assert_eq!(escape("l1\nl2\tx\r"), "l1\\nl2\\tx\\r");
        assert_eq!(escape("x\u{202e}cod.exe"), "x\\u{202e}cod.exe");
        assert_eq!(escape("\u{7f}"), "\\x7f");
    }

    #[test]
    fn leaves_plain_text_borrowed() {
        let s = "port_scan: src 192.0.2.10 distinct_dst_ports=120 — 2001:db8::1 ✓";
        assert!(matches!(escape(s), std::borrow::Cow::Borrowed(_)));
    }
}
