//! Panes: per-batch counters of one key, kept as long as the longest window.
//!
//! In: records (already filtered for the rule spec) with their batch index, in
//! non-decreasing batch order. Out: the merged [`Counters`] of any window `[end-len, end)`.
//! Guarantees: merging panes gives exactly the counts of the packets in the window (a
//! property test recounts by brute force); memory is one pane per batch with traffic.

use std::collections::VecDeque;

use crate::record::{event, Addr, Record};

/// Counters of one pane (or, merged, of one window).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// What rule conditions read.
    pub sums: Sums,
    /// First and last capture time seen (ns); 0 when empty.
    pub first_ns: u64,
    pub last_ns: u64,
    /// The one peer (destination when grouped by source, source when grouped by
    /// destination) of every packet, if there was exactly one.
    pub dst: Option<Addr>,
    pub dst_mixed: bool,
    /// The one IP protocol of every packet, if there was exactly one.
    pub proto: Option<u8>,
    pub proto_mixed: bool,
}

impl Counters {
    #[inline]
    pub fn add(&mut self, r: &Record, peer: Addr) {
        if self.sums.packets == 0 {
            self.first_ns = r.ts_ns;
        }
        self.first_ns = self.first_ns.min(r.ts_ns);
        self.last_ns = self.last_ns.max(r.ts_ns);
        self.sums.count(r);
        merge_one(&mut self.dst, &mut self.dst_mixed, Some(peer), false);
        merge_one(&mut self.proto, &mut self.proto_mixed, Some(r.proto), false);
    }

    pub fn merge(&mut self, o: &Counters) {
        if o.sums.packets == 0 {
            return;
        }
        if self.sums.packets == 0 {
            *self = *o;
            return;
        }
        self.sums.add(&o.sums);
        self.first_ns = self.first_ns.min(o.first_ns);
        self.last_ns = self.last_ns.max(o.last_ns);
        merge_one(&mut self.dst, &mut self.dst_mixed, o.dst, o.dst_mixed);
        merge_one(
            &mut self.proto,
            &mut self.proto_mixed,
            o.proto,
            o.proto_mixed,
        );
    }
}

/// The additive part of [`Counters`]: what rule conditions read (the rest, first and last
/// time, the single peer and protocol, only alerts show).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sums {
    /// Records: packets and outcome records together; a pane is empty when 0.
    pub packets: u64,
    pub bytes: u64,
    pub syn: u32,
    pub synack: u32,
    pub rst: u32,
    pub fin: u32,
    pub icmp_echo: u32,
    pub udp: u32,
    pub icmp_errors: u32,
    /// Outcome records of the conversation stage, by kind (`record::event`).
    pub answered: u32,
    pub rejected: u32,
    pub unanswered: u32,
    pub unsolicited: u32,
}

impl Sums {
    /// Packets, without the outcome records.
    #[inline]
    pub fn real_packets(&self) -> u64 {
        self.packets - (self.answered + self.rejected + self.unanswered + self.unsolicited) as u64
    }

    #[inline]
    fn count(&mut self, r: &Record) {
        let w = r.packets();
        self.packets += w as u64;
        // Packets: their IP length; outcome records: their attempt's first packet's (0
        // when the attempt is known only from the reply), an unsolicited one its response's.
        self.bytes += r.bytes();
        if !r.is_packet() {
            self.answered += (r.event == event::ANSWERED) as u32;
            self.rejected += (r.event == event::REJECTED) as u32;
            self.unanswered += (r.event == event::UNANSWERED) as u32;
            self.unsolicited += (r.event == event::UNSOLICITED) as u32;
            return;
        }
        // A weighted flow record's packets all carry its flags (`flow::weighted` gives a
        // flow's first and last packets records of their own).
        self.syn = self.syn.saturating_add(r.is_syn() as u32 * w);
        self.synack = self.synack.saturating_add(r.is_synack() as u32 * w);
        self.rst = self.rst.saturating_add(r.is_rst() as u32 * w);
        self.fin = self.fin.saturating_add(r.is_fin() as u32 * w);
        self.icmp_echo = self
            .icmp_echo
            .saturating_add(r.is_echo_request() as u32 * w);
        self.udp = self.udp.saturating_add(r.is_udp() as u32 * w);
        self.icmp_errors = self
            .icmp_errors
            .saturating_add(r.is_icmp_error() as u32 * w);
    }

