//! Conversations: whether each attempt a host made was answered, and which responses a host
//! received without asking. One shard's table, a synchronous fold.
//!
//! In: `ingest(record)` for every record routed to this shard's conversation stage, in
//! capture order, each marked `event::VIA_OUT` (the shard owns the record's source: it
//! starts or answers a conversation) or `event::VIA_IN` (the shard owns its destination: a
//! reply may have reached it); then `flush(now_ns)` at each watermark.
//! Out: outcome records, drained with [`Conversations::take`]: for the host that made an
//! attempt, `ANSWERED`, `REJECTED` (TCP RST, ICMP unreachable) or `UNANSWERED` (nothing
//! within `timeout_ns`), shaped like the attempt's first packet (source = that host) and
//! timed when the outcome became known; for a host that received a response it never asked
//! for, `UNSOLICITED`, shaped like that response (destination = that host).
//! Guarantees: a host's outcomes depend only on the records that involve it, in capture
//! order, and on watermarks, so they are the same for any number of shards while the table
//! has room (dropping resolved conversations to make room changes no outcome, so only a
//! table full of unresolved attempts makes them differ). Memory is bounded: at most
//! `max_entries` conversations (when full, the resolved one idle the longest is dropped to
//! make room, else the oldest unresolved attempt; counted) and `max_per_host` per host (further attempts of that
//! host are counted, not tracked); an answered conversation is dropped `idle_ns` after its
//! last packet, an unanswered or unsolicited one when its timeout resolves it.
//!
//! What counts as an attempt: a TCP SYN; a TCP segment without ACK into a connection the
//! table does not know (FIN, NULL, Xmas probes; only a RST resolves those, since the data a
//! real peer would answer with is not routed here); a segment with ACK that draws a bare
//! RST (ACK, window, Maimon probes: known from the RST alone, so segments with ACK never
//! need a lookup); a UDP datagram to a (host, port) that never sent to this one; an ICMP
//! echo request; a packet of any other IP protocol.
//! An ICMP time exceeded (from a router on the way) makes an attempt neither answered nor
//! failed (traceroute).
//! An ICMP error the host receives for an attempt the table never saw still names the
//! attempt (it quotes the probe), so it counts as rejected: a scan shows in its replies.

use std::collections::hash_map::{Entry, VacantEntry};
use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::record::{event, proto, tcp_flag, Addr, Record};

#[derive(Clone, Copy, Debug)]
pub struct ConversationConfig {
    /// An attempt with no answer this long after it is unanswered.
    pub timeout_ns: u64,
    /// A conversation is forgotten this long after its last packet.
    pub idle_ns: u64,
    /// Conversations held at most (this shard's share).
    pub max_entries: usize,
    /// Conversations one host (the side a shard owns) holds at most: a flood of spoofed
    /// sources at one victim, or one fast scanner, cannot take the whole table from the
    /// other hosts, whose attempts are still tracked.
    pub max_per_host: u32,
    /// Which outcomes become records (bit `event::*`; the rules' `RuleSet::outcome_kinds`):
    /// the others are only counted.
    pub kinds: u8,
}

impl Default for ConversationConfig {
    fn default() -> Self {
        ConversationConfig {
            timeout_ns: 2_000_000_000,
            idle_ns: 30_000_000_000,
            max_entries: 1 << 17,
            max_per_host: 1 << 13,
            kinds: event::OUTCOMES,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ConversationStats {
    /// Conversations held at most at once.
    pub peak: u64,
    /// Attempts not tracked because the table was full and nothing could be dropped.
    pub untracked: u64,
    /// Conversations dropped to make room for new ones in a full table (resolved ones idle
    /// the longest first, then the oldest attempts).
    pub evicted: u64,
    /// Attempts not tracked because their host held `max_per_host` conversations.
    pub host_capped: u64,
    /// Hosts that reached `max_per_host` at some time.
    pub hosts_capped: u64,
    pub answered: u64,
    pub rejected: u64,
    pub unanswered: u64,
    pub unsolicited: u64,
    /// Bytes the tables held at the end.
    pub state_bytes: u64,
}

impl ConversationStats {
    pub fn add(&mut self, o: &ConversationStats) {
        self.peak += o.peak;
        self.untracked += o.untracked;
        self.evicted += o.evicted;
        self.host_capped += o.host_capped;
        self.hosts_capped += o.hosts_capped;
        self.answered += o.answered;
        self.rejected += o.rejected;
        self.unanswered += o.unanswered;
        self.unsolicited += o.unsolicited;
        self.state_bytes += o.state_bytes;
    }
}

/// One conversation, from the side of the host this shard owns (`local`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Key {
    local: Addr,
    remote: Addr,
    lport: u16,
    rport: u16,
    proto: u8,
}

impl std::hash::Hash for Key {
    /// Five words: this hash runs for most packets.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        crate::record::hash_tuple(
            h,
            &self.local,
            &self.remote,
            self.lport,
            self.rport,
            self.proto,
        );
    }
}

