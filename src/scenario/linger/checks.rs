//! What a `linger` run must show, part by part: (a) bytes sent after close() returned, then
//! the FIN; (b) a RST and the unsent bytes gone; (c) close() returning only once the data and
//! the FIN were acknowledged.

use super::{DATA_LEN, PARTS};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::tracer::Queue;
use crate::live::{Role, View};

/// One part's connection and the client's calls on it.
pub(super) struct Seen<'v> {
    pub(super) span: (i128, i128),
    pub(super) conn: usize,
    /// The client's close().
    pub(super) close: Option<&'v Event>,
    /// Bytes the client's write() took.
    pub(super) written: i64,
    /// What SIOCOUTQNSD said just before close().
    pub(super) not_sent: Option<i64>,
}

/// The part that mark `key` opens, as the run recorded it.
pub(super) fn seen<'v>(v: &'v View, key: &str) -> Option<Seen<'v>> {
    let span = v.phase(key)?;
    let conn = v
        .calls(Role::Client, "connect", span)
        .find(|e| e.ok())
        .and_then(|e| v.conn_of(e))?;
    let mine = |e: &&Event| v.conn_of(e) == Some(conn);
    let close = v.calls(Role::Client, "close", span).find(mine);
    let written = v
        .calls(Role::Client, "write", span)
        .filter(mine)
        .filter_map(|e| e.ret)
        .filter(|&n| n > 0)
        .sum();
    let not_sent = v
        .calls(Role::Client, "ioctl", span)
        .filter(mine)
        .filter(|e| e.args.ends_with(Queue::NotSent.name()))
        .find_map(Queue::count);
    Some(Seen {
        span,
        conn,
        close,
        written,
        not_sent,
    })
}

pub(super) fn has(p: &Pkt, flag: u16) -> bool {
    p.tcp.as_ref().is_some_and(|t| t.has(flag))
}

/// The client's segments that carry data.
pub(super) fn client_data<'v>(v: &'v View, c: usize) -> Vec<&'v Pkt> {
    v.conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .collect()
}

/// The server's read() calls on the connection, in order (by descriptor: a failed call
/// records no addresses).
pub(super) fn reads<'v>(v: &'v View, s: &Seen) -> Vec<&'v Event> {
    let Some(fd) = v
        .calls(Role::Server, "accept", s.span)
        .find(|e| v.conn_of(e) == Some(s.conn))
        .and_then(|e| e.ret)
    else {
        return Vec::new();
    };
    v.calls(Role::Server, "read", s.span)
        .filter(|e| e.fd.map(i64::from) == Some(fd))
        .collect()
}

/// Bytes the server's reads returned.
pub(super) fn read_total(rs: &[&Event]) -> i64 {
    rs.iter().filter_map(|e| e.ret).filter(|&n| n > 0).sum()
}

