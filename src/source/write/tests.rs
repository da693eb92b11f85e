//! The writers against the project's reader ([`CaptureFile`]), against pcap-parser for what
//! the reader does not keep (options: comments, names, statistics), and against hand-written
//! bytes, so that a writer and a reader that are wrong the same way cannot agree.

use std::io::{self, Cursor};
use std::path::Path;

use pcap_parser::pcapng::{parse_block_le, Block};

use super::*;
use crate::source::{CaptureFile, FileFormat, FrameKind};

/// A frame as read back, owned.
#[derive(Debug, PartialEq)]
struct Read {
    number: u64,
    secs: i64,
    nanos: u32,
    digits: u8,
    linktype: u16,
    caplen: u32,
    origlen: u32,
    data: Vec<u8>,
    interface: Option<u32>,
}

fn read_back(bytes: Vec<u8>) -> (FileFormat, Vec<Read>) {
    let mut f = CaptureFile::from_reader(Path::new("mem"), Cursor::new(bytes)).unwrap();
    let mut frames = Vec::new();
    f.for_each(|fr| {
        assert_eq!(fr.kind, FrameKind::Packet);
        let ts = fr.ts.expect("a timestamp");
        assert!(!ts.invalid);
        frames.push(Read {
            number: fr.number,
            secs: ts.secs,
            nanos: ts.nanos,
            digits: ts.digits,
            linktype: fr.linktype,
            caplen: fr.caplen,
            origlen: fr.origlen,
            data: fr.data.to_vec(),
            interface: fr.interface,
        });
        true
    })
    .unwrap();
    (f.format(), frames)
}

/// A block's options as (code, value), the end marker included.
type Options = Vec<(u16, Vec<u8>)>;

/// The options of each pcapng block, as (block type, options).
fn block_options(mut b: &[u8]) -> Vec<(u32, Options)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (rest, block) = parse_block_le(b).unwrap();
        let (kind, opts) = match &block {
            Block::SectionHeader(x) => (pcapng::SHB, &x.options),
            Block::InterfaceDescription(x) => (pcapng::IDB, &x.options),
            Block::EnhancedPacket(x) => (pcapng::EPB, &x.options),
            Block::InterfaceStatistics(x) => (pcapng::ISB, &x.options),
            other => panic!("unexpected block {other:?}"),
        };
        let opts = opts
            .iter()
            .map(|o| (o.code.0, o.as_bytes().unwrap().to_vec()))
            .collect();
        out.push((kind, opts));
        b = rest;
    }
    out
}

const T0: u64 = 1_700_000_000_123_456_789;

#[test]
fn pcap_reads_back_at_both_resolutions() {
    for (res, nanos, digits) in [
        (Resolution::Micros, 123_456_000, 6),
        (Resolution::Nanos, 123_456_789, 9),
    ] {
        let mut w = PcapWriter::new(Vec::new(), res, 101, 96).unwrap();
        w.write_packet(T0, 3, b"abc").unwrap();
        w.write_packet(T0 + 2_000_000_000, 1500, &[7; 96]).unwrap();
        w.write_packet(T0 + 2_000_000_001, 0, &[]).unwrap();
        let n = w.bytes_written();
        let bytes = w.finish().unwrap();
        assert_eq!(n, bytes.len() as u64);
        assert_eq!(n, 24 + 16 * 3 + 3 + 96);
        let (format, frames) = read_back(bytes);
        assert_eq!(
            format,
            FileFormat::Pcap {
                nanos: res == Resolution::Nanos,
                big_endian: false
            }
        );
        let want = |number, secs, nanos, caplen, origlen, data: Vec<u8>| Read {
            number,
            secs,
            nanos,
            digits,
            linktype: 101,
            caplen,
            origlen,
            data,
            interface: None,
        };
        let last_nanos = if digits == 9 { nanos + 1 } else { nanos };
        assert_eq!(
            frames,
            vec![
                want(1, 1_700_000_000, nanos, 3, 3, b"abc".to_vec()),
                want(2, 1_700_000_002, nanos, 96, 1500, vec![7; 96]),
                want(3, 1_700_000_002, last_nanos, 0, 0, vec![]),
            ],
            "{res:?}"
        );
    }
}

