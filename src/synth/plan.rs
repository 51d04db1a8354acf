//! The planner: collects flows and ground-truth labels, plus benign-traffic builders.
//!
//! In: calls from the scenario builders (flows with start offsets, labels, client
//! behaviour requests against a [`Site`] of services and resolvers). Out: a [`Plan`] —
//! specs sorted by `(start, id)` with the earliest start at offset 0, the labels, and the
//! exact packet total. Guarantees: deterministic for a seed; benign clients built here
//! open at most [`MAX_AUTH_SESSIONS`] connections to brute-force-watched ports in a whole
//! capture and pick servers of their own address family only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::flows::{Kind, Spec};
use super::rng::Rng;
use super::Label;

pub const MS: u64 = 1_000_000;
pub const SEC: u64 = 1_000_000_000;

/// Ports the brute_force rule watches.
pub const AUTH_PORTS: &[u16] = &[
    21, 22, 23, 25, 110, 143, 389, 445, 1433, 3306, 3389, 5432, 5900,
];

/// Most sessions to [`AUTH_PORTS`] a benign client opens (the rule fires at 10 per 2 min).
pub const MAX_AUTH_SESSIONS: u8 = 3;

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// `2001:db8:<net>::<host>`.
pub fn v6(net: u16, host: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, net, 0, 0, 0, 0, host))
}

/// `n` web servers, 203.0.113.10 on, serving 80 and (three times as often) 443, with
/// popularity weights 1-5 in turn.
pub fn web_servers(n: u8) -> Vec<Service> {
    (0..n)
        .map(|i| Service {
            addr: v4(203, 0, 113, 10 + i),
            ports: &[80, 443, 443, 443],
            weight: 1 + (i as u32 % 5),
        })
        .collect()
}

pub fn is_auth_port(p: u16) -> bool {
    AUTH_PORTS.contains(&p)
}

/// A finished plan.
pub struct Plan {
    pub specs: Vec<Spec>,
    pub labels: Vec<Label>,
    pub packets: u64,
}

/// Accumulates flows and labels.
pub struct Planner {
    pub rng: Rng,
    specs: Vec<Spec>,
    labels: Vec<Label>,
    packets: u64,
}

impl Planner {
    pub fn new(seed: u64) -> Planner {
        Planner {
            rng: Rng::new(seed),
            specs: Vec::new(),
            labels: Vec::new(),
            packets: 0,
        }
    }

    pub fn with_capacity(seed: u64, specs: usize) -> Planner {
        let mut p = Planner::new(seed);
        p.specs.reserve(specs);
        p
    }

    /// Adds a flow starting at `start` ns; returns its packet count.
    pub fn add(&mut self, start: u64, kind: Kind) -> u64 {
        let spec = Spec {
            start,
            id: self.specs.len() as u32,
            kind,
        };
        let n = spec.packet_count();
        self.packets += n;
        self.specs.push(spec);
        n
    }

    /// Packets planned so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    pub fn label(
        &mut self,
        addr: IpAddr,
        role: &str,
        expect_rule: Option<&str>,
        group_by: &str,
        note: String,
    ) {
        self.labels.push(Label {
            addr: addr.to_string(),
            role: role.to_string(),
            expect_rule: expect_rule.map(str::to_string),
            group_by: group_by.to_string(),
            note,
        });
    }

    pub fn benign(&mut self, addr: IpAddr, note: impl Into<String>) {
        self.label(addr, "benign", None, "src", note.into());
    }

    pub fn attacker(&mut self, addr: IpAddr, rule: &str, note: String) {
        self.label(addr, "attacker", Some(rule), "src", note);
    }

    /// Sorts the flows and shifts them so the first packet is at offset 0.
    pub fn finish(mut self) -> Plan {
        let min = self.specs.iter().map(|s| s.start).min().unwrap_or(0);
        for s in &mut self.specs {
            s.start -= min;
        }
        self.specs.sort_unstable_by_key(|s| (s.start, s.id));
        Plan {
            specs: self.specs,
            labels: self.labels,
            packets: self.packets,
        }
    }
}

/// A server and the ports clients use on it.
pub struct Service {
    pub addr: IpAddr,
    pub ports: &'static [u16],
    /// Relative popularity.
    pub weight: u32,
}

/// What benign clients talk to.
pub struct Site {
    pub services: Vec<Service>,
    pub resolvers: Vec<IpAddr>,
    v4_weight: u32,
    v6_weight: u32,
}

impl Site {
    pub fn new(services: Vec<Service>, resolvers: Vec<IpAddr>) -> Site {
        let w = |v6: bool| {
            services
                .iter()
                .filter(|s| s.addr.is_ipv6() == v6)
                .map(|s| s.weight)
                .sum()
        };
        let (v4_weight, v6_weight) = (w(false), w(true));
        Site {
            services,
            resolvers,
            v4_weight,
            v6_weight,
        }
    }

    /// A popularity-weighted service of the client's address family.
    fn pick_service(&self, r: &mut Rng, v6: bool) -> Option<&Service> {
        let total = if v6 { self.v6_weight } else { self.v4_weight };
        if total == 0 {
            return None;
        }
        let mut x = r.below(total as u64) as u32;
        for s in self.services.iter().filter(|s| s.addr.is_ipv6() == v6) {
            if x < s.weight {
                return Some(s);
            }
            x -= s.weight;
        }
        None
    }

