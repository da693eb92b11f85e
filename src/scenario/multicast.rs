//! `multicast`: datagrams to a group address. Before IP_ADD_MEMBERSHIP the host drops them;
//! after it the member receives them. IP_MULTICAST_TTL is the TTL in their IP header (1 by
//! default), and IP_MULTICAST_LOOP 0 changes nothing on lo, which hands every packet it sends
//! back to this host.
//!
//! ```c
//! /* receiver */                           /* sender */
//! r = socket(AF_INET, SOCK_DGRAM, 0);      s = socket(AF_INET, SOCK_DGRAM, 0);
//! bind(r, INADDR_ANY:0);   /* port P */    setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, 127.0.0.1);
//!                                          sendto(s, "before", 6, 0, 239.1.2.3:P);  /* TTL 1 */
//! recvfrom(r, …);  /* EAGAIN: not a member */
//! setsockopt(r, IPPROTO_IP, IP_ADD_MEMBERSHIP, {239.1.2.3, 127.0.0.1});
//!                                          setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, 3);
//!                                          sendto(s, "news", 4, 0, 239.1.2.3:P);    /* TTL 3 */
//! recvfrom(r, …);  /* "news" */            setsockopt(s, IPPROTO_IP, IP_MULTICAST_LOOP, 0);
//!                                          sendto(s, "loop off", 8, 0, 239.1.2.3:P);
//! recvfrom(r, …);  /* "loop off": lo loops anyway */
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Type};

use super::{bound, gate, Peer, Scenario};
use crate::decode::decode;
use crate::live::checks::Check;
use crate::live::model::{Pkt, Proto};
use crate::live::tracer::DgramOpt;
use crate::live::{Event, LiveError, Role, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "multicast",
    lesson: "lesson 6: datagrams",
    summary: "a group address: dropped until IP_ADD_MEMBERSHIP; IP_MULTICAST_TTL in the IP header",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
A multicast datagram is sent once, to a group address (224.0.0.0 to 239.255.255.255; here
239.1.2.3, an administratively scoped group): the IP header's destination is the group, not a
host. A host takes it in only if one of its sockets joined the group on the interface it
arrives by: before IP_ADD_MEMBERSHIP the datagram is on the wire and the receiver's recvfrom()
gets nothing (SO_RCVTIMEO ends the wait after 100 ms); after it, the same datagram is received.
(The member's port must match too: the receiver is bound to INADDR_ANY and the group's port, as
the book's news receiver is.)

IP_MULTICAST_TTL sets the TTL of datagrams to a group, and it is exactly what the captured IP
header carries: 1 by default (multicast stays on the local network unless asked), 3 once set.
Each router on the way takes one off; at 0 the datagram is dropped. Unicast keeps its own TTL
(IP_TTL, 64 by default).

IP_MULTICAST_IF names the interface by its address: here 127.0.0.1, so the datagrams go out on
lo, where they are captured, and not by the default route onto a real network.

IP_MULTICAST_LOOP decides whether the sending host's own members get a copy of what it sends.
On a real interface, with the option at 0 the datagram still leaves but no socket of the sender's
host receives it. On lo the option changes nothing: what lo sends it receives, so the member
gets the datagram sent with the option at 0 as well, and the run checks that it does. Seeing the
option take effect needs a real interface (a veth pair in a private network namespace); this
scenario stays on lo, where sockscope captures.";

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
const BEFORE: &[u8] = b"before";
const NEWS: &[u8] = b"news";
const LOOP_OFF: &[u8] = b"loop off";
const TTL: u32 = 3;
/// How long the receiver waits for a datagram that was sent before it (microseconds on lo).
const TIMEOUT: Duration = Duration::from_millis(100);

fn run(t: &Tracer) -> Result<(), LiveError> {
    let r = t.socket(Role::Server, Domain::IPV4, Type::DGRAM)?;
    t.bind(&r, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))?;
    let to = SocketAddr::from((GROUP, bound(&r)?.port()));
    t.set_dgram(&r, DgramOpt::RcvTimeo(TIMEOUT))?;
    t.ready()?;

    // Each time the sender has sent, it opens `sent`; the receiver then reads.
    let (sent, wait_sent) = gate();
    let sender = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        tc.mark(
            "multicast/before",
            "to the group before any socket joined it: dropped by the host",
        );
        let s = tc.socket(Role::Client, Domain::IPV4, Type::DGRAM)?;
        tc.set_dgram(&s, DgramOpt::MulticastIf(Ipv4Addr::LOCALHOST))?;
        tc.sendto(&s, BEFORE, to)?;
        sent.open();
        turn.wait()?;
        tc.mark(
            "multicast/joined",
            "after IP_ADD_MEMBERSHIP, with IP_MULTICAST_TTL 3",
        );
        tc.set_dgram(&s, DgramOpt::MulticastTtl(TTL))?;
        tc.sendto(&s, NEWS, to)?;
        sent.open();
        turn.wait()?;
        tc.mark(
            "multicast/loop",
            "IP_MULTICAST_LOOP 0: on lo the member still gets it",
        );
        tc.set_dgram(&s, DgramOpt::MulticastLoop(false))?;
        tc.sendto(&s, LOOP_OFF, to)?;
        sent.open();
        tc.close(s)
    });

    let mut buf = [0u8; 64];
    sender.go();
    wait_sent.wait()?;
    match t.recvfrom(&r, &mut buf) {
        Err(LiveError::Call { .. }) => t.print(Role::Server, "not a member yet: nothing"),
        Ok(_) => {
            return Err(LiveError::Scenario(
                "a datagram to the group arrived before the receiver joined it".into(),
            ))
        }
        Err(e) => return Err(e),
    }
    t.set_dgram(
        &r,
        DgramOpt::AddMembership {
            group: GROUP,
            iface: Ipv4Addr::LOCALHOST,
        },
    )?;
    for _ in 0..2 {
        sender.go();
        wait_sent.wait()?;
        let (n, from) = t.recvfrom(&r, &mut buf)?;
        t.print(
            Role::Server,
            &format!("{:?} from {from}", String::from_utf8_lossy(&buf[..n])),
        );
    }
    t.close(r)?;
    sender.join()
}

