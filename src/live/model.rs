//! What a run produced (packets, events, counters) and a decoded view of it that the checks and
//! the renderers share. Pure: no sockets, clocks or files.
//!
//! There is one packet model: the view runs the replay [`Analyser`] over the run's frames, and
//! every relative SEQ/ACK, scaled window and finding (retransmission, dup ACK, zero window…)
//! shown or checked for a live run is the analyser's, as `sockscope replay` shows it for the
//! saved capture. The view adds only what a run knows and a file does not: which end is the
//! client, and which calls belong to which connection.

use std::net::SocketAddr;

use crate::analyse::{flags as f, Analyser, Analysis, Findings, TcpVerdict};
use crate::decode::{decode, Transport};
use crate::source::{Frame, FrameKind, Timestamp};

use super::capture::{CaptureStats, Captured};
use super::event::{Event, Role};
use super::privilege::{Credentials, Identity};

/// Everything one run produced.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    pub scenario: String,
    /// LINKTYPE_* of the capture.
    pub linktype: u16,
    /// The BPF filter's port part.
    pub filter: String,
    /// Packets in time order.
    pub packets: Vec<Captured>,
    /// Events in time order (of their start).
    pub events: Vec<Event>,
    pub stats: CaptureStats,
    /// The run was stopped by Ctrl-C: packets and events are those seen until then.
    pub interrupted: bool,
    /// Who the program ran as, read by its own thread as it started (a saved run keeps it in
    /// its `run` line; runs saved before it was kept have none).
    pub credentials: Option<Credentials>,
    /// What became of sockscope's privileges before the program started (None: not known).
    pub identity: Option<Identity>,
    /// The run had a private user and network namespace of its own (no root, no capability).
    pub private_netns: bool,
}

impl RunData {
    /// A frame for packet `i` (1-based frame numbers, ns timestamps).
    pub fn frame(&self, i: usize) -> Option<Frame<'_>> {
        let p = self.packets.get(i)?;
        Some(Frame {
            number: i as u64 + 1,
            ts: Some(Timestamp::from_nanos(p.ts, 9)),
            linktype: self.linktype,
            caplen: p.data.len() as u32,
            origlen: p.origlen,
            data: &p.data,
            interface: Some(0),
            kind: FrameKind::Packet,
        })
    }

    /// Sorts packets and events by time (stable, so capture order breaks ties).
    pub fn sort(&mut self) {
        self.packets.sort_by_key(|p| p.ts);
        self.events.sort_by_key(|e| e.start);
    }

    /// Time of the first packet or event.
    pub fn t0(&self) -> Option<i128> {
        let p = self.packets.iter().map(|p| p.ts).min();
        let e = self.events.iter().map(|e| e.start).min();
        match (p, e) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The TCP or UDP endpoints of a packet (`None` for anything else).
pub fn endpoints(linktype: u16, data: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let frame = Frame::bare(linktype, data);
    let p = decode(&frame);
    let ip = p.ip?;
    let (s, d) = match p.transport {
        Transport::Tcp(t) => (t.sport, t.dport),
        Transport::Udp(u) => (u.sport, u.dport),
        _ => return None,
    };
    Some((SocketAddr::new(ip.src, s), SocketAddr::new(ip.dst, d)))
}

/// The protocol and endpoints of the datagram or segment an ICMP error quotes.
fn quoted_ends(quoted: &[u8]) -> Option<(Proto, SocketAddr, SocketAddr)> {
    let frame = Frame::bare(crate::decode::linktype::RAW, quoted);
    let p = decode(&frame);
    let ip = p.ip?;
    let (proto, s, d) = match p.transport {
        Transport::Tcp(t) => (Proto::Tcp, t.sport, t.dport),
        Transport::Udp(u) => (Proto::Udp, u.sport, u.dport),
        _ => return None,
    };
    Some((
        proto,
        SocketAddr::new(ip.src, s),
        SocketAddr::new(ip.dst, d),
    ))
}

/// Transport of a packet or conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// Which way a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ToServer,
    ToClient,
}

impl Dir {
    pub fn sender(self) -> Role {
        match self {
            Dir::ToServer => Role::Client,
            Dir::ToClient => Role::Server,
        }
    }
}

/// The TCP header fields the views use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpHdr {
    pub flags: u16,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    /// The urgent pointer field (meaningful with URG: the offset from SEQ of the byte after
    /// the urgent data).
    pub urgent: u16,
    /// Payload bytes (from the IP lengths).
    pub len: u32,
    pub options: Vec<u8>,
}

