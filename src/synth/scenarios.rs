//! Scenario plans other than `bench`: demo, benign crowd, single-attack, spoofed flood.
//!
//! In: the scenario and seed. Out: a [`Plan`] (flows + labels). Guarantees: the address
//! plan uses documentation ranges only (clients 10.20.0.0/16 and 2001:db8:1::/48, servers
//! 203.0.113.0/24, 198.51.100.0/24 and 2001:db8:2::/48, resolvers 10.0.x.53 and
//! 2001:db8:0:53::53, attackers 192.0.2.0/24, spoofed sources 198.18.0.0/15); every host
//! that sends traffic is labelled (spoofed sources excepted); attackers use exactly the
//! addresses in [`DEMO_ATTACKERS`].

use std::net::IpAddr;

use super::attacks;
use super::plan::{
    benign_client, client_session, pings, v4, v6, Plan, Planner, Service, Site, SEC,
};
use super::Scenario;

/// Demo/single-scenario attacker addresses by rule.
pub const DEMO_ATTACKERS: &[(&str, [u8; 4])] = &[
    ("port_scan", [192, 0, 2, 10]),
    ("host_sweep", [192, 0, 2, 20]),
    ("syn_flood", [192, 0, 2, 30]),
    ("icmp_flood", [192, 0, 2, 40]),
    ("udp_flood", [192, 0, 2, 50]),
    ("brute_force", [192, 0, 2, 60]),
];

fn attacker_addr(rule: &str) -> IpAddr {
    let o = DEMO_ATTACKERS
        .iter()
        .find(|(r, _)| *r == rule)
        .expect("known rule")
        .1;
    v4(o[0], o[1], o[2], o[3])
}

const WEB1: [u8; 4] = [203, 0, 113, 10];
const WEB2: [u8; 4] = [203, 0, 113, 11];
const MAIL: [u8; 4] = [203, 0, 113, 25];
const SWEEP_NET: [u8; 3] = [10, 20, 30];

fn a(o: [u8; 4]) -> IpAddr {
    v4(o[0], o[1], o[2], o[3])
}

/// Clients 10.20.30.10 .. 10.20.30.(10+n-1).
fn lan_clients(n: u8) -> Vec<IpAddr> {
    (0..n).map(|i| v4(10, 20, 30, 10 + i)).collect()
}

/// True for the LAN clients that exist (they answer the host sweep).
fn lan_live(n: u8) -> impl Fn(IpAddr) -> bool {
    move |addr| match addr {
        IpAddr::V4(x) => {
            let o = x.octets();
            o[..3] == SWEEP_NET && (10..10 + n).contains(&o[3])
        }
        IpAddr::V6(_) => false,
    }
}

fn base_services() -> Vec<Service> {
    vec![
        Service {
            addr: a(WEB1),
            ports: &[80, 443, 443],
            weight: 5,
        },
        Service {
            addr: a(WEB2),
            ports: &[443],
            weight: 3,
        },
        Service {
            addr: a(MAIL),
            ports: &[22, 25, 143, 443],
            weight: 1,
        },
    ]
}

pub fn plan(scenario: Scenario, seed: u64) -> Plan {
    match scenario {
        Scenario::Demo => demo(seed),
        Scenario::BenignCrowd => benign_crowd(seed),
        Scenario::SpoofedFlood => spoofed(seed),
        Scenario::Bench
        | Scenario::ManyClients
        | Scenario::SpoofedMillion
        | Scenario::ScanHeavy => {
            unreachable!("throughput mixes are planned by synth::bench and synth::mixes")
        }
        single => single_attack(single, seed),
    }
}

