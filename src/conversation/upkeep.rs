//! The conversation table's upkeep: room when it is full, the per-host count, probes that
//! died in transit, and the outcome records it emits.
//!
//! In: the table's entries and timers. Out: entries dropped (counted), outcome records.
//! Guarantees: the bounds of the parent module (`max_entries`, `max_per_host`) hold after
//! every insert; each outcome is counted once.

use super::*;

impl Conversations {
    /// The table is full: drop a resolved conversation idle the longest (its packets were
    /// answered or refused long ago; should it carry on, it is only tracked anew), else the
    /// oldest unresolved attempt, so new attempts are still tracked while a flood of
    /// spoofed sources fills the table: a real prober's attempts resolve within a round
    /// trip, long before theirs come up. False when nothing could be dropped.
    ///
    /// (Resolved ones first: dropping the newest answered conversations instead, as the
    /// attempts queue would, makes every later packet of theirs an insert that evicts again.)
    pub(super) fn evict_oldest(&mut self) -> bool {
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
    pub(super) fn release(&mut self, host: &Addr) {
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
    pub(super) fn note_transit(&mut self, k: &Key, ts_ns: u64) {
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
    pub(super) fn died_in_transit(transit: &mut FxHashMap<TransitKey, u64>, k: &Key) -> bool {
        !transit.is_empty() && transit.remove(&TransitKey::of(k)).is_some()
    }

    pub(super) fn insert(&mut self, k: Key, c: Conv) -> bool {
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

    pub(super) fn open(&mut self, k: Key, r: &Record, state: State) {
        self.insert(k, Conv::first(r, state));
    }

    /// An outcome of the local host's attempt `k`, known at `ts_ns`.
    pub(super) fn outcome(&mut self, k: &Key, c: &Conv, ts_ns: u64, ev: u8) {
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
    pub(super) fn unsolicited(&mut self, r: &Record) {
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
    pub(super) fn unsolicited_from(&mut self, k: &Key, ts_ns: u64, ip_len: u32) {
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
}