impl TcpHdr {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// Sequence space the segment uses: its bytes, plus one for SYN and one for FIN.
    pub fn space(&self) -> u32 {
        self.len + self.has(f::SYN) as u32 + self.has(f::FIN) as u32
    }

    /// The sequence number after this segment.
    pub fn next_seq(&self) -> u32 {
        self.seq.wrapping_add(self.space())
    }
}

/// An ICMP error (destination unreachable, time exceeded…) that quotes a datagram or segment
/// of the run: its type and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpErr {
    pub kind: u8,
    pub code: u8,
}

impl IcmpErr {
    /// Port unreachable (type 3, code 3): nothing listens on the quoted destination port.
    pub fn port_unreachable(self) -> bool {
        self.kind == 3 && self.code == 3
    }
}

/// One decoded packet of a run.
#[derive(Debug, Clone)]
pub struct Pkt {
    /// Index in `RunData::packets` (frame number − 1).
    pub index: usize,
    pub ts: i128,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub proto: Proto,
    pub tcp: Option<TcpHdr>,
    /// Payload bytes as captured.
    pub payload: Vec<u8>,
    /// Payload length on the wire (TCP len or UDP length − 8).
    pub len: u32,
    pub conn: usize,
    pub dir: Dir,
    /// What the analyser says of it: stream number and, for a TCP segment, its verdict.
    pub analysis: Analysis,
    /// An ICMP error quoting a datagram or segment of the run: it is placed in that
    /// conversation, going the other way (`src` is the quoted destination, `dst` the quoted
    /// source, `proto` the quoted protocol; no TCP header, no payload).
    pub icmp: Option<IcmpErr>,
}

impl Pkt {
    /// The analyser's verdict on a TCP segment (None for UDP and cut headers).
    pub fn verdict(&self) -> Option<&TcpVerdict> {
        self.analysis.tcp.as_ref()
    }

    /// Wireshark's findings on this segment (empty for UDP).
    pub fn findings(&self) -> Findings {
        self.analysis
            .tcp
            .map_or(Findings::default(), |t| t.findings)
    }
}

/// A TCP connection or a UDP socket pair.
#[derive(Debug, Clone)]
pub struct Conn {
    pub proto: Proto,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Indexes into `View::pkts`.
    pub pkts: Vec<usize>,
}

impl Conn {
    /// `client ⇄ server` as `127.0.0.1:53422 → 127.0.0.1:40123`.
    pub fn label(&self) -> String {
        format!("{} → {}", self.client, self.server)
    }
}

/// A run decoded: packets with their conversation and direction.
pub struct View<'a> {
    pub run: &'a RunData,
    pub pkts: Vec<Pkt>,
    pub conns: Vec<Conn>,
    /// Indexes (into the run's packets) of those that are neither TCP nor UDP over IP.
    pub others: Vec<usize>,
    /// The analyser's output for every packet of the run, by index.
    pub analyses: Vec<Analysis>,
    /// Columns the report is fitted into (None: whole lines); drawn tables in a scenario's
    /// facts are laid out for it.
    pub width: Option<usize>,
}

