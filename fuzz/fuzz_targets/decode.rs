//! Frame decode for every link type flowsentry reads: the first byte picks the link type,
//! the rest is the frame. Every frame must land in exactly one outcome counter.
#![no_main]
use flowsentry::decode::{decode, DecodeStats};
use libfuzzer_sys::fuzz_target;

const LINKTYPES: [i32; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let lt = LINKTYPES[sel as usize % LINKTYPES.len()];
    let mut s = DecodeStats::default();
    let _ = decode(lt, 0, frame, &mut s);
    assert_eq!(
        s.records + s.non_ip + s.link_errors + s.network_errors + s.unsupported_link,
        1
    );
});
