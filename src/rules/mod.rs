//! Rules: the rule file, compiled into filters, windows and conditions.
//!
//! In: TOML text (the embedded default pack or `--rules FILE`). Out: a [`RuleSet`]: rules
//! with resolved metrics, durations in nanoseconds, filters as port ranges and prefix
//! sets, and "specs" (one per distinct filter and grouping) so rules that look at the same
//! packets share one window state. Guarantees: a rule set that compiles is valid for any
//! batch interval that divides its windows and slides ([`RuleSet::check_batch`]); every
//! error names file, line and column.

pub mod expr;
mod parse;
pub mod reload;

use std::fmt;

use crate::metrics::{DistinctKind, Metric};
use crate::record::{event, Addr, Record};
pub use expr::Expr;
pub use parse::{parse_duration as parse_duration_str, parse_rules, RuleError};
pub use reload::{rebase, Carry};

/// The default rule pack, compiled into the binary.
pub const DEFAULT_RULES: &str = include_str!("../../rules/default.toml");
pub const DEFAULT_RULES_NAME: &str = "<default rules>";

pub fn default_rules() -> RuleSet {
    parse_rules(DEFAULT_RULES, DEFAULT_RULES_NAME).expect("the embedded default rules compile")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupBy {
    Src,
    Dst,
    /// All traffic as one key (global rules such as a traffic spike).
    All,
    /// Source and destination address (Suricata's `by_both`): what one host does to another.
    Pair,
    /// The 5-tuple in the record's direction (Suricata's `by_flow`).
    Flow,
}

impl GroupBy {
    pub const ALL: [GroupBy; 5] = [
        GroupBy::Src,
        GroupBy::Dst,
        GroupBy::All,
        GroupBy::Pair,
        GroupBy::Flow,
    ];
    /// Stage index in the pipeline (0 source, 1 destination, 2 all, 3 pair, 4 flow).
    pub fn stage(self) -> usize {
        self as usize
    }

    /// Whose shard holds the stage's keys: `pair` and `flow` keys live with their source.
    pub fn owner(self) -> GroupBy {
        match self {
            GroupBy::Pair | GroupBy::Flow => GroupBy::Src,
            g => g,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Src => "src",
            GroupBy::Dst => "dst",
            GroupBy::All => "all",
            GroupBy::Pair => "pair",
            GroupBy::Flow => "flow",
        }
    }

    /// The address that partitions a record for this grouping (its owner's).
    #[inline]
    pub fn key(self, r: &Record) -> Addr {
        match self {
            GroupBy::Src | GroupBy::Pair | GroupBy::Flow => r.src,
            GroupBy::Dst => r.dst,
            GroupBy::All => Addr::UNSPECIFIED,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub signature_id: u32,
    pub description: String,
    /// 1 (high) .. 3 (low), as in Suricata.
    pub severity: u8,
    pub category: String,
    pub group_by: GroupBy,
    pub filter: Filter,
    pub window_ns: u64,
    pub slide_ns: u64,
    pub cooldown_ns: u64,
    pub condition: Expr,
    pub condition_text: String,
    /// Metrics the condition reads (reported in alerts).
    pub reads: Vec<Metric>,
    /// See [`Expr::monotone_part`]: lets the engine skip keys that cannot fire.
    pub necessary: Option<Expr>,
    /// Metrics under `zscore()`, and how their per-key baselines learn.
    pub zscores: Vec<Metric>,
    pub baseline: Baseline,
    /// Per host group: a different condition, cooldown, or the rule off. The first group
    /// (in file order) that contains the key applies.
    pub overrides: Vec<Override>,
    /// Index of the spec whose state this rule reads.
    pub spec: usize,
    /// Line of the rule's `[[rule]]` header in its file.
    pub line: usize,
    /// `yield_to`: rules (same grouping) whose running cooldown for a key holds this rule
    /// back for that key; they are evaluated first.
    pub yields_to: Vec<usize>,
}

/// How a rule's per-key baselines (`zscore()`) learn: an exponentially weighted mean and
/// variance over the windows in which the key had packets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Baseline {
    /// Weight of the newest window, 0 < alpha <= 1.
    pub alpha: f64,
    /// Windows seen before `zscore()` reports anything but 0.
    pub warmup: u32,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            alpha: 0.1,
            warmup: 10,
        }
    }
}

