//! The synthetic capture generator (`sockscope::synth`, used by the benchmark), read back with
//! sockscope's own reader; and stream numbering on a file of many short streams, where the
//! analyser must forget closed conversations (expiry) and still number streams as tshark does.
//! No timings here: the benchmark (bench/run.sh) measures speed.

use std::collections::HashMap;
use std::io::Cursor;
use std::net::IpAddr;
use std::path::Path;

use sockscope::analyse::tcp::FINISHED_KEEP;
use sockscope::analyse::Analyser;
use sockscope::decode::{decode, Transport};
use sockscope::source::{CaptureFile, FileFormat};
use sockscope::synth::{self, Config, Format, Mode, Summary};

/// Writes `cfg` to memory.
fn generate(cfg: &Config) -> (Vec<u8>, Summary) {
    let mut bytes = Vec::new();
    let sum = synth::write(cfg, &mut bytes).expect("writing to memory cannot fail");
    assert_eq!(
        sum.bytes,
        bytes.len() as u64,
        "the summary counts every byte"
    );
    (bytes, sum)
}

/// Frames read back by sockscope's reader, which must reach the end without error.
fn frames_in(bytes: Vec<u8>) -> (u64, FileFormat) {
    let mut file = CaptureFile::from_reader(Path::new("synthetic"), Cursor::new(bytes))
        .expect("a generated capture opens");
    let mut n = 0;
    file.for_each(|f| {
        n += 1;
        assert_eq!(f.number, n, "frames are numbered in order");
        assert!(f.ts.is_some(), "every generated record has a timestamp");
        true
    })
    .expect("a generated capture reads to the end");
    (n, file.format())
}

#[test]
fn generated_files_decode_to_the_packet_count_asked_for() {
    for format in [Format::Pcap, Format::PcapNs, Format::PcapNg] {
        for packets in [0, 1, 7, 5_000] {
            let cfg = Config {
                packets,
                format,
                ..Config::default()
            };
            let (bytes, sum) = generate(&cfg);
            assert_eq!(sum.packets, packets, "{format:?}: summary");
            let (n, got) = frames_in(bytes);
            assert_eq!(n, packets, "{format:?}, {packets} packets asked");
            let want = match format {
                Format::Pcap => FileFormat::Pcap {
                    nanos: false,
                    big_endian: false,
                },
                Format::PcapNs => FileFormat::Pcap {
                    nanos: true,
                    big_endian: false,
                },
                Format::PcapNg => FileFormat::PcapNg,
            };
            assert_eq!(got, want);
        }
    }
}

#[test]
fn generated_traffic_has_what_the_benchmark_needs() {
    let cfg = Config {
        packets: 20_000,
        ..Config::default()
    };
    let (bytes, sum) = generate(&cfg);
    let per_packet = sum.bytes as f64 / sum.packets as f64;
    assert!(
        (600.0..1100.0).contains(&per_packet),
        "about 840 bytes per packet, got {per_packet:.0}"
    );
    assert!(sum.udp_datagrams > 0 && sum.stats.retransmissions > 0);
    assert!(sum.stats.dup_acks > 0 && sum.stats.out_of_order > 0);
    // Decoded: TCP over IPv4 and IPv6, UDP, and the analyser finds what was put there.
    let mut file =
        CaptureFile::from_reader(Path::new("synthetic"), Cursor::new(bytes)).expect("opens");
    let mut analyser = Analyser::new();
    let (mut v6, mut udp, mut retrans, mut dup, mut ooo) = (0, 0, 0, 0, 0);
    file.for_each(|f| {
        let pkt = decode(f);
        let a = analyser.analyse(f, &pkt);
        v6 += pkt.ip.is_some_and(|ip| ip.src.is_ipv6()) as u32;
        udp += matches!(pkt.transport, Transport::Udp(_)) as u32;
        if let Some(v) = a.tcp {
            use sockscope::analyse::Findings as F;
            retrans += v.findings.has(F::FAST_RETRANSMISSION | F::RETRANSMISSION) as u64;
            dup += v.findings.has(F::DUPLICATE_ACK) as u64;
            ooo += v.findings.has(F::OUT_OF_ORDER) as u64;
        }
        true
    })
    .expect("reads to the end");
    assert!(v6 > 0 && udp > 0, "IPv6 {v6}, UDP {udp}");
    assert_eq!(retrans, sum.stats.retransmissions, "retransmissions found");
    // Wireshark's duplicate-ACK and out-of-order rules (packet-tcp.c) are stricter than "the
    // generator meant it": a few of the intended ones do not qualify.
    let near = |found: u64, put: u64| found <= put && found * 10 >= put * 9;
    assert!(
        near(dup, sum.stats.dup_acks),
        "dup ACKs: {dup} of {}",
        sum.stats.dup_acks
    );
    assert!(
        near(ooo, sum.stats.out_of_order),
        "out-of-order: {ooo} of {}",
        sum.stats.out_of_order
    );
}

#[test]
fn generation_is_deterministic_and_formats_carry_the_same_packets() {
    let cfg = Config {
        packets: 2_000,
        ..Config::default()
    };
    assert_eq!(
        generate(&cfg).0,
        generate(&cfg).0,
        "same config, same bytes"
    );
    let other = Config { seed: 2, ..cfg };
    assert_ne!(
        generate(&cfg).0,
        generate(&other).0,
        "another seed, other bytes"
    );
    let data = |format| {
        let (bytes, _) = generate(&Config { format, ..cfg });
        let mut file =
            CaptureFile::from_reader(Path::new("synthetic"), Cursor::new(bytes)).expect("opens");
        let mut v = Vec::new();
        file.for_each(|f| {
            v.push(f.data.to_vec());
            true
        })
        .expect("reads");
        v
    };
    let pcap = data(Format::Pcap);
    assert_eq!(pcap, data(Format::PcapNs));
    assert_eq!(pcap, data(Format::PcapNg));
}

