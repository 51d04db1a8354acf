use super::*;
use crate::record::tcp_flag::{ACK, RST, SYN};

const S: u64 = 1_000_000_000;

fn a(n: u8) -> Addr {
    Addr::v4([10, 0, 0, n])
}

fn tcp(ts: u64, src: u8, dst: u8, sport: u16, dport: u16, flags: u8) -> Record {
    Record {
        ts_ns: ts,
        src: a(src),
        dst: a(dst),
        src_port: sport,
        dst_port: dport,
        proto: proto::TCP,
        tcp_flags: flags,
        ip_len: 40,
        ..Default::default()
    }
}

fn udp(ts: u64, src: u8, dst: u8, sport: u16, dport: u16) -> Record {
    Record {
        proto: proto::UDP,
        tcp_flags: 0,
        ..tcp(ts, src, dst, sport, dport, 0)
    }
}

/// ICMP `icmp_type` from `src` to `dst` quoting a `quoted` packet dst -> src with ports
/// (`qsport`, `qdport`) (for errors), or an echo message.
fn icmp(ts: u64, src: u8, dst: u8, icmp_type: u8, quoted: u8, qsport: u16, qdport: u16) -> Record {
    Record {
        proto: proto::ICMP,
        icmp_type,
        tcp_flags: quoted,
        ..tcp(ts, src, dst, qsport, qdport, quoted)
    }
}

/// Feed `recs` as the conversation stage of a single shard sees them (routed as the pipeline
/// routes them: outbound for its source if `sender_class`, inbound for its destination if
/// `reply_class`), flush at `until`, and return
/// (event, key host, peer, ts) of every outcome of host 10.0.0.1 (the others' outcomes,
/// such as a probed host's unsolicited UDP, are left out).
fn run(recs: &[Record], until: u64) -> (Vec<(u8, Addr, Addr, u64)>, ConversationStats) {
    run_with(recs, until, ConversationConfig::default())
}

fn run_with(
    recs: &[Record],
    until: u64,
    cfg: ConversationConfig,
) -> (Vec<(u8, Addr, Addr, u64)>, ConversationStats) {
    let mut c = Conversations::new(cfg);
    let mut out = Vec::new();
    for r in recs {
        let mut r = *r;
        r.event = 0;
        if Conversations::sender_class(&r) {
            r.event |= event::VIA_OUT;
        }
        if Conversations::reply_class(&r) {
            r.event |= event::VIA_IN;
        }
        if r.event == 0 {
            continue;
        }
        c.ingest(&r);
        out.extend(c.take());
    }
    c.flush(until);
    out.extend(c.take());
    let v = out
        .iter()
        .map(|r| {
            if r.event == event::UNSOLICITED {
                (r.event, r.dst, r.src, r.ts_ns)
            } else {
                (r.event, r.src, r.dst, r.ts_ns)
            }
        })
        .filter(|e: &(u8, Addr, Addr, u64)| e.1 == a(1))
        .collect();
    (v, c.stats())
}

#[test]
fn tcp_syn_outcomes() {
    let (ev, st) = run(
        &[
            tcp(S, 1, 2, 40000, 80, SYN),
            tcp(S + 1000, 2, 1, 80, 40000, SYN | ACK),
            tcp(S + 2000, 1, 2, 40000, 80, ACK),
            tcp(2 * S, 1, 2, 40001, 81, SYN),
            tcp(2 * S + 5, 2, 1, 81, 40001, RST | ACK),
            tcp(3 * S, 1, 2, 40002, 82, SYN),
            tcp(3 * S + 9, 1, 2, 40002, 82, SYN), // retransmission: one attempt
        ],
        100 * S,
    );
    assert_eq!(
        ev,
        vec![
            (event::ANSWERED, a(1), a(2), S + 1000),
            (event::REJECTED, a(1), a(2), 2 * S + 5),
            (event::UNANSWERED, a(1), a(2), 5 * S),
        ]
    );
    assert_eq!((st.answered, st.rejected, st.unanswered), (1, 1, 1));
}

#[test]
fn unanswered_only_once_the_timeout_passed() {
    let mut c = Conversations::new(ConversationConfig::default());
    let mut r = tcp(S, 1, 2, 40000, 80, SYN);
    r.event = event::VIA_OUT;
    c.ingest(&r);
    c.flush(3 * S);
    assert_eq!(c.take().count(), 0, "due at 3 s, not before");
    c.flush(3 * S + 1);
    assert_eq!(c.take().next().map(|r| r.event), Some(event::UNANSWERED));
}

