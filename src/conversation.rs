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

    /// `r` as sent by the local host (its source).
    fn outbound(&mut self, r: &Record) {
        let mut k = Key {
            local: r.src,
            remote: r.dst,
            lport: r.src_port,
            rport: r.dst_port,
            proto: r.proto,
        };
        match r.proto {
            proto::ICMP | proto::ICMPV6 => {
                if r.is_icmp_error() {
                    // The local host refuses what the remote sent it (the quote).
                    k.proto = r.quoted_proto();
                    (k.lport, k.rport) = (r.dst_port, r.src_port);
                    if let Some(c) = self.table.get_mut(&k) {
                        if c.state == State::Received {
                            c.state = State::Done;
                            let ip_len = c.ip_len;
                            self.unsolicited_from(&k, r.ts_ns, ip_len);
                        }
                    }
                    return;
                }
                if !r.is_echo_request() {
                    return;
                }
                (k.lport, k.rport) = (0, 0);
            }
            proto::TCP | proto::UDP => {}
            _ => (k.lport, k.rport) = (0, 0),
        }
        // One lookup: the entry found or the slot for a new attempt.
        let held = self.table.len();
        let room = held < self.cfg.max_entries;
        let slot = match self.table.entry(k) {
            Entry::Occupied(mut o) => {
                let c = o.get_mut();
                c.last_ns = c.last_ns.max(r.ts_ns);
                if c.state == State::Received {
                    // The local host answered: it was a request to a service, not a response.
                    c.state = State::Done;
                }
                return;
            }
            Entry::Vacant(v) => v,
        };
        let state = match r.proto {
            // A response of the local host to something the table did not see: no attempt.
            proto::TCP if r.is_synack() || r.is_rst() => return,
            // To an address not seen sending: whatever it sends back is routed here (its
            // first segment), so silence is a failure (an ACK ping of dark space).
            proto::TCP if !r.is_syn() && r.event & event::DARK != 0 => State::Pending,
            proto::TCP if !r.is_syn() => State::Orphan,
            _ => State::Pending,
        };
        let c = Conv::first(r, state);
        if room {
            let t = (
                &self.cfg,
                &mut self.per_host,
                &mut self.stats,
                &mut self.timeouts,
            );
            insert_vacant(t, slot, held, c);
            return;
        }
        self.insert(k, c);
    }

    /// `r` as received by the local host (its destination).
    fn inbound(&mut self, r: &Record) {
        let mut k = Key {
            local: r.dst,
            remote: r.src,
            lport: r.dst_port,
            rport: r.src_port,
            proto: r.proto,
        };
        if r.is_icmp_error() {
            // About a packet the local host sent: the quote's source is the local host.
            k.proto = r.quoted_proto();
            (k.lport, k.rport) = (r.src_port, r.dst_port);
            if !matches!(k.proto, proto::TCP | proto::UDP) {
                (k.lport, k.rport) = (0, 0);
            }
            let transit = r.is_time_exceeded();
            if transit {
                // Sent by a router on the way, not by the probe's destination, so the table
                // cannot be asked by address: remember the probe's ports until its timeout.
                self.note_transit(&k, r.ts_ns);
                return;
            }
            match self.table.get_mut(&k) {
                Some(c) if matches!(c.state, State::Pending | State::Orphan) => {
                    c.state = State::Done;
                    c.last_ns = c.last_ns.max(r.ts_ns);
                    let c = *c;
                    self.outcome(&k, &c, r.ts_ns, event::REJECTED);
                }
                Some(_) => {}
                // The quote names an attempt the capture did not show: still a refusal.
                None => self.refused_unseen(k, r.ts_ns, 0),
            }
            return;
        }
        match r.proto {
            proto::ICMP | proto::ICMPV6 => {
                if !r.is_echo_reply() {
                    return;
                }
                (k.lport, k.rport) = (0, 0);
            }
            proto::TCP | proto::UDP => {}
            _ => (k.lport, k.rport) = (0, 0),
        }
        let held = self.table.len();
        let room = held < self.cfg.max_entries;
        match self.table.entry(k) {
            Entry::Occupied(mut o) => {
                let c = o.get_mut();
                c.last_ns = c.last_ns.max(r.ts_ns);
                let ev = match (c.state, r.proto) {
                    (State::Pending | State::Orphan, proto::TCP) if r.is_rst() => event::REJECTED,
                    (State::Pending, proto::TCP) if r.is_synack() => event::ANSWERED,
                    // Any other segment (a first one from an address thought dark) answers
                    // a segment that was not a SYN; a SYN needs its SYN-ACK.
                    (State::Pending, proto::TCP) if c.flags & tcp_flag::SYN == 0 => event::ANSWERED,
                    (State::Pending, p) if p != proto::TCP => event::ANSWERED,
                    _ => return,
                };
                c.state = State::Done;
                let c = *c;
                self.outcome(&k, &c, r.ts_ns, ev);
            }
            // Remote-initiated UDP: a request to the local host, or a response it never
            // asked for; which one shows when the local host answers or not.
            Entry::Vacant(slot) if r.proto == proto::UDP && room => {
                let t = (
                    &self.cfg,
                    &mut self.per_host,
                    &mut self.stats,
                    &mut self.timeouts,
                );
                insert_vacant(t, slot, held, Conv::first(r, State::Received));
            }
            Entry::Vacant(_) => match r.proto {
                proto::UDP => self.open(k, r, State::Received),
                // A RST without ACK answers a segment that carried ACK (RFC 9293 3.10.7.1)
                // into no connection: an ACK, window or Maimon probe of the local host,
                // refused. (A refused SYN draws RST+ACK, and SYNs are always in the table.)
                proto::TCP if r.tcp_flags & crate::record::tcp_flag::ACK == 0 && r.is_rst() => {
                    self.refused_unseen(k, r.ts_ns, crate::record::tcp_flag::ACK)
                }
                // Responses (see `reply_class`) never asked for; other segments come only
                // as an address's first (for probes of it), and are no response.
                proto::TCP if r.is_synack() || r.is_rst() => self.unsolicited(r),
                proto::ICMP | proto::ICMPV6 => self.unsolicited(r),
                _ => {}
            },
        }
    }

    /// Attempt `k` of the local host, which the table never saw, was refused at `ts_ns` (a
    /// reply names it: an ICMP error quoting it, a bare RST); `flags`: what the probe must
    /// have carried. Held as resolved, so a repeated reply counts once.
    fn refused_unseen(&mut self, k: Key, ts_ns: u64, flags: u8) {
        let c = Conv {
            state: State::Done,
            first_ns: ts_ns,
            last_ns: ts_ns,
            flags,
            icmp_type: 0,
            ip_len: 0,
        };
        if self.insert(k, c) {
            self.outcome(&k, &c, ts_ns, event::REJECTED);
        }
    }

    /// The table is full: drop a resolved conversation idle the longest (its packets were
    /// answered or refused long ago; should it carry on, it is only tracked anew), else the
    /// oldest unresolved attempt, so new attempts are still tracked while a flood of
    /// spoofed sources fills the table: a real prober's attempts resolve within a round
    /// trip, long before theirs come up. False when nothing could be dropped.
    ///
    /// (Resolved ones first: dropping the newest answered conversations instead, as the
    /// attempts queue would, makes every later packet of theirs an insert that evicts again.)
    fn evict_oldest(&mut self) -> bool {
        // Each idle timer is looked at at most once here: a conversation busy since its
        // timer was set is re-armed at the back, not dropped.
        for _ in 0..self.idle.len() {
            let Some((due, k)) = self.idle.pop_front() else {
                break;
            };
            let Some(c) = self.table.get(&k) else {
                continue;
            };
            if c.state != State::Done {
                continue;
            }
            let idle_end = c.last_ns.saturating_add(self.cfg.idle_ns);
            if idle_end > due {
                self.idle.push_back((idle_end, k));
                continue;
            }
            self.table.remove(&k);
            self.release(&k.local);
            self.stats.evicted += 1;
            return true;
        }
        while let Some((_, k)) = self.timeouts.pop_front() {
            // Any conversation still held (a resolved one's idle timer would only be set
            // when its timeout comes up).
            if self.table.remove(&k).is_some() {
                self.release(&k.local);
                self.stats.evicted += 1;
                return true;
            }
        }
        false
    }

    /// One conversation of `host` is gone.
    fn release(&mut self, host: &Addr) {
        if let Entry::Occupied(mut e) = self.per_host.entry(*host) {
            let n = e.get_mut();
            // A capped host keeps its mark (it was logged) until it holds none.
            let held = (*n & !CAPPED).saturating_sub(1);
            if held == 0 {
                e.remove();
            } else {
                *n = held | (*n & CAPPED);
            }
        }
    }

    /// A probe of `k.local` with `k`'s ports and protocol died in transit at `ts_ns`.
    fn note_transit(&mut self, k: &Key, ts_ns: u64) {
        let t = TransitKey::of(k);
        if self.transit.len() >= self.cfg.max_entries {
            self.stats.untracked += 1;
            return;
        }
        if self.transit.insert(t, ts_ns).is_none() {
            self.transit_order.push_back((ts_ns, t));
        }
    }

    /// Whether attempt `k` died in transit (and forget that it did).
    /// (On the transit notes alone, so the table can stay borrowed meanwhile.)
    fn died_in_transit(transit: &mut FxHashMap<TransitKey, u64>, k: &Key) -> bool {
        !transit.is_empty() && transit.remove(&TransitKey::of(k)).is_some()
    }

    fn insert(&mut self, k: Key, c: Conv) -> bool {
        if !admit(&self.cfg, &mut self.per_host, &mut self.stats, &k.local) {
            return false;
        }
        // The host has room; make room in the table (dropping nothing for a host at its cap).
        if self.table.len() >= self.cfg.max_entries {
            let (evicted, untracked) = (self.stats.evicted, self.stats.untracked);
            let made_room = self.evict_oldest();
            if !made_room {
                self.stats.untracked += 1;
            }
            if crate::summary::new_decade(evicted, self.stats.evicted)
                || crate::summary::new_decade(untracked, self.stats.untracked)
            {
                tracing::warn!(
                    "conversations: table full ({} in this shard): {} dropped so far to make \
                     room (resolved ones idle the longest first), {} attempts not tracked",
                    self.cfg.max_entries,
                    self.stats.evicted,
                    self.stats.untracked
                );
            }
            if !made_room {
                self.release(&k.local);
                return false;
            }
        }
        if matches!(c.state, State::Done) {
            self.idle
                .push_back((c.last_ns.saturating_add(self.cfg.idle_ns), k));
        } else {
            self.timeouts
                .push_back((c.first_ns.saturating_add(self.cfg.timeout_ns), k));
        }
        self.table.insert(k, c);
        self.stats.peak = self.stats.peak.max(self.table.len() as u64);
        true
    }

    fn open(&mut self, k: Key, r: &Record, state: State) {
        self.insert(k, Conv::first(r, state));
    }

    /// An outcome of the local host's attempt `k`, known at `ts_ns`.
    fn outcome(&mut self, k: &Key, c: &Conv, ts_ns: u64, ev: u8) {
        match ev {
            event::ANSWERED => self.stats.answered += 1,
            event::REJECTED => self.stats.rejected += 1,
            _ => self.stats.unanswered += 1,
        }
        if self.cfg.kinds & (1 << ev) == 0 {
            return;
        }
        self.out.push(Record {
            ts_ns,
            src: k.local,
            dst: k.remote,
            src_port: k.lport,
            dst_port: k.rport,
            ip_len: c.ip_len,
            proto: k.proto,
            tcp_flags: c.flags,
            icmp_type: c.icmp_type,
            frag: 0,
            event: ev,
            // Not kept per conversation: `dsize` filters packets only.
            payload_len: 0,
            more_packets: 0,
        });
    }

    /// The response `r` reached its destination unasked.
    fn unsolicited(&mut self, r: &Record) {
        self.stats.unsolicited += 1;
        if self.cfg.kinds & (1 << event::UNSOLICITED) == 0 {
            return;
        }
        self.out.push(Record {
            frag: 0,
            event: event::UNSOLICITED,
            ..*r
        });
    }

    /// The remote side of `k` sent UDP (its first datagram `ip_len` bytes) the local host
    /// never asked for nor answered.
    fn unsolicited_from(&mut self, k: &Key, ts_ns: u64, ip_len: u32) {
        self.unsolicited(&Record {
            ts_ns,
            src: k.remote,
            dst: k.local,
            src_port: k.rport,
            dst_port: k.lport,
            proto: k.proto,
            ip_len,
            ..Default::default()
        });
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

#[cfg(test)]
mod tests;
