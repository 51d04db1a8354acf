//! Attack traffic builders, one per detection rule, each also writing its ground truth.
//!
//! In: a [`Planner`], the attacker's address, its target(s) and a start offset. Out: the
//! attack's flows added to the plan and one label (attacker -> expected rule, or for the
//! spoofed flood victim -> `syn_flood_dst`); the return value is the offset at which the
//! attack ends. Guarantees: each attacker clearly exceeds its own rule's threshold in at
//! least one aligned window and stays below every other source-keyed rule (the scan
//! avoids auth ports below 1024, the sweep uses one port, floods hit one port/host).

use std::net::IpAddr;

use super::flows::{Kind, Reply};
use super::plan::{v4, Planner, MS, SEC};

/// Half-open SYN scan of `n` (<= 1024) distinct ports in 1024..=2047 over `dur` ns.
/// Only port 1433 of the brute-force list can fall in that range, so brute_force stays quiet.
pub fn port_scan(
    p: &mut Planner,
    attacker: IpAddr,
    target: IpAddr,
    t0: u64,
    n: u32,
    dur: u64,
) -> u64 {
    let n = n.min(1024);
    let mut ports: Vec<u16> = (1024..=2047).collect();
    p.rng.shuffle(&mut ports);
    let sport = p.rng.ephemeral_port();
    let step = dur / n as u64;
    for (i, &dport) in ports.iter().take(n as usize).enumerate() {
        let at = t0 + i as u64 * step + p.rng.below(step / 2 + 1);
        let reply = if p.rng.chance(1, 10) {
            Reply::None
        } else {
            Reply::Rst
        };
        p.add(
            at,
            Kind::Probe {
                src: attacker,
                dst: target,
                sport,
                dport,
                reply,
            },
        );
    }
    p.attacker(
        attacker,
        "port_scan",
        format!(
            "SYN scan of {n} ports (1024-2047) on {target} over {}s",
            dur / SEC
        ),
    );
    t0 + dur
}

/// Ping plus SYN to port 80 for hosts `.1..=.n` of `net` (a /24) over `dur` ns.
/// Hosts for which `live` is true answer (echo reply, RST).
pub fn host_sweep(
    p: &mut Planner,
    attacker: IpAddr,
    net: [u8; 3],
    n: u8,
    live: &dyn Fn(IpAddr) -> bool,
    t0: u64,
    dur: u64,
) -> u64 {
    let mut hosts: Vec<u8> = (1..=n).collect();
    p.rng.shuffle(&mut hosts);
    let step = dur / n as u64;
    let ident = p.rng.next_u16();
    let sport = p.rng.ephemeral_port();
    for (i, &h) in hosts.iter().enumerate() {
        let dst = v4(net[0], net[1], net[2], h);
        let up = live(dst);
        let at = t0 + i as u64 * step + p.rng.below(step / 4 + 1);
        p.add(
            at,
            Kind::Echo {
                src: attacker,
                dst,
                ident,
                seq: i as u16 + 1,
                len: 32,
                reply: up,
            },
        );
        let reply = if up { Reply::Rst } else { Reply::None };
        let syn_at = at + 2 * MS + p.rng.below(3 * MS);
        p.add(
            syn_at,
            Kind::Probe {
                src: attacker,
                dst,
                sport,
                dport: 80,
                reply,
            },
        );
    }
    let net_s = format!("{}.{}.{}.0/24", net[0], net[1], net[2]);
    p.attacker(
        attacker,
        "host_sweep",
        format!(
            "ping + SYN:80 sweep of {n} hosts in {net_s} over {}s",
            dur / SEC
        ),
    );
    t0 + dur
}

/// Evenly spaced event times: `rate` per second for `secs` seconds, jittered within slots.
fn slots(
    p: &mut Planner,
    t0: u64,
    rate: u64,
    secs: u64,
    mut f: impl FnMut(&mut Planner, u64, u64),
) {
    let step = SEC / rate;
    for i in 0..rate * secs {
        let at = t0 + i * step + p.rng.below(step);
        f(p, at, i);
    }
}

/// `rate` SYN/s from random source ports to `target:port` for `secs` s; the target answers
/// with SYN/ACKs that are never completed.
pub fn syn_flood(
    p: &mut Planner,
    attacker: IpAddr,
    target: IpAddr,
    port: u16,
    t0: u64,
    rate: u64,
    secs: u64,
) -> u64 {
    slots(p, t0, rate, secs, |p, at, _| {
        let sport = p.rng.range(1024, 65535) as u16;
        p.add(
            at,
            Kind::Probe {
                src: attacker,
                dst: target,
                sport,
                dport: port,
                reply: Reply::SynAck,
            },
        );
    });
    p.attacker(
        attacker,
        "syn_flood",
        format!("{rate} SYN/s to {target}:{port} for {secs}s"),
    );
    t0 + secs * SEC
}

