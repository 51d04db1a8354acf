//! One shard's thread: the keyed stages and the conversation stage it owns, as synchronous
//! folds fed by the reader.
//!
//! In: `ToShard` messages (record batches per stage, watermarks, segment ends, the end).
//! Out: one `FromShard::Alerts` per watermark and per segment end, then a
//! `FromShard::Done` report. Guarantees: at each
//! watermark the conversation stage's outcomes enter the windows before the windows are
//! evaluated, so a key's records come in the same order for any shard count.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::route::CONVERSATION_STAGE;
use super::{FromShard, ShardReport, ToShard};
use crate::alert::Alert;
use crate::conversation::{ConversationConfig, Conversations};
use crate::record::Addr;
use crate::record::{event, Record};
use crate::rules::{Carry, GroupBy, RuleSet};
use crate::telemetry::Telemetry;
use crate::window::{FlowKey, KeyedWindows};

/// A keyed stage of either key type: by address (`src`, `dst`, `all`) or by address pair
/// or flow (`pair`, `flow`).
pub(super) enum Stage {
    Host(KeyedWindows<Addr>),
    Flow(KeyedWindows<FlowKey>),
}

impl Stage {
    pub(super) fn new(
        rules: &Arc<crate::rules::RuleSet>,
        g: GroupBy,
        cfg: crate::window::KeyedConfig,
    ) -> Stage {
        match g {
            GroupBy::Pair | GroupBy::Flow => {
                Stage::Flow(KeyedWindows::keyed(rules.clone(), g, cfg))
            }
            _ => Stage::Host(KeyedWindows::new(rules.clone(), g, cfg)),
        }
    }

    fn group_by(&self) -> GroupBy {
        match self {
            Stage::Host(k) => k.group_by(),
            Stage::Flow(k) => k.group_by(),
        }
    }

    #[inline]
    fn ingest(&mut self, r: &Record) {
        match self {
            Stage::Host(k) => k.ingest(r),
            Stage::Flow(k) => k.ingest(r),
        }
    }

    fn flush(&mut self, c: u64) -> Vec<Alert> {
        match self {
            Stage::Host(k) => k.flush(c),
            Stage::Flow(k) => k.flush(c),
        }
    }

    fn stats(&self) -> crate::window::KeyedStats {
        match self {
            Stage::Host(k) => k.stats(),
            Stage::Flow(k) => k.stats(),
        }
    }

    /// The source stage: always built, and first (`GroupBy::ALL` starts with `Src`).
    fn source(stages: &[Stage]) -> &KeyedWindows<Addr> {
        match stages.first() {
            Some(Stage::Host(src)) => src,
            _ => unreachable!("the source stage comes first"),
        }
    }

    fn state_bytes(&self) -> usize {
        match self {
            Stage::Host(k) => k.state_bytes(),
            Stage::Flow(k) => k.state_bytes(),
        }
    }

    fn held_bytes(&self) -> usize {
        match self {
            Stage::Host(k) => k.held_bytes(),
            Stage::Flow(k) => k.held_bytes(),
        }
    }

    /// Forget every key (a new time base); counters are kept.
    fn restart(&mut self) {
        match self {
            Stage::Host(k) => k.restart(),
            Stage::Flow(k) => k.restart(),
        }
    }

    fn set_byte_limit(&mut self, b: usize) {
        match self {
            Stage::Host(k) => k.set_byte_limit(b),
            Stage::Flow(k) => k.set_byte_limit(b),
        }
    }

    fn rebase(&mut self, rules: &Arc<RuleSet>, carry: &Carry) {
        match self {
            Stage::Host(k) => k.rebase(rules.clone(), carry),
            Stage::Flow(k) => k.rebase(rules.clone(), carry),
        }
    }
}

/// What one shard owns: its keyed stages, its conversation table, and its memory budget.
struct Parts {
    stages: Vec<Stage>,
    /// Per `GroupBy::ALL` entry: its index in `stages` (`usize::MAX`: no such stage).
    stage_of: Vec<usize>,
    conversations: Option<Conversations>,
    /// The shard's part of the key limit and memory budget, the batch interval.
    kcfg: crate::window::KeyedConfig,
    /// How this shard's conversation table is made, when the rules need one.
    ccfg: ConversationConfig,
    /// What the conversation table may grow to (kept for it in every budget share).
    reserved: usize,
}

