//! The mapped reader hands out the frames libpcap hands out, file for file: the same link
//! type, times, bytes, wire lengths and filter verdicts, and an error where libpcap has one.

use std::path::{Path, PathBuf};

use crate::source::{Input, Next, PacketSource, PcapFiles, Reader};

/// (link type, time, bytes, wire length) of every frame, then the error that ended the file.
type Frames = (Vec<(i32, u64, Vec<u8>, u32)>, Option<String>);

fn frames(path: &Path, filter: Option<&str>, reader: Reader) -> Frames {
    let mut src = PcapFiles::open_with(&[path.to_path_buf()], filter, reader).unwrap();
    let mut out = Vec::new();
    let mut err = None;
    loop {
        match src.next_with(&mut |i| {
            if let Input::Frame(f) = i {
                out.push((f.linktype, f.ts_ns, f.data.to_vec(), f.orig_len));
            }
        }) {
            Ok(Next::Item) => {}
            Ok(_) => break,
            Err(e) => {
                err = Some(e.to_string());
                break;
            }
        }
    }
    (out, err)
}

fn both(path: &Path, filter: Option<&str>) -> Frames {
    let m = PcapFiles::open_with(&[path.to_path_buf()], filter, Reader::Mapped).unwrap();
    assert_eq!(m.readers(), vec![Reader::Mapped], "{}", path.display());
    let mapped = frames(path, filter, Reader::Mapped);
    let libpcap = frames(path, filter, Reader::Libpcap);
    assert_eq!(
        (mapped.0.len(), &mapped.1),
        (libpcap.0.len(), &libpcap.1),
        "{} {filter:?}",
        path.display()
    );
    assert!(mapped.0 == libpcap.0, "{} {filter:?}", path.display());
    assert_eq!(
        mapped.1.is_some(),
        libpcap.1.is_some(),
        "{mapped:?} {libpcap:?}"
    );
    mapped
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// An Ethernet/IPv4/UDP frame of `payload` bytes to port `port`.
fn frame(port: u16, payload: usize) -> Vec<u8> {
    let mut f = vec![0u8; 14];
    f[12] = 0x08;
    let total = 28 + payload;
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        17,
        0,
        0,
    ];
    ip.extend([10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend(ip);
    f.extend(4000u16.to_be_bytes());
    f.extend(port.to_be_bytes());
    f.extend(((8 + payload) as u16).to_be_bytes());
    f.extend([0, 0]);
    f.extend(std::iter::repeat_n(0xAB, payload));
    f
}

/// A classic pcap file: `nanos` picks the magic, `be` the byte order.
fn pcap(
    nanos: bool,
    be: bool,
    snaplen: u32,
    linktype: u32,
    recs: &[(u32, u32, Vec<u8>, u32)],
) -> Vec<u8> {
    let u32b = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let u16b = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut b = Vec::new();
    b.extend(u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    b.extend(u16b(2));
    b.extend(u16b(4));
    b.extend(u32b(0));
    b.extend(u32b(0));
    b.extend(u32b(snaplen));
    b.extend(u32b(linktype));
    for (sec, frac, data, orig) in recs {
        b.extend(u32b(*sec));
        b.extend(u32b(*frac));
        b.extend(u32b(data.len() as u32));
        b.extend(u32b(*orig));
        b.extend(data);
    }
    b
}

fn ng_block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let len = (12 + body.len()) as u32;
    let mut b = kind.to_le_bytes().to_vec();
    b.extend(len.to_le_bytes());
    b.extend(body);
    b.extend(len.to_le_bytes());
    b
}

fn shb() -> Vec<u8> {
    let mut body = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    body.extend(1u16.to_le_bytes());
    body.extend(0u16.to_le_bytes());
    body.extend((-1i64).to_le_bytes());
    ng_block(0x0A0D_0D0A, &body)
}

fn idb(linktype: u16, snaplen: u32, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = linktype.to_le_bytes().to_vec();
    body.extend(0u16.to_le_bytes());
    body.extend(snaplen.to_le_bytes());
    if let Some(r) = tsresol {
        body.extend(9u16.to_le_bytes());
        body.extend(1u16.to_le_bytes());
        body.extend([r, 0, 0, 0]);
        body.extend([0, 0, 0, 0]); // opt_endofopt
    }
    ng_block(1, &body)
}

fn epb(iface: u32, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
    let mut body = iface.to_le_bytes().to_vec();
    body.extend(((ts >> 32) as u32).to_le_bytes());
    body.extend((ts as u32).to_le_bytes());
    body.extend((data.len() as u32).to_le_bytes());
    body.extend(orig.to_le_bytes());
    body.extend(data);
    ng_block(6, &body)
}

#[test]
fn classic_pcap_in_every_byte_order_and_precision() {
    let dir = tempfile::tempdir().unwrap();
    let recs: Vec<_> = (0..50u32)
        .map(|i| {
            (
                1_700_000_000 + i,
                i * 7919,
                frame(53 + i as u16, i as usize * 13),
                42 + i * 13,
            )
        })
        .collect();
    for (nanos, be) in [(false, false), (true, false), (false, true), (true, true)] {
        let p = write(dir.path(), "x.pcap", &pcap(nanos, be, 65535, 1, &recs));
        let (f, err) = both(&p, None);
        assert_eq!(f.len(), 50);
        assert!(err.is_none());
        let scale = if nanos { 1 } else { 1000 };
        assert_eq!(f[3].1, 1_700_000_003 * 1_000_000_000 + 3 * 7919 * scale);
        // filters run on the wire length too, as in libpcap
        let (g, _) = both(&p, Some("greater 300"));
        assert!(!g.is_empty() && g.len() < 50, "{}", g.len());
        both(&p, Some("udp dst port 60"));
    }
}

#[test]
fn records_longer_than_the_snapshot_are_cut_as_libpcap_cuts_them() {
    let dir = tempfile::tempdir().unwrap();
    let recs = vec![(1, 0, frame(1, 400), 442), (2, 0, frame(2, 10), 52)];
    let p = write(dir.path(), "snap.pcap", &pcap(false, false, 200, 1, &recs));
    let (f, _) = both(&p, None);
    assert_eq!(f[0].2.len(), 200);
    assert_eq!(f[1].2.len(), 52);
    // raw IP (LINKTYPE_RAW) is reported as libpcap reports it
    let raw: Vec<_> = recs
        .iter()
        .map(|(s, u, d, o)| (*s, *u, d[14..].to_vec(), o - 14))
        .collect();
    let p = write(
        dir.path(),
        "raw.pcap",
        &pcap(false, false, 65535, 101, &raw),
    );
    let (f, _) = both(&p, Some("udp"));
    assert_eq!(f.len(), 2);
}

#[test]
fn truncated_and_oversized_records_end_the_file_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let recs: Vec<_> = (0..5).map(|i| (i, 0, frame(9, 100), 142)).collect();
    let whole = pcap(false, false, 65535, 1, &recs);
    for cut in [whole.len() - 5, whole.len() - 150, whole.len() - 142 - 3] {
        let p = write(dir.path(), "cut.pcap", &whole[..cut]);
        let (f, err) = both(&p, None);
        assert_eq!(f.len(), 4);
        let err = err.unwrap();
        assert!(
            err.contains("record 5") && err.contains("truncated"),
            "{err}"
        );
    }
    let mut big = pcap(false, false, 65535, 1, &recs[..1]);
    big.extend([0u8; 8]);
    big.extend(300_000u32.to_le_bytes());
    big.extend(300_000u32.to_le_bytes());
    let p = write(dir.path(), "big.pcap", &big);
    let (f, err) = both(&p, None);
    assert_eq!(f.len(), 1);
    assert!(err.unwrap().contains("bigger than snaplen"));
}

#[test]
fn pcapng_interfaces_resolutions_and_sections() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = shb();
    b.extend(idb(1, 65535, None)); // microseconds
    b.extend(idb(1, 65535, Some(9))); // nanoseconds
    b.extend(idb(1, 65535, Some(0x80 | 20))); // 2^-20 s
    for i in 0..30u64 {
        let f = frame(100 + i as u16, i as usize * 9);
        let ts = match i % 3 {
            0 => 1_700_000_000_000_000 + i * 1_234,
            1 => 1_700_000_000_000_000_000 + i * 987_654,
            _ => (1_700_000_000u64 << 20) + i * 77_777,
        };
        b.extend(epb((i % 3) as u32, ts, &f, f.len() as u32));
    }
    // a second section starts its interfaces afresh
    b.extend(shb());
    b.extend(idb(1, 65535, Some(6)));
    b.extend(epb(0, 1_800_000_000_000_000, &frame(7, 5), 47));
    let p = write(dir.path(), "x.pcapng", &b);
    let (f, err) = both(&p, None);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(f.len(), 31);
    assert_eq!(
        f[2].1,
        1_700_000_000 * 1_000_000_000 + 2 * 77_777 * 1_000_000_000 / (1 << 20)
    );
    both(&p, Some("udp dst port 103 or greater 200"));
    // interfaces with different snapshot lengths (libpcap refuses the file): each cuts its own
    let mut b = shb();
    b.extend(idb(1, 65535, None));
    b.extend(idb(1, 100, Some(9)));
    b.extend(epb(0, 5, &frame(1, 300), 342));
    b.extend(epb(1, 5, &frame(1, 300), 342));
    let p = write(dir.path(), "snaps.pcapng", &b);
    let (f, err) = frames(&p, None, Reader::Mapped);
    assert!(err.is_none());
    assert_eq!((f[0].2.len(), f[1].2.len()), (342, 100));
    assert_eq!((f[0].1, f[1].1), (5_000, 5));
    // a packet of an interface the section never described is an error
    let mut bad = shb();
    bad.extend(idb(1, 65535, None));
    bad.extend(epb(3, 1, &frame(1, 1), 43));
    let p = write(dir.path(), "bad.pcapng", &bad);
    let (f, err) = frames(&p, None, Reader::Mapped);
    assert!(f.is_empty());
    assert!(err.unwrap().contains("interface 3"));
}

