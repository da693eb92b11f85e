//! The capture reader (pcap and pcapng, streaming through its bounded buffer) on bytes in
//! memory, every frame decoded; then the same bytes as a saved run's Custom Block data.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sockscope::decode::decode;
use sockscope::source::CaptureFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut f) = CaptureFile::from_reader(Path::new("fuzz"), Cursor::new(data.to_vec())) {
        let _ = f.first_linktype();
        let _ = f.for_each_meta(|frame, _meta| {
            assert_eq!(frame.caplen as usize, frame.data.len());
            let _ = decode(frame);
            true
        });
        let _ = f.offset();
    }
    // The run's blocks: one, or the input split at 0xff bytes into several.
    let _ = sockscope::live::embed::join(&[data]);
    let parts: Vec<&[u8]> = data.split(|&b| b == 0xff).collect();
    let _ = sockscope::live::embed::join(&parts);
});
