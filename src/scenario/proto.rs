//! `proto`: an application-layer protocol, the calculator of the classic texts. A request is
//! a count, that many 4-byte operands and an operator; the count says how long it is, so the
//! server reads until it has that many bytes.
//!
//! ```c
//! /* op_client.c */                                /* op_server.c */
//! opmsg[0] = (char)opnd_cnt;                       while (read(clnt_sock, &opnd_cnt, 1) == 1) {
//! for (i = 0; i < opnd_cnt; i++)                       recv_len = 0;
//!     memcpy(&opmsg[i*OPSZ + 1], &opnd[i], OPSZ);      while (recv_len < opnd_cnt*OPSZ + 1) {
//! opmsg[opnd_cnt*OPSZ + 1] = op;                           recv_cnt = read(clnt_sock, &opinfo[recv_len],
//! write(sock, opmsg, opnd_cnt*OPSZ + 2);                                   opnd_cnt*OPSZ + 1 - recv_len);
//! read(sock, &result, RLT_SIZE);                           recv_len += recv_cnt;
//! printf("Operation result: %d \n", result);           }
//!                                                      result = calculate(opnd_cnt, opinfo, op);
//! /* then two more requests: one write holding          write(clnt_sock, &result, sizeof(result));
//!    request 2 and the start of request 3,          }
//!    and later the rest of request 3 */             close(clnt_sock);
//! ```

use socket2::{Domain, Type};