    #[inline]
    fn add(&mut self, o: &Sums) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.syn = self.syn.saturating_add(o.syn);
        self.synack = self.synack.saturating_add(o.synack);
        self.rst = self.rst.saturating_add(o.rst);
        self.fin = self.fin.saturating_add(o.fin);
        self.icmp_echo = self.icmp_echo.saturating_add(o.icmp_echo);
        self.udp = self.udp.saturating_add(o.udp);
        self.icmp_errors = self.icmp_errors.saturating_add(o.icmp_errors);
        self.answered += o.answered;
        self.rejected += o.rejected;
        self.unanswered += o.unanswered;
        self.unsolicited += o.unsolicited;
    }
}

#[inline]
fn merge_one<T: PartialEq + Copy>(
    mine: &mut Option<T>,
    mixed: &mut bool,
    theirs: Option<T>,
    their_mixed: bool,
) {
    if *mixed {
        return;
    }
    if their_mixed {
        *mixed = true;
        *mine = None;
        return;
    }
    match (*mine, theirs) {
        (_, None) => {}
        (None, Some(t)) => *mine = Some(t),
        (Some(m), Some(t)) if m != t => {
            *mixed = true;
            *mine = None;
        }
        _ => {}
    }
}

/// Panes of one key; batch numbers are absolute (`u64`). The newest pane is held inline,
/// where most records land without touching the ring's heap buffer.
#[derive(Clone, Debug)]
pub struct PaneRing {
    cur_b: u64,
    /// Batch of the oldest pane in `older` (`u64::MAX` when empty): a copy, so that
    /// starting a new pane reads nothing from the ring's heap buffer.
    oldest: u64,
    /// The newest pane (`packets == 0`: no pane at all).
    cur: Counters,
    /// Older panes, oldest first, all before `cur_b`.
    older: VecDeque<(u64, Counters)>,
    /// Packets and bytes of all panes held (a bound on any window's).
    held_packets: u64,
    held_bytes: u64,
}

impl Default for PaneRing {
    fn default() -> Self {
        PaneRing {
            cur_b: 0,
            oldest: u64::MAX,
            cur: Counters::default(),
            older: VecDeque::new(),
            held_packets: 0,
            held_bytes: 0,
        }
    }
}

impl PaneRing {
    fn pop_older(&mut self) {
        if let Some((_, c)) = self.older.pop_front() {
            self.held_packets -= c.sums.packets;
            self.held_bytes -= c.sums.bytes;
        }
        self.oldest = self.older.front().map_or(u64::MAX, |p| p.0);
    }

    #[inline]
    /// Count `r` in the pane of `batch`; panes that no window of length `keep` ending after
    /// `batch` can see are dropped on the way.
    pub fn add(&mut self, batch: u64, r: &Record, peer: Addr, keep: u64) {
        self.held_packets += r.packets() as u64;
        self.held_bytes += r.bytes();
        if self.cur.sums.packets == 0 {
            self.cur_b = batch;
        }
        if batch == self.cur_b {
            self.cur.add(r, peer);
            return;
        }
        let mut c = Counters::default();
        c.add(r, peer);
        if batch > self.cur_b {
            if self.older.capacity() == 0 {
                // Room for one older pane only: most keys that see a second batch (a
                // retransmission, a reply) see no third, and a first growth to four panes
                // costs 448 B for each of a flood's spoofed sources.
                self.older.reserve_exact(1);
            }
            let old = std::mem::replace(&mut self.cur, c);
            self.older.push_back((self.cur_b, old));
            self.oldest = self.oldest.min(self.cur_b);
            self.cur_b = batch;
            while self.oldest.saturating_add(keep) <= batch {
                self.pop_older();
            }
            return;
        }
        // Records come in non-decreasing batch order per key; an older pane (never
        // expected) is merged in place to stay exact.
        match self.older.iter_mut().find(|(b, _)| *b == batch) {
            Some((_, old)) => old.merge(&c),
            None => {
                self.older.push_back((batch, c));
                self.older.make_contiguous().sort_by_key(|p| p.0);
                self.oldest = self.oldest.min(batch);
            }
        }
    }

    /// Counters of the window `[end - len, end)`.
    pub fn window(&self, end: u64, len: u64) -> Counters {
        let mut c = Counters::default();
        self.each_from_back(end.saturating_sub(len), end, |p| c.merge(p));
        c
    }

    /// Packets and bytes of every pane held: at least those of any window the ring can
    /// still answer for.
    #[inline]
    pub fn held(&self) -> (u64, u64) {
        (self.held_packets, self.held_bytes)
    }

    /// Drop panes no window ending at or after `end` with length <= `horizon` can see.
    pub fn prune(&mut self, end: u64, horizon: u64) {
        let start = end.saturating_sub(horizon);
        while self.oldest < start {
            self.pop_older();
        }
        if self.cur_b < start && self.cur.sums.packets > 0 {
            self.held_packets -= self.cur.sums.packets;
            self.held_bytes -= self.cur.sums.bytes;
            self.cur = Counters::default();
        }
    }

