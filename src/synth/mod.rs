//! A deterministic synthetic capture generator: busy LAN and loopback TCP traffic with some
//! UDP, as benchmark and test input. Pure: it writes to any `impl Write` and reads nothing.
//!
//! # Traffic ([`Mode::Mixed`])
//! * [`Config::streams`] TCP conversations are open at any moment; each packet slot goes to a
//!   random open one (or, with probability [`Config::udp_share`], to one of 64 UDP
//!   request/response flows), so conversations interleave as on a busy link. A conversation
//!   that ends is replaced by a new one on the next ephemeral port.
//! * Every conversation opens with SYN, SYN/ACK, ACK carrying MSS 1460, SACK permitted,
//!   timestamps and window scale 7 (Linux's order); every later segment carries timestamps
//!   (TSval follows the capture clock in ms, TSecr echoes the peer).
//! * Then 1..[`Config::max_exchanges`] exchanges: request/response (responses of 1 byte to
//!   ~220 kB), uploads, interactive chatter. Bulk data goes in bursts of 2..10 segments of 1448
//!   bytes, ACKed every second segment.
//! * With probability [`Config::loss`] a bulk segment is lost after the capture point: up to
//!   three more segments follow, each answered by a duplicate ACK with a SACK block, then a
//!   fast retransmission; a request may be retransmitted after a timeout. With probability
//!   [`Config::reorder`] two segments are swapped (out of order).
//! * Teardown: FIN/ACK each way (sometimes with a separate ACK); 3 % end with RST/ACK.
//! * A share of the conversations and UDP flows run over loopback (127.0.0.1 / ::1, zero MACs)
//!   or IPv6 (fd00::/64); the rest between 10.0.x.y hosts.
//!
//! The defaults give about 840 bytes per packet, like `shared/tools/gen_pcap.py`.
//!
//! # Short streams ([`Mode::ShortStreams`])
//! Handshake, a small request and response for a quarter of them, teardown: about six packets
//! per conversation, slots 0.4..1.2 ms apart, client ports cycling so that 4-tuples come back
//! after a while. A million of them exercise stream expiry (see `analyse::tcp`).
//!
//! # Scan and flood ([`Mode::SynScan`], [`Mode::UdpFlood`])
//! A new conversation with nearly every packet: bare SYNs to distinct 4-tuples, or UDP
//! datagrams from random source addresses and ports (see `flood.rs`).
//!
//! # Determinism
//! The same [`Config`] gives the same bytes. Formats differ only in framing and timestamp
//! precision: the ns variants add a sub-microsecond part drawn from a separate generator, so
//! the packets themselves are identical in every format.

mod conv;
mod flood;
mod packet;

use std::io::{self, Write};

pub use self::conv::{Note, Opt, Seg, Shape, ACK, FIN, PSH, RST, SYN};
pub use self::packet::{Host, RecordWriter, MAX_PAYLOAD};

use self::conv::Conv;
use self::packet::{tcp_frame, udp_frame, TcpHeader};

/// Bumped whenever the same [`Config`] would give different bytes, so cached files are
/// regenerated.
pub const VERSION: u32 = 1;

/// Container and timestamp precision of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Classic pcap, little-endian, microseconds, Ethernet.
    #[default]
    Pcap,
    /// Classic pcap with nanosecond timestamps.
    PcapNs,
    /// pcapng with two Ethernet interfaces: 0 (µs) for LAN traffic, 1 (ns) for loopback.
    PcapNg,
}

/// What kind of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Long conversations with bulk transfers, losses and reordering, plus UDP.
    #[default]
    Mixed,
    /// Many short TCP conversations (handshake, maybe one exchange, teardown), no UDP.
    ShortStreams,
    /// A port scan: one bare SYN to each of `packets` distinct 4-tuples, no answers.
    SynScan,
    /// A UDP flood: `packets` small datagrams to one port from random addresses and ports.
    UdpFlood,
}

/// What to generate. [`Config::default`] is the benchmark's mixed traffic.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Packets to write (the file stops there, mid-conversation).
    pub packets: u64,
    /// Stop after this many TCP conversations have been started and have finished, if that
    /// comes before `packets`.
    pub conversations: Option<u64>,
    /// TCP conversations open at any moment.
    pub streams: usize,
    pub seed: u64,
    pub mode: Mode,
    pub format: Format,
    /// Share of conversations and UDP flows over IPv6.
    pub ipv6_share: f64,
    /// Share of conversations and UDP flows over loopback.
    pub loopback_share: f64,
    /// Share of packet slots that carry a UDP datagram (mixed mode only).
    pub udp_share: f64,
    pub max_exchanges: u32,
    pub loss: f64,
    pub reorder: f64,
    /// Client hosts that conversations come from (fewer: 4-tuples repeat sooner).
    pub clients: u32,
    /// Seconds since the epoch of the first packet.
    pub start_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            packets: 1_000_000,
            conversations: None,
            streams: 1000,
            seed: 1,
            mode: Mode::Mixed,
            format: Format::Pcap,
            ipv6_share: 0.1,
            loopback_share: 0.2,
            udp_share: 0.05,
            max_exchanges: 40,
            loss: 0.01,
            reorder: 0.003,
            clients: 1000,
            start_secs: 1_700_000_000,
        }
    }
}

