//! Per-stage micro-benchmarks of the hot path: decode, partition, window update, rule
//! evaluation (flush) and the whole pipeline.
//!
//! Run: `cargo bench --bench stages` (all, ~1 min on 2 cores) or
//! `cargo bench --bench stages -- decode` (one group). Results are in `benches/RESULTS.md`.
//!
//! Input: a synthetic `bench`-scenario capture (`flowsentry::synth`, scale
//! [`BENCH_SCALE`]: 200,008 packets over 120 s of capture time from ~40,000 sources, the
//! scenario's 25,000 clients plus a spoofed SYN flood's 15,000, so ~5 packets per source),
//! written once to a temporary directory and read into memory with libpcap. Every group reports
//! `Throughput::Elements`, so criterion's "thrpt" is elements/s and "time" divided by the
//! element count is ns per element. The element is:
//!   - `decode`, `pipeline_replay`: one captured frame (packet);
//!   - `partition`, `window_update`: one decoded record (= packet that is IP);
//!   - `rule_eval`: one key (source address) held by the shard at the flush; the flush
//!     includes whatever sweep of quiet keys the engine does at that batch.
//!
//! Without `--bench` (i.e. `cargo test --all-targets`, which passes libtest flags such as
//! `--test-threads` that criterion 0.5 rejects) this binary runs a quick smoke test of every
//! stage on a small capture instead of measuring.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput};

use flowsentry::decode::{decode, DecodeStats};
use flowsentry::partition::shard_of;
use flowsentry::pipeline::{self, PipelineConfig};
use flowsentry::record::{proto, tcp_flag, Addr, Record};
use flowsentry::rules::{default_rules, Filter, GroupBy, RuleSet};
use flowsentry::sink::MemorySink;
use flowsentry::source::PcapFiles;
use flowsentry::synth::{self, Scenario, SynthConfig, DEFAULT_START_NS};
use flowsentry::window::{KeyedConfig, KeyedWindows, WatermarkTracker};

/// Approximate packets in the benchmark capture.
const BENCH_SCALE: u64 = 200_000;
/// Packets in the smoke-test capture (test mode).
const SMOKE_SCALE: u64 = 20_000;
/// Sources pre-ingested for `rule_eval`.
const EVAL_KEYS: usize = 20_000;
const SEC: u64 = 1_000_000_000;

/// The capture, in memory.
struct Fixture {
    _dir: tempfile::TempDir,
    pcap: PathBuf,
    linktype: i32,
    /// All captured bytes back to back (like libpcap's buffer), frames index into it.
    bytes: Vec<u8>,
    /// (capture time ns, offset, length)
    frames: Vec<(u64, usize, usize)>,
    /// The decoded records, in capture order.
    records: Vec<Record>,
    rules: Arc<RuleSet>,
}

impl Fixture {
    fn new(scale: u64) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let pcap = dir.path().join("bench.pcap");
        let cfg = SynthConfig {
            scenario: Scenario::Bench,
            scale: Some(scale),
            ..Default::default()
        };
        let s = synth::generate(&cfg, &pcap, None).expect("synthetic capture");
        let mut cap =
            pcap::Capture::from_file_with_precision(&pcap, pcap::Precision::Nano).expect("open");
        let linktype = cap.get_datalink().0;
        let mut bytes = Vec::with_capacity(64 << 20);
        let mut frames = Vec::with_capacity(s.packets as usize);
        loop {
            match cap.next_packet() {
                Ok(p) => {
                    let ts = p.header.ts.tv_sec as u64 * SEC + p.header.ts.tv_usec as u64;
                    frames.push((ts, bytes.len(), p.data.len()));
                    bytes.extend_from_slice(p.data);
                }
                Err(pcap::Error::NoMorePackets) => break,
                Err(e) => panic!("reading {}: {e}", pcap.display()),
            }
        }
        assert_eq!(frames.len() as u64, s.packets);
        let mut st = DecodeStats::default();
        let records: Vec<Record> = frames
            .iter()
            .filter_map(|&(ts, o, l)| decode(linktype, ts, &bytes[o..o + l], &mut st))
            .collect();
        eprintln!(
            "stages: capture {} packets, {} records, {} sources, {:.1} s of capture time, {:.1} MB",
            frames.len(),
            records.len(),
            s.sources,
            s.duration_ns as f64 / 1e9,
            bytes.len() as f64 / 1e6
        );
        Fixture {
            _dir: dir,
            pcap,
            linktype,
            bytes,
            frames,
            records,
            rules: Arc::new(default_rules()),
        }
    }

    fn frame(&self, i: usize) -> (u64, &[u8]) {
        let (ts, o, l) = self.frames[i];
        (ts, &self.bytes[o..o + l])
    }
}