    /// The sums of the window `[end - len, end)`, as [`PaneRing::window`] would count them
    /// (what conditions read, without the merging of times, peer and protocol).
    pub fn sums(&self, end: u64, len: u64) -> Sums {
        let mut s = Sums::default();
        self.each_from_back(end.saturating_sub(len), end, |c| s.add(&c.sums));
        s
    }

    /// Visit the panes in `[start, end)`, newest first.
    #[inline]
    fn each_from_back(&self, start: u64, end: u64, mut f: impl FnMut(&Counters)) {
        if self.cur.sums.packets == 0 || self.cur_b < start {
            return;
        }
        if self.cur_b < end {
            f(&self.cur);
        }
        for (b, p) in self.older.iter().rev() {
            if *b < start {
                break;
            }
            if *b < end {
                f(p);
            }
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.older.capacity() * std::mem::size_of::<(u64, Counters)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{proto, tcp_flag};
    use proptest::prelude::*;

    fn rec(ts_s: u64, dst: u8, flags: u8, len: u32) -> Record {
        Record {
            ts_ns: ts_s * 1_000_000_000,
            dst: Addr::v4([10, 0, 0, dst]),
            proto: proto::TCP,
            tcp_flags: flags,
            ip_len: len,
            ..Default::default()
        }
    }

    proptest! {
        /// Merging panes equals a brute-force recount of the packets in the window.
        #[test]
        fn pane_merge_equals_recount(
            pkts in prop::collection::vec((0u64..40, 0u8..3, prop::sample::select(vec![tcp_flag::SYN, tcp_flag::ACK, tcp_flag::SYN | tcp_flag::ACK, tcp_flag::RST, tcp_flag::FIN]), 40u32..1500), 0..200),
            end in 0u64..45, len in 1u64..20)
        {
            let mut pkts: Vec<Record> = pkts.into_iter().map(|(t, d, f, l)| rec(t, d, f, l)).collect();
            pkts.sort_by_key(|r| r.ts_ns);
            let mut ring = PaneRing::default();
            for r in &pkts {
                ring.add(r.ts_ns / 1_000_000_000, r, r.dst, 100);
            }
            let got = ring.window(end, len);
            let mut want = Counters::default();
            for r in pkts.iter().filter(|r| { let b = r.ts_ns / 1_000_000_000; b < end && b + len >= end }) {
                want.add(r, r.dst);
            }
            prop_assert_eq!(got, want);
        }
    }

    fn sums_of(c: &Counters) -> Sums {
        c.sums
    }

    proptest! {
        /// A window's sums are the additive part of its merged counters, whatever the gaps
        /// between evaluations and however the ring was pruned.
        #[test]
        fn slid_sums_equal_merged_windows(
            pkts in prop::collection::vec((0u64..200, 0u8..3, 40u32..1500), 0..300),
            len in 1u64..30, slide in 1u64..8, skip in prop::collection::vec(any::<bool>(), 64),
            prune_every in 1u64..10)
        {
            let mut pkts: Vec<Record> = pkts.into_iter().map(|(t, d, l)| rec(t, d, tcp_flag::SYN, l)).collect();
            pkts.sort_by_key(|r| r.ts_ns);
            let keep = len + slide;
            let mut ring = PaneRing::default();
            let mut it = pkts.iter().peekable();
            for end in 1..=210u64 {
                while let Some(r) = it.next_if(|r| r.ts_ns / 1_000_000_000 < end) {
                    ring.add(r.ts_ns / 1_000_000_000, r, r.dst, keep);
                }
                if end % slide == 0 && !skip[(end / slide % 64) as usize] {
                    let want = sums_of(&ring.window(end, len));
                    prop_assert_eq!(ring.sums(end, len), want, "end {}", end);
                }
                if end % prune_every == 0 {
                    ring.prune(end, keep);
                }
            }
        }
    }

    #[test]
    fn single_destination_is_tracked() {
        let mut c = Counters::default();
        c.add(&rec(0, 1, tcp_flag::SYN, 40), Addr::v4([10, 0, 0, 1]));
        c.add(&rec(0, 1, tcp_flag::SYN, 40), Addr::v4([10, 0, 0, 1]));
        assert_eq!(c.dst, Some(Addr::v4([10, 0, 0, 1])));
        c.add(&rec(0, 2, tcp_flag::SYN, 40), Addr::v4([10, 0, 0, 2]));
        assert_eq!(c.dst, None);
        assert!(c.dst_mixed);
        assert_eq!(c.sums.syn, 3);
    }
}
