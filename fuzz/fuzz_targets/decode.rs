//! Frame decode for every link type flowsentry reads: the first byte picks the link type,
//! the rest is the frame. Every frame must land in exactly one outcome counter.
#![no_main]
use flowsentry::decode::{decode, linktype, DecodeStats};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let lt = linktype::ALL[sel as usize % linktype::ALL.len()];
    let mut s = DecodeStats::default();
    let _ = decode(lt, 0, frame, &mut s);
    assert_eq!(s.frames(), 1);
});