fn keyed_config() -> KeyedConfig {
    // What `pipeline::run` gives one shard with the CLI defaults (1 s batches) and 2 shards.
    PipelineConfig {
        shards: 2,
        ..Default::default()
    }
    .keyed_config()
}

// ---- stage bodies (shared by the benchmarks and the smoke test) ----

fn decode_all(fx: &Fixture) -> DecodeStats {
    let mut st = DecodeStats::default();
    for i in 0..fx.frames.len() {
        let (ts, data) = fx.frame(i);
        black_box(decode(fx.linktype, ts, black_box(data), &mut st));
    }
    st
}

fn partition_all(fx: &Fixture, n: usize) -> usize {
    let mut acc = 0usize;
    for r in &fx.records {
        acc = acc.wrapping_add(shard_of(black_box(&r.src), n));
    }
    acc
}

/// One keyed-window stage and the filters that route a record to it (`None`: every record).
type Stage = (Option<Vec<Filter>>, KeyedWindows);

/// The keyed stages `pipeline::run` gives a shard, limited to the groupings in `only`: by
/// source (every record) and, when some rule groups that way, by destination and all
/// traffic (records matching one of the stage's spec filters), routed the way the
/// pipeline's reader routes them.
fn new_stages(rules: &Arc<RuleSet>, only: &[GroupBy]) -> Vec<Stage> {
    GroupBy::ALL
        .iter()
        .filter(|&&g| only.contains(&g) && rules.has_stage(g))
        .map(|&g| {
            let gate = (g != GroupBy::Src).then(|| rules.stage_filters(g));
            (gate, KeyedWindows::new(rules.clone(), g, keyed_config()))
        })
        .collect()
}

/// The stage sets `window_update` measures.
const STAGE_SETS: [(&str, &[GroupBy]); 3] = [
    ("src_stage", &[GroupBy::Src]),
    ("src_dst_stages", &[GroupBy::Src, GroupBy::Dst]),
    ("all_stages", &GroupBy::ALL),
];

/// Ingest every record into the stages, driven by a watermark the way the pipeline's reader
/// drives them: flush before each record that moves it, a final flush at the end. Returns
/// the stages (so dropping them is not timed) and the alert count.
fn window_update(fx: &Fixture, mut stages: Vec<Stage>) -> (Vec<Stage>, usize) {
    let mut wm = WatermarkTracker::new(SEC, 0);
    let mut alerts = 0;
    for r in &fx.records {
        let o = wm.observe(r.ts_ns);
        if let Some(c) = o.advanced_to {
            for (_, kw) in stages.iter_mut() {
                alerts += kw.flush(c).len();
            }
        }
        if o.batch.is_some() {
            for (gate, kw) in stages.iter_mut() {
                if gate
                    .as_ref()
                    .is_none_or(|fs| fs.iter().any(|f| f.matches(r)))
                {
                    kw.ingest(r);
                }
            }
        }
    }
    for (_, kw) in stages.iter_mut() {
        if let Some(f) = kw.final_watermark() {
            alerts += kw.flush(f).len();
        }
    }
    (stages, alerts)
}