#[test]
fn a_bare_rst_names_an_ack_probe_and_rst_ack_to_nothing_is_unsolicited() {
    let (ev, st) = run(
        &[
            tcp(S, 1, 2, 50000, 80, ACK), // ACK probe: not routed to the sender's side
            tcp(S + 1, 2, 1, 80, 50000, RST), // bare RST: refused
            tcp(S + 2, 2, 1, 80, 50000, RST), // repeated: the same attempt, once
            tcp(S + 3, 3, 1, 80, 50001, RST | ACK), // backscatter: refused SYN 1 never sent
            tcp(S + 4, 1, 4, 50002, 443, SYN),
            tcp(S + 5, 4, 1, 443, 50002, SYN | ACK),
            tcp(S + 6, 1, 4, 50002, 443, ACK),
            tcp(S + 7, 4, 1, 443, 50002, RST | ACK), // abort of an answered connection
        ],
        100 * S,
    );
    assert_eq!(
        ev,
        vec![
            (event::REJECTED, a(1), a(2), S + 1),
            (event::UNSOLICITED, a(1), a(3), S + 3),
            (event::ANSWERED, a(1), a(4), S + 5),
        ]
    );
    assert_eq!(st.rejected, 1);
}

#[test]
fn non_syn_probes_resolve_only_by_rst() {
    let (ev, _) = run(
        &[
            tcp(S, 1, 2, 50000, 22, ACK),
            tcp(S + 1, 2, 1, 22, 50000, RST),
            tcp(S, 1, 2, 50001, 23, 0), // NULL scan, open or filtered port: no reply
            tcp(S, 1, 3, 50002, 443, ACK), // mid-stream: the peer's data is not routed here
        ],
        100 * S,
    );
    assert_eq!(ev, vec![(event::REJECTED, a(1), a(2), S + 1)]);
}

#[test]
fn udp_and_icmp_outcomes() {
    let (ev, _) = run(
        &[
            udp(S, 1, 2, 5000, 53),
            udp(S + 10, 2, 1, 53, 5000), // answered
            udp(S, 1, 2, 5001, 161),
            icmp(S + 20, 2, 1, 3, proto::UDP, 5001, 161), // port unreachable
            icmp(S, 1, 3, 8, 0, 0, 0),                    // ping
            icmp(S + 30, 3, 1, 0, 0, 0, 0),               // echo reply
            icmp(S, 1, 4, 8, 0, 0, 0),                    // ping, no reply
        ],
        100 * S,
    );
    assert_eq!(
        ev,
        vec![
            (event::ANSWERED, a(1), a(2), S + 10),
            (event::REJECTED, a(1), a(2), S + 20),
            (event::ANSWERED, a(1), a(3), S + 30),
            (event::UNANSWERED, a(1), a(4), 3 * S),
        ]
    );
}

#[test]
fn replies_alone_name_the_prober_and_time_exceeded_is_no_failure() {
    let (ev, _) = run(
        &[
            // Protocol unreachable for protocols 47 and 50 (nmap -sO), probes not captured.
            icmp(S, 2, 1, 3, 47, 0, 0),
            icmp(S + 1, 2, 1, 3, 50, 0, 0),
            icmp(S + 2, 2, 1, 3, 50, 0, 0), // the same probe again: counted once
            // traceroute: a probe that died in transit
            udp(2 * S, 1, 9, 40000, 33434),
            icmp(2 * S + 3, 7, 1, 11, proto::UDP, 40000, 33434),
        ],
        100 * S,
    );
    assert_eq!(
        ev,
        vec![
            (event::REJECTED, a(1), a(2), S),
            (event::REJECTED, a(1), a(2), S + 1),
        ],
        "the time-exceeded probe neither failed nor timed out: {ev:?}"
    );
}

#[test]
fn unsolicited_responses() {
    let (ev, st) = run(
        &[
            tcp(S, 2, 1, 80, 40000, SYN | ACK), // SYN-ACK reflection / backscatter
            icmp(S + 1, 3, 1, 0, 0, 0, 0),      // echo reply, no request
            udp(S + 2, 4, 1, 123, 7777),        // NTP response never asked for
            udp(S + 3, 5, 1, 55555, 53),        // a DNS query that 1 answers
            udp(S + 4, 1, 5, 53, 55555),
            udp(S + 5, 6, 1, 1900, 8888), // refused with port unreachable
            icmp(S + 6, 1, 6, 3, proto::UDP, 1900, 8888),
        ],
        100 * S,
    );
    assert_eq!(
        ev,
        vec![
            (event::UNSOLICITED, a(1), a(2), S),
            (event::UNSOLICITED, a(1), a(3), S + 1),
            (event::UNSOLICITED, a(1), a(6), S + 6),
            (event::UNSOLICITED, a(1), a(4), S + 2 + 2 * S),
        ]
    );
    assert!(st.unsolicited >= 4, "{st:?}");
}

#[test]
fn table_is_bounded_and_idle_conversations_go() {
    let cfg = ConversationConfig {
        max_entries: 2,
        ..Default::default()
    };
    let recs: Vec<Record> = (0..5).map(|i| tcp(S, 1, 2, 40000 + i, 80, SYN)).collect();
    let (ev, st) = run_with(&recs, 100 * S, cfg);
    // Full: the oldest attempts make room, so the newest two are tracked.
    assert_eq!((st.untracked, st.evicted), (0, 3));
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|e| e.0 == event::UNANSWERED), "{ev:?}");
    assert_eq!(st.peak, 2);
    let mut c = Conversations::new(ConversationConfig::default());
    for r in &recs {
        c.ingest(&Record {
            event: event::VIA_OUT,
            ..*r
        });
    }
    c.flush(S + 2 * S + 30 * S + 1);
    assert!(c.table.is_empty(), "idle conversations are dropped");
    assert!(c.timeouts.is_empty() && c.idle.is_empty());
}