impl Config {
    /// `conversations` short streams, 64 open at a time, from `clients` client hosts.
    pub fn short_streams(conversations: u64, clients: u32) -> Config {
        Config {
            packets: u64::MAX,
            conversations: Some(conversations),
            streams: 64,
            mode: Mode::ShortStreams,
            udp_share: 0.0,
            clients,
            ..Config::default()
        }
    }
}

impl Config {
    /// A SYN scan of `packets` SYNs (see [`Mode::SynScan`]).
    pub fn syn_scan(packets: u64) -> Config {
        Config {
            packets,
            mode: Mode::SynScan,
            ..Config::default()
        }
    }

    /// A UDP flood of `packets` datagrams (see [`Mode::UdpFlood`]).
    pub fn udp_flood(packets: u64) -> Config {
        Config {
            packets,
            mode: Mode::UdpFlood,
            ..Config::default()
        }
    }
}

/// What was put in the file on purpose (counted as written, so a conversation cut off by the
/// packet limit counts only what was written of it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub retransmissions: u64,
    pub dup_acks: u64,
    pub out_of_order: u64,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub packets: u64,
    pub bytes: u64,
    /// TCP conversations started.
    pub tcp_conversations: u64,
    pub udp_datagrams: u64,
    pub stats: Stats,
}

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

const TCP_PORTS: [u16; 10] = [5001, 5201, 6100, 7100, 7400, 8000, 8600, 9100, 9400, 12000];
const UDP_PORTS: [u16; 5] = [5005, 6200, 7500, 9300, 11000];
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// A UDP request/response flow: client and server, ports, IP ids, whose turn it is.
struct UdpFlow {
    hosts: [Host; 2],
    ports: [u16; 2],
    v6: bool,
    iface: u32,
    ip_id: [u16; 2],
    turn: usize,
}

/// Picks endpoints for new conversations and flows.
struct Hosts {
    next_port: u16,
    clients: u32,
    ipv6_share: f64,
    loopback_share: f64,
}

impl Hosts {
    /// (client, server, v6, pcapng interface).
    fn pick(&mut self, rng: &mut Rng) -> (Host, Host, bool, u32) {
        let v6 = rng.f64() < self.ipv6_share;
        if rng.f64() < self.loopback_share {
            let h = Host::loopback(v6);
            return (h, h, v6, 1);
        }
        let r = rng.below(self.clients.max(1) as u64) as u32;
        let client = Host::lan(256 * (1 + r / 250) + 1 + r % 250, v6);
        let server = Host::lan(1 + rng.below(16) as u32, v6);
        (client, server, v6, 0)
    }

    fn conv(&mut self, rng: &mut Rng) -> Conv {
        let (c, s, v6, iface) = self.pick(rng);
        let port = self.next_port;
        self.next_port = if port >= *EPHEMERAL.end() {
            *EPHEMERAL.start()
        } else {
            port + 1
        };
        let sport = TCP_PORTS[rng.below(TCP_PORTS.len() as u64) as usize];
        Conv::new(rng, [c, s], [port, sport], v6, iface)
    }
}