/// First closed batch of the `rule_eval` setup: `EVAL_BATCH + 1` is a multiple of 10 s, so
/// every default rule (slides 1 s, 5 s, 10 s) is due at the measured flush, and not of 120 s
/// (the longest window), so the flush does not also prune every key's panes.
const EVAL_BATCH: u64 = DEFAULT_START_NS / SEC + 9;

/// One batch of a benign crowd: `keys` sources, each opening a TCP connection to a web
/// server (SYN, ACK) and making a DNS lookup (UDP); every 20th source is IPv6, every 50th
/// also pings. Like the `bench` capture's clients, as seen within one second.
fn eval_batch_records(keys: usize) -> Vec<Record> {
    let t0 = EVAL_BATCH * SEC;
    let mut v = Vec::with_capacity(keys * 3 + keys / 50);
    for i in 0..keys as u32 {
        let src = if i % 20 == 19 {
            let mut a = [0u8; 16];
            a[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00]);
            a[12..].copy_from_slice(&i.to_be_bytes());
            Addr::v6(a)
        } else {
            let n = i / 250;
            Addr::v4([
                10,
                128 + (n / 256) as u8,
                (n % 256) as u8,
                2 + (i % 250) as u8,
            ])
        };
        let web = Addr::v4([203, 0, 113, 10 + (i % 48) as u8]);
        let ts = t0 + (i as u64 * 997) % SEC;
        let base = Record {
            ts_ns: ts,
            src,
            dst: web,
            src_port: 40_000 + (i % 20_000) as u16,
            dst_port: 443,
            proto: proto::TCP,
            ip_len: 60,
            ..Default::default()
        };
        v.push(Record {
            tcp_flags: tcp_flag::SYN,
            ..base
        });
        v.push(Record {
            ts_ns: ts + 1_000,
            tcp_flags: tcp_flag::ACK,
            ip_len: 52,
            ..base
        });
        v.push(Record {
            ts_ns: ts + 2_000,
            dst: Addr::v4([10, 0, (i % 4) as u8, 53]),
            dst_port: 53,
            proto: proto::UDP,
            ip_len: 70,
            ..base
        });
        if i % 50 == 7 {
            v.push(Record {
                ts_ns: ts + 3_000,
                proto: proto::ICMP,
                icmp_type: 8,
                src_port: 0,
                dst_port: 0,
                ip_len: 84,
                ..base
            });
        }
    }
    v.sort_by_key(|r| r.ts_ns);
    v
}

/// Sources for the busy-key evaluation.
const BUSY_KEYS: usize = 2_000;

/// One batch of `keys` busy sources: each sends 100 SYNs spread over 50 hosts and 50 ports,
/// enough packets for every SYN rule's necessary condition to pass its gate (so each is
/// evaluated in full: window sums, distinct counts, conditions) but no rule fires.
fn busy_batch_records(keys: usize) -> Vec<Record> {
    let t0 = EVAL_BATCH * SEC;
    let mut v = Vec::with_capacity(keys * 100);
    for i in 0..keys as u32 {
        let n = i / 250;
        let src = Addr::v4([
            10,
            64 + (n / 256) as u8,
            (n % 256) as u8,
            2 + (i % 250) as u8,
        ]);
        for j in 0..100u32 {
            v.push(Record {
                ts_ns: t0 + (i as u64 * 997 + j as u64 * 9_973_000) % SEC,
                src,
                dst: Addr::v4([203, 0, 113, (j % 50) as u8]),
                src_port: 40_000 + j as u16,
                dst_port: 1_000 + (j % 50) as u16,
                proto: proto::TCP,
                tcp_flags: tcp_flag::SYN,
                ip_len: 60,
                ..Default::default()
            });
        }
    }
    v.sort_by_key(|r| r.ts_ns);
    v
}

/// Windows holding `recs` (all in batch `EVAL_BATCH`), not yet evaluated.
fn eval_setup(rules: &Arc<RuleSet>, recs: &[Record]) -> KeyedWindows {
    let mut kw = KeyedWindows::new(rules.clone(), GroupBy::Src, keyed_config());
    assert!(kw.flush(EVAL_BATCH).is_empty());
    for r in recs {
        kw.ingest(r);
    }
    kw
}

