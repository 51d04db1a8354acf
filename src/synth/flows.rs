//! Planned flows ("specs") and their expansion into packets.
//!
//! In: a [`Spec`] (start offset in ns, unique id, one flow kind with its endpoints and
//! shape) plus the run seed. Out: the flow's packets via a callback, each with a
//! timestamp `>= spec.start`, in no particular order. Guarantees: expansion is a pure
//! function of `(seed, spec)` (each spec draws from its own RNG stream), and
//! [`Spec::packet_count`] equals the number of packets [`Spec::expand`] emits, so a whole
//! capture can be sized without being generated.

use std::net::IpAddr;

use super::packet::{flags, ttl_of, Payload, Pkt, L4};
use super::rng::Rng;

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

/// How the target of a lone SYN answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Silence (filtered port, absent host, spoofed source).
    None,
    /// Closed port: RST/ACK.
    Rst,
    /// Open port: SYN/ACK, then the prober's kernel resets (half-open scan).
    SynAckRst,
    /// Open port: SYN/ACK that nobody answers (flood with a real source address).
    SynAck,
}

/// One planned flow.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Offset of the first packet from the capture start, ns.
    pub start: u64,
    /// Unique within a plan; orders equal starts and seeds the flow's RNG.
    pub id: u32,
    pub kind: Kind,
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Complete TCP session: handshake, `exchanges` request/response rounds whose
    /// responses have `segs` segments each, client-initiated FIN close.
    Tcp {
        client: IpAddr,
        server: IpAddr,
        sport: u16,
        dport: u16,
        exchanges: u8,
        segs: u8,
        rtt_us: u32,
    },
    /// A lone SYN and the target's reaction.
    Probe {
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        reply: Reply,
    },
    /// One UDP datagram with `len` bytes of filler.
    Udp {
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        len: u16,
    },
    /// One ICMP echo request (and its reply when `reply`).
    Echo {
        src: IpAddr,
        dst: IpAddr,
        ident: u16,
        seq: u16,
        len: u16,
        reply: bool,
    },
    /// DNS query over UDP 53 and the resolver's answer.
    Dns {
        client: IpAddr,
        resolver: IpAddr,
        sport: u16,
        name: u8,
    },
    /// A repeated lone SYN (same ports and sequence number) `delay_ms` later: a retransmit.
    SynRetx {
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
        delay_ms: u32,
    },
}

impl Spec {
    /// Exactly how many packets [`Spec::expand`] emits.
    pub fn packet_count(&self) -> u64 {
        match self.kind {
            Kind::Tcp {
                exchanges, segs, ..
            } => 6 + exchanges as u64 * (2 + segs as u64),
            Kind::Probe { reply, .. } => match reply {
                Reply::None => 1,
                Reply::Rst | Reply::SynAck => 2,
                Reply::SynAckRst => 3,
            },
            Kind::Udp { .. } => 1,
            Kind::Echo { reply, .. } => 1 + reply as u64,
            Kind::Dns { .. } => 2,
            Kind::SynRetx { .. } => 2,
        }
    }

    /// Calls `emit` for every packet of the flow.
    pub fn expand(&self, seed: u64, emit: &mut impl FnMut(Pkt)) {
        let mut r = Rng::derive(seed, self.id as u64);
        let t0 = self.start;
        match self.kind {
            Kind::Tcp {
                client,
                server,
                sport,
                dport,
                exchanges,
                segs,
                rtt_us,
            } => tcp_session(
                &mut r, t0, client, server, sport, dport, exchanges, segs, rtt_us, emit,
            ),
            Kind::Probe {
                src,
                dst,
                sport,
                dport,
                reply,
            } => {
                let seq = r.next_u32();
                let rtt = r.range(300 * US, 30 * MS);
                emit(tcp(t0, src, dst, sport, dport, seq, 0, flags::SYN, 1024));
                match reply {
                    Reply::None => {}
                    Reply::Rst => emit(tcp(
                        t0 + rtt / 2,
                        dst,
                        src,
                        dport,
                        sport,
                        0,
                        seq.wrapping_add(1),
                        flags::RST | flags::ACK,
                        0,
                    )),
                    Reply::SynAck | Reply::SynAckRst => {
                        let isn = r.next_u32();
                        let ack = seq.wrapping_add(1);
                        emit(tcp(
                            t0 + rtt / 2,
                            dst,
                            src,
                            dport,
                            sport,
                            isn,
                            ack,
                            flags::SYN | flags::ACK,
                            65160,
                        ));
                        if reply == Reply::SynAckRst {
                            emit(tcp(t0 + rtt, src, dst, sport, dport, ack, 0, flags::RST, 0));
                        }
                    }
                }
            }
            Kind::Udp {
                src,
                dst,
                sport,
                dport,
                len,
            } => emit(Pkt {
                ts: t0,
                src,
                dst,
                ttl: ttl_of(&src),
                l4: L4::Udp { sport, dport },
                payload: Payload::Pattern(len),
            }),
            Kind::Echo {
                src,
                dst,
                ident,
                seq,
                len,
                reply,
            } => {
                emit(echo(t0, src, dst, true, ident, seq, len));
                if reply {
                    let rtt = r.range(300 * US, 40 * MS);
                    emit(echo(t0 + rtt, dst, src, false, ident, seq, len));
                }
            }
            Kind::Dns {
                client,
                resolver,
                sport,
                name,
            } => {
                let id = r.next_u16();
                let aaaa = client.is_ipv6();
                let rtt = r.range(300 * US, 25 * MS);
                emit(Pkt {
                    ts: t0,
                    src: client,
                    dst: resolver,
                    ttl: ttl_of(&client),
                    l4: L4::Udp { sport, dport: 53 },
                    payload: Payload::DnsQuery { id, name, aaaa },
                });
                emit(Pkt {
                    ts: t0 + rtt,
                    src: resolver,
                    dst: client,
                    ttl: ttl_of(&resolver),
                    l4: L4::Udp {
                        sport: 53,
                        dport: sport,
                    },
                    payload: Payload::DnsAnswer { id, name, aaaa },
                });
            }
            Kind::SynRetx {
                src,
                dst,
                sport,
                dport,
                delay_ms,
            } => {
                let seq = r.next_u32();
                emit(tcp(t0, src, dst, sport, dport, seq, 0, flags::SYN, 1024));
                emit(tcp(
                    t0 + delay_ms as u64 * MS,
                    src,
                    dst,
                    sport,
                    dport,
                    seq,
                    0,
                    flags::SYN,
                    1024,
                ));
            }
        }
    }
}

