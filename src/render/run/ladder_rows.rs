//! The ladder of one conversation as rows, for the pictures (`--svg`, `--html`): its two lanes
//! (client and server, as the view decided from who sent the SYN, with the pids whose calls
//! are on them), then packets, the socket calls on the lane where they happen, the run's marks,
//! and long waits compressed into one labelled gap. Which call caused a packet is decided here
//! too, so that the page can point from one to the other. Pure: built from the [`View`].

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::analyse::flags as f;
use crate::live::event::{Event, Part, Role};
use crate::live::model::{Dir, Pkt, Proto, View};

/// A gap is compressed when it is at least this long…
const GAP_MIN: i128 = 1_000_000;
/// …and this many times the conversation's median gap.
const GAP_FACTOR: i128 = 10;

/// One end of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    pub role: Role,
    pub addr: SocketAddr,
    /// The processes whose calls are on the lane, in order of first call.
    pub pids: Vec<u32>,
}

/// What a row shows.
#[derive(Debug, Clone, Copy)]
pub enum RowKind<'a> {
    /// A packet; `cause` is the index (in the run's events) of the call that made it be sent.
    Packet { p: &'a Pkt, cause: Option<usize> },
    /// A call on its lane (`ev`: index in the run's events); a call that waited while
    /// something happened on the conversation is two rows, its start and its return.
    Call { e: &'a Event, ev: usize, part: Part },
    /// A mark of the run: a phase's title across the lanes.
    Mark { e: &'a Event },
    /// Nothing happened for `ns` nanoseconds (a long wait, shown short).
    Gap { ns: i128 },
    /// Rows left out of a long conversation: `packets` packets and `calls` calls.
    Cut { packets: usize, calls: usize },
}

#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub t: i128,
    pub kind: RowKind<'a>,
}

/// The ladder of conversation `conn`.
#[derive(Debug, Clone)]
pub struct Ladder<'a> {
    pub conn: usize,
    pub proto: Proto,
    /// Client, then server.
    pub lanes: [Lane; 2],
    pub rows: Vec<Row<'a>>,
}

