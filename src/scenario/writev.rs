//! `writev`: three buffers in one call. The same 17 bytes written with three `write()`s (with
//! TCP_NODELAY, so that nothing holds them back) and then with one `writev()`; the server reads
//! the second message with one `readv()` that scatters it over two buffers.
//!
//! ```c
//! /* client */                                   /* server */
//! setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, 1);  clnt_sock = accept(serv_sock, …);
//! connect(sock, &serv_addr, …);                   read(clnt_sock, buf, BUF_SIZE) …  /* 17 */
//! write(sock, "ABCDEFG", 7);
//! write(sock, "1234567", 7);                      struct iovec vec[2];
//! write(sock, "890", 3);                          vec[0].iov_base = buf1; vec[0].iov_len = 5;
//! struct iovec vec[3] = {{"ABCDEFG", 7},          vec[1].iov_base = buf2;
//!     {"1234567", 7}, {"890", 3}};                vec[1].iov_len = BUF_SIZE;
//! writev(sock, vec, 3);                           str_len = readv(clnt_sock, vec, 2);
//! close(sock);                                    read(clnt_sock, …) = 0; close(clnt_sock);
//! ```

use socket2::{Domain, Type};

use super::{any_port, bound, read_exactly, Peer, Scenario};
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::tracer::preview;
use crate::live::{LiveError, Role, SockOpt, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "writev",
    lesson: "lesson 11: more I/O functions",
    summary: "writev(): three buffers leave as one segment where three write()s leave as three; readv() scatters one read",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
writev() hands the kernel several buffers in one call, readv() fills several buffers from one
read. The book's example writes to standard output; here the same calls go over a socket.

The client sends the same 17 bytes twice: first with three write() calls (\"ABCDEFG\",
\"1234567\", \"890\"), then with one writev() of the same three buffers. It set TCP_NODELAY,
so Nagle's algorithm holds nothing back: each write() is sent at once as its own segment,
three [P.] segments of 7, 7 and 3 bytes, each with 52 bytes of headers (IP 20, TCP 20,
timestamps 12). The writev() is one call, so the kernel has all 17 bytes at once and they
leave in one segment. That is the book's point: one call instead of three, and (with small
buffers and TCP_NODELAY) one packet instead of three. The same effect without writev() means
copying the pieces into one buffer first.

On the server, readv() with two buffers of 5 and 1024 bytes returns 17: the first 5 bytes
(\"ABCDE\") land in the first buffer, the other 12 in the second. Each buffer is filled
before the next is touched; the call returns what one read() would have returned.

The boundaries of the buffers are not kept: the server could not tell the two messages apart
by their reads. With TCP_NODELAY off, Nagle's algorithm would let the first write() go and
hold the second and third until its ACK came back (see `sockscope run nagle`); writev()
avoids that wait too.";

const BUFS: [&[u8]; 3] = [b"ABCDEFG", b"1234567", b"890"];
/// The book's readv buffers: 5 bytes, then BUF_SIZE.
const BUF1: usize = 5;
const BUF_SIZE: usize = 1024;

fn total() -> usize {
    BUFS.iter().map(|b| b.len()).sum()
}

fn run(t: &Tracer) -> Result<(), LiveError> {
    let serv_sock = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&serv_sock, any_port())?;
    t.listen(&serv_sock, 5)?;
    let server = bound(&serv_sock)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let sock = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        tc.setsockopt(&sock, SockOpt::TcpNodelay(true))?;
        tc.connect(&sock, server)?;
        tc.mark("writev/writes", "three write()s of 7, 7 and 3 bytes");
        for b in BUFS {
            tc.write(&sock, b)?;
        }
        // The server has read the 17 bytes before the second message goes.
        turn.wait()?;
        tc.writev(&sock, &BUFS)?;
        tc.close(sock)
    });

    client.go();
    let clnt_sock = t.accept(&serv_sock)?;
    read_exactly(t, &clnt_sock, total())?;
    t.mark(
        "writev/writev",
        "one writev() of the same three buffers; one readv() into 5 + 1024 bytes",
    );
    client.go();
    let mut buf1 = [0u8; BUF1];
    let mut buf2 = vec![0u8; BUF_SIZE];
    let n = t.readv(&clnt_sock, &mut [&mut buf1, &mut buf2])?;
    t.print(
        Role::Server,
        &format!(
            "readv() = {n}: buf1 \"{}\", buf2 \"{}\"",
            String::from_utf8_lossy(&buf1[..n.min(BUF1)]),
            String::from_utf8_lossy(&buf2[..n.saturating_sub(BUF1)])
        ),
    );
    if n < total() {
        read_exactly(t, &clnt_sock, total() - n)?;
    }
    let mut rest = [0u8; 16];
    t.read(&clnt_sock, &mut rest)?;
    t.close(clnt_sock)?;
    t.close(serv_sock)?;
    client.join()
}

// ---- reading the run back ----

/// What the run did: the client's data segments of each message, the calls.
struct Seen<'v> {
    c: usize,
    writes: Vec<&'v Event>,
    writev: Option<&'v Event>,
    readv: Option<&'v Event>,
    /// Client data segments carrying bytes of the first message (stream bytes 0..17).
    first: Vec<&'v Pkt>,
    /// Those carrying the second (17..34).
    second: Vec<&'v Pkt>,
}