/// The datagrams on the wire carrying `data`.
fn on_wire<'v>(v: &'v View, data: &[u8]) -> Vec<&'v Pkt> {
    v.pkts
        .iter()
        .filter(|p| p.proto == Proto::Udp && p.icmp.is_none() && p.payload == data)
        .collect()
}

/// The IP header's TTL of packet `p`.
fn ttl(v: &View, p: &Pkt) -> Option<u8> {
    let frame = v.run.frame(p.index)?;
    decode(&frame).ip.map(|ip| ip.ttl)
}

/// The receiver's recvfrom() calls in the phase of mark `key`.
fn receives<'v>(v: &'v View, key: &str) -> Vec<&'v Event> {
    match v.phase(key) {
        Some(span) => v.calls(Role::Server, "recvfrom", span).collect(),
        None => Vec::new(),
    }
}

fn got(e: &Event, data: &[u8]) -> bool {
    e.ok() && e.data.as_deref() == Some(data)
}

fn checks(v: &View) -> Vec<Check> {
    let mut out = Vec::new();
    let group = IpAddr::V4(GROUP);
    let sends: Vec<&Pkt> = [BEFORE, NEWS, LOOP_OFF]
        .iter()
        .flat_map(|d| on_wire(v, d))
        .collect();
    out.push(Check::new(
        sends.len() == 3 && sends.iter().all(|p| p.dst.ip() == group) && v.pkts.len() == 3,
        "each sendto() to the group is one datagram whose IP destination is the group address",
        format!(
            "{} datagrams, to {:?}",
            sends.len(),
            sends.iter().map(|p| p.dst.ip()).collect::<Vec<_>>()
        ),
    ));

    let before = on_wire(v, BEFORE);
    let first = receives(v, "multicast/before");
    let join = v
        .run
        .events
        .iter()
        .find(|e| e.call == "setsockopt" && e.args.contains("IP_ADD_MEMBERSHIP"));
    out.push(match (before.first(), first.first(), join) {
        (Some(d), Some(r), Some(j)) => Check::new(
            d.ts < r.end && r.errno.as_deref() == Some("EAGAIN") && j.ok() && j.start > r.end,
            "before IP_ADD_MEMBERSHIP the datagram was on the wire and the receiver got nothing",
            format!(
                "on the wire {:.1} ms before recvfrom() ended: {}",
                (r.end - d.ts) as f64 / 1e6,
                r.errno.as_deref().unwrap_or("data")
            ),
        ),
        _ => Check::missing(
            "before IP_ADD_MEMBERSHIP the receiver got nothing",
            "no datagram, recvfrom() or join before the member joined",
        ),
    });
    let joined = receives(v, "multicast/joined");
    out.push(Check::new(
        joined.iter().any(|e| got(e, NEWS)),
        "after IP_ADD_MEMBERSHIP the member received the datagram sent to the group",
        format!(
            "{} receive(s), news received: {}",
            joined.len(),
            joined.iter().any(|e| got(e, NEWS))
        ),
    ));

    let ttls = |d: &[u8]| -> Vec<u8> { on_wire(v, d).iter().filter_map(|p| ttl(v, p)).collect() };
    let (t_before, t_news, t_loop) = (ttls(BEFORE), ttls(NEWS), ttls(LOOP_OFF));
    out.push(Check::new(
        t_before == [1] && t_news == [TTL as u8] && t_loop == [TTL as u8],
        "the IP header's TTL is 1 by default for a group, then the IP_MULTICAST_TTL set (3)",
        format!("TTL before: {t_before:?}, after setting 3: {t_news:?} and {t_loop:?}"),
    ));

    let looped = receives(v, "multicast/loop");
    let option = v
        .run
        .events
        .iter()
        .find(|e| e.call == "setsockopt" && e.args.contains("IP_MULTICAST_LOOP"));
    out.push(Check::new(
        option.is_some_and(Event::ok)
            && on_wire(v, LOOP_OFF).len() == 1
            && looped.iter().any(|e| got(e, LOOP_OFF)),
        "with IP_MULTICAST_LOOP 0 the member on lo still got the datagram: lo hands back what it sends",
        format!(
            "IP_MULTICAST_LOOP 0 {}; received: {}",
            if option.is_some_and(Event::ok) { "set" } else { "not set" },
            looped.iter().any(|e| got(e, LOOP_OFF))
        ),
    ));
    out
}

fn facts(v: &View) -> Vec<String> {
    [
        ("before joining", BEFORE),
        ("joined, TTL 3", NEWS),
        ("IP_MULTICAST_LOOP 0", LOOP_OFF),
    ]
    .iter()
    .filter_map(|(what, d)| {
        let p = on_wire(v, d).into_iter().next()?;
        Some(format!(
            "{what}: {} B to {}, TTL {}",
            p.len,
            p.dst,
            ttl(v, p).map_or("?".into(), |t| t.to_string())
        ))
    })
    .collect()
}