/// A probe's ports as an ICMP time exceeded quotes them (the router that sends it is not
/// the probe's destination).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct TransitKey {
    local: Addr,
    lport: u16,
    rport: u16,
    proto: u8,
}

impl TransitKey {
    fn of(k: &Key) -> TransitKey {
        TransitKey {
            local: k.local,
            lport: k.lport,
            rport: k.rport,
            proto: k.proto,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// `local` started it and waits for an answer.
    Pending,
    /// `local` sent a TCP packet other than SYN into a connection the table never saw: a
    /// RST rejects it; nothing else resolves it.
    Orphan,
    /// Resolved (answered, rejected, unanswered, or died in transit).
    Done,
    /// `remote` sent UDP that `local` never asked for; waiting to see whether `local` answers.
    Received,
}

#[derive(Clone, Copy, Debug)]
struct Conv {
    state: State,
    first_ns: u64,
    last_ns: u64,
    /// The first packet's TCP flags and ICMP type (the outcome record carries them, so rule
    /// filters on flags apply to outcomes as to packets).
    flags: u8,
    icmp_type: u8,
    /// The first packet's IP length (outcome records carry it: a probe is small).
    ip_len: u32,
}

impl Conv {
    /// A conversation whose first packet is `r`.
    #[inline]
    fn first(r: &Record, state: State) -> Conv {
        Conv {
            state,
            first_ns: r.ts_ns,
            last_ns: r.ts_ns,
            flags: if r.proto == proto::TCP {
                r.tcp_flags
            } else {
                0
            },
            icmp_type: r.icmp_type,
            ip_len: r.ip_len,
        }
    }
}

/// Count one more conversation of `host`, unless it holds `max_per_host` already (then the
/// attempt is counted as capped, and the host logged the first time): false.
/// (On the fields it needs, so a caller may hold a table entry meanwhile.)
#[inline]
fn admit(
    cfg: &ConversationConfig,
    per_host: &mut FxHashMap<Addr, u32>,
    stats: &mut ConversationStats,
    host: &Addr,
) -> bool {
    let n = per_host.entry(*host).or_insert(0);
    if *n & !CAPPED >= cfg.max_per_host.min(!CAPPED) {
        if *n & CAPPED == 0 {
            // Logged once per host while it holds conversations (a busy server hovering
            // at its cap is not logged at every release), and counted; its further
            // attempts only counted.
            *n |= CAPPED;
            stats.hosts_capped += 1;
            tracing::warn!(
                host = %host,
                "conversations: host holds {} conversations, its further attempts are not tracked",
                cfg.max_per_host
            );
        }
        stats.host_capped += 1;
        return false;
    }
    *n += 1;
    true
}

/// Set in a host's conversation count once it reached its cap (until it holds none).
const CAPPED: u32 = 1 << 31;

/// What `insert_vacant` updates besides the table.
type Tracking<'a> = (
    &'a ConversationConfig,
    &'a mut FxHashMap<Addr, u32>,
    &'a mut ConversationStats,
    &'a mut VecDeque<(u64, Key)>,
);

/// `Conversations::insert` for an unresolved conversation `c` whose key the table was just
/// found not to hold, in `slot`, while the table has room (it holds `held`): the host's
/// admission, the timer and the peak, with no second lookup.
#[inline]
fn insert_vacant(t: Tracking<'_>, slot: VacantEntry<'_, Key, Conv>, held: usize, c: Conv) {
    let (cfg, per_host, stats, timeouts) = t;
    if admit(cfg, per_host, stats, &slot.key().local) {
        timeouts.push_back((c.first_ns.saturating_add(cfg.timeout_ns), *slot.key()));
        slot.insert(c);
        stats.peak = stats.peak.max(held as u64 + 1);
    }
}

pub struct Conversations {
    cfg: ConversationConfig,
    table: FxHashMap<Key, Conv>,
    /// Conversations per local host (only hosts holding any).
    per_host: FxHashMap<Addr, u32>,
    /// (due, conversation), in the order they were set: each conversation has exactly one
    /// timer, in `timeouts` while unresolved (due at its first packet plus the timeout),
    /// then in `idle` (due at its last packet plus the idle time, checked again when it
    /// comes up). Both fixed delays keep each queue nearly sorted, so a FIFO does what a
    /// heap would, without a heap's cache misses.
    timeouts: VecDeque<(u64, Key)>,
    idle: VecDeque<(u64, Key)>,
    /// The previous flush's time: no outcome is dated before it (it would land in windows
    /// already evaluated).
    flushed_ns: u64,
    /// Probes that died in transit (ICMP time exceeded), by local host and ports, with the
    /// time, oldest first in `transit_order`.
    transit: FxHashMap<TransitKey, u64>,
    transit_order: VecDeque<(u64, TransitKey)>,
    out: Vec<Record>,
    stats: ConversationStats,
}

impl Conversations {
    pub fn new(cfg: ConversationConfig) -> Self {
        Conversations {
            cfg,
            table: FxHashMap::default(),
            per_host: FxHashMap::default(),
            timeouts: VecDeque::new(),
            idle: VecDeque::new(),
            flushed_ns: 0,
            transit: FxHashMap::default(),
            transit_order: VecDeque::new(),
            out: Vec::new(),
            stats: ConversationStats::default(),
        }
    }

