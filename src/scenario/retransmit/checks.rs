//! `retransmit`: a data segment lost on its way and re-sent by the sender's timers.
//!
//! ```c
//! /* server */                                   /* client */
//! conn = accept(s);                              connect(c, server);
//! n = read(conn, buf, sizeof buf);               write(c, "ping 1", 6);
//! write(conn, buf, n);                           read(c, buf, sizeof buf);    /* "ping 1" */
//! /* the lossy link: accept only packets with TTL >= 255; the client sends with TTL 64 */
//! int ttl = 255;
//! setsockopt(conn, IPPROTO_IP, IP_MINTTL, &ttl, sizeof ttl);
//!                                                write(c, "ping 2", 6);       /* lost */
//! while (drops(conn) < 3) usleep(1000);          /* the client's kernel re-sends it on its timers */
//! ttl = 0;
//! setsockopt(conn, IPPROTO_IP, IP_MINTTL, &ttl, sizeof ttl);
//! n = read(conn, buf, sizeof buf);               /* "ping 2", once: the 4th copy got through */
//! write(conn, buf, n);                           read(c, buf, sizeof buf);    /* "ping 2" */
//! read(conn, buf, sizeof buf) == 0; close(conn); close(c);
//! ```
//! The kernel drops the copies after the capture point, so every copy is on the wire; the
//! dropped ones never reach TCP. The option belongs to one socket and needs no privilege: no
//! firewall rule, no network namespace. (A classic BPF socket filter would do too, but recent
//! kernels (commit 5d39580f68e6) want CAP_NET_ADMIN to attach one to a TCP socket, and a run
//! under sudo has given that up.)

use std::fmt::Write;
use std::time::Duration;

use socket2::{Domain, Type};

