//! Throughput mixes: large captures shaped like the traffic users bring, for benchmarks
//! beside `bench` (which mixes a bit of everything).
//!
//! In: seed and an optional approximate packet count (`scale`, default [`DEFAULT_PACKETS`]).
//! Out: a [`Plan`]:
//! - `many-clients`: 20,000 clients (fewer below 3M packets: about 150 packets each; every
//!   20th on IPv6) talking to 50 web servers and one DNS resolver for 60 s; no attacker.
//! - `spoofed-million`: a SYN flood at one victim from up to 1,000,000 spoofed sources
//!   (172.16.0.0/12, each source a SYN and its retransmission) over 40 s, two thirds of the
//!   packets at 3M, with up to 10,000 benign clients for the rest, 60 s in all.
//! - `scan-heavy`: many slow scanners (one per 600 packets of scale, 2 probes/s each over
//!   60 s, half probing 120 ports of one server, half sweeping 120 dark addresses with a
//!   ping and a SYN each) among benign clients filling the rest.
//!
//! Guarantees: deterministic for a seed; every attacker and victim is labelled with the rule
//! that must name it, and clients stay far below every threshold (as in `bench`); the
//! planned packet count is within one session of `scale` (`spoofed-million`: within its
//! flood's rounding).

use std::net::IpAddr;

use super::attacks;
use super::bench::benign_clients;
use super::plan::{v4, v6, web_servers, Plan, Planner, Service, Site, SEC};

/// Default packet target of every mix.
pub const DEFAULT_PACKETS: u64 = 3_000_000;

const DURATION: u64 = 60 * SEC;

/// 50 web servers (49 IPv4, 203.0.113.10-58, and one IPv6 for the IPv6 clients) and the
/// given resolvers (each also reached over IPv6 by the IPv6 clients).
fn web_site(resolvers: &[IpAddr]) -> Site {
    let mut services = web_servers(49);
    services.push(Service {
        addr: v6(2, 0x80),
        ports: &[443, 443, 80],
        weight: 1,
    });
    let v6s = (0..resolvers.len() as u16).map(|i| v6(0x53, 0x53 + i));
    Site::new(services, resolvers.iter().copied().chain(v6s).collect())
}

/// `many-clients`: 20,000 clients, 50 servers, one resolver, 60 s.
pub fn many_clients(seed: u64, scale: Option<u64>) -> Plan {
    let target = scale.unwrap_or(DEFAULT_PACKETS);
    let mut p = Planner::with_capacity(seed, (target / 12) as usize + 1024);
    let site = web_site(&[v4(10, 0, 0, 53)]);
    site.label_all(&mut p);
    let clients = (target / 150).clamp(50, 20_000);
    benign_clients(&mut p, &site, clients, DURATION, target);
    p.finish()
}

/// `spoofed-million`: one victim, up to 1M spoofed sources, two SYNs each.
pub fn spoofed_million(seed: u64, scale: Option<u64>) -> Plan {
    let target = scale.unwrap_or(DEFAULT_PACKETS);
    let mut p = Planner::with_capacity(seed, (target / 2) as usize + 1024);
    let site = web_site(&[v4(10, 0, 0, 53)]);
    site.label_all(&mut p);
    let sources = (target / 3).clamp(1, 1_000_000) as u32;
    let victim = v4(10, 10, 10, 10);
    wide_spoofed_flood(&mut p, victim, 80, 10 * SEC, sources, 40);
    let clients = (target / 300).clamp(50, 10_000);
    benign_clients(&mut p, &site, clients, DURATION, target);
    p.finish()
}

/// A SYN flood at `victim:port` from `n_src` distinct spoofed sources of 172.16.0.0/12
/// (each a SYN and, 1 or 3 s later, its retransmission; never answered), starting at `t0`
/// over `secs` seconds. Labels the victim.
fn wide_spoofed_flood(p: &mut Planner, victim: IpAddr, port: u16, t0: u64, n_src: u32, secs: u64) {
    let n_src = n_src.min(1_040_000);
    for src in attacks::spoofed_addrs(p, [172, 16], 20).take(n_src as usize) {
        let sport = p.rng.range(1024, 65535) as u16;
        attacks::spoofed_syn_retx(p, src, victim, sport, port, t0, secs);
    }
    let note = format!("SYN flood at {victim}:{port} from {n_src} spoofed sources over {secs}s");
    p.label(victim, "victim", Some("syn_flood_dst"), "dst", note);
}

/// `scan-heavy`: one slow scanner per 600 packets of scale among benign clients.
pub fn scan_heavy(seed: u64, scale: Option<u64>) -> Plan {
    let target = scale.unwrap_or(DEFAULT_PACKETS);
    let mut p = Planner::with_capacity(seed, (target / 4) as usize + 1024);
    let site = web_site(&[v4(10, 0, 0, 53), v4(10, 0, 1, 53)]);
    site.label_all(&mut p);
    let scanners = (target / 600).clamp(2, 60_000);
    for k in 0..scanners {
        // 198.18.0.0/15 (RFC 2544), hosts .1-.250.
        let who = v4(
            198,
            18 + (k / 64_000) as u8,
            (k / 250 % 256) as u8,
            1 + (k % 250) as u8,
        );
        // Each starts within the first 5 s: its 60 s of probes fit the capture.
        let t0 = p.rng.below(5 * SEC);
        if k % 2 == 0 {
            let target = v4(203, 0, 113, 10 + (k / 2 % 49) as u8);
            attacks::port_scan(&mut p, who, target, t0, 120, DURATION - 5 * SEC);
        } else {
            // Dark /24s of 10.64.0.0/10: no host answers.
            let n = k / 2;
            let net = [10, 64 + (n / 256 % 64) as u8, (n % 256) as u8];
            attacks::host_sweep(&mut p, who, net, 120, &|_| false, t0, DURATION - 5 * SEC);
        }
    }
    let clients = (target / 300).clamp(50, 10_000);
    benign_clients(&mut p, &site, clients, DURATION, target);
    p.finish()
}
