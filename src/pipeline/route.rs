//! The reader's side of the shards: which stage of which shard each record goes to (a
//! table of routes), and the per-(shard, stage) buffers that carry records there.
//!
//! In: records from the pipeline's reading loop. Out: `ToShard::Records` batches on each
//! shard's bounded channel. Guarantees: a record reaches every stage whose route selects it,
//! in the shard that owns the route's key (source, destination, or the global key), in
//! reading order; a full channel makes the reader wait (replay) or drops the batch and
//! counts it (`drop_when_full`, live).

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::ToShard;
use crate::conversation::Conversations;
use crate::liveness::Liveness;
use crate::record::{event, Addr, Record};
use crate::rules::{Filter, GroupBy, RuleSet};

pub(super) struct Reader {
    pub(super) to_shards: Vec<Sender<ToShard>>,
    pub(super) bufs: Vec<Vec<Record>>,
    pub(super) batch_records: usize,
    /// Emptied buffers the shards sent back.
    pub(super) recycled: Receiver<Vec<Record>>,
    pub(super) queue_waits: u64,
    pub(super) queue_drops: u64,
    pub(super) drop_when_full: bool,
}

impl Reader {
    /// Queue a record for stage `stage` of shard `s`; false when the shard is gone.
    #[inline]
    pub(super) fn push(&mut self, s: usize, stage: u8, rec: Record) -> bool {
        let b = STAGES * s + stage as usize;
        self.bufs[b].push(rec);
        if self.bufs[b].len() >= self.batch_records {
            return self.send_buf(s, stage);
        }
        true
    }

    fn send_buf(&mut self, s: usize, stage: u8) -> bool {
        let b = STAGES * s + stage as usize;
        if self.bufs[b].is_empty() {
            return true;
        }
        let fresh = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.batch_records));
        let full = std::mem::replace(&mut self.bufs[b], fresh);
        if self.drop_when_full {
            return match self.to_shards[s].try_send(ToShard::Records(stage, full)) {
                Ok(()) => true,
                Err(TrySendError::Full(ToShard::Records(_, v))) => {
                    self.queue_drops += v.len() as u64;
                    true
                }
                Err(TrySendError::Full(_)) => true,
                Err(TrySendError::Disconnected(_)) => false,
            };
        }
        self.send(s, ToShard::Records(stage, full))
    }

    fn send(&mut self, s: usize, msg: ToShard) -> bool {
        match self.to_shards[s].try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(msg)) => {
                self.queue_waits += 1;
                self.to_shards[s].send(msg).is_ok()
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Send every shard its pending records, then the same control message.
    pub(super) fn broadcast(&mut self, msg: impl Fn() -> ToShard) -> bool {
        let mut ok = true;
        for s in 0..self.to_shards.len() {
            for stage in 0..STAGES as u8 {
                ok &= self.send_buf(s, stage);
            }
            ok &= self.send(s, msg());
        }
        ok
    }
}

/// What the reader's liveness map says of a record (`Liveness`): its source sent TCP for
/// the first time (it may answer a probe of a host that thought it dark), or it is TCP other
/// than a SYN or RST to an address not seen sending (a probe that only that address's
/// answer resolves).
#[derive(Clone, Copy, Default)]
pub(super) struct Hints {
    pub(super) first_sight: bool,
    pub(super) dark_dst: bool,
}

impl Hints {
    #[inline]
    pub(super) fn of(live: &mut Liveness, r: &Record) -> Hints {
        use crate::record::tcp_flag::{RST, SYN};
        let first_sight = live.observe(r);
        let dark_dst = r.proto == crate::record::proto::TCP
            && r.tcp_flags & (SYN | RST) == 0
            && live.is_dark(&r.dst);
        Hints {
            first_sight,
            dark_dst,
        }
    }
}

/// Stages per shard: keyed windows by source, by destination, of all traffic, by address
/// pair, by flow (`GroupBy::stage`); conversations.
pub(super) const STAGES: usize = 6;
pub(super) const CONVERSATION_STAGE: u8 = 5;