/// For each event of the run, the conversations it belongs to:
/// - a connected socket's call: by its two addresses;
/// - a call with a local address only (bind, listen, closing a listening socket): the
///   conversations with that end, of the processes that take part in them;
/// - a call naming the peer but no exact local address (sendto on an unbound or wildcard
///   socket): the conversation with that peer whose next packet from this side follows it;
/// - another call on a socket (socket(), setsockopt(), close()): the conversations of the
///   socket's other calls (pid and fd, a new socket at each socket() returning the fd);
/// - a call on no socket (a print, fork, wait): the conversations its thread takes part in
///   whose packets span its time (all of them with one conversation);
/// - a mark: every conversation whose packets span its time.
pub fn event_conns(v: &View) -> Vec<Vec<usize>> {
    let events = &v.run.events;
    let n = v.conns.len();
    let mut out: Vec<Vec<usize>> = events
        .iter()
        .map(|e| v.conn_of(e).into_iter().collect())
        .collect();
    // Who takes part in which conversation, by the calls placed by their addresses.
    let mut by_pid: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut by_thread: HashMap<(u32, u32), Vec<usize>> = HashMap::new();
    for (e, cs) in events.iter().zip(&out) {
        for &c in cs {
            let p = by_pid.entry(e.pid).or_default();
            if !p.contains(&c) {
                p.push(c);
            }
            let t = by_thread.entry((e.pid, e.tid)).or_default();
            if !t.contains(&c) {
                t.push(c);
            }
        }
    }
    // A call naming the peer but no exact local address (sendto on a socket not bound yet, or
    // bound to the wildcard address): the conversation with that peer whose next packet from
    // this side follows the call.
    // A wildcard local address (0.0.0.0:53452, an unconnected UDP socket) matches by port.
    for (i, e) in events.iter().enumerate() {
        let (Some(a), true) = (e.addr, out[i].is_empty()) else {
            continue;
        };
        let next = |c: usize| {
            let conn = &v.conns[c];
            let (mine, peer) = if e.role == Role::Server {
                (conn.server, conn.client)
            } else {
                (conn.client, conn.server)
            };
            let local_fits = e.local.is_none_or(|l| {
                l.port() == mine.port() && (l.ip().is_unspecified() || l.ip() == mine.ip())
            });
            if peer != a || !local_fits {
                return None;
            }
            let from = conn.pkts.partition_point(|&k| v.pkts[k].ts < e.start);
            conn.pkts[from..]
                .iter()
                .map(|&k| &v.pkts[k])
                .find(|p| p.dir.sender() == e.role)
                .map(|p| p.ts)
        };
        if let Some(c) = (0..n).filter_map(|c| next(c).map(|t| (t, c))).min() {
            out[i] = vec![c.1];
        }
    }
    for (i, e) in events.iter().enumerate() {
        let (Some(l), None, true) = (e.local, e.addr, out[i].is_empty()) else {
            continue;
        };
        let theirs = by_pid.get(&e.pid);
        out[i] = (0..n)
            .filter(|&c| {
                let end = if e.role == Role::Server {
                    v.conns[c].server
                } else {
                    v.conns[c].client
                };
                end == l && theirs.is_none_or(|t| t.contains(&c))
            })
            .collect();
    }
    // The socket a call is on: its pid and fd, and which socket of that fd (each socket()
    // returning the fd starts a new one: fds are reused after close).
    let mut generation: HashMap<(u32, i64), usize> = HashMap::new();
    let sockets: Vec<Option<(u32, i64, usize)>> = events
        .iter()
        .map(|e| {
            let (fd, fresh) = match e.fd {
                Some(fd) => (i64::from(fd), false),
                None if e.call == "socket" => (e.ret.filter(|&r| r >= 0)?, true),
                None => return None,
            };
            let g = generation.entry((e.pid, fd)).or_insert(0);
            if fresh {
                *g += 1;
            }
            Some((e.pid, fd, *g))
        })
        .collect();
    // The conversations of each socket, from its calls placed so far.
    let mut placed: HashMap<(u32, i64, usize), Vec<usize>> = HashMap::new();
    for (s, cs) in sockets.iter().zip(&out) {
        if let Some(s) = s {
            let list = placed.entry(*s).or_default();
            for &c in cs {
                if !list.contains(&c) {
                    list.push(c);
                }
            }
        }
    }
    let spans: Vec<Option<(i128, i128)>> = (0..n)
        .map(|c| {
            let mut ts = v.conn_pkts(c).map(|p| p.ts);
            let first = ts.next()?;
            Some((first, ts.last().unwrap_or(first)))
        })
        .collect();
    let within = |c: usize, t: i128| spans[c].is_some_and(|(a, b)| t >= a && t <= b);
    for (i, e) in events.iter().enumerate() {
        if !out[i].is_empty() {
            continue;
        }
        if n == 1 {
            out[i] = vec![0];
            continue;
        }
        if e.call == "mark" {
            out[i] = (0..n).filter(|&c| within(c, e.start)).collect();
            continue;
        }
        if let Some(s) = &sockets[i] {
            out[i] = placed.get(s).cloned().unwrap_or_default();
            continue;
        }
        let theirs = by_thread
            .get(&(e.pid, e.tid))
            .or_else(|| by_pid.get(&e.pid));
        out[i] = match theirs {
            Some(t) => t.iter().copied().filter(|&c| within(c, e.start)).collect(),
            None => (0..n).filter(|&c| within(c, e.start)).collect(),
        };
    }
    out
}

/// What a packet carries, for the call that made it be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Sends {
    /// A SYN: connect() (or sendto/sendmsg with TCP Fast Open).
    Syn,
    /// A SYN+ACK: the listen() that made the socket answer.
    SynAck,
    /// Data (or a datagram): a write or send.
    Data,
    /// A FIN or RST: close() or shutdown().
    Close,
}

impl Sends {
    fn of_packet(p: &Pkt) -> Option<Sends> {
        match &p.tcp {
            Some(t) if t.has(f::SYN) && !t.has(f::ACK) => Some(Sends::Syn),
            Some(t) if t.has(f::SYN) => Some(Sends::SynAck),
            Some(t) if t.len > 0 => Some(Sends::Data),
            Some(t) if t.has(f::FIN) || t.has(f::RST) => Some(Sends::Close),
            Some(_) => None,
            None => Some(Sends::Data),
        }
    }