    /// Start a new time base (the input's clock jumped back, after every conversation was
    /// resolved by the segment's last flush): an empty table, the counters kept.
    pub fn restart(&mut self) {
        let stats = self.stats;
        *self = Conversations::new(self.cfg);
        self.stats = stats;
    }

    /// Whether the shard that owns the destination must see `r` (it may answer or reject an
    /// attempt of that host, or be a response it never asked for).
    #[inline]
    pub fn reply_class(r: &Record) -> bool {
        match r.proto {
            proto::TCP => r.is_synack() || r.is_rst(),
            proto::UDP => true,
            proto::ICMP | proto::ICMPV6 => r.is_echo_reply() || r.is_icmp_error(),
            _ => true,
        }
    }

    /// Whether the shard that owns the source must see `r`: every record but a TCP segment
    /// with ACK or RST set. A segment with ACK belongs to a connection or probes as if it
    /// did (nmap's ACK, window and Maimon scans); the table learns of those probes from the
    /// bare RST they draw (see `inbound`), so the sender's side needs only segments without
    /// ACK: SYNs, and FIN, NULL and Xmas probes. This spares a table lookup for nearly every
    /// packet of an established connection.
    #[inline]
    pub fn sender_class(r: &Record) -> bool {
        use crate::record::tcp_flag::{ACK, RST};
        r.proto != proto::TCP || r.tcp_flags & (ACK | RST) == 0
    }

    /// Make records of these outcome kinds from now on (a rule reload).
    pub fn set_kinds(&mut self, kinds: u8) {
        self.cfg.kinds = kinds;
    }

    pub fn config(&self) -> &ConversationConfig {
        &self.cfg
    }

    pub fn stats(&self) -> ConversationStats {
        ConversationStats {
            state_bytes: self.state_bytes() as u64,
            ..self.stats
        }
    }