/// Which records a stage gets, and which shard owns each: one row per (stage, owner). The
/// reader sends every record down each row that selects it.
pub(super) struct Route {
    pub(super) stage: u8,
    /// Whose shard: the record's source, its destination, or the one global key.
    pub(super) owner: GroupBy,
    pub(super) select: Select,
    /// What the record carries in `event` on this route (the conversation stage's side).
    pub(super) mark: u8,
}

pub(super) enum Select {
    Every,
    /// Records one of these filters matches (a stage's specs' filters), with a table by
    /// record class (`Filter::class_of`) of the filters whose class part passes, so most
    /// records are decided by one lookup.
    Matching(Vec<Filter>, Vec<u64>),
    /// Records that may answer an attempt of their destination (`Conversations::reply_class`).
    Replies,
    /// Records that may start, answer or refuse a conversation of their source
    /// (`Conversations::sender_class`): all but TCP data inside a connection.
    Senders,
}

impl Route {
    pub(super) fn table(rules: &RuleSet, conversations: bool) -> Vec<Route> {
        let mut t = vec![Route {
            stage: 0,
            owner: GroupBy::Src,
            select: Select::Every,
            mark: event::PACKET,
        }];
        // Victim-side rules: the same record, keyed and partitioned by destination; global
        // rules: one key, so one shard (each shard still closes its windows); pair and flow
        // rules: in the source's shard, keyed by more than the source.
        for g in [GroupBy::Dst, GroupBy::All, GroupBy::Pair, GroupBy::Flow] {
            let filters = rules.stage_filters(g);
            if !filters.is_empty() {
                let classes = Filter::class_table(filters.iter());
                t.push(Route {
                    stage: g.stage() as u8,
                    owner: g.owner(),
                    select: Select::Matching(filters, classes),
                    mark: event::PACKET,
                });
            }
        }
        // Conversations see both sides: the sender's shard and the receiver's.
        if conversations {
            t.push(Route {
                stage: CONVERSATION_STAGE,
                owner: GroupBy::Src,
                select: Select::Senders,
                mark: event::VIA_OUT,
            });
            t.push(Route {
                stage: CONVERSATION_STAGE,
                owner: GroupBy::Dst,
                select: Select::Replies,
                mark: event::VIA_IN,
            });
        }
        t
    }

    #[inline]
    pub(super) fn selects(&self, r: &Record, hints: Hints) -> bool {
        match &self.select {
            Select::Every => true,
            Select::Matching(f, classes) if classes.is_empty() => f.iter().any(|f| f.matches(r)),
            Select::Matching(f, classes) => {
                // Only packets reach the reader's routes, and a packet's class decides
                // `matches_class`.
                let mut m = classes[Filter::class_of(r)];
                while m != 0 {
                    let i = m.trailing_zeros() as usize;
                    if f[i].matches_rest(r) {
                        return true;
                    }
                    m &= m - 1;
                }
                false
            }
            Select::Replies => Conversations::reply_class(r) || hints.first_sight,
            Select::Senders => Conversations::sender_class(r) || hints.dark_dst,
        }
    }

    /// What the record carries in `event` on this route.
    #[inline]
    pub(super) fn mark(&self, hints: Hints) -> u8 {
        if hints.dark_dst && matches!(self.select, Select::Senders) {
            self.mark | event::DARK
        } else {
            self.mark
        }
    }

    /// Whether the route takes a record from Kafka's `side` (`event::COPY`: the
    /// destination's side only; `event::ELSEWHERE`: all but the destination's; 0: all).
    #[inline]
    pub(super) fn serves(&self, side: u8) -> bool {
        match side {
            0 => true,
            event::COPY => self.owner == GroupBy::Dst,
            _ => self.owner != GroupBy::Dst,
        }
    }

    #[inline]
    pub(super) fn owner(&self, r: &Record) -> Addr {
        self.owner.key(r)
    }
}