fn seen<'v>(v: &'v View) -> Result<Seen<'v>, Check> {
    let c = checks::first_tcp(v)?;
    let client_calls = |call: &'static str| {
        v.run
            .events
            .iter()
            .filter(move |e| e.role == Role::Client && e.call == call && e.ok())
    };
    let n = total() as u32;
    // Stream offset (from 0) of a segment: its relative SEQ − 1 (the SYN took 0).
    let mut first = Vec::new();
    let mut second = Vec::new();
    for p in v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
    {
        let at = v.rel_seq(p).wrapping_sub(1);
        if at < n {
            first.push(p);
        } else {
            second.push(p);
        }
    }
    Ok(Seen {
        c,
        writes: client_calls("write").collect(),
        writev: client_calls("writev").next(),
        readv: v
            .run
            .events
            .iter()
            .find(|e| e.role == Role::Server && e.call == "readv" && e.ok()),
        first,
        second,
    })
}

fn lens(segs: &[&Pkt]) -> Vec<u32> {
    segs.iter().map(|p| p.len).collect()
}

fn frames(segs: &[&Pkt]) -> String {
    let f: Vec<String> = segs.iter().map(|p| (p.index + 1).to_string()).collect();
    f.join(", ")
}

fn checks(v: &View) -> Vec<Check> {
    let s = match seen(v) {
        Ok(s) => s,
        Err(missing) => return vec![missing],
    };
    let sizes: Vec<u32> = BUFS.iter().map(|b| b.len() as u32).collect();
    let written: Vec<usize> = s
        .writes
        .iter()
        .filter_map(|e| e.ret)
        .map(|r| r as usize)
        .collect();
    let mut out = vec![Check::new(
        written.len() == BUFS.len() && lens(&s.first) == sizes,
        "three write()s with TCP_NODELAY left as three segments, one per write()",
        format!(
            "write() sizes {written:?} → segments of {:?} (frames {})",
            lens(&s.first),
            frames(&s.first)
        ),
    )];
    let all = BUFS.concat();
    let wv = s.writev.and_then(|e| e.ret).unwrap_or(-1);
    out.push(Check::new(
        wv == all.len() as i64
            && s.second.len() == 1
            && s.second[0].payload.as_slice() == all.as_slice(),
        "writev() of the same three buffers left as one segment carrying all 17 bytes",
        format!(
            "writev() = {wv} → segments of {:?} (frames {})",
            lens(&s.second),
            frames(&s.second)
        ),
    ));
    out.push(match s.readv {
        Some(e) => {
            let got = e.data.as_deref().unwrap_or(&[]);
            let n = e.ret.unwrap_or(0) as usize;
            let want = format!("iov[0] {}", preview(&all[..BUF1]));
            let text = e.text.as_deref().unwrap_or("");
            Check::new(
                n == all.len() && got == all.as_slice() && text.starts_with(&want),
                format!(
                    "one readv() returned the whole message, the first {BUF1} bytes in the first buffer, the rest in the second"
                ),
                format!("readv() = {n}: {text}"),
            )
        }
        None => Check::missing("one readv() returned the whole message", "no readv() call"),
    });
    out.extend([
        checks::writes_on_wire(v, s.c, Dir::ToServer),
        checks::reads_match_writes(v, s.c, Dir::ToServer),
        checks::acks_match_next_seq(v),
        checks::no_retransmission(v),
    ]);
    out
}

fn facts(v: &View) -> Vec<String> {
    let Ok(s) = seen(v) else {
        return Vec::new();
    };
    let sizes: Vec<String> = s
        .writes
        .iter()
        .filter_map(|e| e.ret)
        .map(|r| r.to_string())
        .collect();
    let seg_text = |segs: &[&Pkt]| {
        let l: Vec<String> = lens(segs).iter().map(u32::to_string).collect();
        format!(
            "{} segment{} ({}), frame{} {}",
            segs.len(),
            if segs.len() == 1 { "" } else { "s" },
            l.join(" + "),
            if segs.len() == 1 { "" } else { "s" },
            frames(segs)
        )
    };
    let mut out = vec![
        format!(
            "{} write()s ({}): {}",
            s.writes.len(),
            sizes.join(" + "),
            seg_text(&s.first)
        ),
        format!(
            "1 writev() ({} buffers): {}",
            BUFS.len(),
            seg_text(&s.second)
        ),
    ];
    let headers: Vec<u32> = s
        .first
        .iter()
        .chain(s.second.iter())
        .map(|p| (v.run.packets[p.index].data.len() as u32).saturating_sub(p.len))
        .collect();
    if let (Some(h), true) = (headers.first(), headers.windows(2).all(|w| w[0] == w[1])) {
        out.push(format!(
            "each segment also carries {h} bytes of link, IP and TCP headers: {} for the three write()s, {h} for the writev()",
            h * s.first.len() as u32
        ));
    }
    if let Some(e) = s.readv {
        out.push(format!(
            "readv(fd, [{{buf1, {BUF1}}}, {{buf2, {BUF_SIZE}}}], 2) = {}: {}",
            e.ret.unwrap_or(0),
            e.text.as_deref().unwrap_or("")
        ));
    }
    out
}