use super::retransmit_sys::{self as sys, ca_state_name, Info};
use super::{any_port, bound, gate, read_exactly, Peer, Scenario};
use crate::analyse::Findings;
use crate::decode::decode;
use crate::decode::options::{options, TcpOption};
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::{LiveError, Role, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "retransmit",
    lesson: "lesson 3: data transfer",
    summary: "a lost segment re-sent by the sender's timers: probe, RTO, doubled RTO, then the ACK",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
The textbook story: the sender keeps each segment until it is acknowledged and starts a timer;
if no ACK comes before the timer expires, it sends the segment again. Here it happens on lo.

\"ping 1\" goes the normal way and is acknowledged within microseconds. Then the server makes
the link lossy: IP_MINTTL 255 tells its kernel to drop every packet for that socket whose TTL
is below 255 (RFC 5082's TTL security, meant against forged packets from afar), and the client
sends with TTL 64. The drop happens after the capture point, so the wire shows each copy of
\"ping 2\" arriving, but TCP never gets it and nothing acknowledges it. The server lifts the
limit once its kernel has counted three drops (the getsockopt(SO_MEMINFO) lines), so the fourth
copy gets through. The client's wait lines show what its kernel says (TCP_INFO) after each copy:

  ~200 ms  1st copy: Linux's tail-loss probe (RFC 8985). When the last segment sent is the one
           unacknowledged, Linux arms a probe timer (2·SRTT + 200 ms, at most the RTO: ~200 ms
           here) and re-sends that segment when it fires; backoff 0, state Open: no timeout
           has happened yet.
  ~400 ms  2nd copy: the retransmission timeout proper. State Loss, backoff 1, and the next
           timeout doubled (exponential backoff): the RTO went from ~200 to ~400 ms.
  ~800 ms  3rd copy, one doubled RTO later: delivered. The ACK follows at once and the
           server's read() returns \"ping 2\" once: the program never sees the loss.

Textbook vs wire: the timeout is not \"a little more than the round-trip time\". On lo the RTT is
tens of microseconds, yet Linux never waits less than 200 ms (its minimum RTO; RFC 6298 even
asks for 1 s), and each timeout doubles the next. And on Linux a lost last segment is first
re-sent by the probe, not by the RTO: lose it only once and no timeout ever happens. (With
net.ipv4.tcp_early_retrans=0 there is no probe, and every copy is a timeout's.)

Wireshark's analysis calls each copy a \"TCP Retransmission\" (a segment whose sequence numbers
were already seen); the facts list them. Each copy carries a fresh TCP timestamp (TSval, in ms
on Linux; the facts show it advance), which is how the sender can tell which copy an ACK
answers. The lossy link needs no system-wide change (no firewall rule, no network namespace,
no privilege): the option belongs to that one socket and goes with it.";

const PING1: &[u8] = b"ping 1";
const PING2: &[u8] = b"ping 2";
/// The server's IP_MINTTL while the link is lossy (the client sends with TTL 64).
const LOSSY_TTL: u8 = 255;
/// Copies of "ping 2" the link loses: the original, the probe and the first RTO's.
const DROPS: u32 = 3;
/// Longest wait for a kernel timer (the third copy comes after ~0.8 s).
const WAIT: Duration = Duration::from_secs(5);
/// Linux's minimum RTO (TCP_RTO_MIN), ns.
const RTO_MIN: i128 = 200_000_000;
/// Timers fire on jiffies: up to one tick (10 ms at HZ=100) early against a ns clock.
const TICK: i128 = 10_000_000;

fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;
    let (ping1_done, server_next) = gate();
    let (lossy, client_send) = gate();
    let client = Peer::spawn(t, move |tc, client_go| {
        client_go.wait()?;
        let s = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        tc.connect(&s, server)?;
        tc.mark(
            "retransmit/ok",
            "ping 1: delivered and acknowledged within microseconds",
        );
        tc.write(&s, PING1)?;
        let echo = read_exactly(tc, &s, PING1.len())?;
        tc.print(
            Role::Client,
            &format!("echo: {}", String::from_utf8_lossy(&echo)),
        );
        sys::info(tc, &s)?;
        ping1_done.open();
        client_send.wait()?;
        tc.write(&s, PING2)?;
        sys::wait_resent(tc, &s, 1, WAIT)?;
        sys::wait_resent(tc, &s, 2, WAIT)?;
        let echo = read_exactly(tc, &s, PING2.len())?;
        tc.print(
            Role::Client,
            &format!("echo: {}", String::from_utf8_lossy(&echo)),
        );
        sys::info(tc, &s)?;
        tc.close(s)
    });

    client.go();
    let conn = t.accept(&listener)?;
    let got = read_exactly(t, &conn, PING1.len())?;
    t.write(&conn, &got)?;
    server_next.wait()?;
    t.mark(
        "retransmit/lost",
        "ping 2: the server's socket drops it three times; the client's kernel re-sends it",
    );
    sys::set_min_ttl(t, &conn, LOSSY_TTL)?;
    lossy.open();
    sys::wait_drops(t, &conn, DROPS, WAIT)?;
    sys::set_min_ttl(t, &conn, 0)?;
    let got = read_exactly(t, &conn, PING2.len())?;
    t.write(&conn, &got)?;
    let mut buf = [0u8; 16];
    t.read(&conn, &mut buf)?;
    t.close(conn)?;
    t.close(listener)?;
    client.join()
}

/// The connection, and the copies of "ping 2" on it (client → server, in time order).
fn lost<'v>(v: &'v View) -> Option<(usize, Vec<&'v Pkt>)> {
    let c = checks::first_tcp(v).ok()?;
    let copies = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.payload == PING2)
        .collect();
    Some((c, copies))
}

/// The client's `wait` events (one per awaited re-send), with what TCP_INFO said.
fn waits<'v>(v: &'v View) -> Vec<(&'v Event, Info)> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Client && e.call == "wait")
        .filter_map(|e| Some((e, Info::parse(e.text.as_deref()?)?)))
        .collect()
}

/// What the client's `getsockopt(TCP_INFO)` calls returned, in order.
fn infos(v: &View) -> Vec<Info> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Client && e.args.ends_with("TCP_INFO"))
        .filter_map(|e| Info::parse(e.text.as_deref()?))
        .collect()
}

/// The last drop count the server's `getsockopt(SO_MEMINFO)` saw.
fn drops_seen(v: &View) -> Option<u32> {
    v.run
        .events
        .iter()
        .rev()
        .filter(|e| e.role == Role::Server && e.args.ends_with("SO_MEMINFO"))
        .find_map(|e| {
            e.text
                .as_deref()?
                .trim_start_matches("(drops ")
                .trim_end_matches(')')
                .parse()
                .ok()
        })
}

/// Frames (1-based) Wireshark's analysis calls a retransmission.
fn flagged(v: &View) -> Vec<usize> {
    v.pkts
        .iter()
        .filter(|p| p.findings().has(Findings::RETRANSMISSION))
        .map(|p| p.index + 1)
        .collect()
}