/// A duration: `24 µs` below a millisecond, `101.8 ms` above.
pub(super) fn ms(ns: i128) -> String {
    if ns.abs() < 1_000_000 {
        format!("{} µs", ns / 1000)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let mut out = Vec::new();
    for (part, check) in PARTS.iter().zip([default, abort, block]) {
        match seen(v, part.key) {
            Some(s) => out.extend(check(v, &s)),
            None => out.push(Check::missing(
                format!("{} ran and its connection was captured", part.key),
                "no mark, connect() or packets for it",
            )),
        }
    }
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

/// The premise of every part: at close() some of the write was not yet sent.
fn queued_at_close(s: &Seen, label: &str) -> Check {
    Check::new(
        s.written == DATA_LEN as i64 && s.not_sent.is_some_and(|n| n > 0),
        format!("{label} close() was called with part of the write still unsent"),
        format!(
            "write() took {} bytes; SIOCOUTQNSD said {} not yet sent",
            s.written,
            s.not_sent.map_or("?".into(), |n| n.to_string())
        ),
    )
}

/// (a): close() returns at once; the rest follows it on the wire, then the FIN.
fn default(v: &View, s: &Seen) -> Vec<Check> {
    let mut out = vec![queued_at_close(s, "(a)")];
    let data = client_data(v, s.conn);
    let after: u32 = s.close.map_or(0, |e| {
        data.iter().filter(|p| p.ts > e.end).map(|p| p.len).sum()
    });
    out.push(Check::new(
        s.close.is_some_and(|e| e.ok()) && after > 0,
        "(a) close() returned at once: the kernel sent the rest of the data after it returned",
        format!("{after} bytes left the client after close() returned"),
    ));
    let fin = v
        .conn_pkts(s.conn)
        .find(|p| p.dir == Dir::ToServer && has(p, f::FIN));
    let last_data = data.iter().map(|p| p.ts).max();
    out.push(match fin {
        Some(p) => {
            let seq = v.rel_seq(p).wrapping_add(p.len);
            Check::new(
                seq == s.written as u32 + 1 && last_data.is_some_and(|t| t <= p.ts),
                "(a) then the FIN, after the last byte: its seq is 1 + the bytes written",
                format!(
                    "FIN seq {seq} in frame {}; {} bytes written",
                    p.index + 1,
                    s.written
                ),
            )
        }
        None => Check::missing(
            "(a) then the FIN, after the last byte",
            "no FIN from the client",
        ),
    });
    let rs = reads(v, s);
    let eof = rs.last().is_some_and(|e| e.ret == Some(0));
    out.push(Check::new(
        checks::reads_match_writes(v, s.conn, Dir::ToServer).ok && eof,
        "(a) the server read every byte the client wrote, then end of stream: nothing was lost",
        format!(
            "{} bytes in {} read(s){}",
            read_total(&rs),
            rs.len(),
            if eof { ", the last returned 0" } else { "" }
        ),
    ));
    out
}

/// (b): SO_LINGER {1, 0}: RST, the unsent bytes never leave, the server gets ECONNRESET.
fn abort(v: &View, s: &Seen) -> Vec<Check> {
    let mut out = vec![queued_at_close(s, "(b)")];
    let closing: Vec<&Pkt> = v
        .conn_pkts(s.conn)
        .filter(|p| has(p, f::FIN) || has(p, f::RST))
        .collect();
    let only_rst = matches!(closing[..], [p] if p.dir == Dir::ToServer && has(p, f::RST));
    out.push(Check::new(
        only_rst,
        "(b) close() with SO_LINGER {1, 0} sends a RST, not a FIN: no FIN from either side",
        if closing.is_empty() {
            "no FIN or RST".to_owned()
        } else {
            closing
                .iter()
                .map(|p| {
                    format!(
                        "{} {}",
                        p.dir.sender().name(),
                        crate::render::describe::flags_bracketed(
                            p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)
                        )
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        },
    ));
    let rst = closing
        .iter()
        .find(|p| p.dir == Dir::ToServer && has(p, f::RST));
    let wire = checks::wire_bytes(v, s.conn, Dir::ToServer).len() as i64;
    out.push(match rst {
        Some(r) => {
            let sent_end = client_data(v, s.conn)
                .iter()
                .filter(|p| p.ts <= r.ts)
                .map(|p| v.rel_next_seq(p))
                .max()
                .unwrap_or(1);
            let later = v
                .conn_pkts(s.conn)
                .filter(|p| p.dir == Dir::ToServer && p.ts > r.ts)
                .count();
            Check::new(
                v.rel_seq(r) == sent_end && wire < s.written && later == 0,
                "(b) the bytes not yet sent are discarded: the RST's seq is the next unsent byte, \
                 and nothing follows it",
                format!(
                    "{} written, {wire} on the wire, {} never sent; RST seq {}",
                    s.written,
                    s.written - wire,
                    v.rel_seq(r)
                ),
            )
        }
        None => Check::missing("(b) the bytes not yet sent are discarded", "no RST"),
    });
    let rs = reads(v, s);
    let got = read_total(&rs);
    let reset = rs
        .last()
        .is_some_and(|e| e.errno.as_deref() == Some("ECONNRESET"));
    out.push(Check::new(
        got == wire && reset,
        "(b) the server reads the bytes that had arrived, then read() fails with ECONNRESET",
        format!(
            "{got} bytes read; the last read(): {}",
            rs.last()
                .map_or("none".into(), |e| match (&e.errno, e.ret) {
                    (Some(err), _) => format!("-1 {err}"),
                    (None, r) => format!("{}", r.unwrap_or(0)),
                })
        ),
    ));
    out
}

/// (c): SO_LINGER {1, 1}: close() blocks until the data and the FIN are acknowledged.
fn block(v: &View, s: &Seen) -> Vec<Check> {
    let mut out = vec![queued_at_close(s, "(c)")];
    let Some(close) = s.close else {
        out.push(Check::missing("(c) close() blocked", "no close() event"));
        return out;
    };
    let fin = v
        .conn_pkts(s.conn)
        .find(|p| p.dir == Dir::ToServer && has(p, f::FIN));
    let fin_ack = fin.and_then(|fp| {
        let want = v.rel_next_seq(fp);
        v.conn_pkts(s.conn)
            .find(|p| p.dir == Dir::ToClient && has(p, f::ACK) && v.rel_ack(p) == want)
    });
    out.push(match (fin, fin_ack) {
        (Some(fp), Some(a)) => Check::new(
            a.ts <= close.end && close.ok(),
            "(c) close() returned only after the peer acknowledged every byte and the FIN",
            format!(
                "FIN in frame {}, its ACK in frame {} {} before close() returned",
                fp.index + 1,
                a.index + 1,
                ms(close.end - a.ts)
            ),
        ),
        _ => Check::missing(
            "(c) close() returned only after the FIN was acknowledged",
            "no FIN, or no ACK of it",
        ),
    });
    let rs = reads(v, s);
    let first = rs.first();
    out.push(Check::new(
        first.is_some_and(|r| r.start > close.start && r.start < close.end),
        "(c) close() was still blocked when the server started to read: it waited for the reader",
        match first {
            Some(r) => format!(
                "close() blocked {}; the first read() began {} into it",
                ms(close.end - close.start),
                ms(r.start - close.start)
            ),
            None => "no read()".into(),
        },
    ));
    out.push(Check::new(
        close.ok() && close.end - close.start < 1_000_000_000,
        "(c) close() returned 0 before l_linger (1 s) ran out",
        format!(
            "close() = {} after {}",
            close.ret.unwrap_or(-1),
            ms(close.end - close.start)
        ),
    ));
    out.push(checks::reads_match_writes(v, s.conn, Dir::ToServer));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::RunData;

    fn saved() -> RunData {
        crate::scenario::saved_run("linger")
    }

    /// The checks whose text starts with `label` and failed.
    fn failed(run: &RunData, label: &str) -> Vec<String> {
        checks(&View::new(run))
            .into_iter()
            .filter(|c| !c.ok && c.what.starts_with(label))
            .map(|c| c.what)
            .collect()
    }

    /// The client's close() of the part that mark `key` opens.
    fn close_of<'r>(run: &'r mut RunData, key: &str) -> &'r mut Event {
        let span = View::new(run).phase(key).expect("the part's mark");
        run.events
            .iter_mut()
            .find(|e| {
                e.role == Role::Client && e.call == "close" && e.start >= span.0 && e.start < span.1
            })
            .expect("the client's close()")
    }

    #[test]
    fn the_saved_run_passes_and_each_part_can_fail() {
        let run = saved();
        assert!(checks(&View::new(&run)).iter().all(|c| c.ok));

        // (a): had close() returned only after the last packet, nothing was sent after it.
        let mut late = run.clone();
        let end = late.packets.iter().map(|p| p.ts).max().unwrap_or(0);
        close_of(&mut late, "linger/default").end = end + 1;
        assert_eq!(failed(&late, "(a) close() returned at once").len(), 1);

        // (b): without its RST the connection was not aborted.
        let mut no_rst = run.clone();
        let v = View::new(&no_rst);
        let rst = v
            .pkts
            .iter()
            .find(|p| has(p, f::RST))
            .map(|p| p.index)
            .expect("a RST");
        drop(v);
        no_rst.packets.remove(rst);
        assert!(!failed(&no_rst, "(b) close() with SO_LINGER").is_empty());

        // (c): a close() that returned before the ACK of its FIN did not wait for it.
        let mut early = run.clone();
        let c = close_of(&mut early, "linger/block");
        c.end = c.start + 1;
        assert!(!failed(&early, "(c) close() returned only after").is_empty());
        assert!(!failed(&early, "(c) close() was still blocked").is_empty());
    }
}