/// A section with two interfaces, packets with zero, one and three comments, statistics.
fn sample_pcapng() -> Vec<u8> {
    let section = SectionHeader {
        user_appl: Some("sockscope test"),
        comments: &["a section comment"],
    };
    let mut w = PcapngWriter::new(Vec::new(), &section).unwrap();
    let eth = InterfaceDescription {
        linktype: 1,
        snaplen: 65_535,
        resolution: Resolution::Micros,
        name: None,
    };
    let lo = InterfaceDescription {
        linktype: 113,
        snaplen: 262_144,
        resolution: Resolution::Nanos,
        name: Some("lo"),
    };
    assert_eq!(w.add_interface(&eth).unwrap(), 0);
    assert_eq!(w.add_interface(&lo).unwrap(), 1);
    w.write_packet(T0, 60, b"hello").unwrap();
    w.write_enhanced(1, T0 + 1, 9000, &[1, 2, 3, 4, 5, 6], &["one"])
        .unwrap();
    w.write_enhanced(0, T0 + 5_000, 1, &[9], &["", "two ✓", "three\nlines"])
        .unwrap();
    w.write_statistics(&InterfaceStatistics {
        interface: 1,
        ts_ns: T0 + 10,
        start_ns: Some(T0),
        end_ns: Some(T0 + 10),
        received: Some(6),
        dropped: Some(0),
    })
    .unwrap();
    let n = w.bytes_written();
    let bytes = w.finish().unwrap();
    assert_eq!(n, bytes.len() as u64);
    bytes
}

#[test]
fn pcapng_packets_read_back() {
    let (format, frames) = read_back(sample_pcapng());
    assert_eq!(format, FileFormat::PcapNg);
    let want = |number, nanos, digits, linktype, caplen, origlen, data: &[u8], iface| Read {
        number,
        secs: 1_700_000_000,
        nanos,
        digits,
        linktype,
        caplen,
        origlen,
        data: data.to_vec(),
        interface: Some(iface),
    };
    assert_eq!(
        frames,
        vec![
            want(1, 123_456_000, 6, 1, 5, 60, b"hello", 0),
            want(2, 123_456_790, 9, 113, 6, 9000, &[1, 2, 3, 4, 5, 6], 1),
            want(3, 123_461_000, 6, 1, 1, 1, &[9], 0),
        ]
    );
}

#[test]
fn pcapng_options_read_back() {
    let bytes = sample_pcapng();
    let t = |ns: u64| {
        let mut v = ((ns >> 32) as u32).to_le_bytes().to_vec();
        v.extend_from_slice(&(ns as u32).to_le_bytes());
        v
    };
    let end = (0, vec![]);
    assert_eq!(
        block_options(&bytes),
        vec![
            (
                pcapng::SHB,
                vec![
                    (4, b"sockscope test".to_vec()),
                    (1, b"a section comment".to_vec()),
                    end.clone()
                ]
            ),
            (pcapng::IDB, vec![(9, vec![6]), end.clone()]),
            (
                pcapng::IDB,
                vec![(2, b"lo".to_vec()), (9, vec![9]), end.clone()]
            ),
            (pcapng::EPB, vec![]),
            (pcapng::EPB, vec![(1, b"one".to_vec()), end.clone()]),
            (
                pcapng::EPB,
                vec![
                    (1, vec![]),
                    (1, "two ✓".as_bytes().to_vec()),
                    (1, b"three\nlines".to_vec()),
                    end.clone()
                ]
            ),
            (
                pcapng::ISB,
                vec![
                    (2, t(T0)),
                    (3, t(T0 + 10)),
                    (4, 6u64.to_le_bytes().to_vec()),
                    (5, 0u64.to_le_bytes().to_vec()),
                    end
                ]
            ),
        ]
    );
    // pcap-parser's view of the fixed fields agrees too.
    let (rest, b) = parse_block_le(&bytes).unwrap();
    let Block::SectionHeader(shb) = b else {
        panic!("SHB first")
    };
    assert_eq!((shb.major_version, shb.minor_version), (1, 0));
    assert_eq!(shb.section_len, -1);
    assert!(!shb.big_endian());
    let (_, b) = parse_block_le(rest).unwrap();
    let Block::InterfaceDescription(idb) = b else {
        panic!("IDB second")
    };
    assert_eq!((idb.linktype.0, idb.snaplen), (1, 65_535));
}