#[inline]
#[allow(clippy::too_many_arguments)]
fn tcp(
    ts: u64,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    f: u8,
    win: u16,
) -> Pkt {
    Pkt {
        ts,
        src,
        dst,
        ttl: ttl_of(&src),
        l4: L4::Tcp {
            sport,
            dport,
            seq,
            ack,
            flags: f,
            win,
        },
        payload: Payload::None,
    }
}

#[inline]
fn echo(ts: u64, src: IpAddr, dst: IpAddr, request: bool, id: u16, seq: u16, len: u16) -> Pkt {
    Pkt {
        ts,
        src,
        dst,
        ttl: ttl_of(&src),
        l4: L4::Echo { request, id, seq },
        payload: Payload::Pattern(len),
    }
}

#[allow(clippy::too_many_arguments)]
fn tcp_session(
    r: &mut Rng,
    t0: u64,
    c: IpAddr,
    s: IpAddr,
    sport: u16,
    dport: u16,
    exchanges: u8,
    segs: u8,
    rtt_us: u32,
    emit: &mut impl FnMut(Pkt),
) {
    const CWIN: u16 = 64240;
    const SWIN: u16 = 65160;
    let half = rtt_us as u64 * US / 2;
    let mut cs = r.next_u32(); // client sequence
    let mut ss = r.next_u32(); // server sequence
    let mut t = t0;
    // A segment from the client (`up`) or from the server (`down`), without payload;
    // `with_data` gives it `n` bytes.
    let up = |at: u64, seq: u32, ack: u32, f: u8| tcp(at, c, s, sport, dport, seq, ack, f, CWIN);
    let down = |at: u64, seq: u32, ack: u32, f: u8| tcp(at, s, c, dport, sport, seq, ack, f, SWIN);
    let with_data = |p: Pkt, n: u64| Pkt {
        payload: Payload::Pattern(n as u16),
        ..p
    };

    emit(up(t, cs, 0, flags::SYN));
    cs = cs.wrapping_add(1);
    t += half;
    emit(down(t, ss, cs, flags::SYN | flags::ACK));
    ss = ss.wrapping_add(1);
    t += half;
    emit(up(t, cs, ss, flags::ACK));

    for _ in 0..exchanges {
        t += r.range(MS, 120 * MS); // client think time
        let q = r.range(100, 600);
        emit(with_data(up(t, cs, ss, flags::PSH | flags::ACK), q));
        cs = cs.wrapping_add(q as u32);
        t += half + r.range(200 * US, 15 * MS); // transit + server work
        for i in 0..segs {
            let last = i + 1 == segs;
            let n = if last { r.range(100, 1400) } else { 1400 };
            let f = if last {
                flags::PSH | flags::ACK
            } else {
                flags::ACK
            };
            emit(with_data(down(t, ss, cs, f), n));
            ss = ss.wrapping_add(n as u32);
            if !last {
                t += r.range(30 * US, 200 * US);
            }
        }
        t += half;
        emit(up(t, cs, ss, flags::ACK));
    }

    t += r.range(MS, 60 * MS);
    emit(up(t, cs, ss, flags::FIN | flags::ACK));
    cs = cs.wrapping_add(1);
    t += half;
    emit(down(t, ss, cs, flags::FIN | flags::ACK));
    ss = ss.wrapping_add(1);
    t += half;
    emit(up(t, cs, ss, flags::ACK));
}