impl Parts {
    /// Share the shard's memory budget for the next batch: the conversation table keeps
    /// what it can grow to (`Conversations::max_state_bytes`, bounded by its entry limits);
    /// each keyed stage may hold what it holds now plus an equal part of what is left (so
    /// together they cannot pass the budget before the next watermark). Returns the bytes
    /// held now.
    fn share(&mut self) -> usize {
        let conv = self
            .conversations
            .as_ref()
            .map_or(0, Conversations::state_bytes);
        let windows: usize = self.stages.iter().map(Stage::held_bytes).sum();
        let rest = self
            .kcfg
            .shard_state_bytes
            .saturating_sub(windows + self.reserved.max(conv));
        let part = rest / self.stages.len().max(1);
        for st in self.stages.iter_mut() {
            st.set_byte_limit(st.held_bytes().saturating_add(part));
        }
        windows + conv
    }

    /// Close batches up to `c`: the conversation stage's outcomes enter the windows first,
    /// after every packet before the watermark (a key's records then come in the same order
    /// for any shard count), then every stage evaluates its windows.
    fn close(&mut self, c: u64) -> Vec<Alert> {
        if let Some(conv) = self.conversations.as_mut() {
            conv.flush(c.saturating_mul(self.kcfg.batch_ns));
            // An unsolicited response is known at its receiver's shard (the destination's
            // stage); an attempt's outcome at the attempting host's, which owns its source,
            // pair and flow keys.
            const RECEIVER: &[GroupBy] = &[GroupBy::Dst];
            const SENDER: &[GroupBy] = &[GroupBy::Src, GroupBy::Pair, GroupBy::Flow];
            for r in conv.take() {
                let to = if r.event == event::UNSOLICITED {
                    RECEIVER
                } else {
                    SENDER
                };
                for g in to {
                    let at = self.stage_of.get(g.stage());
                    if let Some(kw) = at.and_then(|i| self.stages.get_mut(*i)) {
                        kw.ingest(&r);
                    }
                }
            }
        }
        let mut alerts = Vec::new();
        for kw in self.stages.iter_mut() {
            alerts.extend(kw.flush(c));
        }
        alerts
    }

    /// Start a new time base: every stage and the conversation table forget their state
    /// (counters are kept).
    fn restart(&mut self) {
        for st in self.stages.iter_mut() {
            st.restart();
        }
        if let Some(c) = self.conversations.as_mut() {
            c.restart();
        }
    }

    /// A shard's parts for `rules`, all empty.
    fn new(
        rules: &Arc<RuleSet>,
        kcfg: crate::window::KeyedConfig,
        ccfg: ConversationConfig,
    ) -> Parts {
        let mut parts = Parts {
            stages: Vec::new(),
            stage_of: Vec::new(),
            conversations: None,
            kcfg,
            ccfg,
            reserved: 0,
        };
        parts.reload(rules, &Carry::default());
        parts
    }

    /// Take reloaded rules (rebased against the running ones): stages of groupings still
    /// used keep their kept rules' state, new groupings get empty stages, the conversation
    /// table is kept while some rule reads outcomes (made when one first does).
    fn reload(&mut self, rules: &Arc<RuleSet>, carry: &Carry) {
        let mut old: Vec<Stage> = std::mem::take(&mut self.stages);
        for g in GroupBy::ALL {
            if !rules.has_stage(g) {
                continue;
            }
            let st = match old.iter().position(|s| s.group_by() == g) {
                Some(i) => {
                    let mut st = old.swap_remove(i);
                    st.rebase(rules, carry);
                    st
                }
                None => Stage::new(rules, g, self.kcfg),
            };
            self.stages.push(st);
        }
        self.stage_of = stage_index(&self.stages);
        if !rules.needs_conversations() {
            self.conversations = None;
            self.reserved = 0;
        } else {
            let kinds = rules.outcome_kinds();
            let ccfg = ConversationConfig { kinds, ..self.ccfg };
            let conv = self
                .conversations
                .get_or_insert_with(|| Conversations::new(ccfg));
            conv.set_kinds(kinds);
            self.reserved = Conversations::max_state_bytes(conv.config());
        }
    }

    /// Close every batch after `last` up to `fin` one at a time, as during the run: the
    /// last outcomes then come in the order they are due, within the memory budget.
    fn close_all(&mut self, fin: u64, last: Option<u64>, peak: &mut Peak) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let from = last.map_or(fin, |l| (l + 1).min(fin));
        for c in from..=fin {
            alerts.extend(self.close(c));
            peak.share(self);
        }
        alerts
    }
}

/// The most state a shard held at a watermark, and what its keyed stages held then: the
/// bytes and keys that give the cost of a key where it matters, at the peak.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Peak {
    pub bytes: usize,
    pub window_bytes: usize,
    pub keys: u64,
}

