//! What an `epoll` run must show: level-triggered, one segment gives an event per read while
//! bytes remain; edge-triggered, an event only when a segment arrives, so a partial read is
//! followed by silence; the non-blocking read loop ends in EAGAIN with everything read.

use std::os::fd::RawFd;

use super::program::PARTIAL_MS;
use super::{BUF_SIZE, EDGE, LEVEL};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::{Role, View};

/// One epoll_wait() call, read back from its event.
pub(super) struct Wait<'v> {
    pub(super) e: &'v Event,
    pub(super) timeout_ms: i64,
    pub(super) ready: Vec<RawFd>,
}

/// The epoll_wait() calls of the run, in order.
pub(super) fn waits<'v>(v: &'v View) -> Vec<Wait<'v>> {
    v.run
        .events
        .iter()
        .filter(|e| e.call == "epoll_wait" && e.ok())
        .filter_map(|e| {
            // "4, events, 50, 1000" and "{13 EPOLLIN, 15 EPOLLIN}".
            let timeout_ms = e.args.split(", ").nth(3)?.parse().ok()?;
            let text = e.text.as_deref()?;
            let inner = text.strip_prefix('{')?.strip_suffix('}')?;
            let ready = inner
                .split(", ")
                .filter(|r| !r.is_empty())
                .map(|r| r.split(' ').next().and_then(|fd| fd.parse().ok()))
                .collect::<Option<Vec<RawFd>>>()?;
            Some(Wait {
                e,
                timeout_ms,
                ready,
            })
        })
        .collect()
}

/// A client as the server saw it: its connection, the server's descriptor for it, and the
/// time that descriptor stood for it (from accept() to close(): numbers are reused).
#[derive(Debug, Clone, Copy)]
pub(super) struct Side {
    pub(super) c: usize,
    pub(super) fd: RawFd,
    from: i128,
    to: i128,
}

impl Side {
    /// Whether server event `e` is on this client's socket (a failed call carries only its
    /// descriptor).
    fn owns(&self, v: &View, e: &Event) -> bool {
        e.role == Role::Server
            && (v.conn_of(e) == Some(self.c)
                || (e.fd == Some(self.fd) && e.start >= self.from && e.start <= self.to))
    }
}

/// Client `name` as the server saw it.
pub(super) fn client(v: &View, name: &str) -> Option<Side> {
    let c = v
        .run
        .events
        .iter()
        .find(|e| e.who == name && e.call == "connect")
        .and_then(|e| v.conn_of(e))?;
    let acc = v.run.events.iter().find(|e| {
        e.role == Role::Server && e.call == "accept" && e.ok() && v.conn_of(e) == Some(c)
    })?;
    let fd = acc.ret? as RawFd;
    let to = v
        .run
        .events
        .iter()
        .filter(|e| {
            e.role == Role::Server && e.call == "close" && e.fd == Some(fd) && e.start > acc.end
        })
        .map(|e| e.start)
        .min()
        .unwrap_or(i128::MAX);
    Some(Side {
        c,
        fd,
        from: acc.end,
        to,
    })
}

/// A segment that makes the server's socket readable: data or a FIN toward it.
pub(super) fn arrives(p: &Pkt) -> bool {
    p.dir == Dir::ToServer && (p.len > 0 || p.tcp.as_ref().is_some_and(|t| t.has(f::FIN)))
}

/// The calls that returned the client's descriptor ready while it stood for the client.
pub(super) fn events_of<'w, 'v>(ws: &'w [Wait<'v>], s: Side) -> Vec<&'w Wait<'v>> {
    ws.iter()
        .filter(|w| w.ready.contains(&s.fd) && w.e.end >= s.from && w.e.start <= s.to)
        .collect()
}

/// The server's calls `call` on the client's socket.
fn calls<'v>(v: &'v View, s: Side, call: &str) -> Vec<&'v Event> {
    v.run
        .events
        .iter()
        .filter(|e| e.call == call && s.owns(v, e))
        .collect()
}