/// `rate` echo requests/s to `target` for `secs` s; the target replies to each.
pub fn icmp_flood(
    p: &mut Planner,
    attacker: IpAddr,
    target: IpAddr,
    t0: u64,
    rate: u64,
    secs: u64,
) -> u64 {
    let ident = p.rng.next_u16();
    slots(p, t0, rate, secs, |p, at, i| {
        p.add(
            at,
            Kind::Echo {
                src: attacker,
                dst: target,
                ident,
                seq: i as u16,
                len: 32,
                reply: true,
            },
        );
    });
    p.attacker(
        attacker,
        "icmp_flood",
        format!("{rate} ICMP echo requests/s to {target} for {secs}s"),
    );
    t0 + secs * SEC
}

/// `rate` small UDP datagrams/s to random ports of `target` for `secs` s.
pub fn udp_flood(
    p: &mut Planner,
    attacker: IpAddr,
    target: IpAddr,
    t0: u64,
    rate: u64,
    secs: u64,
) -> u64 {
    slots(p, t0, rate, secs, |p, at, _| {
        let sport = p.rng.range(1024, 65535) as u16;
        let dport = p.rng.range(1, 65535) as u16;
        let len = p.rng.range(18, 46) as u16; // 60-88 byte frames
        p.add(
            at,
            Kind::Udp {
                src: attacker,
                dst: target,
                sport,
                dport,
                len,
            },
        );
    });
    p.attacker(
        attacker,
        "udp_flood",
        format!("{rate} UDP packets/s to random ports of {target} for {secs}s"),
    );
    t0 + secs * SEC
}

/// `n` complete short TCP sessions (login attempts) to `target:port`, one every
/// `dur / n` ns.
pub fn brute_force(
    p: &mut Planner,
    attacker: IpAddr,
    target: IpAddr,
    port: u16,
    t0: u64,
    n: u32,
    dur: u64,
) -> u64 {
    let step = dur / n as u64;
    let rtt_us = p.rng.range(15_000, 60_000) as u32;
    for i in 0..n as u64 {
        let at = t0 + i * step + p.rng.below(step / 4 + 1);
        let sport = p.rng.ephemeral_port();
        p.add(
            at,
            Kind::Tcp {
                client: attacker,
                server: target,
                sport,
                dport: port,
                exchanges: 3,
                segs: 1,
                rtt_us,
            },
        );
    }
    p.attacker(
        attacker,
        "brute_force",
        format!("{n} login sessions to {target}:{port} over {}s", dur / SEC),
    );
    t0 + dur
}

/// `n_syn` SYNs to `victim:port` over `secs` s from `n_src` distinct spoofed sources in
/// 198.18.0.0/15 (RFC 2544); `n_syn - n_src` of them retransmit once. The victim is
/// labelled (`victim`, group_by `dst`, `syn_flood_dst`); the spoofed sources are not.
pub fn spoofed_flood(
    p: &mut Planner,
    victim: IpAddr,
    port: u16,
    t0: u64,
    n_syn: u32,
    n_src: u32,
    secs: u64,
) -> u64 {
    let n_src = n_src.min(120_000);
    let retx = n_syn.saturating_sub(n_src).min(n_src);
    let sources = spoofed_addrs(p, [198, 18], 17).take(n_src as usize);
    for (made, src) in sources.enumerate() {
        let made = made as u32;
        let sport = p.rng.range(1024, 65535) as u16;
        if made < retx {
            spoofed_syn_retx(p, src, victim, sport, port, t0, secs);
        } else {
            let at = t0 + p.rng.below(secs * SEC);
            p.add(
                at,
                Kind::Probe {
                    src,
                    dst: victim,
                    sport,
                    dport: port,
                    reply: Reply::None,
                },
            );
        }
    }
    let note = format!("{n_syn} spoofed SYNs to {victim}:{port} from {n_src} sources over {secs}s");
    p.label(victim, "victim", Some("syn_flood_dst"), "dst", note);
    t0 + secs * SEC
}

/// Distinct spoofed source addresses in `net[0].net[1].0.0/(32 - bits)`, hosts .1-.254, in
/// a random order drawn from `p` (two numbers, drawn now): (a*i + b) mod 2^bits with odd a
/// is a permutation, so they are distinct without a set. 254/256 of 2^bits in all.
pub fn spoofed_addrs(p: &mut Planner, net: [u8; 2], bits: u32) -> impl Iterator<Item = IpAddr> {
    let a = p.rng.next_u32() | 1;
    let b = p.rng.next_u32();
    let mask = (1u32 << bits) - 1;
    (0..=mask)
        .map(move |i| a.wrapping_mul(i).wrapping_add(b) & mask)
        .filter(|x| !matches!(x & 0xff, 0 | 255))
        .map(move |x| v4(net[0], net[1] + (x >> 16) as u8, (x >> 8) as u8, x as u8))
}

/// One spoofed SYN from `src:sport` to `victim:port` at a random time in `secs` seconds
/// from `t0`, retransmitted 1 or 3 s later (never answered).
pub fn spoofed_syn_retx(
    p: &mut Planner,
    src: IpAddr,
    victim: IpAddr,
    sport: u16,
    port: u16,
    t0: u64,
    secs: u64,
) {
    let delay_ms = if p.rng.chance(1, 2) { 1000 } else { 3000 };
    let at = t0 + p.rng.below(secs * SEC - delay_ms as u64 * MS);
    p.add(
        at,
        Kind::SynRetx {
            src,
            dst: victim,
            sport,
            dport: port,
            delay_ms,
        },
    );
}