/// A named host group's variant of a rule.
#[derive(Clone, Debug)]
pub struct Override {
    pub group: String,
    pub nets: Vec<Cidr>,
    pub enabled: bool,
    pub condition: Expr,
    pub condition_text: String,
    pub reads: Vec<Metric>,
    pub necessary: Option<Expr>,
    pub cooldown_ns: u64,
}

/// What a rule evaluates for one key: its own condition or a host group's override.
#[derive(Clone, Copy, Debug)]
pub struct Variant<'a> {
    pub group: Option<&'a str>,
    pub enabled: bool,
    pub condition: &'a Expr,
    pub reads: &'a [Metric],
    pub necessary: Option<&'a Expr>,
    pub cooldown_ns: u64,
}

impl Rule {
    /// The variant that applies to `key` (the first host group containing it, or the rule).
    #[inline]
    pub fn variant(&self, key: &Addr) -> Variant<'_> {
        for o in &self.overrides {
            if o.nets.iter().any(|c| c.contains(key)) {
                return Variant {
                    group: Some(&o.group),
                    enabled: o.enabled,
                    condition: &o.condition,
                    reads: &o.reads,
                    necessary: o.necessary.as_ref(),
                    cooldown_ns: o.cooldown_ns,
                };
            }
        }
        Variant {
            group: None,
            enabled: true,
            condition: &self.condition,
            reads: &self.reads,
            necessary: self.necessary.as_ref(),
            cooldown_ns: self.cooldown_ns,
        }
    }

    /// Whether every variant has a monotone necessary part (so a key can be skipped).
    pub fn skippable(&self) -> bool {
        self.necessary.is_some()
            && self
                .overrides
                .iter()
                .all(|o| o.necessary.is_some() || !o.enabled)
    }
}

/// Rules that see the same packets (same filter and grouping) share one window state.
#[derive(Clone, Debug)]
pub struct Spec {
    pub filter: Filter,
    pub group_by: GroupBy,
    /// Which distinct sets this spec's rules need, by [`DistinctKind`].
    pub distinct: [bool; DistinctKind::COUNT],
    pub rules: Vec<usize>,
}

impl RuleSet {
    /// The longest window of the rules reading spec `s`, in ns.
    pub fn spec_window_ns(&self, s: usize) -> u64 {
        self.specs[s]
            .rules
            .iter()
            .map(|&r| self.rules[r].window_ns)
            .max()
            .unwrap_or(0)
    }
}

impl Spec {
    pub fn needs(&self, k: DistinctKind) -> bool {
        self.distinct[k as usize]
    }
}

#[derive(Clone, Debug)]
pub struct RuleSet {
    pub source: String,
    pub rules: Vec<Rule>,
    pub specs: Vec<Spec>,
}

impl RuleSet {
    /// Whether the pipeline keeps a keyed stage for grouping `g`: by source always, by
    /// destination and all traffic only when some spec groups that way.
    /// Whether a rule reads an outcome of the conversation stage (`Metric::from_conversations`).
    pub fn needs_conversations(&self) -> bool {
        self.rules.iter().any(|r| {
            r.reads.iter().any(|m| m.from_conversations())
                || r.overrides
                    .iter()
                    .any(|o| o.reads.iter().any(|m| m.from_conversations()))
        })
    }

    /// The outcome kinds some spec takes (bit `record::event::*`): the conversation stage
    /// makes records of these only.
    pub fn outcome_kinds(&self) -> u8 {
        let all = event::OUTCOMES;
        self.specs
            .iter()
            .map(|s| s.filter.outcomes.unwrap_or(all) & all)
            .fold(0, |a, b| a | b)
    }