#[test]
fn one_host_cannot_take_the_table() {
    let cfg = ConversationConfig {
        max_per_host: 3,
        ..Default::default()
    };
    // Host 1 floods with 10 attempts; host 2 makes 2, still tracked.
    let mut recs: Vec<Record> = (0..10).map(|i| tcp(S, 1, 9, 40000 + i, 80, SYN)).collect();
    recs.extend((0..2).map(|i| tcp(S, 2, 9, 50000 + i, 80, SYN)));
    let mut c = Conversations::new(cfg);
    for r in &recs {
        c.ingest(&Record {
            event: event::VIA_OUT,
            ..*r
        });
    }
    let st = c.stats();
    assert_eq!((st.host_capped, st.hosts_capped, st.peak), (7, 1, 5));
    // Once its conversations are idle and gone, the host is tracked again.
    c.flush(S + 2 * S + 30 * S + 1);
    c.flush(S + 2 * S + 60 * S + 2);
    assert!(c.per_host.is_empty(), "{:?}", c.per_host);
    c.ingest(&Record {
        event: event::VIA_OUT,
        ..tcp(100 * S, 1, 9, 1, 80, SYN)
    });
    assert_eq!(c.stats().host_capped, 7);
    assert_eq!(c.per_host.get(&a(1)), Some(&1));
}

#[test]
fn a_host_hovering_at_its_cap_counts_as_capped_once() {
    let cfg = ConversationConfig {
        max_per_host: 3,
        ..Default::default()
    };
    let mut c = Conversations::new(cfg);
    let syn = |sec: u64, port: u16| Record {
        event: event::VIA_OUT,
        ..tcp(sec * S, 1, 9, port, 80, SYN)
    };
    // Host 1's attempts go unanswered and time out after 2 s; it starts two a second from
    // the third second on, so it reaches its cap, drops below it, and reaches it again
    // (twice capped, counted and logged as one capped host).
    c.ingest(&syn(1, 40000));
    c.ingest(&syn(2, 40001));
    for sec in 3..7u64 {
        c.flush(sec * S + 1);
        c.ingest(&syn(sec, 40000 + 2 * sec as u16));
        c.ingest(&syn(sec, 40001 + 2 * sec as u16));
    }
    let st = c.stats();
    assert_eq!((st.host_capped, st.hosts_capped), (2, 1), "{st:?}");
    assert_eq!(c.per_host.get(&a(1)).map(|n| n & !CAPPED), Some(3));
}

#[test]
fn a_full_table_drops_the_longest_idle_resolved_conversation_before_any_attempt() {
    let cfg = ConversationConfig {
        max_entries: 3,
        ..Default::default()
    };
    let mut c = Conversations::new(cfg);
    let feed = |c: &mut Conversations, r: Record| {
        let mut r = r;
        r.event = 0;
        if Conversations::sender_class(&r) {
            r.event |= event::VIA_OUT;
        }
        if Conversations::reply_class(&r) {
            r.event |= event::VIA_IN;
        }
        c.ingest(&r);
    };
    // Two answered connections (the older idle longer), then a pending attempt.
    feed(&mut c, tcp(S, 1, 2, 40000, 80, SYN));
    feed(&mut c, tcp(S + 1, 2, 1, 80, 40000, SYN | ACK));
    feed(&mut c, tcp(2 * S, 1, 3, 40001, 80, SYN));
    feed(&mut c, tcp(2 * S + 1, 3, 1, 80, 40001, SYN | ACK));
    c.flush(5 * S); // both timeouts passed: resolved, on the idle queue
    feed(&mut c, tcp(6 * S, 1, 4, 40002, 80, SYN));
    // Full: the next attempt drops the connection idle the longest, not the pending one.
    feed(&mut c, tcp(6 * S + 5, 1, 5, 40003, 80, SYN));
    assert_eq!(c.stats().evicted, 1);
    let held = |c: &Conversations, remote: u8, lport: u16| {
        c.table
            .keys()
            .any(|k| k.remote == a(remote) && k.lport == lport)
    };
    assert!(!held(&c, 2, 40000), "the oldest idle connection went");
    assert!(held(&c, 3, 40001) && held(&c, 4, 40002) && held(&c, 5, 40003));
    // Both attempts still resolve: nothing answered them.
    c.take().for_each(drop);
    c.flush(9 * S);
    let ev: Vec<u8> = c.take().map(|r| r.event).collect();
    assert_eq!(ev, vec![event::UNANSWERED, event::UNANSWERED]);
}