    /// The most [`Self::state_bytes`] can reach with `cfg` (every table at `max_entries`,
    /// each at the capacity it grows to): what a memory budget reserves for the stage.
    pub fn max_state_bytes(cfg: &ConversationConfig) -> usize {
        use std::mem::size_of;
        let n = cfg.max_entries.max(1);
        // A hash map of n entries has a power of two of buckets, at most 7/8 full.
        let map = |entry: usize| (n.saturating_mul(8) / 7 + 1).next_power_of_two() * (entry + 1);
        let deque = |entry: usize| n.next_power_of_two() * entry;
        map(size_of::<(Key, Conv)>())
            + map(size_of::<(Addr, u32)>())
            + 2 * deque(size_of::<(u64, Key)>())
            + map(size_of::<(TransitKey, u64)>())
            + deque(size_of::<(u64, TransitKey)>())
    }

    pub fn state_bytes(&self) -> usize {
        self.table.capacity() * (std::mem::size_of::<(Key, Conv)>() + 1)
            + self.per_host.capacity() * (std::mem::size_of::<(Addr, u32)>() + 1)
            + (self.timeouts.capacity() + self.idle.capacity()) * std::mem::size_of::<(u64, Key)>()
            + self.transit.capacity() * (std::mem::size_of::<(TransitKey, u64)>() + 1)
            + self.transit_order.capacity() * std::mem::size_of::<(u64, TransitKey)>()
    }

    /// The outcome records produced since the last call.
    pub fn take(&mut self) -> std::vec::Drain<'_, Record> {
        self.out.drain(..)
    }

    #[inline]
    pub fn ingest(&mut self, r: &Record) {
        if r.frag == crate::record::frag::LATER {
            return;
        }
        if r.event & event::VIA_OUT != 0 {
            self.outbound(r);
        }
        if r.event & event::VIA_IN != 0 {
            self.inbound(r);
        }
    }

    /// Resolve every timer due before `now_ns`: unanswered attempts, unanswered UDP from
    /// others (unsolicited), and conversations idle for `idle_ns`.
    pub fn flush(&mut self, now_ns: u64) {
        let floor = self.flushed_ns;
        while let Some(&(due, k)) = self.timeouts.front() {
            if due >= now_ns {
                break;
            }
            self.timeouts.pop_front();
            let Entry::Occupied(mut e) = self.table.entry(k) else {
                continue;
            };
            let c = *e.get();
            let resolved = match c.state {
                State::Pending => {
                    (!Self::died_in_transit(&mut self.transit, &k)).then_some(event::UNANSWERED)
                }
                State::Received => Some(event::UNSOLICITED),
                State::Orphan | State::Done => None,
            };
            if resolved.is_some() {
                // Nothing came back: nothing is left to pair with it, so it leaves the table
                // now (spoofed sources and reflectors hold an entry for the timeout only;
                // an attempt retried after its timeout counts again).
                e.remove();
                self.release(&k.local);
            } else {
                e.get_mut().state = State::Done;
                self.idle
                    .push_back((c.last_ns.saturating_add(self.cfg.idle_ns).max(due + 1), k));
            }
            let at = due.max(floor);
            match resolved {
                Some(event::UNSOLICITED) => self.unsolicited_from(&k, at, c.ip_len),
                Some(ev) => self.outcome(&k, &c, at, ev),
                None => {}
            }
        }
        while let Some(&(due, k)) = self.idle.front() {
            if due >= now_ns {
                break;
            }
            self.idle.pop_front();
            if let Entry::Occupied(o) = self.table.entry(k) {
                let idle_end = o.get().last_ns.saturating_add(self.cfg.idle_ns);
                if idle_end < now_ns {
                    o.remove();
                    self.release(&k.local);
                } else {
                    self.idle.push_back((idle_end, k));
                }
            }
        }
        self.flushed_ns = self.flushed_ns.max(now_ns);
        // Transit notes of probes the table never held (or that resolved otherwise).
        while let Some(&(ts, t)) = self.transit_order.front() {
            if ts.saturating_add(self.cfg.idle_ns) >= now_ns {
                break;
            }
            self.transit_order.pop_front();
            if self.transit.get(&t) == Some(&ts) {
                self.transit.remove(&t);
            }
        }
    }
}

mod sides;
mod upkeep;

#[cfg(test)]
mod tests;