    pub fn has_stage(&self, g: GroupBy) -> bool {
        g == GroupBy::Src || self.specs.iter().any(|s| s.group_by == g)
    }

    /// The filters of the specs grouped by `g`: a record goes to that grouping's stage when
    /// one of them matches it (none: the stage gets no record).
    pub fn stage_filters(&self, g: GroupBy) -> Vec<Filter> {
        self.specs
            .iter()
            .filter(|s| s.group_by == g)
            .map(|s| s.filter.clone())
            .collect()
    }

    /// The longest window of any rule, in ns.
    pub fn max_window_ns(&self) -> u64 {
        self.rules.iter().map(|r| r.window_ns).max().unwrap_or(0)
    }

    /// Every window and slide must be a whole number of batches.
    pub fn check_batch(&self, batch_ns: u64) -> Result<(), String> {
        for r in &self.rules {
            for (what, v) in [("window", r.window_ns), ("slide", r.slide_ns)] {
                if v % batch_ns != 0 {
                    return Err(format!(
                        "rule `{}` ({}:{}): {what} {} is not a multiple of the batch interval {}",
                        r.id,
                        self.source,
                        r.line,
                        fmt_duration(v),
                        fmt_duration(batch_ns)
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// Inclusive port ranges.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortSet(pub Vec<(u16, u16)>);

impl PortSet {
    #[inline]
    pub fn contains(&self, p: u16) -> bool {
        self.0.iter().any(|&(a, b)| a <= p && p <= b)
    }
}

/// An address prefix over the 16-byte address space (IPv4 as `::ffff:0:0/96` + n).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub net: u128,
    pub len: u8,
}

impl Cidr {
    #[inline]
    pub fn contains(&self, a: &Addr) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u128::MAX << (128 - self.len as u32)
        };
        a.to_u128() & mask == self.net
    }

    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = match s.split_once('/') {
            Some((ip, l)) => (ip, Some(l.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let ip: std::net::IpAddr = ip.trim().parse().ok()?;
        let (addr, len) = match ip {
            std::net::IpAddr::V4(_) => (Addr::from(ip), 96 + len.unwrap_or(32).min(33)),
            std::net::IpAddr::V6(_) => (Addr::from(ip), len.unwrap_or(128).min(129)),
        };
        if len > 128 {
            return None;
        }
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len as u32)
        };
        Some(Cidr {
            net: addr.to_u128() & mask,
            len,
        })
    }
}

/// Which packets a rule looks at. Protocol-specific parts (TCP flags, ICMP types) apply only
/// to packets of that protocol, so `proto = ["tcp", "icmp"]` with `tcp_flags = "S"` and
/// `icmp_type = [8]` means "TCP SYNs or ICMP echo requests".
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Filter {
    pub protos: Option<Vec<u8>>,
    pub tcp_flags_set: u8,
    pub tcp_flags_unset: u8,
    pub icmp_types: Option<Vec<u8>>,
    /// Which records, by kind (bit `record::event::*`; bit 0: packets). `outcome = [...]`
    /// in a rule: only those outcomes of the conversation stage, no packets. Without it:
    /// packets only for a rule that reads no outcome metric, `None` (packets and outcomes
    /// both: an outcome looks like its attempt's first packet) for one that does.
    pub outcomes: Option<u8>,
    /// `fragment = [...]`: only packets of these fragment kinds (bit `record::frag::*`).
    pub fragments: Option<u8>,
    /// `dsize = "..."`: only packets whose transport payload length is in this inclusive
    /// range (`Record::payload_len`).
    pub dsize: Option<(u16, u16)>,
    pub src_ports: Option<PortSet>,
    pub dst_ports: Option<PortSet>,
    pub src_nets: Option<Vec<Cidr>>,
    pub dst_nets: Option<Vec<Cidr>>,
    /// `not_in` lists and allow-lists: packets matching any of these are ignored.
    pub src_ports_not: Option<PortSet>,
    pub dst_ports_not: Option<PortSet>,
    pub src_nets_not: Option<Vec<Cidr>>,
    pub dst_nets_not: Option<Vec<Cidr>>,
}

impl Filter {
    #[inline]
    pub fn matches(&self, r: &Record) -> bool {
        self.matches_class(r) && self.matches_rest(r)
    }

    /// The part of [`Filter::matches`] that reads only the protocol, the TCP flags and the
    /// ICMP type (a record's class: few enough values to tabulate, see
    /// [`Filter::class_of`]).
    #[inline]
    pub fn matches_class(&self, r: &Record) -> bool {
        if let Some(m) = self.outcomes {
            if m & (1 << (r.event & 7)) == 0 {
                return false;
            }
        }
        if let Some(p) = &self.protos {
            if !p.contains(&r.proto) {
                return false;
            }
        }
        if r.is_tcp()
            && (r.tcp_flags & self.tcp_flags_set != self.tcp_flags_set
                || r.tcp_flags & self.tcp_flags_unset != 0)
        {
            return false;
        }
        if r.is_icmp() {
            if let Some(t) = &self.icmp_types {
                if !t.contains(&r.icmp_type) {
                    return false;
                }
            }
        }
        true
    }

    /// Classes: `Filter::CLASSES` values, one per (protocol, TCP flags or ICMP type) that
    /// [`Filter::matches_class`] can tell apart.
    pub const CLASSES: usize = 1024;

    /// A record's class, and a record of that class (for building tables).
    #[inline]
    pub fn class_of(r: &Record) -> usize {
        match r.proto {
            crate::record::proto::TCP => 256 + r.tcp_flags as usize,
            crate::record::proto::ICMP => 512 + r.icmp_type as usize,
            crate::record::proto::ICMPV6 => 768 + r.icmp_type as usize,
            p => p as usize,
        }
    }

    /// Per record class: bit `i` set when `filters[i]`'s class part passes it (see
    /// [`Filter::matches_class`]). Empty for more than 64 filters: check them whole.
    pub fn class_table<'a>(filters: impl ExactSizeIterator<Item = &'a Filter> + Clone) -> Vec<u64> {
        if filters.len() > 64 {
            return Vec::new();
        }
        (0..Filter::CLASSES)
            .map(|c| {
                let r = Filter::class_example(c);
                filters
                    .clone()
                    .enumerate()
                    .filter(|(_, f)| f.matches_class(&r))
                    .fold(0u64, |m, (i, _)| m | 1 << i)
            })
            .collect()
    }

    pub fn class_example(class: usize) -> Record {
        use crate::record::proto;
        let (p, v) = match class {
            0..=255 => (class as u8, 0),
            256..=511 => (proto::TCP, (class - 256) as u8),
            512..=767 => (proto::ICMP, (class - 512) as u8),
            _ => (proto::ICMPV6, (class - 768) as u8),
        };
        Record {
            proto: p,
            tcp_flags: if p == proto::TCP { v } else { 0 },
            icmp_type: if p == proto::TCP { 0 } else { v },
            ..Default::default()
        }
    }

    /// The rest of [`Filter::matches`]: ports and addresses.
    #[inline]
    pub fn matches_rest(&self, r: &Record) -> bool {
        if let Some(m) = self.fragments {
            if m & (1 << (r.frag & 7)) == 0 {
                return false;
            }
        }
        if let Some((lo, hi)) = self.dsize {
            if r.payload_len < lo || r.payload_len > hi {
                return false;
            }
        }
        if let Some(ps) = &self.dst_ports {
            if !ps.contains(r.dst_port) {
                return false;
            }
        }
        if let Some(ps) = &self.src_ports {
            if !ps.contains(r.src_port) {
                return false;
            }
        }
        if let Some(n) = &self.src_nets {
            if !n.iter().any(|c| c.contains(&r.src)) {
                return false;
            }
        }
        if let Some(n) = &self.dst_nets {
            if !n.iter().any(|c| c.contains(&r.dst)) {
                return false;
            }
        }
        if self
            .dst_ports_not
            .as_ref()
            .is_some_and(|ps| ps.contains(r.dst_port))
            || self
                .src_ports_not
                .as_ref()
                .is_some_and(|ps| ps.contains(r.src_port))
            || self
                .src_nets_not
                .as_ref()
                .is_some_and(|n| n.iter().any(|c| c.contains(&r.src)))
            || self
                .dst_nets_not
                .as_ref()
                .is_some_and(|n| n.iter().any(|c| c.contains(&r.dst)))
        {
            return false;
        }
        true
    }
}

pub struct Duration(pub u64);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_duration(self.0))
    }
}

