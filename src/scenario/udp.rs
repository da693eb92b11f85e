//! `udp`: datagrams with sendto/recvfrom on unconnected sockets, then with a connect()ed UDP
//! socket.
//!
//! ```c
//! /* server */                          /* client */
//! s = socket(AF_INET, SOCK_DGRAM, 0);   c = socket(AF_INET, SOCK_DGRAM, 0);
//! bind(s, 127.0.0.1:0);                 sendto(c, "one", 3, 0, server);  … three sends
//! recvfrom(s, buf, …) ×3;               k = socket(AF_INET, SOCK_DGRAM, 0);
//! n = recvfrom(s, buf, …, &from);       connect(k, server);   /* nothing on the wire */
//! sendto(s, "pong", 4, 0, from);        send(k, "ping", 4); recv(k, buf, …);
//! ```

use socket2::{Domain, Type};

use super::{any_port, bound, Peer, Scenario};
use crate::live::checks::Check;
use crate::live::model::{Dir, Proto};
use crate::live::{LiveError, Role, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "udp",
    lesson: "lesson 6: datagrams",
    summary: "sendto/recvfrom and connect()ed UDP: boundaries kept, no handshake, no ACK",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
UDP sends each sendto() as one datagram, and each recvfrom() returns exactly one datagram:
the three sends of 3, 7 and 17 bytes arrive as three receives of 3, 7 and 17 bytes. Message
boundaries are kept, unlike TCP, where reads return whatever bytes have arrived. Order is not
promised (on a busy machine even lo may deliver datagrams sent from different CPUs out of
order), so the checks compare sizes, not sequences.

There is no handshake, no sequence number and no acknowledgment: the wire carries the
datagrams and nothing else. Nothing tells the sender whether they arrived (on lo they do).

connect() on a UDP socket sends nothing: it only records the peer, so that send() and recv()
can be used without an address, and datagrams from other addresses are no longer delivered to
that socket. recvfrom() says who sent each datagram; the server answers to that address.";

const DATAGRAMS: [&[u8]; 3] = [b"one", b"two two", b"three three three"];
const PING: &[u8] = b"ping";
const PONG: &[u8] = b"pong";

fn run(t: &Tracer) -> Result<(), LiveError> {
    let server = t.socket(Role::Server, Domain::IPV4, Type::DGRAM)?;
    t.bind(&server, any_port())?;
    let addr = bound(&server)?;
    t.ready()?;

    let client = Peer::start(t, move |tc| {
        tc.mark(
            "udp/sendto",
            "unconnected socket: sendto() names the server each time",
        );
        let c = tc.socket(Role::Client, Domain::IPV4, Type::DGRAM)?;
        for d in DATAGRAMS {
            tc.sendto(&c, d, addr)?;
        }
        tc.close(c)?;
        tc.mark(
            "udp/connected",
            "connect()ed socket: connect() sends nothing; then send()/recv()",
        );
        let k = tc.socket(Role::Client, Domain::IPV4, Type::DGRAM)?;
        tc.connect(&k, addr)?;
        tc.send(&k, PING)?;
        let mut buf = [0u8; 64];
        let n = tc.recv(&k, &mut buf)?;
        tc.print(
            Role::Client,
            &format!("got {:?}", String::from_utf8_lossy(&buf[..n])),
        );
        tc.close(k)?;
        Ok(())
    });

    // Four datagrams; the ping is answered. (UDP does not promise order: on a busy machine lo
    // may deliver datagrams sent from different CPUs out of order.)
    let mut buf = [0u8; 2048];
    for _ in 0..=DATAGRAMS.len() {
        let (n, from) = t.recvfrom(&server, &mut buf)?;
        if &buf[..n] == PING {
            t.sendto(&server, PONG, from)?;
        } else {
            t.print(Role::Server, &format!("{n} bytes from {from}"));
        }
    }
    t.close(server)?;
    client.join()
}

/// Byte counts of `role`'s successful `calls`, sorted (UDP does not promise order, and on a
/// busy machine lo may reorder datagrams sent from different CPUs).
fn sizes(v: &View, role: Role, calls: &[&str]) -> Vec<i64> {
    let mut n: Vec<i64> = v
        .run
        .events
        .iter()
        .filter(|e| e.role == role && calls.contains(&e.call.as_str()) && e.ok())
        .filter_map(|e| e.ret)
        .collect();
    n.sort_unstable();
    n
}

/// Payload sizes of the datagrams going `dir`, sorted.
fn wire(v: &View, dir: Dir) -> Vec<i64> {
    let mut n: Vec<i64> = v
        .pkts
        .iter()
        .filter(|p| p.proto == Proto::Udp && p.dir == dir)
        .map(|p| p.len as i64)
        .collect();
    n.sort_unstable();
    n
}

fn checks(v: &View) -> Vec<Check> {
    const SENDS: &[&str] = &["sendto", "send"];
    const RECVS: &[&str] = &["recvfrom", "recv"];
    let (c_sent, s_sent) = (sizes(v, Role::Client, SENDS), sizes(v, Role::Server, SENDS));
    let (c_got, s_got) = (sizes(v, Role::Client, RECVS), sizes(v, Role::Server, RECVS));
    let (to_s, to_c) = (wire(v, Dir::ToServer), wire(v, Dir::ToClient));
    let tcp = v.pkts.iter().filter(|p| p.proto == Proto::Tcp).count();
    let sends = c_sent.len() + s_sent.len();
    let mut out = vec![
        Check::new(
            c_sent == to_s && s_sent == to_c,
            "each send is one datagram on the wire, of the same size",
            format!("client sent {c_sent:?} → wire {to_s:?}; server sent {s_sent:?} → wire {to_c:?}"),
        ),
        Check::new(
            c_sent == s_got && s_sent == c_got,
            "each receive returned exactly one datagram, as sent: boundaries are kept",
            format!(
                "client sent {c_sent:?}, server received {s_got:?}; server sent {s_sent:?}, client received {c_got:?}"
            ),
        ),
        Check::new(
            tcp == 0 && v.pkts.len() == sends && v.others.is_empty(),
            "no handshake and no ACK: the datagrams are all there is on the wire",
            format!("{} packets for {sends} sends, {tcp} TCP", v.pkts.len()),
        ),
    ];
    let connect = v
        .run
        .events
        .iter()
        .find(|e| e.call == "connect" && e.role == Role::Client);
    out.push(match connect {
        Some(e) => {
            let during = v
                .pkts
                .iter()
                .filter(|p| p.ts >= e.start && p.ts <= e.end)
                .count();
            Check::new(
                during == 0 && e.ok(),
                "connect() on a UDP socket put nothing on the wire",
                format!("{during} packets during connect()"),
            )
        }
        None => Check::missing("connect() on UDP sent nothing", "no connect() event"),
    });
    let reply_to = v
        .run
        .events
        .iter()
        .find(|e| e.call == "sendto" && e.role == Role::Server)
        .and_then(|e| e.addr);
    let asked_by = v
        .run
        .events
        .iter()
        .find(|e| e.call == "recvfrom" && e.role == Role::Server && e.data.as_deref() == Some(PING))
        .and_then(|e| e.addr);
    let replies: Vec<_> = v.pkts.iter().filter(|p| p.dir == Dir::ToClient).collect();
    out.push(Check::new(
        reply_to.is_some()
            && reply_to == asked_by
            && replies.len() == 1
            && replies.iter().all(|p| Some(p.dst) == reply_to),
        "the server's reply went to the address recvfrom() reported for the ping",
        match reply_to {
            Some(a) => format!("{} datagram(s) to {a}", replies.len()),
            None => "no sendto() by the server".into(),
        },
    ));
    out
}

fn facts(v: &View) -> Vec<String> {
    let sizes: Vec<String> = v
        .pkts
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p.len,
                if p.dir == Dir::ToServer { "→" } else { "←" }
            )
        })
        .collect();
    vec![format!(
        "datagrams (payload bytes, direction): {}",
        sizes.join(", ")
    )]
}
