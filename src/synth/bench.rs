//! The `bench` scenario: a large, mostly benign capture for throughput measurements.
//!
//! In: seed and an optional approximate packet count (`scale`, default
//! [`DEFAULT_PACKETS`]). Out: a [`Plan`] spanning ~120 s with
//! `min(scale / 6, max(25,000, scale / 128))` benign clients (every 20th IPv6; each makes
//! at least one DNS lookup, so each is a source), 52 web/mail/db servers, 5 resolvers,
//! 1-4 attackers per source-keyed rule and one spoofed SYN flood. Guarantees: the planned
//! packet count is within one session of `max(scale, attack traffic + one lookup per
//! client)`; clients are capped at [`MAX_SESSIONS`] sessions and 3 auth-port sessions,
//! so no benign source approaches any rule threshold.

use std::net::{IpAddr, Ipv6Addr};

use super::attacks;
use super::plan::{
    client_lookup, client_session, pings, v4, v6, web_servers, Plan, Planner, Service, Site, SEC,
};

/// Default packet target for `bench` when `scale` is `None`.
pub const DEFAULT_PACKETS: u64 = 3_200_000;
/// Client count once `scale` is large enough (from 150,000 packets up to ~3.2M).
pub const MIN_BIG_CLIENTS: u64 = 25_000;
/// Most sessions per benign client over the 120 s capture.
pub const MAX_SESSIONS: u8 = 20;

const DURATION: u64 = 120 * SEC;

/// Client `i`: 10.128.0.0/9 (hosts .2-.251 of consecutive /24s), every 20th in 2001:db8:100::/48.
fn client_addr(i: u64) -> IpAddr {
    if i % 20 == 19 {
        IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0x100,
            0,
            0,
            0,
            (i >> 16) as u16,
            i as u16,
        ))
    } else {
        let net = i / 250;
        v4(
            10,
            128 + (net / 256) as u8,
            (net % 256) as u8,
            2 + (i % 250) as u8,
        )
    }
}

pub fn plan(seed: u64, scale: Option<u64>) -> Plan {
    let target = scale.unwrap_or(DEFAULT_PACKETS);
    let mut p = Planner::with_capacity(seed, (target / 12) as usize + 1024);

    // Servers and resolvers.
    let mut services = web_servers(48);
    services.push(Service {
        addr: v4(198, 51, 100, 25),
        ports: &[22, 25, 143, 993, 443],
        weight: 2,
    });
    services.push(Service {
        addr: v4(198, 51, 100, 54),
        ports: &[5432, 3306, 443],
        weight: 1,
    });
    services.push(Service {
        addr: v6(2, 0x80),
        ports: &[443, 443, 80],
        weight: 1,
    });
    services.push(Service {
        addr: v6(2, 0x81),
        ports: &[443],
        weight: 1,
    });
    let resolvers = vec![
        v4(10, 0, 0, 53),
        v4(10, 0, 1, 53),
        v4(10, 0, 2, 53),
        v4(10, 0, 3, 53),
        v6(0x53, 0x53),
    ];
    let site = Site::new(services, resolvers);
    site.label_all(&mut p);

    // Attacks first: their size is fixed, the benign part fills the remaining budget.
    let per_kind = (target / 1_000_000).clamp(1, 4);
    // 25,000 clients up to ~3.2M packets; beyond that ~128 packets per client so the
    // per-client session cap never limits the total.
    let n_clients_guess = (target / 6).clamp(50, (target / 128).max(MIN_BIG_CLIENTS));
    let srv = |k: u64| v4(203, 0, 113, 10 + (k % 48) as u8);
    for k in 0..per_kind {
        let who = |kind: u64| v4(192, 0, 2, (100 + kind * 10 + k) as u8);
        let t = |p: &mut Planner, len: u64| p.rng.range(2 * SEC, DURATION - len - 2 * SEC);
        let t0 = t(&mut p, 10 * SEC);
        attacks::port_scan(&mut p, who(0), srv(k), t0, 1000, 10 * SEC);
        // Sweep one of the populated client /24s; clients .2-.251 that exist answer.
        let subnet = (k * 7) % (n_clients_guess / 250).max(1);
        let live = move |a: IpAddr| match a {
            IpAddr::V4(x) => {
                let o = x.octets();
                (2..=251).contains(&o[3]) && {
                    let i = subnet * 250 + o[3] as u64 - 2;
                    i < n_clients_guess && i % 20 != 19
                }
            }
            IpAddr::V6(_) => false,
        };
        let t0 = t(&mut p, 20 * SEC);
        let net = [10, 128 + (subnet / 256) as u8, (subnet % 256) as u8];
        attacks::host_sweep(&mut p, who(1), net, 200, &live, t0, 20 * SEC);
        let t0 = t(&mut p, 5 * SEC);
        attacks::syn_flood(&mut p, who(2), srv(k + 1), 443, t0, 300, 5);
        let t0 = t(&mut p, 4 * SEC);
        attacks::icmp_flood(&mut p, who(3), srv(k + 2), t0, 500, 4);
        let t0 = t(&mut p, 3 * SEC);
        attacks::udp_flood(&mut p, who(4), srv(k + 3), t0, 3000, 3);
        let t0 = t(&mut p, 60 * SEC);
        attacks::brute_force(&mut p, who(5), v4(198, 51, 100, 25), 22, t0, 30, 60 * SEC);
    }
    attacks::spoofed_flood(&mut p, v4(10, 10, 10, 10), 80, 70 * SEC, 20_000, 15_000, 20);

    benign_clients(&mut p, &site, n_clients_guess, DURATION, target);
    p.finish()
}

/// `n` benign clients (addresses from [`client_addr`]) over `[0, duration)`: one lookup
/// each, pings from every 50th, then weighted round-robin sessions (at most
/// [`MAX_SESSIONS`] a client) until the plan holds `target` packets. Labels them.
pub(super) fn benign_clients(p: &mut Planner, site: &Site, n: u64, duration: u64, target: u64) {
    let n = n as usize;
    let mut weight = vec![0u8; n];
    for (i, w) in weight.iter_mut().enumerate() {
        let c = client_addr(i as u64);
        *w = [1, 2, 2, 4][p.rng.below(4) as usize];
        client_lookup(p, site, c, 0, duration);
        if i % 50 == 7 {
            let dst = v4(203, 0, 113, 10 + (i % 48) as u8);
            let dst = if c.is_ipv6() { v6(2, 0x80) } else { dst };
            let at = p.rng.range(0, duration - 5 * SEC);
            pings(p, c, dst, at, 3);
        }
    }
    let mut sessions = vec![0u8; n];
    let mut auth = vec![0u8; n];
    'fill: loop {
        let mut progressed = false;
        for i in 0..n {
            if p.packets() >= target {
                break 'fill;
            }
            if sessions[i] >= MAX_SESSIONS || !p.rng.chance(weight[i] as u64, 4) {
                continue;
            }
            client_session(p, site, client_addr(i as u64), 0, duration, &mut auth[i]);
            sessions[i] += 1;
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    for i in 0..n as u64 {
        let note = if i % 20 == 19 {
            "IPv6 client"
        } else {
            "client"
        };
        p.benign(client_addr(i), note);
    }
}
