//! Per-key state of a keyed stage: running totals, and one window state per rule spec.
//!
//! In: records of one key (through [`KeyEntry::spec_state`] and the pane, distinct-set and
//! top-k folds). Out: what evaluation reads: window counters, distinct counts, evidence.
//! Guarantees: a key holds state only for the specs whose filter one of its records matched,
//! sorted by the stage's local spec index, so finding a spec's state is a bit count (no
//! scan over the other states); memory grows with what the key did, not with the rule pack.

use serde::Serialize;

use super::topk::TopK;
use super::{DistinctSet, PaneRing};
use crate::alert::Evidence;
use crate::metrics::{DistinctKind, Ewma, Metric};
use crate::record::{event, Addr, Record};

/// Per-source totals since the key was first seen (while tracked).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub packets: u64,
    pub bytes: u64,
    pub first_ns: u64,
    pub last_ns: u64,
}

impl Totals {
    /// Count a record: a packet (or a weighted flow record's packets); outcome records
    /// are not traffic of the key.
    #[inline]
    pub(super) fn count(&mut self, rec: &Record) {
        if !rec.is_packet() {
            return;
        }
        self.packets += rec.packets() as u64;
        self.bytes += rec.bytes();
        self.last_ns = self.last_ns.max(rec.ts_ns);
    }

    pub(super) fn merge(&mut self, o: &Totals) {
        self.first_ns = if self.packets == 0 {
            o.first_ns
        } else {
            self.first_ns.min(o.first_ns)
        };
        self.last_ns = self.last_ns.max(o.last_ns);
        self.packets += o.packets;
        self.bytes += o.bytes;
    }
}

pub(super) struct KeyEntry {
    pub totals: Totals,
    pub last_batch: u64,
    /// Bit r: rule r must be evaluated at its next slide (new packets arrived for its spec,
    /// its necessary condition held last time, or it has no necessary condition and its
    /// window still holds packets). Rules from index 64 on are always evaluated.
    pub dirty: u64,
    /// The window end this key was last evaluated at (a key is listed at most once per
    /// evaluation, even if it was dropped and re-created while listed).
    pub evaluated: u64,
    /// On the stage's list of keys to evaluate.
    pub listed: bool,
    /// Bit s: `state` holds the state of local spec s (for s < 64).
    pub present: u64,
    /// Packets held by the panes of all its states (kept in step with them, so eviction
    /// orders keys without visiting their states).
    pub held: u64,
    /// The latest end of any cooldown of its states (0: none); kept in step with them.
    pub cool_until: u64,
    /// Packets, bytes and SYNs in batch `cur_b` (the dashboard's "now" rates).
    pub cur_b: u64,
    pub cur_pkts: u32,
    pub cur_syn: u32,
    pub cur_bytes: u64,
    pub state: Vec<SpecState>,
}

impl KeyEntry {
    pub fn new(first_ns: u64, batch: u64) -> Self {
        KeyEntry {
            totals: Totals {
                first_ns,
                ..Default::default()
            },
            last_batch: batch,
            dirty: 0,
            evaluated: u64::MAX,
            listed: false,
            present: 0,
            held: 0,
            cool_until: 0,
            cur_b: batch,
            cur_pkts: 0,
            cur_syn: 0,
            cur_bytes: 0,
            state: Vec::new(),
        }
    }

    /// Count a record in the totals and the current-batch rates.
    #[inline]
    pub fn count(&mut self, rec: &Record, batch: u64) {
        self.last_batch = self.last_batch.max(batch);
        if !rec.is_packet() {
            return;
        }
        self.totals.count(rec);
        let w = rec.packets();
        if self.cur_b != batch {
            self.cur_b = batch;
            self.cur_pkts = 0;
            self.cur_syn = 0;
            self.cur_bytes = 0;
        }
        self.cur_pkts = self.cur_pkts.saturating_add(w);
        self.cur_syn = self.cur_syn.saturating_add(rec.is_syn() as u32 * w);
        self.cur_bytes += rec.bytes();
    }

