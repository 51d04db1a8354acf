//! Crafted frames that once broke a decoder, for regression tests, fuzz seeds and live
//! tests that send them on a wire.
//!
//! In: a size. Out: the frame's bytes (Ethernet II). Guarantees: the same bytes every call.

/// Ethernet (broadcast) + IPv6 with a Fragment header (offset 0, M=1) whose next header is
/// Hop-by-Hop, then `zeros` zero bytes: the frame that made etherparse 0.21's extension
/// iterator read past its slice (a segfault in release builds at 60,000 bytes; see
/// `tests/upstream/etherparse-ipv6-ext-iter.md`). Source 2001:db8::1, destination
/// 2001:db8::2.
pub fn ipv6_fragment_then_hop_by_hop(zeros: usize) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 40 + 8];
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f[14] = 0x60;
    let payload_len = (8 + zeros).min(usize::from(u16::MAX)) as u16;
    f[18..20].copy_from_slice(&payload_len.to_be_bytes());
    f[20] = 44; // next header: Fragment
    f[21] = 64;
    f[22..38].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f[38..54].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f[54] = 0; // the Fragment header's next header: Hop-by-Hop (only allowed first)
    f[57] = 1; // offset 0, M = 1
    f.resize(f.len() + zeros, 0);
    f
}