/// Whether a segment from the client on `c` arrived in (a, b].
fn arrival_in(v: &View, c: usize, a: i128, b: i128) -> bool {
    v.conn_pkts(c).any(|p| arrives(p) && p.ts > a && p.ts <= b)
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let ws = waits(v);
    let (Some(l), Some(ed)) = (client(v, LEVEL), client(v, EDGE)) else {
        return vec![Check::missing(
            "both clients' connections were captured",
            "a connect() or accept() event, or its packets, is missing",
        )];
    };
    let (cl, ce) = (l.c, ed.c);
    let mut out = Vec::new();

    // How each socket was registered.
    let ctl = |s: Side| {
        calls(v, s, "epoll_ctl")
            .into_iter()
            .find(|e| e.args.contains("EPOLL_CTL_ADD"))
            .map(|e| e.args.rsplit(", ").next().unwrap_or("").to_owned())
    };
    let nonblock = calls(v, ed, "fcntl")
        .iter()
        .any(|e| e.ok() && e.args.contains("F_SETFL") && e.args.contains("O_NONBLOCK"));
    let (ml, me) = (ctl(l), ctl(ed));
    out.push(Check::new(
        ml.as_deref() == Some("{EPOLLIN}")
            && me.as_deref() == Some("{EPOLLIN|EPOLLET}")
            && nonblock,
        "L was registered level-triggered (EPOLLIN); E non-blocking (O_NONBLOCK) and \
         edge-triggered (EPOLLIN|EPOLLET)",
        format!(
            "L {}, E {}{}",
            ml.unwrap_or_else(|| "not registered".into()),
            me.unwrap_or_else(|| "not registered".into()),
            if nonblock {
                ", E O_NONBLOCK"
            } else {
                ", E blocking"
            }
        ),
    ));

    // Level-triggered: one segment, an event per read while bytes remain.
    let data_l: Vec<&Pkt> = v
        .conn_pkts(cl)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .collect();
    let fin_l = v
        .conn_pkts(cl)
        .find(|p| arrives(p) && p.len == 0)
        .map(|p| p.ts);
    let evs_l: Vec<&Wait> = events_of(&ws, l)
        .into_iter()
        .filter(|w| fin_l.is_none_or(|fin| w.e.end < fin))
        .collect();
    let again = evs_l
        .windows(2)
        .filter(|p| !arrival_in(v, cl, p[0].e.end, p[1].e.end))
        .count();
    let sizes: Vec<i64> = calls(v, l, "read")
        .iter()
        .filter_map(|e| e.ret)
        .filter(|&n| n > 0)
        .collect();
    let bytes: u32 = data_l.iter().map(|p| p.len).sum();
    out.push(Check::new(
        data_l.len() == 1
            && evs_l.len() >= 2
            && again == evs_l.len() - 1
            && sizes.len() == evs_l.len()
            && sizes.iter().all(|&n| n <= BUF_SIZE as i64),
        "level-triggered: one segment, and epoll_wait() reported L again after each 4-byte \
         read while bytes remained, with no new segment",
        format!(
            "{} segment(s), {bytes} bytes → {} events ({again} with no new segment), reads {sizes:?}",
            data_l.len(),
            evs_l.len()
        ),
    ));

    // Edge-triggered: every event follows a new segment; after the partial read, silence.
    let evs_e = events_of(&ws, ed);
    let mut prev = ed.from;
    let mut unearned = 0;
    for w in &evs_e {
        if !arrival_in(v, ce, prev, w.e.end) {
            unearned += 1;
        }
        prev = w.e.end;
    }
    let silent = ws
        .iter()
        .find(|w| w.timeout_ms == i64::from(PARTIAL_MS) && w.e.ret == Some(0));
    let waiting = silent.and_then(|w| {
        calls(v, ed, "ioctl")
            .into_iter()
            .find(|e| e.start >= w.e.end)
            .and_then(|e| e.text.as_deref())
            .and_then(|t| t.strip_prefix("(n = "))
            .and_then(|t| t.split(':').next())
            .and_then(|n| n.parse::<i64>().ok())
    });
    let first_read = calls(v, ed, "read").first().and_then(|e| e.ret);
    let waited = silent.is_some_and(|w| w.e.end - w.e.start >= i128::from(PARTIAL_MS) * 1_000_000);
    out.push(Check::new(
        !evs_e.is_empty()
            && unearned == 0
            && waited
            && waiting.is_some_and(|n| n > 0)
            && first_read == Some(BUF_SIZE as i64),
        "edge-triggered: every event on E followed a new segment; after a partial read the next \
         call waited its whole timeout with bytes unread, until more data came",
        format!(
            "{} events, {unearned} without a new segment; first read {} bytes, then {} ms of \
             nothing while {} bytes waited",
            evs_e.len(),
            first_read.map_or("?".into(), |n| n.to_string()),
            PARTIAL_MS,
            waiting.map_or("?".into(), |n| n.to_string())
        ),
    ));

    // The non-blocking loop drains the socket and ends in EAGAIN.
    let re = calls(v, ed, "read");
    let mut eagains = 0;
    let mut drained = true;
    for (i, e) in re.iter().enumerate() {
        if e.errno.as_deref() != Some("EAGAIN") {
            continue;
        }
        eagains += 1;
        let got: i64 = re[..i]
            .iter()
            .filter_map(|r| r.ret)
            .filter(|&n| n > 0)
            .sum();
        let wire: i64 = v
            .conn_pkts(ce)
            .filter(|p| p.dir == Dir::ToServer && p.ts < e.start)
            .map(|p| i64::from(p.len))
            .sum();
        drained &= got == wire;
    }
    out.push(Check::new(
        eagains > 0 && drained,
        "E's non-blocking read loop ended in read() = -1 EAGAIN, every byte that had arrived read",
        format!(
            "{eagains} read(s) ended in EAGAIN; {} reads on E in all",
            re.len()
        ),
    ));

    // The echo.
    let mut ok = true;
    let mut bytes = 0;
    for c in [cl, ce] {
        for d in [Dir::ToServer, Dir::ToClient] {
            ok &= checks::reads_match_writes(v, c, d).ok;
        }
        bytes += checks::wire_bytes(v, c, Dir::ToServer).len();
    }
    out.push(Check::new(
        ok,
        "both clients read back exactly what they wrote (the echo)",
        format!("2 connections, {bytes} bytes each way"),
    ));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::RunData;

    fn saved() -> RunData {
        crate::scenario::saved_run("epoll")
    }

    fn verdict(run: &RunData, what: &str) -> Vec<bool> {
        checks(&View::new(run))
            .into_iter()
            .filter(|c| c.what.contains(what))
            .map(|c| c.ok)
            .collect()
    }

    #[test]
    fn the_saved_run_passes_and_each_check_can_fail() {
        let run = saved();
        assert!(checks(&View::new(&run)).iter().all(|c| c.ok));
        let e_fd = client(&View::new(&run), EDGE).expect("client E").fd;

        // An event on E during the 100 ms wait: edge-triggering would not hold.
        let mut r = saved();
        let w = r
            .events
            .iter_mut()
            .find(|e| e.call == "epoll_wait" && e.ret == Some(0))
            .expect("the silent call");
        w.ret = Some(1);
        w.text = Some(format!("{{{e_fd} EPOLLIN}}"));
        assert_eq!(verdict(&r, "edge-triggered: every event"), [false]);

        // The loop's EAGAIN missing.
        let mut r = saved();
        r.events.retain(|e| e.errno.as_deref() != Some("EAGAIN"));
        assert_eq!(verdict(&r, "ended in read() = -1 EAGAIN"), [false]);

        // L registered edge-triggered too.
        let mut r = saved();
        if let Some(e) = r
            .events
            .iter_mut()
            .find(|e| e.call == "epoll_ctl" && e.args.ends_with(", {EPOLLIN}") && e.addr.is_some())
        {
            e.args = e.args.replace("{EPOLLIN}", "{EPOLLIN|EPOLLET}");
        }
        assert_eq!(verdict(&r, "L was registered level-triggered"), [false]);

        // L's first repeated event (the third call) gone: fewer events than reads.
        let mut r = saved();
        let i = r
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.call == "epoll_wait")
            .nth(2)
            .map(|(i, _)| i)
            .expect("a third call");
        r.events.remove(i);
        assert_eq!(verdict(&r, "level-triggered: one segment"), [false]);
    }
}