    /// Where local spec `local` is (or would be inserted) in `state`, and whether it is there.
    #[inline]
    fn slot(&self, local: u16) -> (usize, bool) {
        if local < 64 {
            let below = self.present & ((1u64 << local) - 1);
            (
                below.count_ones() as usize,
                self.present & (1 << local) != 0,
            )
        } else {
            match self.state.binary_search_by_key(&local, |s| s.local) {
                Ok(i) => (i, true),
                Err(i) => (i, false),
            }
        }
    }

    /// The state of local spec `local`, if the key has one.
    #[inline]
    pub fn get(&mut self, local: u16) -> Option<&mut SpecState> {
        match self.slot(local) {
            (i, true) => self.state.get_mut(i),
            _ => None,
        }
    }

    /// The state of local spec `local`, created when missing with a set for each of
    /// `kinds` (the distinct counts the spec's rules read).
    #[inline]
    pub fn spec_state(&mut self, local: u16, kinds: &[DistinctKind]) -> &mut SpecState {
        let (i, there) = self.slot(local);
        if !there {
            // Grow by one: a state is large and a key has few.
            self.state.reserve_exact(1);
            self.state.insert(i, SpecState::new(local, kinds));
            if local < 64 {
                self.present |= 1 << local;
            }
        }
        &mut self.state[i]
    }

    /// Keep only the states `keep` accepts (and the presence bits, held packets and
    /// cooldown end in step).
    pub fn retain_states(&mut self, keep: impl FnMut(&SpecState) -> bool) {
        self.state.retain(keep);
        self.present = self
            .state
            .iter()
            .filter(|s| s.local < 64)
            .fold(0, |m, s| m | 1 << s.local);
        self.recount();
    }

    /// Recompute `held` and `cool_until` from the states.
    pub fn recount(&mut self) {
        self.held = self.held_in_states();
        self.cool_until = self.cool_until_in_states();
    }

    /// Packets the panes of all its states hold (what `held` keeps).
    pub fn held_in_states(&self) -> u64 {
        self.state.iter().map(|st| st.panes.held().0).sum()
    }

    /// The latest end of any cooldown of its states (what `cool_until` keeps).
    pub fn cool_until_in_states(&self) -> u64 {
        self.state
            .iter()
            .flat_map(|st| st.cooldowns().iter().map(|c| c.1))
            .max()
            .unwrap_or(0)
    }
}

pub(super) struct SpecState {
    /// The stage's local index of the spec.
    pub local: u16,
    pub panes: PaneRing,
    /// One set per distinct count the spec's rules read, in one allocation sized to them
    /// (none when they read no distinct count).
    pub sets: Box<[KindSet]>,
    /// Alert cooldowns and baselines: most keys never need them.
    pub extra: Option<Box<Extra>>,
    /// Evidence: the most frequent destination ports and peers.
    pub top_ports: TopK<u16>,
    pub top_peers: TopK<Addr>,
}

/// A distinct set and the kind of element it counts.
pub(super) struct KindSet {
    pub kind: DistinctKind,
    pub set: DistinctSet,
}

#[derive(Default)]
pub(super) struct Extra {
    /// (rule, no alert for windows ending before this capture time)
    pub cooldown: Vec<(u16, u64)>,
    /// (rule, metric, baseline) for `zscore()` conditions.
    pub baselines: Vec<(u16, Metric, Ewma)>,
}

impl SpecState {
    fn new(local: u16, kinds: &[DistinctKind]) -> Self {
        SpecState {
            local,
            panes: PaneRing::default(),
            sets: kinds
                .iter()
                .map(|&kind| KindSet {
                    kind,
                    set: DistinctSet::Empty,
                })
                .collect(),
            extra: None,
            top_ports: TopK::default(),
            top_peers: TopK::default(),
        }
    }

    /// The set counting `kind`, if the spec's rules read it.
    #[inline]
    pub fn set(&self, kind: DistinctKind) -> Option<&DistinctSet> {
        self.sets.iter().find(|s| s.kind == kind).map(|s| &s.set)
    }