    /// What packets a call makes be sent (a sendto may open a connection or send data).
    fn of_call(call: &str) -> &'static [Sends] {
        match call {
            "connect" => &[Sends::Syn],
            "listen" => &[Sends::SynAck],
            "sendto" | "sendmsg" => &[Sends::Syn, Sends::Data],
            "write" | "writev" | "send" | "sendmmsg" | "sendfile" | "pwrite64" => &[Sends::Data],
            "close" | "shutdown" => &[Sends::Close],
            _ => &[],
        }
    }
}

/// The call that made each packet be sent: the last one before it, on its conversation and
/// on the sender's side, that sends what it carries (connect for a SYN, listen for a
/// SYN+ACK, a write for data, close or shutdown for a FIN or RST). None for what the kernel
/// sends on its own (ACKs, window updates) and for a file without calls.
pub struct Causes {
    /// Start times and indexes of the calls that succeeded, by conversation, side and what
    /// they send, in time order.
    calls: HashMap<(usize, Role, Sends), Vec<(i128, usize)>>,
}

impl Causes {
    pub fn new(v: &View, conns: &[Vec<usize>]) -> Causes {
        let mut calls: HashMap<(usize, Role, Sends), Vec<(i128, usize)>> = HashMap::new();
        for (i, e) in v.run.events.iter().enumerate() {
            if !e.ok() {
                continue;
            }
            for &s in Sends::of_call(&e.call) {
                for &c in conns.get(i).map_or(&[][..], Vec::as_slice) {
                    calls.entry((c, e.role, s)).or_default().push((e.start, i));
                }
            }
        }
        for list in calls.values_mut() {
            list.sort_unstable();
        }
        Causes { calls }
    }

    /// The call that caused packet `p`, as an index into the run's events.
    pub fn of(&self, p: &Pkt) -> Option<usize> {
        let s = Sends::of_packet(p)?;
        let list = self.calls.get(&(p.conn, p.dir.sender(), s))?;
        let n = list.partition_point(|&(t, _)| t <= p.ts);
        n.checked_sub(1).map(|k| list[k].1)
    }
}

/// The ladder of conversation `ci`, with at most `head` + `tail` packets (the middle of a
/// longer one is one [`RowKind::Cut`] row).
pub fn ladder<'a>(
    v: &'a View<'a>,
    ci: usize,
    conns: &[Vec<usize>],
    head: usize,
    tail: usize,
) -> Option<Ladder<'a>> {
    let c = v.conns.get(ci)?;
    let events = &v.run.events;
    let mine = |i: usize| conns.get(i).is_some_and(|cs| cs.contains(&ci));
    // Times of the conversation's packets and calls, sorted, to tell whether anything
    // happened while a call waited.
    let pkt_ts: Vec<i128> = v.conn_pkts(ci).map(|p| p.ts).collect();
    let mut starts: Vec<i128> = (0..events.len())
        .filter(|&i| mine(i))
        .map(|i| events[i].start)
        .collect();
    starts.sort_unstable();
    let any_within = |ts: &[i128], a: i128, b: i128| {
        let from = ts.partition_point(|&t| t <= a);
        ts.get(from).is_some_and(|&t| t < b)
    };
    let causes = Causes::new(v, conns);
    let mut rows: Vec<Row<'a>> = Vec::new();
    let mut pids: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    for (i, e) in events.iter().enumerate() {
        if !mine(i) {
            continue;
        }
        if e.call == "mark" {
            rows.push(Row {
                t: e.start,
                kind: RowKind::Mark { e },
            });
            continue;
        }
        let side = usize::from(e.role == Role::Server);
        if e.pid != 0 && !pids[side].contains(&e.pid) {
            pids[side].push(e.pid);
        }
        let busy = e.can_block()
            && (any_within(&pkt_ts, e.start, e.end) || any_within(&starts, e.start, e.end));
        if busy {
            rows.push(Row {
                t: e.start,
                kind: RowKind::Call {
                    e,
                    ev: i,
                    part: Part::Begin,
                },
            });
            rows.push(Row {
                t: e.end,
                kind: RowKind::Call {
                    e,
                    ev: i,
                    part: Part::End,
                },
            });
        } else {
            rows.push(Row {
                t: e.start,
                kind: RowKind::Call {
                    e,
                    ev: i,
                    part: Part::Whole,
                },
            });
        }
    }
    for p in v.conn_pkts(ci) {
        rows.push(Row {
            t: p.ts,
            kind: RowKind::Packet {
                p,
                cause: causes.of(p),
            },
        });
    }
    // Stable: a call and the packet it sent at the same nanosecond stay in that order.
    rows.sort_by_key(|r| r.t);
    let rows = cut(rows, head, tail);
    let rows = gaps(rows);
    let [client_pids, server_pids] = pids;
    Some(Ladder {
        conn: ci,
        proto: c.proto,
        lanes: [
            Lane {
                role: Role::Client,
                addr: c.client,
                pids: client_pids,
            },
            Lane {
                role: Role::Server,
                addr: c.server,
                pids: server_pids,
            },
        ],
        rows,
    })
}