#[test]
fn pcap_bytes_are_exactly_the_format() {
    let mut w = PcapWriter::new(Vec::new(), Resolution::Micros, 1, 65_535).unwrap();
    // 1.000002999 s: stored as 1 s and 2 µs (truncated).
    w.write_packet(1_000_002_999, 5, &[0xaa, 0xbb, 0xcc])
        .unwrap();
    #[rustfmt::skip]
    let want: &[u8] = &[
        0xd4, 0xc3, 0xb2, 0xa1, // magic, µs, little-endian
        2, 0, 4, 0,             // version 2.4
        0, 0, 0, 0,             // thiszone
        0, 0, 0, 0,             // sigfigs
        0xff, 0xff, 0, 0,       // snaplen 65535
        1, 0, 0, 0,             // LINKTYPE_ETHERNET
        1, 0, 0, 0,             // ts seconds
        2, 0, 0, 0,             // ts microseconds
        3, 0, 0, 0,             // caplen
        5, 0, 0, 0,             // origlen
        0xaa, 0xbb, 0xcc,       // data, unpadded
    ];
    assert_eq!(w.into_inner(), want);

    let w = PcapWriter::new(Vec::new(), Resolution::Nanos, 0x1234, 7).unwrap();
    assert_eq!(
        w.get_ref()[..4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        "ns magic, little-endian"
    );
    assert_eq!(w.get_ref()[16..], [7, 0, 0, 0, 0x34, 0x12, 0, 0]);
}

#[test]
fn pcapng_bytes_are_exactly_the_format() {
    let mut w = PcapngWriter::new(Vec::new(), &SectionHeader::default()).unwrap();
    let iface = InterfaceDescription {
        linktype: 1,
        snaplen: 0x0004_0000,
        resolution: Resolution::Nanos,
        name: None,
    };
    w.add_interface(&iface).unwrap();
    // 2^32 + 5 ns: the high word is 1.
    w.write_enhanced(0, (1 << 32) + 5, 5, &[1, 2, 3, 4, 5], &["hi!"])
        .unwrap();
    #[rustfmt::skip]
    let want: &[u8] = &[
        // Section Header Block, 28 bytes, no options (so no end of options).
        0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0,
        0x4d, 0x3c, 0x2b, 0x1a,                         // byte-order magic
        1, 0, 0, 0,                                     // version 1.0
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // section length: unknown
        28, 0, 0, 0,
        // Interface Description Block, 32 bytes.
        1, 0, 0, 0, 32, 0, 0, 0,
        1, 0, 0, 0,                                     // linktype 1, reserved
        0, 0, 4, 0,                                     // snaplen 262144
        9, 0, 1, 0, 9, 0, 0, 0,                         // if_tsresol = 9, padded
        0, 0, 0, 0,                                     // opt_endofopt
        32, 0, 0, 0,
        // Enhanced Packet Block, 52 bytes.
        6, 0, 0, 0, 52, 0, 0, 0,
        0, 0, 0, 0,                                     // interface 0
        1, 0, 0, 0, 5, 0, 0, 0,                         // ts high, ts low
        5, 0, 0, 0, 5, 0, 0, 0,                         // caplen, origlen
        1, 2, 3, 4, 5, 0, 0, 0,                         // data, padded
        1, 0, 3, 0, b'h', b'i', b'!', 0,                // opt_comment "hi!", padded
        0, 0, 0, 0,                                     // opt_endofopt
        52, 0, 0, 0,
    ];
    assert_eq!(w.bytes_written(), want.len() as u64);
    assert_eq!(w.into_inner(), want);
}

/// Data and comments of every length modulo 4 are padded with zeros to 32 bits, and the
/// block length counts the padding.
#[test]
fn odd_lengths_are_padded_with_zeros() {
    for data_len in 0..=9usize {
        for comment_len in 0..=9usize {
            let data: Vec<u8> = (1..=data_len as u8).collect();
            let comment = "c".repeat(comment_len);
            let mut w = PcapngWriter::new(Vec::new(), &SectionHeader::default()).unwrap();
            w.add_interface(&InterfaceDescription {
                linktype: 1,
                snaplen: 0,
                resolution: Resolution::Micros,
                name: None,
            })
            .unwrap();
            let start = w.bytes_written() as usize;
            w.write_enhanced(0, T0, 99, &data, &[&comment]).unwrap();
            let b = w.into_inner();
            let epb = &b[start..];
            let padded = |n: usize| n.div_ceil(4) * 4;
            let total = 28 + padded(data_len) + 4 + padded(comment_len) + 4 + 4;
            assert_eq!(epb.len(), total, "{data_len}/{comment_len}");
            let le = |at: usize| u32::from_le_bytes(epb[at..at + 4].try_into().unwrap());
            assert_eq!(le(4) as usize, total);
            assert_eq!(le(total - 4) as usize, total);
            assert_eq!(le(20) as usize, data_len, "caplen");
            assert_eq!(&epb[28..28 + data_len], &data[..]);
            let opt = 28 + padded(data_len);
            assert!(epb[28 + data_len..opt].iter().all(|&x| x == 0), "data pad");
            assert_eq!(&epb[opt..opt + 4], [1, 0, comment_len as u8, 0]);
            let value = opt + 4;
            assert_eq!(&epb[value..value + comment_len], comment.as_bytes());
            let end = value + padded(comment_len);
            assert!(epb[value + comment_len..end].iter().all(|&x| x == 0));
            assert_eq!(&epb[end..end + 4], [0; 4], "opt_endofopt");
            // And both readers take it.
            let (_, frames) = read_back(b.clone());
            assert_eq!(frames[0].data, data);
            let opts = block_options(&b);
            assert_eq!(opts[2].1[0], (1, comment.into_bytes()));
        }
    }
}

#[test]
fn long_comments_are_cut_at_a_character_boundary() {
    let long = "é".repeat(40_000); // 80,000 bytes
    let mut w = PcapngWriter::new(Vec::new(), &SectionHeader::default()).unwrap();
    w.add_interface(&InterfaceDescription {
        linktype: 1,
        snaplen: 0,
        resolution: Resolution::Nanos,
        name: None,
    })
    .unwrap();
    w.write_enhanced(0, T0, 1, &[0], &[&long]).unwrap();
    let b = w.into_inner();
    let opts = block_options(&b);
    let cut = &opts[2].1[0].1;
    assert_eq!(cut.len(), 65_534, "the largest even length under 65,536");
    assert!(std::str::from_utf8(cut).is_ok());
}

#[test]
fn what_the_format_cannot_hold_is_refused_before_writing() {
    let mut w = PcapngWriter::new(Vec::new(), &SectionHeader::default()).unwrap();
    let before = w.bytes_written();
    let e = w.write_packet(T0, 1, &[1]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("interface 0"), "{e}");
    let e = w
        .write_statistics(&InterfaceStatistics::default())
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(w.bytes_written(), before);
    assert_eq!(w.get_ref().len() as u64, before);

    let mut w = PcapWriter::new(Vec::new(), Resolution::Nanos, 1, 0).unwrap();
    let e = w
        .write_packet((1 << 32) * 1_000_000_000, 1, &[1])
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(w.into_inner().len(), 24);
}

#[test]
fn both_writers_serve_as_a_write_packet() {
    fn two(w: &mut dyn WritePacket) {
        w.write_packet(T0, 4, b"ab").unwrap();
        w.write_packet(T0 + 1000, 2, b"cd").unwrap();
    }
    let mut pcap = PcapWriter::new(Vec::new(), Resolution::Nanos, 1, 0).unwrap();
    two(&mut pcap);
    let mut ng = PcapngWriter::new(Vec::new(), &SectionHeader::default()).unwrap();
    ng.add_interface(&InterfaceDescription {
        linktype: 1,
        snaplen: 0,
        resolution: Resolution::Nanos,
        name: None,
    })
    .unwrap();
    two(&mut ng);
    let (_, a) = read_back(pcap.into_inner());
    let (_, b) = read_back(ng.into_inner());
    let strip = |v: Vec<Read>| -> Vec<(i64, u32, u32, Vec<u8>)> {
        v.into_iter()
            .map(|r| (r.secs, r.nanos, r.origlen, r.data))
            .collect()
    };
    assert_eq!(strip(a), strip(b));
}