fn replay(fx: &Fixture, shards: usize) -> u64 {
    let mut src = PcapFiles::open(std::slice::from_ref(&fx.pcap), None).expect("open capture");
    let cfg = PipelineConfig {
        shards,
        ..Default::default()
    };
    let (summary, _sink) =
        pipeline::run(&mut src, fx.rules.clone(), &cfg, MemorySink::default()).expect("run");
    summary.packets
}

// ---- criterion benchmarks ----

fn bench_decode(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(fx.frames.len() as u64));
    g.bench_function("etherparse_bench_mix", |b| b.iter(|| decode_all(fx)));
    g.finish();
}

/// NetFlow v5 datagrams (30 one-packet flows each) of the fixture's IPv4 records, as a
/// router would export them.
fn v5_datagrams(fx: &Fixture) -> Vec<Vec<u8>> {
    let v4: Vec<&Record> = fx.records.iter().filter(|r| r.src.is_v4()).collect();
    let t0 = v4.first().map_or(0, |r| r.ts_ns / 1_000_000);
    v4.chunks(30)
        .map(|c| {
            let last = c.last().map_or(0, |r| r.ts_ns / 1_000_000);
            let mut d = Vec::with_capacity(24 + 48 * c.len());
            d.extend_from_slice(&5u16.to_be_bytes());
            d.extend_from_slice(&(c.len() as u16).to_be_bytes());
            d.extend_from_slice(&((last - t0) as u32 + 1000).to_be_bytes()); // uptime
            d.extend_from_slice(&((last / 1000) as u32).to_be_bytes());
            d.extend_from_slice(&(((last % 1000) * 1_000_000) as u32).to_be_bytes());
            d.extend_from_slice(&[0; 8]); // sequence, engine, sampling
            for r in c {
                let up = (r.ts_ns / 1_000_000 - t0) as u32 + 1000;
                d.extend_from_slice(&r.src.as_v4().unwrap());
                d.extend_from_slice(&r.dst.as_v4().unwrap());
                d.extend_from_slice(&[0; 8]); // next hop, interfaces
                d.extend_from_slice(&1u32.to_be_bytes());
                d.extend_from_slice(&r.ip_len.to_be_bytes());
                d.extend_from_slice(&up.to_be_bytes());
                d.extend_from_slice(&up.to_be_bytes());
                d.extend_from_slice(&r.src_port.to_be_bytes());
                d.extend_from_slice(&r.dst_port.to_be_bytes());
                d.extend_from_slice(&[0, r.tcp_flags, r.proto, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            }
            d
        })
        .collect()
}

fn collect_all(datagrams: &[Vec<u8>]) -> usize {
    let mut c = flowsentry::netflow::Collector::new(1);
    let from = "192.0.2.1:2055".parse().unwrap();
    let (mut flows, mut recs, mut n) = (Vec::new(), Vec::new(), 0);
    for d in datagrams {
        flows.clear();
        recs.clear();
        let _ = c.datagram(from, d, &mut flows);
        flowsentry::flow::weighted_all(&flows, 1_000_000_000, &mut recs);
        n += recs.len();
    }
    n
}

/// sFlow v5 datagrams of the fixture's frames as a switch samples them: 8 flow samples a
/// datagram (rate 1), each the frame's first 128 bytes as an Ethernet header.
fn sflow_datagrams(fx: &Fixture) -> Vec<Vec<u8>> {
    let be = |d: &mut Vec<u8>, x: u32| d.extend_from_slice(&x.to_be_bytes());
    fx.frames
        .chunks(8)
        .enumerate()
        .map(|(seq, c)| {
            let mut d = Vec::with_capacity(28 + c.len() * 200);
            for x in [5, 1, 0xc000_0201, 0, seq as u32, 1000, c.len() as u32] {
                be(&mut d, x);
            }
            for &(_, off, len) in c {
                let h = &fx.bytes[off..off + len.min(128)];
                let pad = (4 - h.len() % 4) % 4;
                be(&mut d, 1); // flow sample
                be(&mut d, (32 + 8 + 16 + h.len() + pad) as u32);
                for x in [seq as u32, 1, 1, 0, 0, 1, 2, 1] {
                    be(&mut d, x); // seq, source, rate, pool, drops, in, out, records
                }
                be(&mut d, 1); // sampled header
                be(&mut d, (16 + h.len() + pad) as u32);
                for x in [1, len as u32, 4, h.len() as u32] {
                    be(&mut d, x); // ethernet, frame length, stripped, header length
                }
                d.extend_from_slice(h);
                d.extend(std::iter::repeat_n(0, pad));
            }
            d
        })
        .collect()
}

fn sflow_all(datagrams: &[Vec<u8>]) -> usize {
    let mut c = flowsentry::netflow::Collector::new(1);
    let from = "192.0.2.1:6343".parse().unwrap();
    let (mut flows, mut recs) = (Vec::new(), Vec::new());
    for d in datagrams {
        let _ = c.decode(from, 0, d, &mut flows, &mut recs);
    }
    recs.len()
}

/// The collector's decoding (netflow_parser) and weighting, per flow, on one core.
fn bench_netflow(c: &mut Criterion, fx: &Fixture) {
    let d = v5_datagrams(fx);
    let flows: usize = d.iter().map(|x| (x.len() - 24) / 48).sum();
    let mut g = c.benchmark_group("netflow_collect");
    g.throughput(Throughput::Elements(flows as u64));
    g.bench_function("v5_30_flows_a_datagram", |b| {
        b.iter(|| collect_all(black_box(&d)))
    });
    g.finish();
    let d = sflow_datagrams(fx);
    assert_eq!(
        sflow_all(&d),
        fx.records.len(),
        "every sampled frame decodes"
    );
    let mut g = c.benchmark_group("sflow_collect");
    g.throughput(Throughput::Elements(fx.frames.len() as u64));
    g.bench_function("8_headers_a_datagram", |b| {
        b.iter(|| sflow_all(black_box(&d)))
    });
    g.finish();
}

fn bench_partition(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("partition");
    g.throughput(Throughput::Elements(fx.records.len() as u64));
    g.bench_function("shard_of_src_2_shards", |b| {
        b.iter(|| partition_all(fx, black_box(2)))
    });
    g.finish();
}

fn bench_window_update(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("window_update");
    // Long iterations: equal iteration counts per sample.
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(fx.records.len() as u64));
    // The source stage alone (every record), plus the destination stage, then all stages
    // the default rules use (source, destination, all traffic).
    for (name, only) in STAGE_SETS {
        g.bench_function(format!("ingest_and_flush_default_rules_{name}"), |b| {
            b.iter_batched(
                || new_stages(&fx.rules, only),
                |st| window_update(fx, st),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn bench_rule_eval(c: &mut Criterion, fx: &Fixture) {
    let recs = eval_batch_records(EVAL_KEYS);
    let mut g = c.benchmark_group("rule_eval");
    // Long iterations: equal iteration counts per sample.
    g.sampling_mode(SamplingMode::Flat);
    // Per key held by the shard (20,000), not per record.
    g.throughput(Throughput::Elements(EVAL_KEYS as u64));
    // Every key has new packets and every source-keyed default rule is due, but no key holds
    // enough packets for any rule's necessary condition: none is even listed for evaluation.
    g.bench_function("flush_all_rules_due_20k_light_keys", |b| {
        b.iter_batched(
            || eval_setup(&fx.rules, &recs),
            |mut kw| {
                let a = kw.flush(black_box(EVAL_BATCH + 1));
                (kw, a)
            },
            BatchSize::PerIteration,
        )
    });
    // 2,000 busy keys (100 SYNs each): every SYN rule passes its gate and is evaluated in
    // full. Per key.
    let busy = busy_batch_records(BUSY_KEYS);
    g.throughput(Throughput::Elements(BUSY_KEYS as u64));
    g.bench_function("flush_all_rules_due_2k_busy_keys", |b| {
        b.iter_batched(
            || eval_setup(&fx.rules, &busy),
            |mut kw| {
                let a = kw.flush(black_box(EVAL_BATCH + 1));
                (kw, a)
            },
            BatchSize::PerIteration,
        )
    });
    g.throughput(Throughput::Elements(EVAL_KEYS as u64));
    // The next second with no new packets: the 1 s rules are due, every key is still held
    // (its horizon is not over) but none can fire; the floor cost per held key per batch.
    g.bench_function("flush_1s_rules_due_20k_quiet_keys", |b| {
        b.iter_batched(
            || {
                let mut kw = eval_setup(&fx.rules, &recs);
                kw.flush(EVAL_BATCH + 1);
                kw
            },
            |mut kw| {
                let a = kw.flush(black_box(EVAL_BATCH + 2));
                (kw, a)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench_pipeline(c: &mut Criterion, fx: &Fixture) {
    let mut g = c.benchmark_group("pipeline_replay");
    // Long iterations: equal iteration counts per sample.
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(fx.frames.len() as u64));
    for shards in [1usize, 2] {
        g.bench_function(format!("pcap_file_memory_sink_{shards}_shards"), |b| {
            b.iter(|| replay(fx, shards))
        });
    }
    g.finish();
}

fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1500))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args()
}

// ---- smoke test (test mode) ----

fn smoke(fx: &Fixture) {
    let st = decode_all(fx);
    assert_eq!(st.records as usize, fx.records.len());
    assert!(st.records > 0);
    let acc = partition_all(fx, 2);
    assert!(acc > 0 && acc < fx.records.len());
    // Every IPv4 record, one flow of one packet each, comes back as one weighted record.
    let v4 = fx.records.iter().filter(|r| r.src.is_v4()).count();
    assert_eq!(collect_all(&v5_datagrams(fx)), v4);
    for (_, only) in STAGE_SETS {
        let (st, _alerts) = window_update(fx, new_stages(&fx.rules, only));
        assert_eq!(st[0].1.stats().records as usize, fx.records.len());
        assert!(!st.is_empty() && st.len() <= only.len());
    }
    let recs = eval_batch_records(2_000);
    let mut kw = eval_setup(&fx.rules, &recs);
    assert_eq!(kw.stats().keys, 2_000);
    assert!(
        kw.flush(EVAL_BATCH + 1).is_empty(),
        "benign keys fire nothing"
    );
    let mut kw = eval_setup(&fx.rules, &busy_batch_records(200));
    assert!(
        kw.flush(EVAL_BATCH + 1).is_empty(),
        "busy keys fire nothing"
    );
    assert!(kw.flush(EVAL_BATCH + 2).is_empty());
    for shards in [1, 2] {
        assert_eq!(replay(fx, shards), fx.frames.len() as u64);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    if !has("--bench") {
        // Test mode: `cargo test --benches` / `--all-targets`.
        if has("--list") {
            println!("stages_smoke: test");
            return;
        }
        let t = std::time::Instant::now();
        let fx = Fixture::new(SMOKE_SCALE);
        smoke(&fx);
        println!(
            "test stages_smoke ... ok ({:.2} s)\n\ntest result: ok. 1 passed; 0 failed",
            t.elapsed().as_secs_f64()
        );
        return;
    }
    let fx = Fixture::new(BENCH_SCALE);
    let mut c = criterion();
    bench_decode(&mut c, &fx);
    bench_netflow(&mut c, &fx);
    bench_partition(&mut c, &fx);
    bench_window_update(&mut c, &fx);
    bench_rule_eval(&mut c, &fx);
    bench_pipeline(&mut c, &fx);
    c.final_summary();
}
