//! One shard's thread: the keyed stages and the conversation stage it owns, as synchronous
//! folds fed by the reader.
//!
//! In: `ToShard` messages (record batches per stage, watermarks, the end). Out: one
//! `FromShard::Alerts` per watermark, then a `FromShard::Done` report. Guarantees: at each
//! watermark the conversation stage's outcomes enter the windows before the windows are
//! evaluated, so a key's records come in the same order for any shard count.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::route::CONVERSATION_STAGE;
use super::{FromShard, ShardReport, ToShard};
use crate::alert::Alert;
use crate::conversation::Conversations;
use crate::record::{event, Record};
use crate::rules::GroupBy;
use crate::telemetry::Telemetry;
use crate::window::KeyedWindows;

pub(super) fn shard_loop(
    stages: Vec<Option<KeyedWindows>>,
    mut conversations: Option<Conversations>,
    batch_ns: u64,
    rx: Receiver<ToShard>,
    tx: Sender<FromShard>,
    recycle: Sender<Vec<Record>>,
    tel: Option<(Arc<Telemetry>, usize)>,
) {
    let mut stages: Vec<KeyedWindows> = stages.into_iter().flatten().collect();
    let stage_of: Vec<usize> = GroupBy::ALL
        .iter()
        .map(|g| {
            stages
                .iter()
                .position(|k| k.group_by() == *g)
                .unwrap_or(usize::MAX)
        })
        .collect();
    for msg in &rx {
        match msg {
            ToShard::Records(CONVERSATION_STAGE, mut v) => {
                if let Some(conv) = conversations.as_mut() {
                    for r in &v {
                        conv.ingest(r);
                    }
                }
                v.clear();
                let _ = recycle.try_send(v);
            }
            ToShard::Records(stage, mut v) => {
                if let Some(kw) = stage_of
                    .get(stage as usize)
                    .and_then(|i| stages.get_mut(*i))
                {
                    for r in &v {
                        kw.ingest(r);
                    }
                }
                v.clear();
                let _ = recycle.try_send(v);
            }
            ToShard::Watermark(c) => {
                let alerts = close(c, batch_ns, &mut conversations, &stage_of, &mut stages);
                if let Some((t, i)) = &tel {
                    stages[0].publish(c, t);
                    let st = stages[0].stats();
                    let g = &t.shards[*i];
                    g.records.store(st.records, Ordering::Relaxed);
                    g.keys.store(st.keys, Ordering::Relaxed);
                    g.queue_depth.store(rx.len() as u64, Ordering::Relaxed);
                }
                if tx.send(FromShard::Alerts(c, alerts)).is_err() {
                    return;
                }
            }
            ToShard::End(fin) => {
                let alerts = fin
                    .map(|c| close(c, batch_ns, &mut conversations, &stage_of, &mut stages))
                    .unwrap_or_default();
                let _ = tx.send(FromShard::Alerts(fin.unwrap_or(u64::MAX), alerts));
                let mut stats = stages[0].stats();
                let mut state_bytes = 0;
                for (i, kw) in stages.iter().enumerate() {
                    state_bytes += kw.state_bytes();
                    if i > 0 {
                        stats.add(&kw.stats());
                    }
                }
                let report = ShardReport {
                    stats,
                    conversations: conversations.as_ref().map(|c| c.stats()),
                    top: stages[0].top(10),
                    state_bytes,
                };
                let _ = tx.send(FromShard::Done(Box::new(report)));
                return;
            }
        }
    }
}

/// Close batches up to `c` in one shard: the conversation stage's outcomes enter the
/// windows first, after every packet before the watermark (a key's records then come in
/// the same order for any shard count), then every stage evaluates its windows.
pub(super) fn close(
    c: u64,
    batch_ns: u64,
    conversations: &mut Option<Conversations>,
    stage_of: &[usize],
    stages: &mut [KeyedWindows],
) -> Vec<Alert> {
    if let Some(conv) = conversations.as_mut() {
        conv.flush(c.saturating_mul(batch_ns));
        for r in conv.take() {
            let g = if r.event == event::UNSOLICITED {
                GroupBy::Dst
            } else {
                GroupBy::Src
            };
            if let Some(kw) = stage_of.get(g.stage()).and_then(|i| stages.get_mut(*i)) {
                kw.ingest(&r);
            }
        }
    }
    let mut alerts = Vec::new();
    for kw in stages.iter_mut() {
        alerts.extend(kw.flush(c));
    }
    alerts
}
