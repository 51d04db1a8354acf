use super::*;
use crate::metrics::Metric;
use crate::record::{proto, tcp_flag};
use crate::rules::parse_rules;
use proptest::prelude::*;
use std::collections::HashSet;

const S: u64 = 1_000_000_000;

fn rules(text: &str) -> Arc<RuleSet> {
    Arc::new(parse_rules(text, "test").unwrap())
}

/// (key, window end, condition values) of an alert.
type Fired = (Addr, u64, Vec<(Metric, f64)>);

fn cfg() -> KeyedConfig {
    KeyedConfig {
        batch_ns: S,
        max_keys: 1000,
        distinct_bound: 4096,
        shard_state_bytes: usize::MAX,
    }
}

fn syn(ts_ns: u64, src: u8, dst: u8, dport: u16, sport: u16) -> Record {
    Record {
        ts_ns,
        src: Addr::v4([10, 0, 0, src]),
        dst: Addr::v4([10, 1, 0, dst]),
        src_port: sport,
        dst_port: dport,
        proto: proto::TCP,
        tcp_flags: tcp_flag::SYN,
        ip_len: 40,
        ..Default::default()
    }
}

/// Feed records the way the pipeline does: a watermark before each record that moves it.
fn run(kw: &mut KeyedWindows, recs: &[Record], lateness: u64) -> Vec<Alert> {
    run_checked(kw, recs, lateness, |_| {})
}

/// [`run`], calling `check` after every watermark but the last.
fn run_checked(
    kw: &mut KeyedWindows,
    recs: &[Record],
    lateness: u64,
    mut check: impl FnMut(&KeyedWindows),
) -> Vec<Alert> {
    let mut wm = crate::window::WatermarkTracker::new(S, lateness);
    let mut out = Vec::new();
    for r in recs {
        let o = wm.observe(r.ts_ns);
        if let Some(c) = o.advanced_to {
            out.extend(kw.flush(c));
            check(kw);
        }
        if o.batch.is_some() {
            kw.ingest(r);
        }
    }
    if let Some(f) = kw.final_watermark() {
        out.extend(kw.flush(f));
    }
    out
}

#[test]
fn syn_flood_fires_once_with_cooldown() {
    let rs = rules("[[rule]]\nid='f'\nwindow='1s'\ncooldown='10s'\nfilter={proto='tcp',tcp_flags='S',tcp_flags_not='A'}\ncondition='syn >= 100'\n");
    let mut kw = KeyedWindows::new(rs, GroupBy::Src, cfg());
    // 200 SYNs in batch 5 and 200 more in batch 7 (inside the cooldown)
    let mut recs: Vec<Record> = (0..200)
        .map(|i| syn(5 * S + i * 1_000_000, 1, 1, 443, 40000 + i as u16))
        .collect();
    recs.extend((0..200).map(|i| syn(7 * S + i * 1_000_000, 1, 1, 443, 40000 + i as u16)));
    let alerts = run(&mut kw, &recs, 0);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!((a.window_start_ns, a.window_end_ns), (5 * S, 6 * S));
    assert_eq!(a.values, vec![(Metric::Syn, 200.0)]);
    assert_eq!(a.peer, Some(Addr::v4([10, 1, 0, 1])));
    assert_eq!(kw.stats().suppressed_by_cooldown, 1);
}

#[test]
fn eviction_is_counted_and_bounded() {
    let rs = rules("[[rule]]\nid='f'\nwindow='1s'\ncondition='syn >= 100'\n");
    let mut kw = capped(rs, 16);
    let recs: Vec<Record> = (0..100u64).map(|i| syn(S + i, i as u8, 1, 80, 1)).collect();
    run(&mut kw, &recs, 0);
    let st = kw.stats();
    assert!(st.keys_peak <= 16, "{st:?}");
    assert!(st.keys_evicted >= 84, "{st:?}");
}