/// Keeps the rows up to the `head`-th packet and from the `tail`-th last; what lies between
/// becomes one [`RowKind::Cut`].
pub(crate) fn cut(rows: Vec<Row<'_>>, head: usize, tail: usize) -> Vec<Row<'_>> {
    let is_pkt = |r: &Row| matches!(r.kind, RowKind::Packet { .. });
    let total = rows.iter().filter(|r| is_pkt(r)).count();
    if total <= head + tail + 1 {
        return rows;
    }
    let mut out = Vec::with_capacity(rows.len());
    let (mut seen, mut hidden_p, mut hidden_c) = (0, 0, 0);
    let mut cut_at = None;
    for r in rows {
        let in_middle = seen >= head && seen < total - tail;
        if is_pkt(&r) {
            seen += 1;
        }
        if in_middle {
            if cut_at.is_none() {
                cut_at = Some((out.len(), r.t));
            }
            match r.kind {
                RowKind::Packet { .. } => hidden_p += 1,
                RowKind::Call { .. } => hidden_c += 1,
                _ => {}
            }
            continue;
        }
        out.push(r);
    }
    if let Some((at, t)) = cut_at {
        out.insert(
            at,
            Row {
                t,
                kind: RowKind::Cut {
                    packets: hidden_p,
                    calls: hidden_c,
                },
            },
        );
    }
    out
}

/// Inserts a [`RowKind::Gap`] before each row that comes long after the one before it: at
/// least [`GAP_MIN`] and [`GAP_FACTOR`] times the median gap between rows.
pub(crate) fn gaps(rows: Vec<Row<'_>>) -> Vec<Row<'_>> {
    let times: Vec<i128> = rows.iter().map(|r| r.t).collect();
    let limit = gap_limit(&times);
    let mut out = Vec::with_capacity(rows.len() + 4);
    let mut prev: Option<i128> = None;
    for r in rows {
        if let Some(p) = prev {
            let g = r.t - p;
            if g >= limit && !matches!(r.kind, RowKind::Cut { .. }) {
                out.push(Row {
                    t: p,
                    kind: RowKind::Gap { ns: g },
                });
            }
        }
        prev = Some(r.t);
        out.push(r);
    }
    out
}

/// The shortest wait shown as a gap between rows at `times` (in time order): at least
/// [`GAP_MIN`] and [`GAP_FACTOR`] times the median gap.
pub fn gap_limit(times: &[i128]) -> i128 {
    let mut d: Vec<i128> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&g| g > 0)
        .collect();
    d.sort_unstable();
    let median = d.get(d.len() / 2).copied().unwrap_or(0);
    GAP_MIN.max(median.saturating_mul(GAP_FACTOR))
}

/// A duration for a gap label: `40.1 ms`, `812 µs`, `2.31 s`.
pub fn duration(ns: i128) -> String {
    let ns = ns.max(0) as f64;
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.0} µs", ns / 1e3)
    }
}

/// The direction word of a packet's arrow in the pictures: client on the left.
pub fn dir_word(d: Dir) -> &'static str {
    match d {
        Dir::ToServer => "right",
        Dir::ToClient => "left",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration(40_100_000), "40.1 ms");
        assert_eq!(duration(812_000), "812 µs");
        assert_eq!(duration(2_310_000_000), "2.31 s");
    }

    #[test]
    fn a_long_wait_becomes_one_gap_row() {
        let mk = |t| Row {
            t,
            kind: RowKind::Gap { ns: 0 },
        };
        // Rows 10 µs apart, then one 40 ms later.
        let rows = vec![mk(0), mk(10_000), mk(20_000), mk(40_020_000)];
        let out = gaps(rows);
        assert_eq!(out.len(), 5);
        assert!(matches!(out[3].kind, RowKind::Gap { ns: 40_000_000 }));
    }
}
