//! Keys on probation: a new key's first few records, kept as they came, until the key could
//! bring a rule near firing.
//!
//! In: records of keys the stage does not hold yet. Out: the records, applied in their order
//! when the key is promoted (its records reach the fewest packets any of the stage's rules
//! needs, or a fourth record comes); totals for the top sources of keys that leave.
//! Guarantees: alerts are those of a stage without probation. A key below every rule's gate
//! (`evaluate::gate_packets`, the fewest packets a rule's necessary condition needs) gets no
//! dirty bit, so no window of it is evaluated until it gets more records; its records are
//! applied in arrival order, before any later one of the key, with the batch they came in.
//! Stages with a rule that is always evaluated (a baseline, no necessary condition, index 64
//! or more) hold no key on probation. A flood's spoofed sources and a sweep's dark
//! addresses, which send or receive one to three records each, cost 16 B of key and 200 B of
//! records instead of a key entry and its spec states (1.2 kB).

use super::*;

/// Records a key holds on probation at most (a SYN, its retransmission and its outcome).
const RECORDS: usize = 3;

pub(super) struct Probation {
    len: u8,
    recs: [Record; RECORDS],
}

impl Probation {
    fn records(&self) -> &[Record] {
        &self.recs[..self.len as usize]
    }

    /// Packets the records stand for (what rule gates count).
    pub(super) fn weight(&self) -> u64 {
        self.records().iter().map(|r| r.packets() as u64).sum()
    }

    /// The key's totals, as its entry would count them.
    pub(super) fn totals(&self) -> Totals {
        let mut t = Totals {
            first_ns: self.recs[0].ts_ns,
            ..Default::default()
        };
        for r in self.records() {
            t.count(r);
        }
        t
    }

    /// The newest record's capture time.
    pub(super) fn last_ns(&self) -> u64 {
        self.records().iter().map(|r| r.ts_ns).max().unwrap_or(0)
    }
}

/// A record no gate counts as small: it stands for more bytes than its packets can carry
/// (a rule reading bytes may then fire below its packet gate).
fn oversized(r: &Record) -> bool {
    r.bytes() > (r.packets() as u64).saturating_mul(evaluate::MAX_IP_LEN)
}

impl<K: WindowKey> KeyedWindows<K> {
    /// Bytes of one probation slot (key, records, control byte).
    pub(super) const PROBATION_SLOT_BYTES: usize = std::mem::size_of::<(K, Probation)>() + 1;

    /// The fewest packets that can bring any of the stage's rules near firing (0: some
    /// rule is always evaluated, and no key goes on probation).
    pub(super) fn probation_gate(
        rules: &RuleSet,
        stage_rules: &[usize],
        timing: &[Timing],
        batch_ns: u64,
    ) -> u64 {
        stage_rules
            .iter()
            .map(|&r| {
                if r >= 64 {
                    return 0;
                }
                let secs = (timing[r].window_b * batch_ns) as f64 / 1e9;
                evaluate::gate_packets(&rules.rules[r], secs)
            })
            .min()
            .unwrap_or(0)
    }

    /// Keep `rec` of a key the stage does not hold while the key stays below every gate:
    /// true when kept. Otherwise the key's earlier records are applied (it is promoted)
    /// and the caller applies `rec`.
    pub(super) fn hold_on_probation(&mut self, key: K, rec: &Record) -> bool {
        let gate = self.probation_gate;
        if let Some(p) = self.probation.get_mut(&key) {
            let n = p.len as usize;
            if n < RECORDS && p.weight() + (rec.packets() as u64) < gate && !oversized(rec) {
                p.recs[n] = *rec;
                p.len += 1;
                return true;
            }
            if let Some(p) = self.probation.remove(&key) {
                self.promote(&p);
            }
            return false;
        }
        if (rec.packets() as u64) >= gate || oversized(rec) {
            return false;
        }
        let held = self.keys.len() + self.probation.len();
        if held >= self.cfg.max_keys || self.bytes_with_one_on_probation() > self.byte_limit {
            self.evict(held < self.cfg.max_keys);
        }
        let mut p = Probation {
            len: 1,
            recs: [Record::default(); RECORDS],
        };
        p.recs[0] = *rec;
        let cap = self.probation.capacity();
        self.probation.insert(key, p);
        if self.probation.capacity() > cap && self.held_bytes() > self.byte_limit {
            // The map grew although it had room: the slots of evicted keys still counted
            // as used, and it rehashed into a table twice the size. Give that back.
            self.evict(true);
            self.probation.shrink_to(self.probation.len());
        }
        let n = (self.keys.len() + self.probation.len()) as u64;
        self.stats.keys_peak = self.stats.keys_peak.max(n);
        true
    }

    /// Promote every key on probation (before the rules change under them).
    pub(super) fn promote_all(&mut self) {
        let mut keys: Vec<(K, Probation)> =
            std::mem::take(&mut self.probation).into_iter().collect();
        // In key order, so the stage's state does not depend on the map's.
        keys.sort_unstable_by_key(|k| k.0);
        for (_, p) in keys {
            self.promote(&p);
        }
    }

    /// Apply a key's records from probation, in the order they came, with their batch.
    fn promote(&mut self, p: &Probation) {
        for r in p.records() {
            self.apply_now(r.ts_ns / self.cfg.batch_ns, r);
        }
    }

    /// Drop keys on probation quiet since before batch `end - horizon` (as the sweep
    /// drops held keys): their totals go to the top sources.
    pub(super) fn expire_probation(&mut self, end: u64, horizon: u64) {
        let mut gone: Vec<(K, Totals)> = Vec::new();
        let b = self.cfg.batch_ns;
        self.probation.retain(|k, p| {
            let keep = p.last_ns() / b + horizon >= end;
            if !keep {
                gone.push((*k, p.totals()));
            }
            keep
        });
        for (k, t) in gone {
            self.stats.keys_expired += 1;
            self.keep_top(k.addr(), t);
        }
        if self.probation.capacity() > 1024 && self.probation.capacity() / 4 > self.probation.len()
        {
            self.probation.shrink_to(self.probation.len() * 2);
        }
    }
}
