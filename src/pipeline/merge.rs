//! The merge stage: every shard's alerts for a watermark, in one deterministic order, to
//! the sink.
//!
//! In: one `FromShard::Alerts` from each shard per watermark (or segment end), then each
//! shard's `FromShard::Done` report. Out: alerts written to the sink sorted by (window end,
//! rule, key), a sink checkpoint after each watermark, and the shards' reports. Guarantees:
//! the order does not depend on the shard count; the first sink error stops writing (it is
//! returned) while the shards are still drained, so none of them blocks. A rule reload
//! reaches it in-band too (`FromShard::Rules` from every shard, after the alerts made with
//! the old rules): alerts are named by the rule set they were made with.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::{FromShard, ShardReport};
use crate::alert::Alert;
use crate::rules::RuleSet;
use crate::sink::{AlertSink, SinkError};
use crate::telemetry::Telemetry;

pub(super) struct MergeResult<S> {
    pub(super) sink: S,
    /// The last watermark whose alerts every sink confirmed.
    pub(super) delivered: Option<u64>,
    pub(super) alerts: u64,
    /// Alerts by rule id (over every rule set the run had).
    pub(super) by_rule: BTreeMap<String, u64>,
    pub(super) reports: Vec<ShardReport>,
    pub(super) error: Option<SinkError>,
}

pub(super) fn merge_loop<S: AlertSink>(
    mut rules: Arc<RuleSet>,
    replies: Vec<Receiver<FromShard>>,
    mut sink: S,
    delivered: Arc<AtomicU64>,
    tel: Option<Arc<Telemetry>>,
) -> MergeResult<S> {
    let mut last_ok: Option<u64> = None;
    let mut res_alerts = 0u64;
    let mut by_rule = vec![0u64; rules.rules.len()];
    let mut by_id: BTreeMap<String, u64> = BTreeMap::new();
    let mut reports = Vec::new();
    let mut error: Option<SinkError> = None;
    let mut round: Vec<Alert> = Vec::new();
    if let Some(t) = &tel {
        sink.share_backlog(t.counters.sink_backlog.clone());
    }
    'outer: loop {
        round.clear();
        let mut wm = None;
        let mut reloaded = None;
        for rx in &replies {
            match rx.recv() {
                Ok(FromShard::Alerts(c, a)) => {
                    wm = Some(c);
                    round.extend(a)
                }
                Ok(FromShard::Rules(r)) => reloaded = Some(r),
                Ok(FromShard::Done(rep)) => reports.push(*rep),
                Err(_) => break 'outer,
            }
        }
        if reports.len() == replies.len() {
            break;
        }
        if let Some(r) = reloaded {
            count_by_id(&rules, &by_rule, &mut by_id);
            rules = r;
            by_rule = vec![0; rules.rules.len()];
            if let Some(t) = &tel {
                t.set_rules(&rules);
            }
            continue;
        }
        round.sort_by_key(|a| a.sort_key());
        for a in &round {
            res_alerts += 1;
            by_rule[a.rule as usize] += 1;
            if let Some(t) = &tel {
                t.push_alert(a);
            }
            if error.is_none() {
                if let Err(e) = sink.write(a, &a.to_json(&rules)) {
                    if let Some(t) = &tel {
                        t.counters.sink_failures.fetch_add(1, Ordering::Relaxed);
                    }
                    error = Some(e);
                }
            }
        }
        if let (Some(c), None) = (wm, &error) {
            match sink.checkpoint() {
                Ok(()) if c != u64::MAX => {
                    last_ok = Some(c);
                    delivered.store(c, Ordering::Release);
                }
                Ok(()) => {}
                Err(e) => error = Some(e),
            }
        }
    }
    if error.is_none() {
        if let Err(e) = sink.finish() {
            error = Some(e);
        }
    }
    count_by_id(&rules, &by_rule, &mut by_id);
    MergeResult {
        sink,
        delivered: last_ok,
        alerts: res_alerts,
        by_rule: by_id,
        reports,
        error,
    }
}

/// Add the counts of `rules` (by index) to the counts by rule id.
fn count_by_id(rules: &RuleSet, by_rule: &[u64], by_id: &mut BTreeMap<String, u64>) {
    for (r, n) in rules.rules.iter().zip(by_rule) {
        if *n > 0 {
            *by_id.entry(r.id.clone()).or_default() += n;
        }
    }
}