use super::addr::libc::hex;
use super::stream::{boundary_head, boundary_row, stream_text};
use super::{any_port, bound, gate, read_exactly, Peer, Scenario};
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::{LiveError, Role, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "proto",
    lesson: "lesson 3: data transfer",
    summary: "a length-prefixed calculator protocol: the receiver reads until the count says the message ends",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
TCP delivers bytes, not messages (see `sockscope run stream`), so an application protocol
must say where each message ends. The calculator's request starts with a count: 1 byte
holding the number of operands N, then N operands of 4 bytes, then 1 byte for the operator.
After reading the count, the server knows the request has 4N + 1 more bytes, and reads until
it has exactly that many: each read() asks only for what is still missing, returns what has
arrived, and the loop goes on until the request is complete.

Request 1 is the book's op_client: the whole request in one write(), one segment; the
server's read of its 13 remaining bytes returns them at once. Then the same client writes
request 2 and the first 7 bytes of request 3 in one write(): one segment holding the end of
one message and the start of the next. The server reads request 2 exactly and does not touch
request 3. The rest of request 3 comes later (the client sends it once the server has read
the first part; a thread hand-over stands in for a slow user), so the server's read() returns
only the 6 operand bytes that are there, and the loop reads again for the remaining 11. The
facts cut the wire's bytes into requests by their counts and show which read() took which.

The book's loop asks for BUF_SIZE - 1 bytes each time, not for what is missing: that is safe
only because its client sends one request per connection. With a second request in the
same segment, that read() would swallow the start of the next request.

Byte order: the book copies the int operands and the result with memcpy(), in host order, so
12 travels as 0c 00 00 00 on this little-endian host; a big-endian peer would read 201326592.
A portable protocol fixes the order (htonl() before sending, ntohl() after reading; see
`sockscope run addr`).";

/// The requests: operands and operator.
const REQUESTS: [(&[i32], u8); 3] = [
    (&[12, 24, 36], b'+'),
    (&[7, 5], b'*'),
    (&[1, 2, 3, 4], b'-'),
];
/// Bytes of request 3 that travel with request 2 (its count and one and a half operands).
const SPLIT: usize = 7;
const OPSZ: usize = 4;
const RLT_SIZE: usize = 4;

/// `opmsg` as op_client builds it: count, operands (memcpy: host order), operator.
fn request_bytes(operands: &[i32], op: u8) -> Vec<u8> {
    let mut m = vec![operands.len() as u8];
    for o in operands {
        m.extend_from_slice(&o.to_ne_bytes());
    }
    m.push(op);
    m
}

/// op_server's calculate().
fn calculate(operands: &[i32], op: u8) -> i32 {
    let mut it = operands.iter().copied();
    let first = it.next().unwrap_or(0);
    it.fold(first, |acc, x| match op {
        b'+' => acc.wrapping_add(x),
        b'-' => acc.wrapping_sub(x),
        b'*' => acc.wrapping_mul(x),
        _ => acc,
    })
}

fn show_request(operands: &[i32], op: u8) -> String {
    operands
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(&format!(" {} ", op as char))
}

fn run(t: &Tracer) -> Result<(), LiveError> {
    let serv_sock = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&serv_sock, any_port())?;
    t.listen(&serv_sock, 5)?;
    let server = bound(&serv_sock)?;
    t.ready()?;
    let (part_read, part_waiter) = gate();
    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let sock = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        tc.connect(&sock, server)?;
        let [r1, r2, r3] = REQUESTS.map(|(o, op)| request_bytes(o, op));
        let result = |tc: &Tracer, i: usize| -> Result<(), LiveError> {
            let b = read_exactly(tc, &sock, RLT_SIZE)?;
            let r = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
            let (o, op) = REQUESTS[i];
            tc.print(
                Role::Client,
                &format!("Operation result: {} = {r}", show_request(o, op)),
            );
            Ok(())
        };
        tc.mark(
            "proto/one",
            "request 1 as op_client sends it: the whole message in one write()",
        );
        tc.write(&sock, &r1)?;
        result(tc, 0)?;
        tc.mark(
            "proto/two",
            "one write() with request 2 and the start of request 3; the rest of request 3 later",
        );
        let mut first = r2.clone();
        first.extend_from_slice(&r3[..SPLIT]);
        tc.write(&sock, &first)?;
        result(tc, 1)?;
        part_waiter.wait()?;
        tc.write(&sock, &r3[SPLIT..])?;
        result(tc, 2)?;
        tc.close(sock)
    });

    client.go();
    let clnt_sock = t.accept(&serv_sock)?;
    let mut n = 0;
    loop {
        let mut cnt = [0u8; 1];
        if t.read(&clnt_sock, &mut cnt)? == 0 {
            break;
        }
        let want = cnt[0] as usize * OPSZ + 1;
        let mut opinfo = vec![0u8; want];
        let mut recv_len = 0;
        while recv_len < want {
            let got = t.read(&clnt_sock, &mut opinfo[recv_len..])?;
            if got == 0 {
                return Err(LiveError::Scenario(format!(
                    "the client closed after {recv_len} of {want} bytes of a request"
                )));
            }
            recv_len += got;
            if n == 2 && recv_len < want {
                // The first part of request 3 is in: let the client send the rest.
                part_read.open();
            }
        }
        let operands: Vec<i32> = opinfo[..want - 1]
            .chunks(OPSZ)
            .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let op = opinfo[want - 1];
        let result = calculate(&operands, op);
        t.print(
            Role::Server,
            &format!(
                "request {}: {} = {result}",
                n + 1,
                show_request(&operands, op)
            ),
        );
        t.write(&clnt_sock, &result.to_ne_bytes())?;
        n += 1;
    }
    t.close(clnt_sock)?;
    t.close(serv_sock)?;
    client.join()
}

// ---- reading the run back ----

/// One request found in the client's byte stream: where it starts, its length, its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Request {
    start: usize,
    len: usize,
    operands: Vec<i32>,
    op: u8,
}

/// Cuts a byte stream into requests by their count bytes, reading operands in `le` order.
fn parse(stream: &[u8], le: bool) -> (Vec<Request>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(&cnt) = stream.get(at) {
        let len = 1 + cnt as usize * OPSZ + 1;
        let Some(body) = stream.get(at + 1..at + len) else {
            break;
        };
        let operands = body[..body.len() - 1]
            .chunks(OPSZ)
            .map(|c| word(c, le))
            .collect();
        out.push(Request {
            start: at,
            len,
            operands,
            op: body[body.len() - 1],
        });
        at += len;
    }
    (out, at)
}

