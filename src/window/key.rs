//! Window keys: what a keyed stage groups its records by.
//!
//! In: a record and the stage's `group_by`. Out: the record's key in that stage, and the
//! peer its distinct-host counts count. Guarantees: a key depends only on the record, and
//! every key of a stage is owned by one shard: the source address's (`src`, `pair`,
//! `flow`), the destination's (`dst`), or the one global key's (`all`).

use std::fmt::Debug;
use std::hash::Hash;

use crate::record::{Addr, Record};
use crate::rules::GroupBy;

/// A keyed stage's key type: [`Addr`] for `src`, `dst` and `all`; [`FlowKey`] for `pair`
/// and `flow`.
pub trait WindowKey: Copy + Eq + Hash + Ord + Debug + Send + 'static {
    /// `r`'s key in a stage grouping by `g`, and its peer (destination for every grouping
    /// but `dst`, whose peer is the source).
    fn of(g: GroupBy, r: &Record) -> (Self, Addr);
    /// The address host-group overrides and the dashboard go by (the source for `pair` and
    /// `flow`).
    fn addr(&self) -> Addr;
    /// The address pair or 5-tuple, for `pair` and `flow` keys.
    fn flow(&self) -> Option<FlowKey>;
}

impl WindowKey for Addr {
    #[inline]
    fn of(g: GroupBy, r: &Record) -> (Addr, Addr) {
        match g {
            GroupBy::Dst => (r.dst, r.src),
            GroupBy::All => (Addr::UNSPECIFIED, r.dst),
            GroupBy::Src | GroupBy::Pair | GroupBy::Flow => (r.src, r.dst),
        }
    }
    #[inline]
    fn addr(&self) -> Addr {
        *self
    }
    #[inline]
    fn flow(&self) -> Option<FlowKey> {
        None
    }
}

/// An address pair (`group_by = "pair"`, Suricata's `by_both`: ports and protocol 0) or a
/// 5-tuple (`group_by = "flow"`, Suricata's `by_flow`), in the record's direction: the
/// source's packets to the destination, not the replies.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
pub struct FlowKey {
    pub src: Addr,
    pub dst: Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
}

impl Hash for FlowKey {
    /// Five words, as the conversation table's key.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        crate::record::hash_tuple(
            h,
            &self.src,
            &self.dst,
            self.src_port,
            self.dst_port,
            self.proto,
        );
    }
}

impl WindowKey for FlowKey {
    #[inline]
    fn of(g: GroupBy, r: &Record) -> (FlowKey, Addr) {
        let pair = FlowKey {
            src: r.src,
            dst: r.dst,
            ..Default::default()
        };
        let key = match g {
            GroupBy::Flow => FlowKey {
                src_port: r.src_port,
                dst_port: r.dst_port,
                proto: r.proto,
                ..pair
            },
            _ => pair,
        };
        (key, r.dst)
    }
    #[inline]
    fn addr(&self) -> Addr {
        self.src
    }
    #[inline]
    fn flow(&self) -> Option<FlowKey> {
        Some(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> Record {
        Record {
            src: Addr::v4([10, 0, 0, 1]),
            dst: Addr::v4([10, 0, 0, 2]),
            src_port: 40000,
            dst_port: 22,
            proto: 6,
            ..Default::default()
        }
    }

    #[test]
    fn pair_keys_ignore_ports_and_flow_keys_keep_them() {
        let a = rec();
        let b = Record {
            src_port: 40001,
            ..rec()
        };
        assert_eq!(
            FlowKey::of(GroupBy::Pair, &a).0,
            FlowKey::of(GroupBy::Pair, &b).0
        );
        assert_ne!(
            FlowKey::of(GroupBy::Flow, &a).0,
            FlowKey::of(GroupBy::Flow, &b).0
        );
        let (k, peer) = FlowKey::of(GroupBy::Flow, &a);
        assert_eq!(
            (k.src, k.dst, k.src_port, k.dst_port, k.proto),
            (a.src, a.dst, 40000, 22, 6)
        );
        assert_eq!(peer, a.dst);
        assert_eq!(k.addr(), a.src);
    }

    #[test]
    fn address_keys_follow_the_grouping() {
        let a = rec();
        assert_eq!(Addr::of(GroupBy::Src, &a), (a.src, a.dst));
        assert_eq!(Addr::of(GroupBy::Dst, &a), (a.dst, a.src));
        assert_eq!(Addr::of(GroupBy::All, &a), (Addr::UNSPECIFIED, a.dst));
    }
}