/// The IP TTL of a captured packet.
fn ttl(v: &View, p: &Pkt) -> Option<u8> {
    let frame = v.run.frame(p.index)?;
    decode(&frame).ip.map(|ip| ip.ttl)
}

/// The TCP timestamp (TSval) a segment carries.
fn tsval(p: &Pkt) -> Option<u32> {
    options(&p.tcp.as_ref()?.options).find_map(|o| match o {
        Ok(TcpOption::Timestamps { val, .. }) => Some(val),
        _ => None,
    })
}

fn ms(ns: i128) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// Gaps between consecutive copies, ns.
fn gaps(copies: &[&Pkt]) -> Vec<i128> {
    copies.windows(2).map(|w| w[1].ts - w[0].ts).collect()
}

fn checks(v: &View) -> Vec<Check> {
    let Some((c, copies)) = lost(v) else {
        return vec![Check::missing(
            "a TCP connection was captured",
            "no TCP packets",
        )];
    };
    let Some(first) = copies.first() else {
        return vec![Check::missing(
            "\"ping 2\" is on the wire",
            "no segment carries it",
        )];
    };
    let mut out = Vec::new();
    let seq = v.rel_seq(first);
    let want = DROPS as usize + 1;
    out.push(Check::new(
        copies.len() == want && copies.iter().all(|p| v.rel_seq(p) == seq),
        format!(
            "\"ping 2\" is on the wire {want} times: the original and {DROPS} copies, same SEQ, same bytes"
        ),
        format!(
            "{} segment(s) carry it at seq {seq}: frames {}",
            copies.len(),
            frames(&copies)
        ),
    ));

    let end = seq.wrapping_add(first.len);
    let last = copies[copies.len() - 1];
    let acks: Vec<&Pkt> = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToClient && p.tcp.is_some() && v.rel_ack(p) >= end)
        .collect();
    let early: Vec<&&Pkt> = acks.iter().filter(|p| p.ts < last.ts).collect();
    out.push(Check::new(
        early.is_empty() && !acks.is_empty(),
        "nothing acknowledged it until its last copy arrived; then the ACK followed",
        match (early.first(), acks.first()) {
            (Some(p), _) => format!("frame {} acknowledges it earlier", p.index + 1),
            (None, Some(a)) => format!(
                "ack {end} in frame {}, {} after the last copy",
                a.index + 1,
                us(a.ts - last.ts)
            ),
            (None, None) => "no ACK of it was captured".into(),
        },
    ));

    let marked = flagged(v);
    let copy_frames: Vec<usize> = copies.iter().skip(1).map(|p| p.index + 1).collect();
    out.push(Check::new(
        copy_frames.len() == DROPS as usize
            && copy_frames.iter().all(|f| marked.contains(f))
            && !marked.contains(&(first.index + 1)),
        "Wireshark's analysis marks each copy, and not the original, a retransmission",
        format!("retransmissions: frames {marked:?}"),
    ));

    let g = gaps(&copies);
    let before = infos(v).first().copied();
    let w = waits(v);
    out.push(match g.first() {
        Some(&g1) => Check::new(
            g1 >= RTO_MIN - TICK,
            "the first re-send waited at least Linux's minimum RTO (200 ms), whatever the RTT",
            format!(
                "{} after the original; smoothed RTT {}",
                ms(g1),
                before.map_or("unknown".into(), |i| format!(
                    "{:.3} ms",
                    i.rtt as f64 / 1000.0
                ))
            ),
        ),
        None => Check::missing("the first re-send waited ≥ 200 ms", "no copy"),
    });
    let second = w.iter().find(|(_, i)| i.total_retrans >= 2).map(|x| x.1);
    out.push(match (g.get(1), second) {
        (Some(&g2), Some(i)) => Check::new(
            g2 >= RTO_MIN - TICK && i.backoff >= 1 && i.ca_state == 4,
            "the second re-send is a retransmission timeout: ≥ 200 ms later, and the kernel then \
             reports backoff 1 and state Loss",
            format!(
                "{} after the first; backoff {}, ca_state {}",
                ms(g2),
                i.backoff,
                ca_state_name(i.ca_state)
            ),
        ),
        _ => Check::missing(
            "the second re-send is a retransmission timeout",
            "no second copy, or no TCP_INFO after it",
        ),
    });
    out.push(match (g.get(2), second, before) {
        (Some(&g3), Some(i), Some(b)) => {
            // Each timeout doubles the RTO: after `backoff` of them it is RTO << backoff.
            let want = (b.rto as i128) << i.backoff.min(16);
            let doubled = i.backoff >= 1 && (i.rto as i128 - want).abs() * 1000 <= TICK;
            Check::new(
                doubled && g3 >= i.rto as i128 * 1000 - TICK,
                "each timeout doubles the RTO, and the third re-send waited the doubled RTO",
                format!(
                    "RTO {} ms → {} ms after {} timeout(s); {} after the second",
                    b.rto / 1000,
                    i.rto / 1000,
                    i.backoff,
                    ms(g3)
                ),
            )
        }
        _ => Check::missing(
            "each timeout doubles the RTO",
            "no third copy, or no TCP_INFO before and after",
        ),
    });
    out.push(checks::reads_match_writes(v, c, Dir::ToServer));
    out.push(checks::reads_match_writes(v, c, Dir::ToClient));
    let resent = infos(v).last().map(|i| i.total_retrans);
    let dropped = drops_seen(v);
    out.push(Check::new(
        resent == Some(DROPS) && dropped == Some(DROPS),
        format!(
            "the kernels agree: the server's socket dropped {DROPS} segments, the client re-sent {DROPS}"
        ),
        format!(
            "SO_MEMINFO drops {}, tcpi_total_retrans {}",
            dropped.map_or("?".into(), |n| n.to_string()),
            resent.map_or("?".into(), |n| n.to_string())
        ),
    ));
    out.push(checks::acks_match_next_seq(v));
    out
}

