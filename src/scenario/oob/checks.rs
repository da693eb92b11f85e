//! What `oob` must show on its packets and calls, and its facts.

use super::{HANDLER, RECEIVER};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::{Event, Role};
use crate::live::model::{Dir, Pkt, Proto};
use crate::live::tracer::preview;
use crate::live::View;

const STREAM: &[u8] = b"1234567890";

/// One connection of the run and its calls.
struct Part<'v> {
    c: usize,
    /// The sender's write()/send() calls: (event, stream offset where its bytes start).
    sends: Vec<(&'v Event, usize)>,
    /// The handler's recv(MSG_OOB) calls.
    urgent: Vec<&'v Event>,
    /// The receiver's plain recv() calls that returned bytes.
    reads: Vec<&'v Event>,
    /// Its recv() calls interrupted by SIGURG.
    eintr: Vec<&'v Event>,
}

fn is_oob(e: &Event) -> bool {
    e.args.ends_with("MSG_OOB")
}

fn part<'v>(v: &'v View, c: usize) -> Part<'v> {
    let on = |e: &&Event| v.conn_of(e) == Some(c);
    let mut at = 0;
    let sends = v
        .run
        .events
        .iter()
        .filter(|e| e.role == Role::Client && matches!(e.call.as_str(), "write" | "send"))
        .filter(on)
        .filter_map(|e| {
            let n = usize::try_from(e.ret?).ok()?;
            let here = at;
            at += n;
            Some((e, here))
        })
        .collect();
    let recvs = |who: &'v str| {
        v.run
            .events
            .iter()
            .filter(move |e| e.role == Role::Server && e.call == "recv" && e.who == who)
            .filter(on)
    };
    Part {
        c,
        sends,
        urgent: recvs(HANDLER).collect(),
        reads: recvs(RECEIVER).filter(|e| e.ret.unwrap_or(0) > 0).collect(),
        eintr: recvs(RECEIVER)
            .filter(|e| e.errno.as_deref() == Some("EINTR"))
            .collect(),
    }
}

/// The two connections: (plain, SO_OOBINLINE).
fn parts<'v>(v: &'v View) -> Option<(Part<'v>, Part<'v>)> {
    let inline = v
        .run
        .events
        .iter()
        .find(|e| e.call == "setsockopt" && e.args.contains("SO_OOBINLINE"))
        .and_then(|e| v.conn_of(e))?;
    let plain = (0..v.conns.len()).find(|&c| c != inline && v.conns[c].proto == Proto::Tcp)?;
    Some((part(v, plain), part(v, inline)))
}

fn bytes(e: &Event) -> &[u8] {
    e.data.as_deref().unwrap_or(&[])
}

fn read_bytes(p: &Part) -> Vec<u8> {
    p.reads
        .iter()
        .flat_map(|e| bytes(e).iter().copied())
        .collect()
}

/// The sender's data segments with URG on connection `c`.
fn urg_segments<'v>(v: &'v View, c: usize) -> impl Iterator<Item = &'v Pkt> {
    v.conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.tcp.as_ref().is_some_and(|t| t.has(f::URG)))
}

/// Where the urgent data of segment `p` ends, as a stream offset from 0 (its relative SEQ + the
/// urgent pointer − 1 for the SYN).
fn urgent_end(v: &View, p: &Pkt) -> Option<usize> {
    let t = p.tcp.as_ref()?;
    (v.rel_seq(p) as usize + t.urgent as usize).checked_sub(1)
}