    /// A resolver of the client's family (falls back to any resolver).
    fn pick_resolver(&self, r: &mut Rng, v6: bool) -> Option<IpAddr> {
        let n = self.resolvers.iter().filter(|a| a.is_ipv6() == v6).count();
        if n == 0 {
            return None;
        }
        let k = r.below(n as u64) as usize;
        self.resolvers
            .iter()
            .copied()
            .filter(|a| a.is_ipv6() == v6)
            .nth(k)
    }

    /// Adds every service address and resolver as a benign label.
    pub fn label_all(&self, p: &mut Planner) {
        for s in &self.services {
            p.benign(s.addr, format!("server, ports {:?}", s.ports));
        }
        for a in &self.resolvers {
            p.benign(*a, "DNS resolver (answers from UDP 53)");
        }
    }
}

/// One client request: optional DNS lookup, then a complete TCP session, starting at a
/// random time in `[t0, t1)`. `auth` counts the client's sessions to auth ports so far.
/// Returns the packets added.
pub fn client_session(
    p: &mut Planner,
    site: &Site,
    client: IpAddr,
    t0: u64,
    t1: u64,
    auth: &mut u8,
) -> u64 {
    let v6 = client.is_ipv6();
    let mut start = p.rng.range(t0, t1.max(t0 + 1) - 1);
    let Some(svc) = site.pick_service(&mut p.rng, v6) else {
        return 0;
    };
    let (server, ports) = (svc.addr, svc.ports);
    let mut dport = *p.rng.pick(ports);
    if is_auth_port(dport) {
        if *auth >= MAX_AUTH_SESSIONS {
            dport = 443;
        } else {
            *auth += 1;
        }
    }
    let mut added = 0;
    if p.rng.chance(1, 2) {
        if let Some(resolver) = site.pick_resolver(&mut p.rng, v6) {
            added += dns_lookup(p, client, resolver, start);
            start += p.rng.range(30 * MS, 80 * MS);
        }
    }
    let sport = p.rng.ephemeral_port();
    let exchanges = p.rng.range(1, 4) as u8;
    let segs = match p.rng.below(10) {
        0..=5 => 1,
        6..=8 => 2,
        _ => 3,
    };
    let rtt_us = p.rng.range(2_000, 70_000) as u32;
    added
        + p.add(
            start,
            Kind::Tcp {
                client,
                server,
                sport,
                dport,
                exchanges,
                segs,
                rtt_us,
            },
        )
}

/// A standalone DNS lookup at a random time in `[t0, t1)`.
pub fn client_lookup(p: &mut Planner, site: &Site, client: IpAddr, t0: u64, t1: u64) -> u64 {
    let v6 = client.is_ipv6();
    let start = p.rng.range(t0, t1.max(t0 + 1) - 1);
    let Some(resolver) = site.pick_resolver(&mut p.rng, v6) else {
        return 0;
    };
    dns_lookup(p, client, resolver, start)
}

/// A DNS query from `client` to `resolver` at `start` (random source port and name).
fn dns_lookup(p: &mut Planner, client: IpAddr, resolver: IpAddr, start: u64) -> u64 {
    let sport = p.rng.ephemeral_port();
    let name = p.rng.below(8) as u8;
    p.add(
        start,
        Kind::Dns {
            client,
            resolver,
            sport,
            name,
        },
    )
}

/// `count` pings, one per second, from `src` to `dst` starting at `start`.
pub fn pings(p: &mut Planner, src: IpAddr, dst: IpAddr, start: u64, count: u16) -> u64 {
    let ident = p.rng.next_u16();
    let mut added = 0;
    for seq in 1..=count {
        let jitter = p.rng.below(3 * MS);
        let at = start + (seq as u64 - 1) * SEC + jitter;
        added += p.add(
            at,
            Kind::Echo {
                src,
                dst,
                ident,
                seq,
                len: 56,
                reply: true,
            },
        );
    }
    added
}

/// A typical benign client over `[t0, t1)`: `sessions` sessions, a couple of extra
/// lookups, sometimes a short ping. Labels the client.
pub fn benign_client(
    p: &mut Planner,
    site: &Site,
    client: IpAddr,
    t0: u64,
    t1: u64,
    sessions: u32,
    note: &str,
) {
    let mut auth = 0u8;
    for _ in 0..sessions {
        client_session(p, site, client, t0, t1, &mut auth);
    }
    for _ in 0..p.rng.range(0, 2) {
        client_lookup(p, site, client, t0, t1);
    }
    if p.rng.chance(1, 5) && t1 > t0 + 10 * SEC {
        let v6 = client.is_ipv6();
        if let Some(svc) = site.pick_service(&mut p.rng, v6) {
            let dst = svc.addr;
            let start = p.rng.range(t0, t1 - 6 * SEC);
            let count = p.rng.range(3, 5) as u16;
            pings(p, client, dst, start, count);
        }
    }
    p.benign(client, note);
}