impl<'a> View<'a> {
    pub fn new(run: &'a RunData) -> View<'a> {
        let servers: Vec<SocketAddr> = run
            .events
            .iter()
            .filter(|e| {
                e.role == Role::Server && matches!(e.call.as_str(), "bind" | "accept" | "accept4")
            })
            .filter_map(|e| e.local)
            .collect();
        let mut v = View {
            run,
            pkts: Vec::new(),
            conns: Vec::new(),
            others: Vec::new(),
            analyses: Vec::with_capacity(run.packets.len()),
            width: None,
        };
        let mut analyser = Analyser::new();
        for i in 0..run.packets.len() {
            let Some(frame) = run.frame(i) else { continue };
            let p = decode(&frame);
            let analysis = analyser.analyse(&frame, &p);
            v.analyses.push(analysis);
            let (Some(ip), ts) = (p.ip, run.packets[i].ts) else {
                v.others.push(i);
                continue;
            };
            let (proto, sport, dport, tcp, payload, len) = match p.transport {
                Transport::Tcp(t) => match t.fixed {
                    Some(fx) => (
                        Proto::Tcp,
                        t.sport,
                        t.dport,
                        Some(TcpHdr {
                            flags: fx.flags,
                            seq: fx.seq,
                            ack: fx.ack,
                            win: fx.win,
                            urgent: fx.urgent,
                            len: fx.len.unwrap_or(0),
                            options: t.options.to_vec(),
                        }),
                        t.payload.to_vec(),
                        fx.len.unwrap_or(0),
                    ),
                    None => {
                        v.others.push(i);
                        continue;
                    }
                },
                Transport::Udp(u) => (
                    Proto::Udp,
                    u.sport,
                    u.dport,
                    None,
                    u.payload.to_vec(),
                    u.payload_len().unwrap_or(0),
                ),
                Transport::Icmp(ic) if !ic.v6 => match ic.quoted.and_then(quoted_ends) {
                    Some((proto, qsrc, qdst)) => {
                        v.push_icmp(i, ts, analysis, proto, qdst, qsrc, ic.kind, ic.code);
                        continue;
                    }
                    None => {
                        v.others.push(i);
                        continue;
                    }
                },
                _ => {
                    v.others.push(i);
                    continue;
                }
            };
            let src = SocketAddr::new(ip.src, sport);
            let dst = SocketAddr::new(ip.dst, dport);
            let syn_only = tcp
                .as_ref()
                .is_some_and(|t| t.has(f::SYN) && !t.has(f::ACK));
            let conn = match v.conns.iter().position(|c| {
                c.proto == proto
                    && ((c.client == src && c.server == dst)
                        || (c.client == dst && c.server == src))
            }) {
                Some(c) => c,
                None => {
                    let to_server = servers.contains(&dst)
                        || (!servers.contains(&src) && (syn_only || tcp.is_none()));
                    let (client, server) = if to_server { (src, dst) } else { (dst, src) };
                    v.conns.push(Conn {
                        proto,
                        client,
                        server,
                        pkts: Vec::new(),
                    });
                    v.conns.len() - 1
                }
            };
            let c = &mut v.conns[conn];
            let dir = if src == c.client {
                Dir::ToServer
            } else {
                Dir::ToClient
            };
            c.pkts.push(v.pkts.len());
            v.pkts.push(Pkt {
                index: i,
                ts,
                src,
                dst,
                proto,
                tcp,
                payload,
                len,
                conn,
                dir,
                analysis,
                icmp: None,
            });
        }
        v
    }

    /// Adds an ICMP error (frame `i`) to the conversation of what it quotes, going from the
    /// quoted destination `src` back to the quoted source `dst`; a conversation not seen yet
    /// starts with it (its client is the quoted source).
    #[allow(clippy::too_many_arguments)]
    fn push_icmp(
        &mut self,
        i: usize,
        ts: i128,
        analysis: Analysis,
        proto: Proto,
        src: SocketAddr,
        dst: SocketAddr,
        kind: u8,
        code: u8,
    ) {
        let conn = match self.conns.iter().position(|c| {
            c.proto == proto
                && ((c.client == src && c.server == dst) || (c.client == dst && c.server == src))
        }) {
            Some(c) => c,
            None => {
                self.conns.push(Conn {
                    proto,
                    client: dst,
                    server: src,
                    pkts: Vec::new(),
                });
                self.conns.len() - 1
            }
        };
        let c = &mut self.conns[conn];
        let dir = if src == c.client {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        c.pkts.push(self.pkts.len());
        self.pkts.push(Pkt {
            index: i,
            ts,
            src,
            dst,
            proto,
            tcp: None,
            payload: Vec::new(),
            len: 0,
            conn,
            dir,
            analysis,
            icmp: Some(IcmpErr { kind, code }),
        });
    }

    /// Sequence number relative to the sender's ISN (the analyser's `tcp.seq`); the raw
    /// number for a segment the analyser could not place (a cut header).
    pub fn rel_seq(&self, p: &Pkt) -> u32 {
        match (p.verdict(), &p.tcp) {
            (Some(v), _) => v.rel_seq,
            (None, Some(t)) => t.seq,
            (None, None) => 0,
        }
    }

    /// Acknowledgment number relative to the receiver's ISN (the analyser's `tcp.ack`: 0 when
    /// the ACK flag is clear).
    pub fn rel_ack(&self, p: &Pkt) -> u32 {
        match (p.verdict(), &p.tcp) {
            (Some(v), _) => v.rel_ack,
            (None, Some(t)) => t.ack,
            (None, None) => 0,
        }
    }

    /// The sequence number after the segment, relative (SEQ + length + SYN + FIN).
    pub fn rel_next_seq(&self, p: &Pkt) -> u32 {
        match (p.verdict(), &p.tcp) {
            (Some(v), _) => v.rel_next_seq,
            (None, Some(t)) => t.next_seq(),
            (None, None) => 0,
        }
    }

    /// The window in bytes, scaled as the analyser scales it (never on a SYN; raw when the
    /// handshake was not seen).
    pub fn window(&self, p: &Pkt) -> u64 {
        let raw = p.tcp.as_ref().map_or(0, |t| u64::from(t.win));
        p.verdict().and_then(|v| v.win_scaled).unwrap_or(raw)
    }

    /// The packets (TCP or UDP) of conversation `c`, in time order.
    pub fn conn_pkts(&self, c: usize) -> impl Iterator<Item = &Pkt> {
        self.conns
            .get(c)
            .into_iter()
            .flat_map(|c| c.pkts.iter().filter_map(|&i| self.pkts.get(i)))
    }

    /// The connection an event's socket belongs to (by its local and peer addresses).
    pub fn conn_of(&self, e: &Event) -> Option<usize> {
        let (l, a) = (e.local?, e.addr?);
        self.conns
            .iter()
            .position(|c| (c.client == l && c.server == a) || (c.client == a && c.server == l))
    }

    /// The time span of the phase a `mark` with `key` opens: until the next mark, or the end.
    pub fn phase(&self, key: &str) -> Option<(i128, i128)> {
        let marks: Vec<&Event> = self
            .run
            .events
            .iter()
            .filter(|e| e.call == "mark")
            .collect();
        let i = marks.iter().position(|m| m.args == key)?;
        let end = marks.get(i + 1).map_or(i128::MAX, |m| m.start);
        Some((marks[i].start, end))
    }

    /// Events of `role` with `call` in time span `span`.
    pub fn calls<'s>(
        &'s self,
        role: Role,
        call: &'s str,
        span: (i128, i128),
    ) -> impl Iterator<Item = &'s Event> {
        self.run.events.iter().filter(move |e| {
            e.role == role && e.call == call && e.start >= span.0 && e.start < span.1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ethernet + IPv4 + UDP 10.0.0.1:40001 → 10.0.0.2:9999, payload "x".
    #[rustfmt::skip]
    const DATAGRAM: [u8; 43] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
        0x45, 0x00, 0x00, 0x1d, 0x00, 0x06, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
        10, 0, 0, 1, 10, 0, 0, 2,
        0x9c, 0x41, 0x27, 0x0f, 0x00, 0x09, 0x00, 0x00, b'x',
    ];

    /// Ethernet + IPv4 + ICMP port unreachable 10.0.0.2 → 10.0.0.1, quoting that datagram.
    #[rustfmt::skip]
    const PORT_UNREACH: [u8; 71] = [
        0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x00,
        0x45, 0xc0, 0x00, 0x39, 0x00, 0x05, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00,
        10, 0, 0, 2, 10, 0, 0, 1,
        0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x45, 0x00, 0x00, 0x1d, 0x00, 0x06, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
        10, 0, 0, 1, 10, 0, 0, 2,
        0x9c, 0x41, 0x27, 0x0f, 0x00, 0x09, 0x00, 0x00, b'x',
    ];

    fn run_of(frames: &[&[u8]]) -> RunData {
        RunData {
            linktype: 1,
            packets: frames
                .iter()
                .enumerate()
                .map(|(i, f)| Captured {
                    ts: 1_000 + i as i128,
                    origlen: f.len() as u32,
                    data: f.to_vec(),
                })
                .collect(),
            ..RunData::default()
        }
    }

    #[test]
    fn an_icmp_error_joins_the_conversation_it_quotes_going_back() {
        let run = run_of(&[&DATAGRAM, &PORT_UNREACH]);
        let v = View::new(&run);
        assert_eq!(v.conns.len(), 1);
        assert!(v.others.is_empty());
        let (d, e) = (&v.pkts[0], &v.pkts[1]);
        assert_eq!((d.icmp, d.dir, d.len), (None, Dir::ToServer, 1));
        assert_eq!(e.icmp, Some(IcmpErr { kind: 3, code: 3 }));
        assert!(e.icmp.is_some_and(IcmpErr::port_unreachable));
        assert_eq!((e.conn, e.dir, e.proto), (0, Dir::ToClient, Proto::Udp));
        assert_eq!((e.src, e.dst), (d.dst, d.src));
        assert!(e.tcp.is_none() && e.payload.is_empty());
    }

    #[test]
    fn an_icmp_error_quoting_nothing_readable_stays_among_the_others() {
        let run = run_of(&[&PORT_UNREACH[..50]]);
        let v = View::new(&run);
        assert!(v.pkts.is_empty());
        assert_eq!(v.others, [0]);
    }
}
