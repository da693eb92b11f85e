//! Several conversations as the rows of one ladder with a lane per endpoint addr:port: the
//! clients' lanes on the left in the order they appear, the servers' on the right, and every
//! packet, call, mark and long wait of every conversation in time order, each call on the lane
//! of its own address (else of its side of its conversation). The text ladder
//! ([`crate::render::ladder_lanes`]) and the SVG picture both
//! draw from it. Pure: built from the [`View`].

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::live::event::{Part, Role};
use crate::live::model::View;
use crate::render::run::ladder_rows::{self, Lane, Row, RowKind};

/// The lanes of `v`: every endpoint of its conversations, clients first, in order of appearance.
pub fn endpoints(v: &View) -> Vec<(SocketAddr, Role)> {
    let mut out: Vec<(SocketAddr, Role)> = Vec::new();
    for role in [Role::Client, Role::Server] {
        for c in &v.conns {
            let a = if role == Role::Client {
                c.client
            } else {
                c.server
            };
            if !out.iter().any(|(x, _)| *x == a) {
                out.push((a, role));
            }
        }
    }
    out
}

/// The diagram as rows, with each call's lane.
pub struct Diagram<'a> {
    pub lanes: Vec<Lane>,
    /// Each packet with the call that caused it ([`ladder_rows::Causes`]).
    pub rows: Vec<Row<'a>>,
    /// Event index → lane.
    pub call_lane: HashMap<usize, usize>,
    pub lane_of: HashMap<SocketAddr, usize>,
    /// Event index → the conversations it belongs to ([`ladder_rows::event_conns`]).
    pub conns: Vec<Vec<usize>>,
}

/// Every row of every conversation of `v`.
pub fn diagram<'a>(v: &'a View<'a>) -> Diagram<'a> {
    diagram_cut(v, usize::MAX / 4, 0)
}

/// The diagram with at most `head` + `tail` packets (the middle of a longer one is one
/// [`RowKind::Cut`] row).
pub fn diagram_cut<'a>(v: &'a View<'a>, head: usize, tail: usize) -> Diagram<'a> {
    let ends = endpoints(v);
    let lane_of: HashMap<SocketAddr, usize> =
        ends.iter().enumerate().map(|(i, (a, _))| (*a, i)).collect();
    let mut lanes: Vec<Lane> = ends
        .iter()
        .map(|&(addr, role)| Lane {
            role,
            addr,
            pids: Vec::new(),
        })
        .collect();
    let conns = ladder_rows::event_conns(v);
    let events = &v.run.events;
    let mut pkt_ts: Vec<i128> = v.pkts.iter().map(|p| p.ts).collect();
    pkt_ts.sort_unstable();
    let mut starts: Vec<i128> = (0..events.len())
        .filter(|&i| !conns[i].is_empty())
        .map(|i| events[i].start)
        .collect();
    starts.sort_unstable();
    let any_within = |ts: &[i128], a: i128, b: i128| {
        let from = ts.partition_point(|&t| t <= a);
        ts.get(from).is_some_and(|&t| t < b)
    };
    let mut rows: Vec<Row<'a>> = Vec::new();
    let mut call_lane = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let cs = &conns[i];
        if cs.is_empty() {
            continue;
        }
        if e.call == "mark" {
            rows.push(Row {
                t: e.start,
                kind: RowKind::Mark { e },
            });
            continue;
        }
        // Its own address's lane, else the lane of its side of its conversation.
        let lane = e.local.and_then(|l| lane_of.get(&l).copied()).or_else(|| {
            cs.iter().find_map(|&c| {
                let conn = v.conns.get(c)?;
                let a = if e.role == Role::Server {
                    conn.server
                } else {
                    conn.client
                };
                lane_of.get(&a).copied()
            })
        });
        let Some(lane) = lane else { continue };
        call_lane.insert(i, lane);
        if e.pid != 0 && !lanes[lane].pids.contains(&e.pid) {
            lanes[lane].pids.push(e.pid);
        }
        let busy = e.can_block()
            && (any_within(&pkt_ts, e.start, e.end) || any_within(&starts, e.start, e.end));
        let parts: &[(i128, Part)] = if busy {
            &[(e.start, Part::Begin), (e.end, Part::End)]
        } else {
            &[(e.start, Part::Whole)]
        };
        for &(t, part) in parts {
            rows.push(Row {
                t,
                kind: RowKind::Call { e, ev: i, part },
            });
        }
    }
    let causes = ladder_rows::Causes::new(v, &conns);
    for p in &v.pkts {
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
    Diagram {
        lanes,
        rows: ladder_rows::gaps(ladder_rows::cut(rows, head, tail)),
        call_lane,
        lane_of,
        conns,
    }
}
