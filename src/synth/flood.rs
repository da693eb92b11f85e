//! Traffic that opens a new conversation with nearly every packet: a TCP SYN scan
//! ([`Mode::SynScan`](super::Mode::SynScan)) and a UDP flood from random source ports
//! ([`Mode::UdpFlood`](super::Mode::UdpFlood)). These are what a conversation table must
//! survive with bounded memory (see `analyse::bound`).
//!
//! * SYN scan: one scanner (10.0.0.2) sends bare SYNs (no options, window 1024, as a scanner
//!   does; 70 bytes a record in pcap) to every port 1..=65535 of host after host
//!   (10.0.1.1, 10.0.1.2, ...) in a shuffled port order, from a random source port and ISN:
//!   every 4-tuple distinct. No answers.
//! * UDP flood: datagrams of 18 zero bytes to 10.0.0.1 port 53 from random addresses in
//!   10.128.0.0/9 and random source ports: nearly every datagram a new conversation.
//!
//! Slots are 15..35 µs apart (a million packets in 25 s of capture time).

use std::io::{self, Write};

use super::packet::{tcp_frame, udp_frame, Host, RecordWriter, TcpHeader};
use super::{Config, Mode, Rng, Summary, SYN};

/// Gap between packets: 15..35 µs.
const GAP_MIN_US: u64 = 15;
const GAP_SPAN_US: u64 = 21;
/// The flood's datagram payload.
const FLOOD_PAYLOAD: usize = 18;
const FLOOD_PORT: u16 = 53;

/// Writes `cfg.packets` packets of a SYN scan or a UDP flood.
pub fn write<W: Write>(cfg: &Config, out: W) -> io::Result<Summary> {
    let mut w = RecordWriter::new(out, cfg.format)?;
    let mut rng = Rng::new(cfg.seed);
    let mut jitter = Rng::new(cfg.seed ^ 0x6a09_e667_f3bc_c908);
    let mut sum = Summary::default();
    let mut buf = Vec::with_capacity(128);
    let mut now_us = cfg.start_secs * 1_000_000;
    let scanner = Host::lan(2, false);
    let victim = Host::lan(1, false);
    // A multiplier coprime to 65535 shuffles the port order of each host.
    let stride = 40_507u64;
    for i in 0..cfg.packets {
        now_us += GAP_MIN_US + rng.below(GAP_SPAN_US);
        let ns = now_us * 1000 + jitter.below(1000);
        let ip_id = rng.next_u64() as u16;
        let sport = 1024 + rng.below(64_512) as u16;
        if cfg.mode == Mode::SynScan {
            let host = Host::lan(257 + (i / 65_535) as u32, false);
            let dport = 1 + ((i % 65_535) * stride % 65_535) as u16;
            let h = TcpHeader {
                sport,
                dport,
                seq: rng.next_u64() as u32,
                ack: 0,
                flags: SYN,
                win: 1024,
                options: &[],
            };
            tcp_frame(&mut buf, &scanner, &host, false, ip_id, &h, 0);
            w.record(ns, 0, &buf, 0)?;
            sum.tcp_conversations += 1;
        } else {
            let r = rng.below(1 << 23) as u32;
            let mut src = Host::lan(r, false);
            src.addr[1] = 128 | (r >> 16) as u8;
            udp_frame(
                &mut buf,
                &src,
                &victim,
                false,
                ip_id,
                sport,
                FLOOD_PORT,
                FLOOD_PAYLOAD,
            );
            w.record(ns, 0, &buf, FLOOD_PAYLOAD)?;
            sum.udp_datagrams += 1;
        }
        sum.packets += 1;
    }
    sum.bytes = w.bytes_written();
    w.finish()?;
    Ok(sum)
}