/// Adds the standard demo-sized attack for `rule` starting at `t0`; returns its end.
fn standard_attack(p: &mut Planner, rule: &str, t0: u64, live_lan: u8) -> u64 {
    let who = attacker_addr(rule);
    match rule {
        "port_scan" => attacks::port_scan(p, who, a(WEB1), t0, 1000, 10 * SEC),
        "host_sweep" => {
            attacks::host_sweep(p, who, SWEEP_NET, 200, &lan_live(live_lan), t0, 20 * SEC)
        }
        "syn_flood" => attacks::syn_flood(p, who, a(WEB2), 443, t0, 300, 5),
        "icmp_flood" => attacks::icmp_flood(p, who, a(WEB1), t0, 500, 4),
        "udp_flood" => attacks::udp_flood(p, who, a(WEB2), t0, 3000, 3),
        "brute_force" => attacks::brute_force(p, who, a(MAIL), 22, t0, 30, 60 * SEC),
        other => unreachable!("no attack builder for {other}"),
    }
}

/// ~90 s, 40 benign hosts (33 clients incl. 5 IPv6, 5 servers, resolver v4+v6) and one
/// attacker per source-keyed rule.
fn demo(seed: u64) -> Plan {
    let mut p = Planner::new(seed);
    let dur = 90 * SEC;
    let mut services = base_services();
    services.push(Service {
        addr: v4(10, 0, 5, 10),
        ports: &[5432, 3306],
        weight: 1,
    });
    services.push(Service {
        addr: v6(2, 0x80),
        ports: &[443, 443, 80],
        weight: 3,
    });
    let site = Site::new(services, vec![v4(10, 0, 0, 53), v6(0x53, 0x53)]);
    site.label_all(&mut p);

    let clients: Vec<IpAddr> = lan_clients(28)
        .into_iter()
        .chain((0..5).map(|i| v6(1, 0x10 + i)))
        .collect();
    for c in clients {
        let n = p.rng.range(4, 6) as u32;
        benign_client(
            &mut p,
            &site,
            c,
            0,
            dur,
            n,
            "workstation: web/DNS, occasional mail/ssh/db",
        );
    }

    standard_attack(&mut p, "port_scan", 8 * SEC, 28);
    standard_attack(&mut p, "brute_force", 12 * SEC, 28);
    standard_attack(&mut p, "host_sweep", 22 * SEC, 28);
    standard_attack(&mut p, "syn_flood", 45 * SEC, 28);
    standard_attack(&mut p, "icmp_flood", 55 * SEC, 28);
    standard_attack(&mut p, "udp_flood", 65 * SEC, 28);
    p.finish()
}

/// ~10 background hosts (6 clients, 3 servers, 1 resolver) around one attacker.
fn single_attack(scenario: Scenario, seed: u64) -> Plan {
    let rule = match scenario {
        Scenario::PortScan => "port_scan",
        Scenario::HostSweep => "host_sweep",
        Scenario::SynFlood => "syn_flood",
        Scenario::IcmpFlood => "icmp_flood",
        Scenario::UdpFlood => "udp_flood",
        Scenario::BruteForce => "brute_force",
        _ => unreachable!(),
    };
    let mut p = Planner::new(seed);
    let end = standard_attack(&mut p, rule, 5 * SEC, 6) + 10 * SEC;
    background(&mut p, base_services(), end);
    p.finish()
}

/// Six LAN clients using `services` and resolver 10.0.0.53 over `[0, end)`.
fn background(p: &mut Planner, services: Vec<Service>, end: u64) {
    let site = Site::new(services, vec![v4(10, 0, 0, 53)]);
    site.label_all(p);
    let per_client = (end / SEC / 12).max(3) as u32;
    for c in lan_clients(6) {
        let n = p.rng.range(per_client as u64, per_client as u64 + 2) as u32;
        benign_client(
            p,
            &site,
            c,
            0,
            end,
            n,
            "workstation: web/DNS, occasional mail/ssh",
        );
    }
}

