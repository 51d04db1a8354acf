//! The in-place capture file parser (pcap and pcapng, `source::mapped`) over any bytes:
//! no panic, no read outside the input, every frame within the input and at most libpcap's
//! largest snapshot length, each step consuming input (so reading ends), and every frame
//! decoded into exactly one outcome counter.
#![no_main]
use flowsentry::decode::{decode, DecodeStats};
use flowsentry::source::mapped::MappedFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Some(mut f)) = MappedFile::from_bytes(data.to_vec(), None) else {
        return;
    };
    let mut stats = DecodeStats::default();
    let mut frames = 0u64;
    let mut last = f.progress().0;
    loop {
        match f.next_frame() {
            Ok(Some(fr)) => {
                assert!(fr.data.len() <= 262_144 && fr.data.len() <= data.len());
                let _ = decode(fr.linktype, fr.ts_ns, fr.data, &mut stats);
                frames += 1;
            }
            Ok(None) | Err(_) => break,
        }
        let now = f.progress().0;
        assert!(now > last, "a step that consumed nothing");
        last = now;
    }
    assert_eq!(stats.frames(), frames);
});