/// `frame 6 [P.U] seq 4:5 urg 1`.
fn seg_text(v: &View, p: &Pkt) -> String {
    let (flags, urg) = p.tcp.as_ref().map_or((0, 0), |t| (t.flags, t.urgent));
    let s = v.rel_seq(p);
    format!(
        "frame {} {} seq {s}:{} urg {urg}",
        p.index + 1,
        crate::render::describe::flags_bracketed(flags),
        s + p.len
    )
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let Some((plain, inline)) = parts(v) else {
        return vec![Check::missing(
            "both connections (plain, SO_OOBINLINE) were captured",
            "a connection or the SO_OOBINLINE call is missing",
        )];
    };
    let mut out = Vec::new();

    // Every send(MSG_OOB): URG on the segment with its last byte, the pointer just past it.
    let mut ok = true;
    let mut seen = Vec::new();
    for p in [&plain, &inline] {
        for &(e, at) in p.sends.iter().filter(|(e, _)| is_oob(e)) {
            let end = at + e.ret.unwrap_or(0).max(0) as usize;
            let seg = v.conn_pkts(p.c).find(|s| {
                s.dir == Dir::ToServer && s.len > 0 && {
                    let from = v.rel_seq(s) as usize - 1;
                    from < end && end <= from + s.len as usize
                }
            });
            match seg {
                Some(s)
                    if s.tcp.as_ref().is_some_and(|t| t.has(f::URG))
                        && urgent_end(v, s) == Some(end) =>
                {
                    let last = STREAM.get(end - 1..end).unwrap_or(b"?");
                    seen.push(format!(
                        "send({}, MSG_OOB): {} → {}",
                        preview(bytes(e)),
                        seg_text(v, s),
                        preview(last)
                    ));
                }
                Some(s) => {
                    ok = false;
                    seen.push(format!("send({}): {}", preview(bytes(e)), seg_text(v, s)));
                }
                None => {
                    ok = false;
                    seen.push(format!("send({}): no segment", preview(bytes(e))));
                }
            }
        }
    }
    out.push(Check::new(
        ok && seen.len() == 4,
        "each send(MSG_OOB) left with URG set and the urgent pointer just past its last byte",
        seen.join("; "),
    ));

    // The urgent bytes travel in the byte stream like the others.
    let wire: Vec<Vec<u8>> = [&plain, &inline]
        .iter()
        .map(|p| checks::wire_bytes(v, p.c, Dir::ToServer))
        .collect();
    out.push(Check::new(
        wire.iter().all(|w| w == STREAM),
        "the urgent bytes are in the byte stream: each connection carried \"1234567890\" once, in order",
        format!(
            "plain: {}, SO_OOBINLINE: {}",
            preview(&wire[0]),
            preview(&wire[1])
        ),
    ));

    // Plain: one byte each time out of band, the rest in the reads.
    let oob: Vec<&[u8]> = plain.urgent.iter().map(|e| bytes(e)).collect();
    let reads = read_bytes(&plain);
    out.push(Check::new(
        oob == [b"4", b"0"] && reads == b"12356789",
        "only the last byte is urgent: recv(MSG_OOB) returned \"4\", then \"0\"; the reads the other 8 bytes",
        format!(
            "recv(MSG_OOB): {}; reads: {}",
            oob.iter().map(|b| preview(b)).collect::<Vec<_>>().join(", "),
            preview(&reads)
        ),
    ));

    // SIGURG: one handler run per urgent pointer, after the segment that carried it.
    let mut points: Vec<(usize, usize, i128)> = Vec::new();
    for p in [&plain, &inline] {
        for s in urg_segments(v, p.c) {
            if let Some(end) = urgent_end(v, s) {
                if !points.iter().any(|&(c, e, _)| c == p.c && e == end) {
                    points.push((p.c, end, s.ts));
                }
            }
        }
    }
    points.sort_by_key(|x| x.2);
    let runs: Vec<&Event> = plain.urgent.iter().chain(&inline.urgent).copied().collect();
    let late: Vec<String> = points
        .iter()
        .zip(&runs)
        .filter(|((_, _, ts), e)| e.start < *ts)
        .map(|(_, e)| e.line())
        .collect();
    out.push(Check::new(
        runs.len() == points.len() && points.len() == 4 && late.is_empty(),
        "SIGURG came once per new urgent pointer, each after the segment carrying it (F_SETOWN made the receiver the owner)",
        format!(
            "{} urgent pointers on the wire, {} handler runs{}",
            points.len(),
            runs.len(),
            if late.is_empty() {
                String::new()
            } else {
                format!("; before their segment: {}", late.join(", "))
            }
        ),
    ));

    // SO_OOBINLINE: everything in the reads, recv(MSG_OOB) is refused.
    let inline_reads = read_bytes(&inline);
    let refused = inline
        .urgent
        .iter()
        .filter(|e| e.errno.as_deref() == Some("EINVAL"))
        .count();
    out.push(Check::new(
        inline_reads == STREAM && refused == inline.urgent.len() && refused == 2,
        "with SO_OOBINLINE the urgent bytes stay in the stream: the reads returned all 10 bytes, recv(MSG_OOB) failed with EINVAL",
        format!(
            "reads: {}; recv(MSG_OOB): {refused} × EINVAL of {}",
            preview(&inline_reads),
            inline.urgent.len()
        ),
    ));
    // SIGURG interrupts a waiting recv(): the sender sent "4" once the receiver waited.
    let spans = |p: &Part| {
        p.eintr
            .iter()
            .filter(|e| p.urgent.iter().any(|h| e.start < h.start && h.end <= e.end))
            .count()
    };
    out.push(Check::new(
        [&plain, &inline]
            .iter()
            .all(|p| !p.eintr.is_empty() && spans(p) == p.eintr.len()),
        "the recv() waiting when SIGURG came returned -1 EINTR (sa_flags 0: no SA_RESTART), and the loop called it again",
        format!(
            "plain: {} × EINTR, SO_OOBINLINE: {} × EINTR, each around a run of the handler",
            plain.eintr.len(),
            inline.eintr.len()
        ),
    ));

    // SO_OOBINLINE: a read stops at the urgent byte, which then begins the next read.
    let mut starts = Vec::new();
    let mut at = 0;
    for e in &inline.reads {
        starts.push(at);
        at += bytes(e).len();
    }
    let marks = [3usize, 9];
    out.push(Check::new(
        marks.iter().all(|m| starts.contains(m)),
        "with SO_OOBINLINE a read stops at the urgent mark: \"4\" and \"0\" each begin a read",
        format!(
            "reads: {}",
            inline
                .reads
                .iter()
                .map(|e| preview(bytes(e)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

pub(super) fn facts(v: &View) -> Vec<String> {
    let Some((plain, inline)) = parts(v) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, p) in [("plain", &plain), ("SO_OOBINLINE", &inline)] {
        let segs: Vec<String> = v
            .conn_pkts(p.c)
            .filter(|s| s.dir == Dir::ToServer && s.len > 0)
            .map(|s| {
                let t = s.tcp.as_ref();
                let mut x = format!(
                    "{} {}",
                    crate::render::describe::flags_bracketed(t.map_or(0, |t| t.flags)),
                    preview(&s.payload)
                );
                if let Some(t) = t.filter(|t| t.has(f::URG)) {
                    x.push_str(&format!(" urg {}", t.urgent));
                }
                x
            })
            .collect();
        out.push(format!(
            "{name}: the sender's segments {}",
            segs.join(" · ")
        ));
        let reads: Vec<String> = p.reads.iter().map(|e| preview(bytes(e))).collect();
        let urgent: Vec<String> = p
            .urgent
            .iter()
            .map(|e| match &e.errno {
                Some(err) => format!("-1 {err}"),
                None => preview(bytes(e)),
            })
            .collect();
        let urgent = urgent.join(", ");
        out.push(format!(
            "  reads {}; handler's recv(MSG_OOB) {urgent}; recv() = -1 EINTR {}×",
            reads.join(" "),
            p.eintr.len()
        ));
    }
    out
}