pub fn fmt_duration(ns: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    for (u, s) in UNITS {
        if ns >= u && ns.is_multiple_of(u) {
            return format!("{}{}", ns / u, s);
        }
    }
    format!("{ns}ns")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{proto, tcp_flag};
    use proptest::prelude::*;

    proptest! {
        /// A record's class decides `matches_class` as the record itself does (what the
        /// keyed stages' class tables rely on), for every filter of the shipped packs.
        #[test]
        fn class_decides_like_the_record(
            p in prop::sample::select(vec![1u8, 6, 17, 58, 47, 132]),
            flags in any::<u8>(), icmp in any::<u8>(), sport in any::<u16>(), dport in any::<u16>())
        {
            let r = Record { proto: p, tcp_flags: flags, icmp_type: icmp, src_port: sport, dst_port: dport, ..Default::default() };
            let example = Filter::class_example(Filter::class_of(&r));
            let examples = parse_rules(include_str!("../../rules/examples.toml"), "examples").unwrap();
            for rs in [default_rules(), examples] {
                for spec in &rs.specs {
                    prop_assert_eq!(spec.filter.matches_class(&r), spec.filter.matches_class(&example));
                }
            }
        }
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(&Addr::v4([10, 9, 9, 9])));
        assert!(!c.contains(&Addr::v4([11, 0, 0, 0])));
        let c6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c6.contains(&"2001:db8::5".parse::<std::net::IpAddr>().unwrap().into()));
        assert!(!c6.contains(&Addr::v4([10, 0, 0, 1])));
        assert!(Cidr::parse("1.2.3.4/33").is_none());
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains(&Addr::v4([1, 2, 3, 4])));
    }

    #[test]
    fn filter_protocol_specific_parts() {
        let f = Filter {
            protos: Some(vec![proto::TCP, proto::ICMP]),
            tcp_flags_set: tcp_flag::SYN,
            tcp_flags_unset: tcp_flag::ACK,
            icmp_types: Some(vec![8]),
            ..Default::default()
        };
        let syn = Record {
            proto: proto::TCP,
            tcp_flags: tcp_flag::SYN,
            ..Default::default()
        };
        let synack = Record {
            tcp_flags: tcp_flag::SYN | tcp_flag::ACK,
            ..syn
        };
        let echo = Record {
            proto: proto::ICMP,
            icmp_type: 8,
            ..Default::default()
        };
        let reply = Record {
            icmp_type: 0,
            ..echo
        };
        let udp = Record {
            proto: proto::UDP,
            ..Default::default()
        };
        assert!(f.matches(&syn) && f.matches(&echo));
        assert!(!f.matches(&synack) && !f.matches(&reply) && !f.matches(&udp));
    }

    #[test]
    fn durations_print() {
        assert_eq!(fmt_duration(60_000_000_000), "1m");
        assert_eq!(fmt_duration(1_500_000_000), "1500ms");
    }
}