fn frames(ps: &[&Pkt]) -> String {
    ps.iter()
        .map(|p| (p.index + 1).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn us(ns: i128) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

fn facts(v: &View) -> Vec<String> {
    let Some((c, copies)) = lost(v) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let before = infos(v).first().copied();
    if let Some(b) = before {
        out.push(format!(
            "before the loss: smoothed RTT {:.3} ms, RTO {} ms (TCP_INFO)",
            b.rtt as f64 / 1000.0,
            b.rto / 1000
        ));
    }
    let ping1 = v
        .conn_pkts(c)
        .find(|p| p.dir == Dir::ToServer && p.payload == PING1);
    if let Some(p) = ping1 {
        let end = v.rel_seq(p).wrapping_add(p.len);
        if let Some(a) = v
            .conn_pkts(c)
            .find(|q| q.dir == Dir::ToClient && q.ts >= p.ts && v.rel_ack(q) >= end)
        {
            out.push(format!(
                "ping 1 (frame {}): acknowledged by frame {}, {} later",
                p.index + 1,
                a.index + 1,
                us(a.ts - p.ts)
            ));
        }
    }
    let Some(first) = copies.first() else {
        return out;
    };
    let w = waits(v);
    let mut lines = vec![format!(
        "ping 2 (frame {}): dropped on arrival{}",
        first.index + 1,
        ttl(v, first).map_or(String::new(), |t| format!(
            " (TTL {t} < the server's IP_MINTTL {LOSSY_TTL})"
        ))
    )];
    for (n, p) in copies.iter().enumerate().skip(1) {
        let mut l = format!(
            "  copy {n} (frame {}), {} after the {}",
            p.index + 1,
            ms(p.ts - copies[n - 1].ts),
            if n == 1 { "original" } else { "previous copy" }
        );
        if let (Some(a), Some(b)) = (tsval(first), tsval(p)) {
            let _ = write!(l, ", TSval +{}", b.wrapping_sub(a));
        }
        let why = w
            .iter()
            .find(|(_, i)| i.total_retrans == n as u32)
            .map(|(_, i)| {
                if i.backoff == 0 {
                    "tail-loss probe: no timeout yet".to_owned()
                } else {
                    format!(
                        "timeout: backoff {}, next RTO {} ms",
                        i.backoff,
                        i.rto / 1000
                    )
                }
            });
        let why = why.or_else(|| {
            (n == DROPS as usize).then(|| "timeout again, after the doubled RTO".to_owned())
        });
        if let Some(why) = why {
            let _ = write!(l, " ({why})");
        }
        l.push_str(if n < DROPS as usize {
            ": dropped"
        } else {
            ": delivered"
        });
        lines.push(l);
    }
    out.extend(lines);
    let marked = flagged(v);
    if !marked.is_empty() {
        out.push(format!(
            "Wireshark's analysis: \"TCP Retransmission\" at frames {}",
            marked
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}
