//! The whole replay of a fuzzed file, as `sockscope replay FILE --color never` runs it: the
//! packet timeline (text with -X, and JSON Lines with the summary), and, for a file that says
//! sockscope wrote it, the saved run's view (text and JSON Lines). Output must be safe for a
//! terminal.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use sockscope::render::payload::PayloadView;
use sockscope::replay::{replay, Format, ReplayOptions};
use sockscope::replay_run;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::Builder::new()
        .suffix(".pcapng")
        .tempfile_in(std::env::temp_dir())
        .expect("a temporary file");
    file.write_all(data).expect("write");
    let path = file.path().to_path_buf();
    for format in [Format::Text, Format::Jsonl] {
        let opts = ReplayOptions {
            inputs: vec![path.clone()],
            format,
            summary: true,
            payload: if format == Format::Text {
                PayloadView::Hex
            } else {
                PayloadView::None
            },
            ..ReplayOptions::default()
        };
        let mut out = Vec::new();
        let _ = replay(&opts, &mut out);
        common::assert_terminal_safe(&out, "replay");
        let mut run = Vec::new();
        if let Ok(replay_run::Outcome::Shown(_)) = replay_run::replay(&path, &opts, &mut run) {
            common::assert_terminal_safe(&run, "saved run");
        }
    }
});
