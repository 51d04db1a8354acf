//! State an attacker can grow stays bounded: 10 million spoofed sources (SYNs and UDP at one
//! victim, each source sending once) through the default pack, with three real attackers
//! mixed in. The keyed stages and conversation tables together hold at most `--max-state`
//! (128 MiB here: the quietest keys are evicted, counted), the conversation table at most
//! `--max-conversations` and each host at most `--max-conversations-per-host`, so peak
//! memory stays under the cap plus the pipeline's fixed buffers; and the real attackers
//! are still named, by the right rules.
//!
//! The records come from an in-memory source (10M packets would be a 600 MB capture).

mod common;

use std::sync::Arc;

use flowsentry::pipeline::{self, PipelineConfig};
use flowsentry::record::{proto, tcp_flag, Addr, Record};
use flowsentry::rules::default_rules;
use flowsentry::sink::MemorySink;
use flowsentry::source::{Input, Next, PacketSource, SourceError};

const T0: u64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z
const SPOOFED: u64 = 10_000_000;
/// Spread over 40 s of capture time: 250k spoofed packets a second.
const SPAN_NS: u64 = 40_000_000_000;

const VICTIM: [u8; 4] = [10, 10, 10, 10];
const SCANNER: [u8; 4] = [192, 0, 2, 66];
const SCANNED: [u8; 4] = [203, 0, 113, 5];
const FLOODER: [u8; 4] = [192, 0, 2, 77];
const FLOODED: [u8; 4] = [203, 0, 113, 6];

struct Flood {
    i: u64,
    pending: Vec<Record>,
}

fn spoofed(i: u64) -> Record {
    // A different source for every packet: 198.18.0.0/15 is too small, so all of 1.0.0.0/8
    // through 126.0.0.0/8 (the multiplier spreads consecutive i).
    let x = (i.wrapping_mul(0x9E37_79B9) % (126 << 24)) as u32 + (1 << 24);
    let udp = i % 2 == 1;
    Record {
        ts_ns: T0 + i * SPAN_NS / SPOOFED,
        src: Addr::v4(x.to_be_bytes()),
        dst: Addr::v4(VICTIM),
        src_port: 1024 + (i % 60000) as u16,
        dst_port: if udp { 53 } else { 80 },
        ip_len: if udp { 60 } else { 44 },
        proto: if udp { proto::UDP } else { proto::TCP },
        tcp_flags: if udp { 0 } else { tcp_flag::SYN },
        ..Default::default()
    }
}

/// The real attackers' packets due at spoofed packet `i`: a SYN scan of 2,000 ports (each
/// refused with RST+ACK), one probe every 4,000 spoofed packets (62/s); a UDP flood of
/// 3,000 packets/s from one source for 10 s from second 20.
fn real(i: u64, ts: u64, out: &mut Vec<Record>) {
    if i.is_multiple_of(4000) && i / 4000 < 2000 {
        let port = 1 + (i / 4000) as u16;
        let probe = Record {
            ts_ns: ts,
            src: Addr::v4(SCANNER),
            dst: Addr::v4(SCANNED),
            src_port: 40000,
            dst_port: port,
            ip_len: 44,
            proto: proto::TCP,
            tcp_flags: tcp_flag::SYN,
            ..Default::default()
        };
        out.push(probe);
        out.push(Record {
            ts_ns: ts + 1000,
            src: probe.dst,
            dst: probe.src,
            src_port: port,
            dst_port: 40000,
            ip_len: 40,
            tcp_flags: tcp_flag::RST | tcp_flag::ACK,
            ..probe
        });
    }
    let secs = (ts - T0) / 1_000_000_000;
    if (20..30).contains(&secs) && i.is_multiple_of(83) {
        out.push(Record {
            ts_ns: ts + 2000,
            src: Addr::v4(FLOODER),
            dst: Addr::v4(FLOODED),
            src_port: 5555,
            dst_port: 9999,
            ip_len: 540,
            proto: proto::UDP,
            ..Default::default()
        });
    }
}

impl PacketSource for Flood {
    fn next_with(&mut self, f: &mut dyn FnMut(&Input<'_>)) -> Result<Next, SourceError> {
        if self.pending.is_empty() {
            if self.i >= SPOOFED {
                return Ok(Next::End);
            }
            let r = spoofed(self.i);
            real(self.i, r.ts_ns, &mut self.pending);
            self.pending.push(r);
            self.pending.reverse();
            self.i += 1;
        }
        let record = self.pending.pop().expect("one pending");
        f(&Input::Record {
            record,
            wire_len: record.ip_len + 14,
        });
        Ok(Next::Item)
    }

    fn describe(&self) -> String {
        "10M spoofed sources".into()
    }
}

#[test]
fn ten_million_spoofed_sources_stay_bounded_and_real_attackers_are_caught() {
    const CAP: usize = 128 << 20;
    let cfg = PipelineConfig {
        shards: 2,
        max_state_bytes: CAP,
        ..Default::default()
    };
    let mut src = Flood {
        i: 0,
        pending: Vec::new(),
    };
    let (s, sink) = pipeline::run(
        &mut src,
        Arc::new(default_rules()),
        &cfg,
        MemorySink::default(),
    )
    .expect("run");
    let found = common::found(&sink);
    eprintln!("{found:?}\n{s}");
    for (rule, key) in [
        ("port_scan", "192.0.2.66"),
        ("udp_flood", "192.0.2.77"),
        ("syn_flood_dst", "10.10.10.10"),
    ] {
        assert!(
            found.contains(&(rule.to_string(), key.to_string())),
            "{rule} {key} not found: {found:?}"
        );
    }
    assert!(s.packets > SPOOFED);
    assert!(
        s.keys_evicted_for_state > 100_000,
        "more sources than fit in --max-state: evicted"
    );
    // The cap holds at every watermark of the run and at the end of input, where the last
    // outcomes enter keys already held (growth of held keys counts against the limit).
    assert!(
        s.state_peak_bytes <= CAP as u64,
        "state peak {} over the cap {CAP}",
        s.state_peak_bytes
    );
    // A spoofed source waits on probation (its SYN, retransmission and outcome: a 217-B
    // slot) instead of holding the SYN rules' and the failed-attempt rules' state (1.7 kB
    // with its map slot before sets took one allocation per state and probation came):
    // 228 B a key at the peak here.
    let per_key = s.key_bytes_at_peak.expect("keys were held");
    assert!(per_key <= 400, "{per_key} B a key at the peak");
    let c = s.conversations.expect("the default pack reads outcomes");
    assert!(c.host_capped > 0 && c.hosts_capped >= 1, "{c:?}");
    assert!(c.peak <= cfg.conversation.max_entries as u64, "{c:?}");
    assert!(c.evicted > 0, "the table filled and made room: {c:?}");
    let rss = s.peak_rss_bytes.expect("peak RSS on Linux");
    assert!(
        rss < (CAP as u64) + (160 << 20),
        "peak RSS {} MB",
        rss >> 20
    );
}