/// Spoofed sources, each sending one SYN, flood a stage whose cap is far below their
/// number: 20 new keys each 100 ms. One real source among them sends 3 SYNs every 400 ms,
/// less often than a spoofed key stays (a cap of 64 keys: about 300 ms), so it is always
/// the oldest; it must keep its window because it holds more packets.
fn flood_with_one_attacker(kw: &mut KeyedWindows, limit: usize) -> Vec<Alert> {
    let mut recs = Vec::new();
    let mut n = 0u32;
    for round in 0..80u64 {
        let t = S + round * 100_000_000;
        if round % 4 == 0 {
            for p in 0..3 {
                recs.push(syn(t + p, 200, 1, 80, 1));
            }
        }
        for j in 0..20u64 {
            n += 1;
            let mut r = syn(t + 10 + j, 0, 1, 80, 1);
            r.src = Addr::v4((0x0b00_0000 + n).to_be_bytes());
            recs.push(r);
        }
    }
    run_checked(kw, &recs, 0, |kw| {
        assert!(
            kw.state_bytes() <= limit,
            "{} > {limit} (keys {} of {}, probation {} of {}, held {})",
            kw.state_bytes(),
            kw.keys.len(),
            kw.keys.capacity(),
            kw.probation.len(),
            kw.probation.capacity(),
            kw.held_bytes()
        )
    })
}

/// A source-keyed stage of `rs` holding at most `max_keys` keys.
fn capped(rs: Arc<RuleSet>, max_keys: usize) -> KeyedWindows {
    KeyedWindows::new(rs, GroupBy::Src, KeyedConfig { max_keys, ..cfg() })
}

fn keys_of(alerts: &[Alert]) -> Vec<Addr> {
    let mut v: Vec<Addr> = alerts.iter().map(|a| a.key).collect();
    v.dedup();
    v
}

#[test]
fn eviction_keeps_the_busy_key_through_a_flood() {
    let rs = rules("[[rule]]\nid='f'\nwindow='10s'\ncondition='syn >= 50'\n");
    let mut kw = capped(rs, 64);
    let alerts = flood_with_one_attacker(&mut kw, usize::MAX);
    let st = kw.stats();
    assert!(st.keys_evicted > 1500, "{st:?}");
    assert_eq!(st.keys_evicted_for_state, 0, "{st:?}");
    assert_eq!(keys_of(&alerts), vec![Addr::v4([10, 0, 0, 200])], "{st:?}");
}

#[test]
fn byte_limit_bounds_the_state_and_keeps_the_busy_key() {
    let rs = rules("[[rule]]\nid='f'\nwindow='10s'\ncondition='syn >= 50'\n");
    let mut kw = KeyedWindows::new(rs, GroupBy::Src, cfg());
    let limit = 32 << 10;
    kw.set_byte_limit(limit);
    let alerts = flood_with_one_attacker(&mut kw, limit);
    let st = kw.stats();
    assert!(st.keys_evicted_for_state > 1000, "{st:?}");
    assert_eq!(st.keys_evicted, st.keys_evicted_for_state, "{st:?}");
    assert!(st.keys_peak < 1000, "{st:?}");
    assert_eq!(keys_of(&alerts), vec![Addr::v4([10, 0, 0, 200])], "{st:?}");
}

#[test]
fn quiet_keys_expire() {
    let rs = rules("[[rule]]\nid='f'\nwindow='3s'\ncondition='syn >= 100'\n");
    let mut kw = KeyedWindows::new(rs, GroupBy::Src, cfg());
    // quiet for longer than both the window and the minimum keep time
    let recs = vec![syn(S, 1, 1, 80, 1), syn((2 + MIN_KEEP_B) * S, 2, 1, 80, 1)];
    let mut wm = crate::window::WatermarkTracker::new(S, 0);
    for r in &recs {
        if let Some(c) = wm.observe(r.ts_ns).advanced_to {
            kw.flush(c);
        }
        kw.ingest(r);
    }
    assert_eq!(kw.stats().keys, 1);
    assert_eq!(kw.stats().keys_expired, 1);
    assert_eq!(
        kw.top(10).len(),
        2,
        "dropped keys still count in the top sources"
    );
}

