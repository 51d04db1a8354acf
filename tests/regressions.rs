//! Inputs that once crashed or fooled flowsentry, replayed end to end.
//!
//! In: the capture files in `../shared/regressions` (read in place, never copied).
//! Checks: the release binary and the library decode each of them without a crash, count
//! every frame, and report the malformed ones. `scripts/test.sh` also runs this file in the
//! `checked` profile (debug assertions and overflow checks on), where precondition checks
//! inside dependencies are live: the etherparse extension-header overrun aborted there.

mod common;
use common::*;

use std::path::PathBuf;

use flowsentry::decode::{decode, linktype, DecodeStats};

fn regression(name: &str) -> Option<PathBuf> {
    let p = repo().join("../shared/regressions").join(name);
    if p.exists() {
        return Some(p);
    }
    required(&format!("{} is missing", p.display()));
    None
}

/// Decode every frame of `file` in process; (frames, stats).
fn decode_all(file: &PathBuf) -> (u64, DecodeStats) {
    let mut cap = pcap::Capture::from_file(file).unwrap();
    let lt = cap.get_datalink().0;
    let (mut frames, mut stats) = (0, DecodeStats::default());
    while let Ok(pkt) = cap.next_packet() {
        frames += 1;
        let _ = decode(lt, 0, pkt.data, &mut stats);
    }
    (frames, stats)
}

fn check(name: &str, want_frames: u64) {
    let Some(file) = regression(name) else { return };
    let (frames, stats) = decode_all(&file);
    assert_eq!(frames, want_frames, "{name}");
    assert_eq!(
        stats.records, frames,
        "{name}: the IPv6 headers are good: {stats:?}"
    );
    assert_eq!(
        stats.ip_ext_errors, frames,
        "{name}: every chain is bad: {stats:?}"
    );
    let (st, j) = replay_summary(&file);
    assert_eq!(st.code(), Some(0), "{name}: replay must exit 0, got {st:?}");
    assert_eq!(j["packets"], frames, "{name}: {j}");
    assert_eq!(j["decode"]["ip_ext_errors"], frames, "{name}: {j}");
    assert_eq!(j["decode"]["records"], frames, "{name}: {j}");
}

/// One 60,000-byte frame: IPv6, Fragment (M=1) naming Hop-by-Hop, zeros. It segfaulted the
/// release binary (exit 139) through etherparse's `Ipv6ExtensionSliceIter`.
#[test]
fn ipv6_fragment_hop_by_hop_frame_is_counted_not_fatal() {
    check("ipv6-frag-hbh-segfault.pcap", 1);
}

/// Eight fuzzer-found frames with truncated extension chains that read out of bounds.
#[test]
fn truncated_ipv6_extension_chains_are_counted_not_fatal() {
    check("etherparse-ipv6-ext-overrun.pcap", 8);
}

/// Every saved fuzz input (tests/fuzz-regressions/TARGET/*) through the code its target runs.
#[test]
fn fuzz_regressions_stay_fixed() {
    let root = repo().join("tests/fuzz-regressions");
    let mut seen = 0;
    for target in [
        "decode",
        "pcap_file",
        "kafka_wire",
        "pmacct",
        "rules",
        "condition",
    ] {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for f in dir.flatten() {
            let data = std::fs::read(f.path()).unwrap();
            seen += 1;
            match target {
                "decode" => {
                    let Some((&sel, frame)) = data.split_first() else {
                        continue;
                    };
                    let mut s = DecodeStats::default();
                    let _ = decode(
                        linktype::ALL[sel as usize % linktype::ALL.len()],
                        0,
                        frame,
                        &mut s,
                    );
                    let outcomes = s.records
                        + s.non_ip
                        + s.link_errors
                        + s.network_errors
                        + s.unsupported_link;
                    assert_eq!(outcomes, 1, "{}", f.path().display());
                }
                "pcap_file" => {
                    // Read to the end (or an error): no panic, under overflow checks too.
                    if let Ok(Some(mut m)) =
                        flowsentry::source::mapped::MappedFile::from_bytes(data, None)
                    {
                        while let Ok(Some(_)) = m.next_frame() {}
                    }
                }
                "kafka_wire" => {
                    let mut out = Vec::new();
                    let _ = flowsentry::kafka::wire::decode(&data, &mut out);
                }
                "pmacct" => {
                    let mut out = Vec::new();
                    let _ =
                        flowsentry::kafka::pmacct::decode_message(&data, 1_000_000_000, &mut out);
                }
                "netflow" => {
                    // Length-prefixed datagrams from one exporter, as the fuzz target reads
                    // them; every flow a bounded number of records.
                    let mut c = flowsentry::netflow::Collector::new(1);
                    let from = "192.0.2.1:2055".parse().unwrap();
                    let (mut rest, mut flows, mut packets) = (&data[..], Vec::new(), Vec::new());
                    while rest.len() >= 2 {
                        let n =
                            (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
                        let _ = c.decode(from, 0, &rest[2..2 + n], &mut flows, &mut packets);
                        rest = &rest[2 + n..];
                    }
                    // At the batches the fuzz target used, then and now.
                    for batch_ns in [100_000_000, 3_600_000_000_000] {
                        let mut out = Vec::new();
                        flowsentry::flow::weighted_all(&flows, batch_ns, &mut out);
                        let most =
                            6 * (flowsentry::flow::PIECES_PER_MESSAGE as usize + 2 * flows.len());
                        assert!(
                            out.len() <= most,
                            "{}: {} records",
                            f.path().display(),
                            out.len()
                        );
                    }
                }
                "rules" => {
                    let _ =
                        flowsentry::rules::parse_rules(&String::from_utf8_lossy(&data), "f.toml");
                }
                _ => {
                    let _ = flowsentry::rules::Expr::parse(&String::from_utf8_lossy(&data));
                }
            }
        }
    }
    assert!(seen >= 1, "no saved inputs under {}", root.display());
}
