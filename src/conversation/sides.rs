//! What one packet does to its shard's conversation table, by the side the shard owns:
//! `outbound` for a packet its local host sent (an attempt, an answer, a refusal),
//! `inbound` for one it received (a reply that resolves an attempt, or a response it never
//! asked for).
//!
//! In: records marked `VIA_OUT` or `VIA_IN` (see the parent module). Out: table entries
//! and outcome records. Guarantees: as the parent module says; one table lookup per
//! packet that needs one.

use super::*;

impl Conversations {
    /// `r` as sent by the local host (its source).
    pub(super) fn outbound(&mut self, r: &Record) {
        let mut k = Key {
            local: r.src,
            remote: r.dst,
            lport: r.src_port,
            rport: r.dst_port,
            proto: r.proto,
        };
        match r.proto {
            proto::ICMP | proto::ICMPV6 => {
                if r.is_icmp_error() {
                    // The local host refuses what the remote sent it (the quote).
                    k.proto = r.quoted_proto();
                    (k.lport, k.rport) = (r.dst_port, r.src_port);
                    if let Some(c) = self.table.get_mut(&k) {
                        if c.state == State::Received {
                            c.state = State::Done;
                            let ip_len = c.ip_len;
                            self.unsolicited_from(&k, r.ts_ns, ip_len);
                        }
                    }
                    return;
                }
                if !r.is_echo_request() {
                    return;
                }
                (k.lport, k.rport) = (0, 0);
            }
            proto::TCP | proto::UDP => {}
            _ => (k.lport, k.rport) = (0, 0),
        }
        // One lookup: the entry found or the slot for a new attempt.
        let held = self.table.len();
        let room = held < self.cfg.max_entries;
        let slot = match self.table.entry(k) {
            Entry::Occupied(mut o) => {
                let c = o.get_mut();
                c.last_ns = c.last_ns.max(r.ts_ns);
                if c.state == State::Received {
                    // The local host answered: it was a request to a service, not a response.
                    c.state = State::Done;
                }
                return;
            }
            Entry::Vacant(v) => v,
        };
        let state = match r.proto {
            // A response of the local host to something the table did not see: no attempt.
            proto::TCP if r.is_synack() || r.is_rst() => return,
            // To an address not seen sending: whatever it sends back is routed here (its
            // first segment), so silence is a failure (an ACK ping of dark space).
            proto::TCP if !r.is_syn() && r.event & event::DARK != 0 => State::Pending,
            proto::TCP if !r.is_syn() => State::Orphan,
            _ => State::Pending,
        };
        let c = Conv::first(r, state);
        if room {
            let t = (
                &self.cfg,
                &mut self.per_host,
                &mut self.stats,
                &mut self.timeouts,
            );
            insert_vacant(t, slot, held, c);
            return;
        }
        self.insert(k, c);
    }

    /// `r` as received by the local host (its destination).
    pub(super) fn inbound(&mut self, r: &Record) {
        let mut k = Key {
            local: r.dst,
            remote: r.src,
            lport: r.dst_port,
            rport: r.src_port,
            proto: r.proto,
        };
        if r.is_icmp_error() {
            // About a packet the local host sent: the quote's source is the local host.
            k.proto = r.quoted_proto();
            (k.lport, k.rport) = (r.src_port, r.dst_port);
            if !matches!(k.proto, proto::TCP | proto::UDP) {
                (k.lport, k.rport) = (0, 0);
            }
            let transit = r.is_time_exceeded();
            if transit {
                // Sent by a router on the way, not by the probe's destination, so the table
                // cannot be asked by address: remember the probe's ports until its timeout.
                self.note_transit(&k, r.ts_ns);
                return;
            }
            match self.table.get_mut(&k) {
                Some(c) if matches!(c.state, State::Pending | State::Orphan) => {
                    c.state = State::Done;
                    c.last_ns = c.last_ns.max(r.ts_ns);
                    let c = *c;
                    self.outcome(&k, &c, r.ts_ns, event::REJECTED);
                }
                Some(_) => {}
                // The quote names an attempt the capture did not show: still a refusal.
                None => self.refused_unseen(k, r.ts_ns, 0),
            }
            return;
        }
        match r.proto {
            proto::ICMP | proto::ICMPV6 => {
                if !r.is_echo_reply() {
                    return;
                }
                (k.lport, k.rport) = (0, 0);
            }
            proto::TCP | proto::UDP => {}
            _ => (k.lport, k.rport) = (0, 0),
        }
        let held = self.table.len();
        let room = held < self.cfg.max_entries;
        match self.table.entry(k) {
            Entry::Occupied(mut o) => {
                let c = o.get_mut();
                c.last_ns = c.last_ns.max(r.ts_ns);
                let ev = match (c.state, r.proto) {
                    (State::Pending | State::Orphan, proto::TCP) if r.is_rst() => event::REJECTED,
                    (State::Pending, proto::TCP) if r.is_synack() => event::ANSWERED,
                    // Any other segment (a first one from an address thought dark) answers
                    // a segment that was not a SYN; a SYN needs its SYN-ACK.
                    (State::Pending, proto::TCP) if c.flags & tcp_flag::SYN == 0 => event::ANSWERED,
                    (State::Pending, p) if p != proto::TCP => event::ANSWERED,
                    _ => return,
                };
                c.state = State::Done;
                let c = *c;
                self.outcome(&k, &c, r.ts_ns, ev);
            }
            // Remote-initiated UDP: a request to the local host, or a response it never
            // asked for; which one shows when the local host answers or not.
            Entry::Vacant(slot) if r.proto == proto::UDP && room => {
                let t = (
                    &self.cfg,
                    &mut self.per_host,
                    &mut self.stats,
                    &mut self.timeouts,
                );
                insert_vacant(t, slot, held, Conv::first(r, State::Received));
            }
            Entry::Vacant(_) => match r.proto {
                proto::UDP => self.open(k, r, State::Received),
                // A RST without ACK answers a segment that carried ACK (RFC 9293 3.10.7.1)
                // into no connection: an ACK, window or Maimon probe of the local host,
                // refused. (A refused SYN draws RST+ACK, and SYNs are always in the table.)
                proto::TCP if r.tcp_flags & crate::record::tcp_flag::ACK == 0 && r.is_rst() => {
                    self.refused_unseen(k, r.ts_ns, crate::record::tcp_flag::ACK)
                }
                // Responses (see `reply_class`) never asked for; other segments come only
                // as an address's first (for probes of it), and are no response.
                proto::TCP if r.is_synack() || r.is_rst() => self.unsolicited(r),
                proto::ICMP | proto::ICMPV6 => self.unsolicited(r),
                _ => {}
            },
        }
    }

    /// Attempt `k` of the local host, which the table never saw, was refused at `ts_ns` (a
    /// reply names it: an ICMP error quoting it, a bare RST); `flags`: what the probe must
    /// have carried. Held as resolved, so a repeated reply counts once.
    pub(super) fn refused_unseen(&mut self, k: Key, ts_ns: u64, flags: u8) {
        let c = Conv {
            state: State::Done,
            first_ns: ts_ns,
            last_ns: ts_ns,
            flags,
            icmp_type: 0,
            ip_len: 0,
        };
        if self.insert(k, c) {
            self.outcome(&k, &c, ts_ns, event::REJECTED);
        }
    }
}