/// Writes a capture of `cfg` to `out` and says what it wrote.
pub fn write<W: Write>(cfg: &Config, out: W) -> io::Result<Summary> {
    if matches!(cfg.mode, Mode::SynScan | Mode::UdpFlood) {
        return flood::write(cfg, out);
    }
    let mut w = RecordWriter::new(out, cfg.format)?;
    let mut rng = Rng::new(cfg.seed);
    let mut jitter = Rng::new(cfg.seed ^ 0x6a09_e667_f3bc_c908);
    let short = cfg.mode == Mode::ShortStreams;
    let shape = Shape {
        max_exchanges: cfg.max_exchanges.max(1),
        loss: cfg.loss,
        reorder: cfg.reorder,
        short,
    };
    let mut hosts = Hosts {
        next_port: 32768 + rng.below(20_000) as u16,
        clients: cfg.clients,
        ipv6_share: cfg.ipv6_share,
        loopback_share: cfg.loopback_share,
    };
    let mut sum = Summary::default();
    let limit = cfg.conversations.unwrap_or(u64::MAX);
    let mut convs: Vec<Conv> = Vec::with_capacity(cfg.streams);
    while convs.len() < cfg.streams.max(1) && sum.tcp_conversations < limit {
        convs.push(hosts.conv(&mut rng));
        sum.tcp_conversations += 1;
    }
    let mut udp: Vec<UdpFlow> = Vec::new();
    if !short && cfg.udp_share > 0.0 {
        for u in 0..64 {
            let (c, s, v6, iface) = hosts.pick(&mut rng);
            udp.push(UdpFlow {
                hosts: [c, s],
                ports: [
                    33000 + rng.below(27_000) as u16,
                    UDP_PORTS[u % UDP_PORTS.len()],
                ],
                v6,
                iface,
                ip_id: [rng.next_u64() as u16, rng.next_u64() as u16],
                turn: 0,
            });
        }
    }
    let (gap_min, gap_span) = if short { (400, 801) } else { (2, 17) };
    let mut now_us = cfg.start_secs * 1_000_000;
    let mut buf = Vec::with_capacity(128);
    let mut opts = [0u8; 24];
    let mut stats = Stats::default();
    let mut cur: Option<usize> = None;
    while sum.packets < cfg.packets && !convs.is_empty() {
        now_us += match cur {
            Some(_) => 1 + rng.below(3),
            None => gap_min + rng.below(gap_span),
        };
        let ns = now_us * 1000 + jitter.below(1000);
        if !udp.is_empty() && rng.f64() < cfg.udp_share {
            let f = &mut udp[rng.below(64) as usize];
            let t = f.turn;
            f.turn = 1 - t;
            let len = 20 + rng.below(if t == 0 { 280 } else { 1180 }) as usize;
            f.ip_id[t] = f.ip_id[t].wrapping_add(1);
            let (src, dst) = (&f.hosts[t], &f.hosts[1 - t]);
            let ports = (f.ports[t], f.ports[1 - t]);
            udp_frame(&mut buf, src, dst, f.v6, f.ip_id[t], ports.0, ports.1, len);
            w.record(ns, f.iface, &buf, len)?;
            sum.udp_datagrams += 1;
            sum.packets += 1;
            continue;
        }
        let idx = cur.unwrap_or_else(|| rng.below(convs.len() as u64) as usize);
        let Some(seg) = convs[idx].next(&mut rng, &shape) else {
            cur = None;
            if sum.tcp_conversations < limit {
                convs[idx] = hosts.conv(&mut rng);
                sum.tcp_conversations += 1;
            } else {
                convs.swap_remove(idx);
            }
            continue;
        };
        cur = seg.sticky.then_some(idx);
        match seg.note {
            Note::Plain => {}
            Note::Retransmission => stats.retransmissions += 1,
            Note::DupAck => stats.dup_acks += 1,
            Note::OutOfOrder => stats.out_of_order += 1,
        }
        let c = &mut convs[idx];
        let (val, ecr) = c.timestamps(seg.dir, now_us / 1000, seg.flags);
        let o = options(&mut opts, seg.opt, val, ecr);
        c.ip_id[seg.dir] = c.ip_id[seg.dir].wrapping_add(1);
        let (d, e) = (seg.dir, 1 - seg.dir);
        let h = TcpHeader {
            sport: c.ports[d],
            dport: c.ports[e],
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            win: seg.win,
            options: &opts[..o],
        };
        tcp_frame(
            &mut buf,
            &c.hosts[d],
            &c.hosts[e],
            c.v6,
            c.ip_id[d],
            &h,
            seg.len as usize,
        );
        w.record(ns, c.iface, &buf, seg.len as usize)?;
        sum.packets += 1;
    }
    sum.bytes = w.bytes_written();
    sum.stats = stats;
    w.finish()?;
    Ok(sum)
}

/// Writes the option bytes of `opt` into `buf`; returns their length.
fn options(buf: &mut [u8; 24], opt: Opt, val: u32, ecr: u32) -> usize {
    let ts = |b: &mut [u8]| {
        b[0] = 8;
        b[1] = 10;
        b[2..6].copy_from_slice(&val.to_be_bytes());
        b[6..10].copy_from_slice(&ecr.to_be_bytes());
    };
    match opt {
        Opt::Syn => {
            buf[..4].copy_from_slice(&[2, 4, 0x05, 0xb4]);
            buf[4..6].copy_from_slice(&[4, 2]);
            ts(&mut buf[6..16]);
            buf[16..20].copy_from_slice(&[1, 3, 3, 7]);
            20
        }
        Opt::Ts => {
            buf[..2].copy_from_slice(&[1, 1]);
            ts(&mut buf[2..12]);
            12
        }
        Opt::Sack(l, r) => {
            buf[..2].copy_from_slice(&[1, 1]);
            ts(&mut buf[2..12]);
            buf[12..16].copy_from_slice(&[1, 1, 5, 10]);
            buf[16..20].copy_from_slice(&l.to_be_bytes());
            buf[20..24].copy_from_slice(&r.to_be_bytes());
            24
        }
    }
}