impl Peak {
    /// Share the budget for the next batch (`Parts::share`) and keep the peak.
    fn share(&mut self, parts: &mut Parts) -> usize {
        let held = parts.share();
        if held > self.bytes {
            self.bytes = held;
            self.window_bytes = parts.stages.iter().map(Stage::held_bytes).sum();
            self.keys = parts.stages.iter().map(|s| s.stats().keys).sum();
        }
        held
    }
}

pub(super) fn shard_loop(
    rules: &Arc<RuleSet>,
    ccfg: ConversationConfig,
    cfg: crate::window::KeyedConfig,
    rx: Receiver<ToShard>,
    tx: Sender<FromShard>,
    recycle: Sender<Vec<Record>>,
    tel: Option<(Arc<Telemetry>, usize)>,
) {
    let mut parts = Parts::new(rules, cfg, ccfg);
    let mut last: Option<u64> = None;
    let mut peak = Peak::default();
    peak.share(&mut parts);
    for msg in &rx {
        match msg {
            ToShard::Records(CONVERSATION_STAGE, mut v) => {
                if let Some(conv) = parts.conversations.as_mut() {
                    for r in &v {
                        conv.ingest(r);
                    }
                }
                v.clear();
                let _ = recycle.try_send(v);
            }
            ToShard::Records(stage, mut v) => {
                if let Some(kw) = parts
                    .stage_of
                    .get(stage as usize)
                    .and_then(|i| parts.stages.get_mut(*i))
                {
                    for r in &v {
                        kw.ingest(r);
                    }
                }
                v.clear();
                let _ = recycle.try_send(v);
            }
            ToShard::Watermark(c) => {
                last = Some(c);
                let alerts = parts.close(c);
                let held = peak.share(&mut parts);
                if let Some((t, i)) = &tel {
                    let stages = &parts.stages;
                    Stage::source(stages).publish(c, t);
                    let st = totals(stages);
                    let g = &t.shards[*i];
                    g.records.store(st.records, Ordering::Relaxed);
                    g.keys.store(st.keys, Ordering::Relaxed);
                    g.keys_evicted.store(st.keys_evicted, Ordering::Relaxed);
                    g.keys_expired.store(st.keys_expired, Ordering::Relaxed);
                    g.queue_depth.store(rx.len() as u64, Ordering::Relaxed);
                    g.state_bytes.store(held as u64, Ordering::Relaxed);
                }
                if tx.send(FromShard::Alerts(c, alerts)).is_err() {
                    return;
                }
            }
            ToShard::Segment(fin) => {
                // The input's clock jumped back: close everything as at the end, then
                // start the new time base with empty windows and conversations.
                let alerts = parts.close_all(fin, last, &mut peak);
                parts.restart();
                last = None;
                if tx.send(FromShard::Alerts(fin, alerts)).is_err() {
                    return;
                }
            }
            ToShard::Rules(rules, carry) => {
                // Between watermarks: the merge stage switches rules at the same point.
                parts.reload(&rules, &carry);
                if tx.send(FromShard::Rules(rules)).is_err() {
                    return;
                }
            }
            ToShard::End(fin) => {
                let alerts = match fin {
                    Some(fin) => parts.close_all(fin, last, &mut peak),
                    None => Vec::new(),
                };
                let _ = tx.send(FromShard::Alerts(fin.unwrap_or(u64::MAX), alerts));
                let state_bytes = parts.stages.iter().map(|k| k.state_bytes()).sum();
                peak.share(&mut parts);
                let stages = &parts.stages;
                let report = ShardReport {
                    peak,
                    stats: totals(stages),
                    conversations: parts.conversations.as_ref().map(|c| c.stats()),
                    top: Stage::source(stages).top(10),
                    state_bytes,
                };
                let _ = tx.send(FromShard::Done(Box::new(report)));
                return;
            }
        }
    }
}

/// Per `GroupBy::ALL` entry: its stage's index (`usize::MAX`: none).
fn stage_index(stages: &[Stage]) -> Vec<usize> {
    GroupBy::ALL
        .iter()
        .map(|g| {
            stages
                .iter()
                .position(|k| k.group_by() == *g)
                .unwrap_or(usize::MAX)
        })
        .collect()
}

/// The counters of every stage of a shard, summed.
fn totals(stages: &[Stage]) -> crate::window::KeyedStats {
    let mut stats = stages[0].stats();
    for kw in &stages[1..] {
        stats.add(&kw.stats());
    }
    stats
}