#[test]
fn shipped_and_shared_captures_read_the_same() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("captures/demo.pcap")];
    let shared = root.join("../shared/captures");
    if let Ok(rd) = std::fs::read_dir(&shared) {
        for e in rd.flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                files.push(p);
            }
        }
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "../shared/captures is missing"
        );
    }
    for p in &files {
        let (f, err) = both(p, None);
        assert!(!f.is_empty() && err.is_none(), "{}: {err:?}", p.display());
        both(p, Some("tcp[tcpflags] & tcp-syn != 0"));
    }
}

#[test]
fn what_it_does_not_read_goes_to_libpcap() {
    let dir = tempfile::tempdir().unwrap();
    // the "modified" pcap format
    let mut m = pcap(false, false, 65535, 1, &[]);
    m[..4].copy_from_slice(&0xa1b2_cd34u32.to_le_bytes());
    let p = write(dir.path(), "modified.pcap", &m);
    let src = PcapFiles::open_with(&[p], None, Reader::Mapped).unwrap();
    assert_eq!(src.readers(), vec![Reader::Libpcap]);
    // not a capture: libpcap's own message
    let p = write(
        dir.path(),
        "junk.pcap",
        b"this is not a capture file at all, just text",
    );
    let err = PcapFiles::open_with(&[p], None, Reader::Mapped)
        .err()
        .unwrap();
    assert!(err.to_string().contains("cannot open"), "{err}");
    // a bad filter fails at open
    let p = write(dir.path(), "ok.pcap", &pcap(false, false, 65535, 1, &[]));
    let err = PcapFiles::open_with(&[p], Some("tcp and and"), Reader::Mapped)
        .err()
        .unwrap();
    assert!(err.to_string().contains("BPF filter"), "{err}");
}
