//! One frame of any link type through decode → analyse → render (text with -X or -A, and
//! JSON Lines). Byte 0 picks the link type, byte 1 the payload view and a cut of the wire
//! length; the rest is the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope::analyse::{Analyser, Record};
use sockscope::decode::{decode, linktype};
use sockscope::render::payload::PayloadView;
use sockscope::render::{jsonl, TextOptions, Timeline};
use sockscope::source::{Frame, FrameKind};

#[path = "common.rs"]
mod common;

const LINKTYPES: [u16; 12] = [
    linktype::NULL,
    linktype::ETHERNET,
    linktype::RAW_OPENBSD,
    linktype::RAW_BSD,
    linktype::LOOP,
    linktype::RAW,
    linktype::LINUX_SLL,
    linktype::IPV4,
    linktype::IPV6,
    linktype::LINUX_SLL2,
    147,
    0xFFFF,
];

fuzz_target!(|data: &[u8]| {
    let [lt, mode, frame @ ..] = data else { return };
    let view = match mode & 3 {
        0 => PayloadView::None,
        1 => PayloadView::Text,
        _ => PayloadView::Hex,
    };
    let origlen = frame.len() as u32 + if mode & 4 != 0 { 1000 } else { 0 };
    let frame = Frame {
        number: 1,
        ts: None,
        linktype: LINKTYPES[*lt as usize % LINKTYPES.len()],
        caplen: frame.len() as u32,
        origlen,
        data: frame,
        interface: None,
        kind: FrameKind::Packet,
    };
    let pkt = decode(&frame);
    if let Some(t) = Some(&pkt.transport) {
        let _ = sockscope::decode::app::parse(t);
    }
    let analysis = Analyser::new().analyse(&frame, &pkt);
    let rec = Record {
        frame,
        pkt,
        analysis,
    };
    let mut text = String::new();
    let mut tl = Timeline::new(TextOptions::default()).with_payload(view);
    tl.line(&mut text, &rec);
    tl.finish(&mut text);
    common::assert_terminal_safe(text.as_bytes(), "text");
    let mut json = String::new();
    jsonl::line(&mut json, &rec);
    common::assert_terminal_safe(json.as_bytes(), "jsonl");
});