/// 20,000 spoofed SYNs in 20 s at 10.10.10.10:80 (which also serves the background clients).
fn spoofed(seed: u64) -> Plan {
    let mut p = Planner::new(seed);
    let victim = v4(10, 10, 10, 10);
    let end = attacks::spoofed_flood(&mut p, victim, 80, 10 * SEC, 20_000, 15_000, 20) + 10 * SEC;
    let mut services = base_services();
    services.push(Service {
        addr: victim,
        ports: &[80],
        weight: 4,
    });
    let site = Site::new(services, vec![v4(10, 0, 0, 53)]);
    // The victim is labelled as such by spoofed_flood; label the rest.
    for s in site.services.iter().filter(|s| s.addr != victim) {
        p.benign(s.addr, format!("server, ports {:?}", s.ports));
    }
    p.benign(v4(10, 0, 0, 53), "DNS resolver (answers from UDP 53)");
    for c in lan_clients(6) {
        let n = p.rng.range(4, 6) as u32;
        benign_client(&mut p, &site, c, 0, end, n, "workstation: web/DNS");
    }
    p.finish()
}

/// ~80 s: 500 clients (20 IPv6), 8+2 busy web servers, 2 resolvers, a NAT gateway with
/// ~40 outbound connections/min to 30 external web hosts, a monitoring host pinging
/// servers. No attacker.
fn benign_crowd(seed: u64) -> Plan {
    let mut p = Planner::new(seed);
    let dur = 80 * SEC;
    let mut services: Vec<Service> = (0..8)
        .map(|i| Service {
            addr: v4(203, 0, 113, 10 + i),
            ports: &[80, 443, 443, 443],
            weight: 4,
        })
        .collect();
    services.push(Service {
        addr: a(MAIL),
        ports: &[22, 25, 143, 993, 443],
        weight: 1,
    });
    services.push(Service {
        addr: v6(2, 0x80),
        ports: &[443],
        weight: 3,
    });
    services.push(Service {
        addr: v6(2, 0x81),
        ports: &[443, 80],
        weight: 2,
    });
    let resolvers = vec![v4(10, 0, 0, 53), v4(10, 0, 1, 53), v6(0x53, 0x53)];
    let site = Site::new(services, resolvers);
    site.label_all(&mut p);

    for i in 0..480u32 {
        let c = v4(10, 20, 40 + (i / 200) as u8, 10 + (i % 200) as u8);
        let n = p.rng.range(3, 8) as u32;
        benign_client(&mut p, &site, c, 0, dur, n, "workstation");
    }
    for i in 0..20u16 {
        let n = p.rng.range(3, 8) as u32;
        benign_client(
            &mut p,
            &site,
            v6(1, 0x100 + i),
            0,
            dur,
            n,
            "IPv6 workstation",
        );
    }

    // NAT gateway: ~40 connections/min to 30 external hosts on 80/443.
    let nat = v4(198, 51, 100, 1);
    let external: Vec<Service> = (0..30)
        .map(|i| Service {
            addr: v4(198, 51, 100, 100 + i),
            ports: &[80, 443, 443],
            weight: 1,
        })
        .collect();
    let ext_site = Site::new(external, vec![v4(10, 0, 0, 53)]);
    let mut auth = 0u8;
    for _ in 0..(40 * dur / (60 * SEC)) {
        client_session(&mut p, &ext_site, nat, 0, dur, &mut auth);
    }
    p.benign(
        nat,
        "NAT gateway: ~40 outbound web connections/min to 30 hosts",
    );
    for s in &ext_site.services {
        p.benign(s.addr, "external web server (answers the NAT gateway)");
    }

    // Monitoring: two pings to each internal v4 server every 10 s, staggered (<= 2/s).
    let monitor = v4(10, 0, 0, 5);
    let targets: Vec<IpAddr> = site
        .services
        .iter()
        .map(|s| s.addr)
        .filter(|a| a.is_ipv4())
        .collect();
    for round in 0..(dur / (10 * SEC)).saturating_sub(1) {
        for (k, t) in targets.iter().enumerate() {
            pings(&mut p, monitor, *t, round * 10 * SEC + k as u64 * SEC, 2);
        }
    }
    p.benign(monitor, "monitoring host: pings servers every 10 s");
    p.finish()
}