/// (ms after 100 s, source, destination, port, source port, SYN or ACK), as the property
/// tests draw them.
type Raw = (u64, u8, u8, u16, u16, bool);

/// The records of `raw` in time order, shuffled a little within `lat`: neighbours closer than
/// the lateness swap places.
fn arrivals(raw: &[Raw], lat: u64) -> Vec<Record> {
    let mut recs: Vec<Record> = raw
        .iter()
        .map(|&(ms, s, d, p, sp, is_syn)| {
            let mut r = syn(100 * S + ms * 1_000_000, s, d, p, sp);
            if !is_syn {
                r.tcp_flags = tcp_flag::ACK;
            }
            r
        })
        .collect();
    recs.sort_by_key(|r| r.ts_ns);
    for i in (1..recs.len()).step_by(2) {
        if recs[i].ts_ns - recs[i - 1].ts_ns < lat {
            recs.swap(i, i - 1);
        }
    }
    recs
}

/// The records the watermark admits (not late), in arrival order.
fn admitted(recs: &[Record], lat: u64) -> Vec<Record> {
    let mut wm = crate::window::WatermarkTracker::new(S, lat);
    recs.iter()
        .filter(|r| wm.observe(r.ts_ns).batch.is_some())
        .copied()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Every window's metrics equal a brute-force recount of the packets in it, whatever the
    /// arrival order within the allowed lateness.
    #[test]
    fn windows_equal_brute_force(
        raw in prop::collection::vec((0u64..30_000, 0u8..3, 0u8..6, 0u16..8, 0u16..4, any::<bool>()), 1..300),
        lateness_ms in prop::sample::select(vec![0u64, 1500, 4000]),
    ) {
        let rs = rules("[[rule]]\nid='all'\nwindow='5s'\nslide='2s'\ncooldown=0\ncondition='packets >= 1 and syn >= 0 and distinct_dst_ports >= 0 and distinct_dst_hosts >= 0 and conn_attempts >= 0 and distinct_dst_pairs >= 0'\n");
        let lat = lateness_ms * 1_000_000;
        let recs = arrivals(&raw, lat);
        let mut kw = KeyedWindows::new(rs, GroupBy::Src, cfg());
        let alerts = run(&mut kw, &recs, lat);
        // brute force: which records were admitted (not late)?
        let admitted = admitted(&recs, lat);
        let mut expected = Vec::new();
        let max_b = admitted.iter().map(|r| r.ts_ns / S).max().unwrap();
        for src in 0u8..3 {
            for end in (0..=max_b + 6).filter(|e| e % 2 == 0) {
                let win: Vec<&Record> = admitted.iter().filter(|r| r.src == Addr::v4([10, 0, 0, src]) && r.ts_ns / S < end && r.ts_ns / S + 5 >= end).collect();
                if win.is_empty() { continue; }
                let ports: HashSet<u16> = win.iter().map(|r| r.dst_port).collect();
                let hosts: HashSet<Addr> = win.iter().map(|r| r.dst).collect();
                let pairs: HashSet<(Addr, u16)> = win.iter().map(|r| (r.dst, r.dst_port)).collect();
                let conns: HashSet<(Addr, u16, u16)> = win.iter().filter(|r| r.is_syn()).map(|r| (r.dst, r.dst_port, r.src_port)).collect();
                let syns = win.iter().filter(|r| r.is_syn()).count();
                expected.push((Addr::v4([10, 0, 0, src]), end * S, vec![
                    (Metric::Packets, win.len() as f64), (Metric::Syn, syns as f64),
                    (Metric::DistinctDstPorts, ports.len() as f64), (Metric::DistinctDstHosts, hosts.len() as f64),
                    (Metric::ConnAttempts, conns.len() as f64), (Metric::DistinctDstPairs, pairs.len() as f64)]));
            }
        }
        let mut got: Vec<Fired> = alerts.into_iter().map(|a| (a.key, a.window_end_ns, a.values)).collect();
        got.sort_by_key(|a| (a.0, a.1));
        expected.sort_by_key(|a| (a.0, a.1));
        prop_assert_eq!(got, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Skipping keys (gates, dirty bits) never loses or invents an alert: with thresholds
    /// that keys cross, fall below and cross again, the alerts are exactly the windows whose
    /// brute-force metrics meet each condition.
    #[test]
    fn skipping_keys_never_changes_alerts(
        raw in prop::collection::vec((0u64..30_000, 0u8..3, 0u8..6, 0u16..8, 0u16..4, any::<bool>()), 1..300),
        lateness_ms in prop::sample::select(vec![0u64, 1500]),
    ) {
        let rs = rules(concat!(
            "[[rule]]\nid='a'\nwindow='5s'\nslide='2s'\ncooldown=0\ncondition='syn >= 4 and distinct_dst_ports >= 3'\n",
            "[[rule]]\nid='b'\nwindow='3s'\nslide='1s'\ncooldown=0\ncondition='packets >= 6 or distinct_dst_hosts >= 4'\n",
            "[[rule]]\nid='c'\nwindow='7s'\nslide='1s'\ncooldown=0\ncondition='conn_attempts >= 3 and conn_attempts / max(distinct_dst_pairs, 1) >= 1.5'\n",
        ));
        let lat = lateness_ms * 1_000_000;
        let recs = arrivals(&raw, lat);
        let mut kw = KeyedWindows::new(rs.clone(), GroupBy::Src, cfg());
        let mut got: Vec<(u16, Addr, u64)> = run(&mut kw, &recs, lat).into_iter().map(|a| (a.rule, a.key, a.window_end_ns / S)).collect();
        let admitted = admitted(&recs, lat);
        let max_b = admitted.iter().map(|r| r.ts_ns / S).max().unwrap();
        let mut want = Vec::new();
        for (ri, (window, slide)) in [(5u64, 2u64), (3, 1), (7, 1)].into_iter().enumerate() {
            for src in 0u8..3 {
                for end in (0..=max_b + window + 1).filter(|e| e % slide == 0) {
                    let win: Vec<&Record> = admitted.iter().filter(|r| r.src == Addr::v4([10, 0, 0, src]) && r.ts_ns / S < end && r.ts_ns / S + window >= end).collect();
                    let syns = win.iter().filter(|r| r.is_syn()).count();
                    let ports = win.iter().map(|r| r.dst_port).collect::<HashSet<_>>().len();
                    let hosts = win.iter().map(|r| r.dst).collect::<HashSet<_>>().len();
                    let pairs = win.iter().map(|r| (r.dst, r.dst_port)).collect::<HashSet<_>>().len();
                    let conns = win.iter().filter(|r| r.is_syn()).map(|r| (r.dst, r.dst_port, r.src_port)).collect::<HashSet<_>>().len();
                    let fires = match ri {
                        0 => syns >= 4 && ports >= 3,
                        1 => win.len() >= 6 || hosts >= 4,
                        _ => conns >= 3 && conns as f64 / pairs.max(1) as f64 >= 1.5,
                    };
                    if fires { want.push((ri as u16, Addr::v4([10, 0, 0, src]), end)); }
                }
            }
        }
        got.sort();
        want.sort();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn gates_follow_the_necessary_conditions() {
    let rs = crate::rules::default_rules();
    let gate = |id: &str| {
        let r = rs.rule(id).unwrap();
        evaluate::gate_packets(r, r.window_ns as f64 / 1e9)
    };
    assert_eq!(gate("port_scan"), 100); // distinct_failed_ports >= 100
    assert_eq!(gate("host_sweep"), 32); // distinct_failed_hosts >= 32
    assert_eq!(gate("syn_flood"), 100);
    assert_eq!(gate("icmp_flood"), 200);
    // pps >= 2000 or bps >= 50M over 1 s: 96 packets of 65,575 bytes reach 50 Mbit/s
    assert_eq!(gate("udp_flood"), 96);
    assert_eq!(gate("brute_force"), 10);
    assert_eq!(gate("syn_flood_dst"), 2500); // pps >= 500 over 5 s
    assert_eq!(gate("synack_reflection"), 2500);
    assert_eq!(gate("icmp_flood_dst"), 1000); // pps >= 1000 over 1 s
    assert_eq!(gate("fragment_flood_dst"), 1000);
    assert_eq!(gate("traffic_spike"), 0); // a baseline learns every window
    let never = rules("[[rule]]\nid='n'\nwindow='1s'\ncondition='packets >= 1e15'\n");
    assert_eq!(evaluate::gate_packets(&never.rules[0], 1.0), u64::MAX);
    let grp = rules("[groups.lab]\ncidrs = ['10.0.0.0/8']\n[[rule]]\nid='g'\nwindow='1s'\ncondition='syn >= 100'\n[rule.overrides.lab]\ncondition='syn >= 5'\n");
    assert_eq!(evaluate::gate_packets(&grp.rules[0], 1.0), 5);
}

/// Bytes per tracked key are what the memory bound is made of: keep an eye on them.
#[test]
fn state_sizes() {
    let spec = std::mem::size_of::<crate::window::state::SpecState>();
    let entry = std::mem::size_of::<(Addr, crate::window::state::KeyEntry)>();
    let pane = std::mem::size_of::<(u64, crate::window::Counters)>();
    eprintln!("SpecState {spec} B, map entry {entry} B, pane {pane} B");
    // 384 B since a state's distinct sets are one allocation sized to the kinds its rules
    // read (16 B), not nine optional boxes (72 B); 432 B before.
    assert!(spec <= 384, "SpecState {spec} B");
    // 152 B since a key keeps its held packets and latest cooldown end (eviction orders
    // keys without visiting their states: 16 B for a quarter of a flood's time); 136 B before.
    assert!(entry <= 152, "map entry {entry} B");
}

#[test]
fn held_keys_that_grow_stay_within_the_byte_limit() {
    // Two specs: every source sends a SYN, then a second later a UDP datagram, so each held
    // key gains a second spec state without a new key being made (as outcomes do when
    // they reach keys after their packets). One packet may fire a rule: no key waits on
    // probation.
    let rs = rules(
        "[[rule]]\nid='t'\nwindow='10s'\nfilter={proto='tcp'}\ncondition='packets >= 1e9 or syn >= 1'\n\
         [[rule]]\nid='u'\nwindow='10s'\nfilter={proto='udp'}\ncondition='packets >= 1e9 or udp >= 1'\n",
    );
    let wide = KeyedConfig {
        max_keys: 1 << 20,
        ..cfg()
    };
    const N: u32 = 4000;
    let packet = |i: u32, udp: bool| Record {
        ts_ns: if udp { 101 * S } else { 100 * S } + i as u64 * 1000,
        src: Addr::v4((0x0A00_0000 + i).to_be_bytes()),
        dst: Addr::v4([10, 1, 0, 1]),
        src_port: 1000,
        dst_port: 80,
        proto: if udp { proto::UDP } else { proto::TCP },
        ip_len: 40,
        ..Default::default()
    };
    let mut kw = KeyedWindows::new(rs, GroupBy::Src, wide);
    kw.flush(100);
    for i in 0..N {
        kw.ingest(&packet(i, false));
    }
    kw.flush(101);
    let one_state = kw.state_bytes();
    assert_eq!(kw.stats().keys, N as u64);
    // Room for every key's first state and a third more: the second states do not fit.
    let limit = one_state + one_state / 3;
    kw.set_byte_limit(limit);
    for i in 0..N {
        kw.ingest(&packet(i, true));
        assert!(kw.held_bytes() <= limit, "{} > {limit}", kw.held_bytes());
    }
    let st = kw.stats();
    assert!(st.keys_evicted_for_state > 0, "{st:?}");
    let exact = kw.state_bytes();
    assert!(exact <= limit + limit / 16, "{exact} > {limit}: {st:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]
    /// Probation changes no alert: many sources with one to a few records each (a flood's
    /// spoofed sources, a sweep's targets) among a few busy ones give the same alerts, the
    /// same evidence and the same top sources with new keys on probation as without, and
    /// the keys on probation count as keys.
    #[test]
    fn probation_changes_no_alert(
        raw in prop::collection::vec((0u64..40_000, 0u8..40, 0u8..6, 0u16..8, 0u16..4, any::<bool>()), 1..400),
        lateness_ms in prop::sample::select(vec![0u64, 1500]),
    ) {
        let rs = rules(concat!(
            "[[rule]]\nid='a'\nwindow='5s'\nslide='2s'\ncondition='syn >= 4 and distinct_dst_ports >= 3'\n",
            "[[rule]]\nid='b'\nwindow='3s'\nslide='1s'\ncooldown=0\ncondition='packets >= 6 or distinct_dst_hosts >= 4'\n",
            "[[rule]]\nid='c'\nwindow='7s'\nslide='1s'\ncooldown=0\ncondition='conn_attempts >= 3 and conn_attempts / max(distinct_dst_pairs, 1) >= 1.5'\n",
        ));
        let lat = lateness_ms * 1_000_000;
        // Sources 0..3 are busy (every record of the raw list is theirs with odds 3 in 4);
        // the rest send a record or two each.
        let raw: Vec<Raw> = raw.into_iter().enumerate()
            .map(|(i, (ms, s, d, p, sp, f))| (ms, if i % 4 == 0 { s } else { s % 3 }, d, p, sp, f))
            .collect();
        let recs = arrivals(&raw, lat);
        let mut on = KeyedWindows::new(rs.clone(), GroupBy::Src, cfg());
        prop_assert_eq!(on.probation_gate, 3);
        let mut off = KeyedWindows::new(rs, GroupBy::Src, cfg());
        off.probation_gate = 0;
        let mut peak = 0;
        let got = run_checked(&mut on, &recs, lat, |kw| peak = peak.max(kw.probation.len()));
        let want = run(&mut off, &recs, lat);
        prop_assert_eq!(fired(&got), fired(&want));
        let ev = |a: &[Alert]| a.iter().map(|a| format!("{:?}", a.evidence)).collect::<Vec<_>>();
        prop_assert_eq!(ev(&got), ev(&want));
        prop_assert_eq!(on.top(10), off.top(10));
        let (s1, s0) = (on.stats(), off.stats());
        prop_assert_eq!((s1.records, s1.keys_expired), (s0.records, s0.keys_expired));
        prop_assert!(s1.keys_peak >= s0.keys_peak.min(1));
        prop_assert!(off.probation.is_empty());
    }
}

/// (rule, key, window end, values) of each alert, in order.
fn fired(a: &[Alert]) -> Vec<(u16, Addr, u64, String)> {
    a.iter()
        .map(|a| (a.rule, a.key, a.window_end_ns, format!("{:?}", a.values)))
        .collect()
}

#[test]
fn a_flood_of_one_packet_sources_waits_on_probation() {
    // 1,000 sources send one SYN each; one source scans.
    let rs =
        rules("[[rule]]\nid='a'\nwindow='5s'\ncondition='syn >= 4 and distinct_dst_ports >= 3'\n");
    let mut recs: Vec<Record> = (0..1000u32)
        .map(|i| Record {
            src: Addr::v4((0xAC10_0000 + i).to_be_bytes()),
            ..syn(100 * S + i as u64 * 1000, 0, 1, 80, 1)
        })
        .collect();
    recs.extend((0..10).map(|p| syn(100 * S + 2_000_000 + p * 1000, 9, 1, 1000 + p as u16, 7)));
    let wide = KeyedConfig {
        max_keys: 1 << 20,
        ..cfg()
    };
    let mut kw = KeyedWindows::new(rs, GroupBy::Src, wide);
    let alerts = run(&mut kw, &recs, 0);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].key, Addr::v4([10, 0, 0, 9]));
    assert_eq!(kw.stats().keys, 1001);
    assert_eq!(
        kw.probation.len(),
        1000,
        "the one-packet sources never left probation"
    );
    assert_eq!(kw.keys.len(), 1);
}