    /// Empty every set (the key's windows are all empty), keeping their allocation.
    pub fn clear_sets(&mut self) {
        for s in self.sets.iter_mut() {
            s.set = DistinctSet::Empty;
        }
    }

    pub fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    pub fn cooldowns(&self) -> &[(u16, u64)] {
        self.extra.as_ref().map_or(&[], |e| &e.cooldown)
    }

    /// Whether a cooldown still runs at `end_ns` (the state must then outlive its panes).
    pub fn cooling(&self, end_ns: u64) -> bool {
        self.cooldowns().iter().any(|(_, until)| *until > end_ns)
    }
}

/// Evidence for an alert: the key's most frequent destination ports and peers.
pub(super) fn evidence(st: &SpecState, end: u64, batch_ns: u64) -> Evidence {
    // `since` is a truncated batch number: rebuild it from its age.
    let since = |b: u32| (end - (end as u32).wrapping_sub(b) as u64) * batch_ns;
    Evidence {
        top_dst_ports: st
            .top_ports
            .top()
            .iter()
            .map(|e| (e.elem, e.count, since(e.since)))
            .collect(),
        top_peers: st
            .top_peers
            .top()
            .iter()
            .map(|e| (e.elem, e.count, since(e.since)))
            .collect(),
        approx: st.top_ports.approx || st.top_peers.approx,
        sketched: st.sets.iter().any(|s| s.set.is_sketch()),
    }
}

/// The element a record adds to a distinct set: ports and addresses exactly; tuples exactly
/// for IPv4 and as a 64-bit hash for IPv6 (top bit set, so never equal to an IPv4 value).
#[inline]
pub(super) fn element(kind: DistinctKind, r: &Record, peer: Addr) -> Option<u128> {
    if !r.is_packet() {
        // An outcome record is shaped like its attempt's first packet (an unsolicited one
        // like the response): it adds what that packet would, and failures their own sets.
        match kind {
            DistinctKind::FailedPorts if event::is_failure(r.event) => {
                return Some(((r.proto as u128) << 16) | r.dst_port as u128)
            }
            DistinctKind::FailedHosts if event::is_failure(r.event) => {
                return Some(r.dst.to_u128())
            }
            DistinctKind::FailedPairs if event::is_failure(r.event) => {
                let port = ((r.proto as u64) << 16) | r.dst_port as u64;
                return Some(match r.dst.as_v4() {
                    Some(o) => ((u32::from_be_bytes(o) as u128) << 24) | port as u128,
                    None => mix(r.dst.fingerprint(), port) as u128,
                });
            }
            DistinctKind::FailedPorts
            | DistinctKind::FailedHosts
            | DistinctKind::FailedPairs
            | DistinctKind::Conns => return None,
            _ => {}
        }
    }
    match kind {
        DistinctKind::FailedPorts | DistinctKind::FailedHosts | DistinctKind::FailedPairs => None,
        DistinctKind::SrcPorts => Some(r.src_port as u128),
        DistinctKind::Ports => Some(r.dst_port as u128),
        DistinctKind::Hosts => Some(r.dst.to_u128()),
        DistinctKind::SrcHosts => Some(r.src.to_u128()),
        DistinctKind::Pairs => Some(match r.dst.as_v4() {
            Some(o) => ((u32::from_be_bytes(o) as u128) << 16) | r.dst_port as u128,
            None => mix(r.dst.fingerprint(), r.dst_port as u64) as u128,
        }),
        DistinctKind::Conns => {
            // The connection's 4-tuple less the key (the other three identify it).
            if !r.is_syn() {
                return None;
            }
            let ports = ((r.dst_port as u128) << 16) | r.src_port as u128;
            Some(match peer.as_v4() {
                Some(o) => ((u32::from_be_bytes(o) as u128) << 32) | ports,
                None => mix(peer.fingerprint(), ports as u64) as u128,
            })
        }
    }
}

#[inline]
fn mix(a: u64, b: u64) -> u64 {
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&a.to_le_bytes());
    buf[8..].copy_from_slice(&b.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf) | (1 << 63)
}