/// The unordered endpoint pair of a TCP segment.
type Key = ((IpAddr, u16), (IpAddr, u16));

fn key(a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Every short stream opens with a SYN with a fresh ISN, so tshark's `tcp.stream` of a segment
/// is the index of the latest SYN on its endpoint pair, in order of appearance: a SYN on a pair
/// seen before starts a new stream whether or not the old conversation is still remembered.
/// The analyser must give exactly that while expiry forgets closed conversations, and must not
/// hold every conversation.
#[test]
fn short_streams_keep_their_numbering_through_expiry() {
    let mut cfg = Config::short_streams(40_000, 1);
    cfg.loopback_share = 0.5;
    let (bytes, sum) = generate(&cfg);
    assert_eq!(sum.tcp_conversations, 40_000);
    assert_eq!(cfg.mode, Mode::ShortStreams);

    let mut file = CaptureFile::from_reader(Path::new("short"), Cursor::new(bytes)).expect("opens");
    let mut analyser = Analyser::new();
    let mut current: HashMap<Key, u64> = HashMap::new();
    let mut next = 0u64;
    let (mut reused, mut max_live, mut checked) = (0u64, 0usize, 0u64);
    let mut first_wrong: Option<String> = None;
    file.for_each(|f| {
        let pkt = decode(f);
        let a = analyser.analyse(f, &pkt);
        max_live = max_live.max(analyser.live_streams());
        let (Some(ip), Transport::Tcp(t)) = (pkt.ip, pkt.transport) else {
            panic!("frame {}: short streams are TCP only", f.number);
        };
        let fx = t.fixed.expect("full TCP headers");
        let k = key((ip.src, t.sport), (ip.dst, t.dport));
        if fx.flags & 0x12 == 0x02 {
            if current.insert(k, next).is_some() {
                reused += 1;
            }
            next += 1;
        }
        let want = current.get(&k).copied();
        if a.stream != want && first_wrong.is_none() {
            first_wrong = Some(format!(
                "frame {}: stream {:?}, want {want:?}",
                f.number, a.stream
            ));
        }
        checked += 1;
        true
    })
    .expect("reads to the end");
    assert_eq!(first_wrong, None);
    assert_eq!(next, 40_000, "one stream per conversation");
    assert_eq!(analyser.tcp_streams(), 40_000);
    assert_eq!(checked, sum.packets);
    assert!(reused > 100, "endpoint pairs come back ({reused} times)");
    // Held at most: the finished ones kept, plus those open at the moment (cfg.streams).
    assert!(
        max_live <= FINISHED_KEEP + cfg.streams,
        "held {max_live} conversations of 40000 at once"
    );
}

/// A SYN scan and a UDP flood open a conversation with every packet; the analyser holds at
/// most its bound of them and counts every one it forgets.
#[test]
fn a_scan_and_a_flood_stay_within_the_bound_and_count_what_they_forget() {
    const LIMIT: usize = 4096;
    for (cfg, record_bytes) in [
        (Config::syn_scan(20_000), 70.0),
        (Config::udp_flood(20_000), 76.0),
    ] {
        let (bytes, sum) = generate(&cfg);
        assert_eq!(sum.packets, 20_000);
        let per_packet = (sum.bytes - 24) as f64 / sum.packets as f64;
        assert_eq!(per_packet, record_bytes, "{:?}: bytes per record", cfg.mode);
        let mut file =
            CaptureFile::from_reader(Path::new("flood"), Cursor::new(bytes)).expect("opens");
        let mut analyser = Analyser::with_limit(LIMIT);
        let mut keys = std::collections::HashSet::new();
        let mut max_live = 0;
        file.for_each(|f| {
            let pkt = decode(f);
            let a = analyser.analyse(f, &pkt);
            max_live = max_live.max(analyser.live_streams());
            let (ip, sport, dport) = match (pkt.ip, pkt.transport) {
                (Some(ip), Transport::Tcp(t)) if cfg.mode == Mode::SynScan => {
                    assert_eq!(t.fixed.map(|x| x.flags), Some(0x02), "a bare SYN");
                    (ip, t.sport, t.dport)
                }
                (Some(ip), Transport::Udp(u)) if cfg.mode == Mode::UdpFlood => {
                    (ip, u.sport, u.dport)
                }
                _ => panic!("frame {}: not the traffic asked for", f.number),
            };
            if keys.insert(key((ip.src, sport), (ip.dst, dport))) {
                assert_eq!(a.stream, Some(keys.len() as u64 - 1), "a new stream");
            }
            true
        })
        .expect("reads to the end");
        let streams = analyser.tcp_streams() + analyser.udp_streams();
        if cfg.mode == Mode::SynScan {
            assert_eq!(keys.len(), 20_000, "every 4-tuple distinct");
        } else {
            assert!(
                keys.len() > 19_900,
                "nearly every 4-tuple distinct: {}",
                keys.len()
            );
        }
        assert_eq!(streams, keys.len() as u64);
        assert!(max_live <= LIMIT, "{:?}: held {max_live}", cfg.mode);
        assert_eq!(
            analyser.evicted(),
            streams - analyser.live_streams() as u64,
            "{:?}: every conversation forgotten is counted",
            cfg.mode
        );
    }
}