/// The requests on the wire, read in the byte order that gives the operands the program sent
/// (the client's host order), and whether that order is little-endian.
fn wire_requests(v: &View, c: usize) -> Option<(Vec<Request>, bool)> {
    let stream = checks::wire_bytes(v, c, Dir::ToServer);
    let wanted: Vec<&[i32]> = REQUESTS.iter().map(|r| r.0).collect();
    for le in [true, false] {
        let (reqs, used) = parse(&stream, le);
        let got: Vec<&[i32]> = reqs.iter().map(|r| r.operands.as_slice()).collect();
        if used == stream.len() && got == wanted {
            return Some((reqs, le));
        }
    }
    None
}

/// The server's successful reads that returned data: (event, size), in order.
fn server_reads<'v>(v: &'v View) -> Vec<(&'v Event, usize)> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call == "read" && e.ok())
        .filter_map(|e| Some((e, usize::try_from(e.ret?).ok()?)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The server's reads grouped by request: [count read, body reads…] per request, as long as
/// each group's body adds up to what its count said.
fn reads_per_request(v: &View) -> (Vec<Vec<usize>>, bool) {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut ok = true;
    let mut missing = 0usize;
    for (e, n) in server_reads(v) {
        if missing == 0 {
            let cnt = e.data.as_deref().and_then(|d| d.first().copied());
            match (n, cnt) {
                (1, Some(cnt)) => {
                    missing = cnt as usize * OPSZ + 1;
                    groups.push(vec![1]);
                }
                _ => {
                    ok = false;
                    groups.push(vec![n]);
                }
            }
        } else if n > missing {
            ok = false;
            missing = 0;
            if let Some(g) = groups.last_mut() {
                g.push(n);
            }
        } else {
            missing -= n;
            if let Some(g) = groups.last_mut() {
                g.push(n);
            }
        }
    }
    (groups, ok && missing == 0)
}

/// The data segments the client sent, in SEQ order, with their stream offsets (from 0).
fn client_segments<'v>(v: &'v View, c: usize) -> Vec<(&'v Pkt, usize)> {
    let mut s: Vec<(&Pkt, usize)> = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .map(|p| (p, v.rel_seq(p).wrapping_sub(1) as usize))
        .collect();
    s.sort_by_key(|x| x.1);
    s
}

fn checks(v: &View) -> Vec<Check> {
    let c = match checks::first_tcp(v) {
        Ok(c) => c,
        Err(missing) => return vec![missing],
    };
    let mut out = Vec::new();
    let (groups, framed) = reads_per_request(v);
    let shown: Vec<String> = groups
        .iter()
        .map(|g| {
            g.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    out.push(Check::new(
        framed && groups.len() == REQUESTS.len(),
        "the server read each request as its count said: 1 byte, then exactly 4 × count + 1, never a byte of the next",
        format!("reads per request: {}", shown.join(" | ")),
    ));
    let wire = wire_requests(v, c);
    let segs = client_segments(v, c);
    match &wire {
        Some((reqs, le)) => {
            let boundaries: Vec<usize> = reqs.iter().map(|r| r.start).skip(1).collect();
            let shared = segs.iter().find(|(p, at)| {
                boundaries
                    .iter()
                    .any(|&b| *at < b && b < *at + p.len as usize)
            });
            out.push(Check::new(
                shared.is_some(),
                "one segment carried the end of one request and the start of the next: segments are not messages",
                match shared {
                    Some((p, at)) => format!(
                        "frame {}: stream bytes {}–{}, requests start at {:?}",
                        p.index + 1,
                        at + 1,
                        at + p.len as usize,
                        reqs.iter().map(|r| r.start + 1).collect::<Vec<_>>()
                    ),
                    None => "no segment crosses a request boundary".into(),
                },
            ));
            let last = reqs.last();
            let crossing = last.map_or(0, |r| {
                segs.iter()
                    .filter(|(p, at)| *at < r.start + r.len && r.start < *at + p.len as usize)
                    .count()
            });
            let body_reads = groups.last().map_or(0, |g| g.len().saturating_sub(1));
            out.push(Check::new(
                crossing >= 2 && body_reads >= 2,
                "request 3 came in two segments, and the server's read-until-N loop needed two read()s for its body",
                format!("{crossing} segments, body read in {body_reads} read()s"),
            ));
            let results = results_on_wire(v, c, *le);
            let expected: Vec<i32> = reqs.iter().map(|r| calculate(&r.operands, r.op)).collect();
            out.push(Check::new(
                results == expected,
                "each answer on the wire is the result of the request the wire carried",
                format!(
                    "requests {}; answers {results:?}",
                    reqs.iter()
                        .map(|r| show_request(&r.operands, r.op))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            // Read the other way round, the same bytes are not the operands sent: the order on
            // the wire is the client's host order, and no other.
            let other: Vec<Vec<i32>> = parse(&checks::wire_bytes(v, c, Dir::ToServer), !le)
                .0
                .into_iter()
                .map(|r| r.operands)
                .collect();
            let sent: Vec<Vec<i32>> = REQUESTS.iter().map(|r| r.0.to_vec()).collect();
            out.push(Check::new(
                other != sent,
                format!(
                    "the operands travel in the client's host byte order ({}), as memcpy() puts them: the book never calls htonl() for them",
                    if *le {
                        "little-endian, not network order"
                    } else {
                        "big-endian"
                    }
                ),
                reqs.first()
                    .map(|r| {
                        format!(
                            "{} is {} on the wire",
                            r.operands.first().copied().unwrap_or(0),
                            hex(&stream_slice(v, c, r.start + 1, 4))
                        )
                    })
                    .unwrap_or_default(),
            ));
        }
        None => out.push(Check::missing(
            "the wire carries the three requests, cut by their counts",
            "the client's bytes do not parse as the requests sent",
        )),
    }
    out.extend(checks::both_ways(v, c));
    out
}

/// The 4-byte integer at the start of `c` (at least 4 bytes long), little-endian if `le`.
fn word(c: &[u8], le: bool) -> i32 {
    let b = [c[0], c[1], c[2], c[3]];
    if le {
        i32::from_le_bytes(b)
    } else {
        i32::from_be_bytes(b)
    }
}

fn stream_slice(v: &View, c: usize, from: usize, n: usize) -> Vec<u8> {
    let s = checks::wire_bytes(v, c, Dir::ToServer);
    s.get(from..from + n).unwrap_or(&[]).to_vec()
}

/// The 4-byte answers the server sent, read in the same byte order as the requests.
fn results_on_wire(v: &View, c: usize, le: bool) -> Vec<i32> {
    checks::wire_bytes(v, c, Dir::ToClient)
        .chunks(RLT_SIZE)
        .filter(|c| c.len() == RLT_SIZE)
        .map(|c| word(c, le))
        .collect()
}

/// A request's bytes as `03 | 0c 00 00 00 18 00 00 00 24 00 00 00 | 2b`, from stream offset
/// `from` to `to` (a part of it when a segment holds only part).
fn request_hex(stream: &[u8], r: &Request, from: usize, to: usize) -> String {
    let mut parts = Vec::new();
    let fields = [
        (r.start, r.start + 1),
        (r.start + 1, r.start + r.len - 1),
        (r.start + r.len - 1, r.start + r.len),
    ];
    for (a, b) in fields {
        let (a, b) = (a.max(from), b.min(to));
        if a < b {
            parts.push(hex(&stream[a..b]));
        }
    }
    parts.join(" | ")
}

fn facts(v: &View) -> Vec<String> {
    let Ok(c) = checks::first_tcp(v) else {
        return Vec::new();
    };
    let Some((reqs, _)) = wire_requests(v, c) else {
        return Vec::new();
    };
    let stream = checks::wire_bytes(v, c, Dir::ToServer);
    let mut out = vec![
        "the client's segments, cut into requests by their count byte (count | operands | operator, ‖ between requests):"
            .to_owned(),
    ];
    for (p, at) in client_segments(v, c) {
        let end = at + p.len as usize;
        let pieces: Vec<String> = reqs
            .iter()
            .filter(|r| r.start < end && at < r.start + r.len)
            .map(|r| request_hex(&stream, r, at, end))
            .collect();
        out.push(format!(
            "  frame {:<3} {:>2} bytes  {}",
            p.index + 1,
            p.len,
            pieces.join(" ‖ ")
        ));
    }
    out.push("the requests:".into());
    for (i, r) in reqs.iter().enumerate() {
        out.push(format!(
            "  {}: count {}, {} bytes in all, {} = {}",
            i + 1,
            r.operands.len(),
            r.len,
            show_request(&r.operands, r.op),
            calculate(&r.operands, r.op)
        ));
    }
    out.push(
        "where the client's bytes were cut: requests, writes, segments, the server's reads".into(),
    );
    out.push(boundary_head("count, operands, op", &ruler(&stream)));
    out.push(boundary_row(
        "requests",
        &reqs.iter().map(|r| r.len).collect::<Vec<_>>(),
        "",
    ));
    let writes: Vec<usize> = v
        .run
        .events
        .iter()
        .filter(|e| e.role == Role::Client && e.call == "write" && e.ok())
        .filter_map(|e| usize::try_from(e.ret?).ok())
        .collect();
    out.push(boundary_row("write()s", &writes, ""));
    let segs = client_segments(v, c);
    out.push(boundary_row(
        "segments",
        &segs.iter().map(|s| s.0.len as usize).collect::<Vec<_>>(),
        &format!(
            "frames {}",
            segs.iter()
                .map(|s| (s.0.index + 1).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    let reads: Vec<usize> = server_reads(v).iter().map(|r| r.1).collect();
    out.push(boundary_row("read()s", &reads, ""));
    out
}

/// A column per byte: the count (as a digit when it is one), `·` over the operands, the
/// operator itself.
fn ruler(stream: &[u8]) -> String {
    let (reqs, _) = parse(stream, true);
    let mut s = String::new();
    for r in &reqs {
        let cnt = r.operands.len();
        s.push(char::from_digit(cnt as u32, 10).unwrap_or('#'));
        s.push_str(&"·".repeat(r.len - 2));
        s.push_str(&stream_text(&stream[r.start + r.len - 1..r.start + r.len]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_back_and_compute() {
        let mut stream = Vec::new();
        for (o, op) in REQUESTS {
            stream.extend(request_bytes(o, op));
        }
        let le = cfg!(target_endian = "little");
        let (reqs, used) = parse(&stream, le);
        assert_eq!(used, stream.len());
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[0].len, 14);
        assert_eq!(reqs[2].start, 24);
        assert_eq!(calculate(&reqs[0].operands, reqs[0].op), 72);
        assert_eq!(calculate(&reqs[1].operands, reqs[1].op), 35);
        assert_eq!(calculate(&reqs[2].operands, reqs[2].op), -8);
        assert_eq!(
            request_hex(&stream, &reqs[1], 14, 31),
            "02 | 07 00 00 00 05 00 00 00 | 2a".replace(
                "07 00 00 00 05 00 00 00",
                &hex(&[7i32.to_ne_bytes(), 5i32.to_ne_bytes()].concat())
            )
        );
        assert_eq!(ruler(&stream).chars().count(), stream.len());
    }
}
