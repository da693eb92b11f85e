//! `multicast`: datagrams to a group address, sent out of a real interface: a veth pair in a
//! private network namespace (`mc0`, 10.99.0.1/24, and its peer `mc1`), which the runner makes
//! before the capture opens and captures on besides lo. Before IP_ADD_MEMBERSHIP the host drops
//! the datagrams; after it the member receives them. IP_MULTICAST_TTL is the TTL in their IP
//! header (1 by default). IP_MULTICAST_LOOP 0 keeps the copy from the sending host's own
//! member while the datagram still leaves on the wire; at 1 again the member gets it. On lo the
//! option could not be seen: lo hands every packet it sends back to this host.
//!
//! ```c
//! /* receiver */                           /* sender */
//! r = socket(AF_INET, SOCK_DGRAM, 0);      s = socket(AF_INET, SOCK_DGRAM, 0);
//! bind(r, INADDR_ANY:0);   /* port P */    setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, 10.99.0.1);
//!                                          sendto(s, "before", 6, 0, 239.1.2.3:P);  /* TTL 1 */
//! recvfrom(r, …);  /* EAGAIN: not a member */
//! setsockopt(r, IPPROTO_IP, IP_ADD_MEMBERSHIP, {239.1.2.3, 10.99.0.1});
//!                                          setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, 3);
//!                                          sendto(s, "news", 4, 0, 239.1.2.3:P);    /* TTL 3 */
//! recvfrom(r, …);  /* "news" */            setsockopt(s, IPPROTO_IP, IP_MULTICAST_LOOP, 0);
//!                                          sendto(s, "loop off", 8, 0, 239.1.2.3:P);
//! recvfrom(r, …);  /* EAGAIN: no copy */   setsockopt(s, IPPROTO_IP, IP_MULTICAST_LOOP, 1);
//!                                          sendto(s, "loop on", 7, 0, 239.1.2.3:P);
//! recvfrom(r, …);  /* "loop on" */
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Type};

use super::{bound, gate, Peer, Scenario};
use crate::decode::decode;
use crate::live::checks::Check;
use crate::live::model::{Pkt, Proto};
use crate::live::tracer::DgramOpt;
use crate::live::veth::Device;
use crate::live::{Event, LiveError, Role, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "multicast",
    lesson: "lesson 6: datagrams",
    summary: "a group address on a veth pair: IP_ADD_MEMBERSHIP, IP_MULTICAST_TTL in the IP header, IP_MULTICAST_LOOP off and on",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

/// The interface the datagrams leave by: one end of a veth pair that the runner makes in a
/// private network namespace (see `scenario::device`) and captures on besides lo.
pub const DEVICE: Device = Device {
    name: "mc0",
    peer: "mc1",
    addr: Ipv4Addr::new(10, 99, 0, 1),
    prefix: 24,
};

const EXPLAIN: &str = "
This scenario runs in a private network namespace with a veth pair, mc0 (10.99.0.1/24) and
its peer mc1, which sockscope makes before the capture opens (as root too: no interface is
added to the host) and captures on besides lo. Why: on lo, IP_MULTICAST_LOOP shows nothing.
What lo sends it receives, so the host's own member gets every datagram whatever the option
says. A veth end is like a network card: what leaves by mc0 arrives at mc1, not back here.
(`sockscope run all` then runs every scenario in that namespace; on its lo the
others show what they show on the host's.)

A multicast datagram is sent once, to a group address (224.0.0.0 to 239.255.255.255; here
239.1.2.3, an administratively scoped group): the IP header's destination is the group, not a
host, and on Ethernet the frame's destination is the group's MAC address, 01:00:5e followed by
the group's low 23 bits (01:00:5e:01:02:03). A host takes it in only if one of its sockets
joined the group on the interface it arrives by: before IP_ADD_MEMBERSHIP the datagram is on
the wire and the receiver's recvfrom() gets nothing (SO_RCVTIMEO ends the wait after 100 ms);
after it, the same datagram is received. (The member's port must match too: the receiver is
bound to INADDR_ANY and the group's port, as the book's news receiver is.)

IP_MULTICAST_IF names the interface by its address: 10.99.0.1, so the datagrams leave by mc0,
from 10.99.0.1, and not by the default route.

IP_MULTICAST_TTL sets the TTL of datagrams to a group, and it is exactly what the captured IP
header carries: 1 by default (multicast stays on the local network unless asked), 3 once set.
Each router on the way takes one off; at 0 the datagram is dropped. Unicast keeps its own TTL
(IP_TTL, 64 by default).

IP_MULTICAST_LOOP decides whether the sending host's own members get a copy of what it sends.
At 1 (the default) the kernel hands a copy to them as the datagram leaves: that is how the
member here receives what its own host sent. At 0 the datagram still leaves by mc0 (it is
captured there) but no socket of this host receives it: recvfrom() times out. Set to 1 again,
the next datagram is received, so the member was listening all along.";

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
/// The Ethernet address of GROUP: 01:00:5e and the low 23 bits of the group.
const GROUP_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03];
/// LINKTYPE_ETHERNET: lo's and the veth's.
const ETHERNET: u16 = 1;
const BEFORE: &[u8] = b"before";
const NEWS: &[u8] = b"news";
const LOOP_OFF: &[u8] = b"loop off";
const LOOP_ON: &[u8] = b"loop on";
const TTL: u32 = 3;
/// How long the receiver waits for a datagram that was sent before it (microseconds here).
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
        tc.set_dgram(&s, DgramOpt::MulticastIf(DEVICE.addr))?;
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
            "multicast/loop-off",
            "IP_MULTICAST_LOOP 0: out by mc0, no copy for this host",
        );
        tc.set_dgram(&s, DgramOpt::MulticastLoop(false))?;
        tc.sendto(&s, LOOP_OFF, to)?;
        sent.open();
        turn.wait()?;
        tc.mark(
            "multicast/loop-on",
            "IP_MULTICAST_LOOP 1 again: the member gets its copy",
        );
        tc.set_dgram(&s, DgramOpt::MulticastLoop(true))?;
        tc.sendto(&s, LOOP_ON, to)?;
        sent.open();
        tc.close(s)
    });

    let mut buf = [0u8; 64];
    sender.go();
    wait_sent.wait()?;
    nothing(
        t,
        &r,
        &mut buf,
        "not a member yet: nothing",
        "before the receiver joined",
    )?;
    t.set_dgram(
        &r,
        DgramOpt::AddMembership {
            group: GROUP,
            iface: DEVICE.addr,
        },
    )?;
    sender.go();
    wait_sent.wait()?;
    received(t, &r, &mut buf)?;
    sender.go();
    wait_sent.wait()?;
    nothing(
        t,
        &r,
        &mut buf,
        "IP_MULTICAST_LOOP 0: nothing",
        "with IP_MULTICAST_LOOP 0",
    )?;
    sender.go();
    wait_sent.wait()?;
    received(t, &r, &mut buf)?;
    t.close(r)?;
    sender.join()
}

/// A recvfrom() that must time out; `when` says in the error when it did not.
fn nothing(
    t: &Tracer,
    r: &crate::live::Sock,
    buf: &mut [u8],
    say: &str,
    when: &str,
) -> Result<(), LiveError> {
    match t.recvfrom(r, buf) {
        Err(LiveError::Call { .. }) => {
            t.print(Role::Server, say);
            Ok(())
        }
        Ok(_) => Err(LiveError::Scenario(format!(
            "a datagram to the group arrived {when}"
        ))),
        Err(e) => Err(e),
    }
}

fn received(t: &Tracer, r: &crate::live::Sock, buf: &mut [u8]) -> Result<(), LiveError> {
    let (n, from) = t.recvfrom(r, buf)?;
    let got = buf.get(..n).unwrap_or_default();
    t.print(
        Role::Server,
        &format!("{:?} from {from}", String::from_utf8_lossy(got)),
    );
    Ok(())
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

/// The Ethernet destination of packet `p`.
fn mac(v: &View, p: &Pkt) -> Option<[u8; 6]> {
    if v.run.linktype != ETHERNET {
        return None;
    }
    let data = &v.run.packets.get(p.index)?.data;
    data.get(..6)?.try_into().ok()
}

fn mac_text(m: Option<[u8; 6]>) -> String {
    m.map_or("?".into(), |m| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

/// The different texts of `items`, in order, joined by "; ".
fn distinct(items: impl Iterator<Item = String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for i in items {
        if !seen.contains(&i) {
            seen.push(i);
        }
    }
    seen.join("; ")
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

/// The sender's setsockopt(IP_MULTICAST_LOOP, `on`).
fn loop_set<'v>(v: &'v View, on: bool) -> Option<&'v Event> {
    let want = format!("IP_MULTICAST_LOOP, {}", u8::from(on));
    v.run
        .events
        .iter()
        .find(|e| e.call == "setsockopt" && e.args.contains(&want))
}

fn checks(v: &View) -> Vec<Check> {
    let mut out = Vec::new();
    let group = IpAddr::V4(GROUP);
    let from = IpAddr::V4(DEVICE.addr);
    let sends: Vec<&Pkt> = [BEFORE, NEWS, LOOP_OFF, LOOP_ON]
        .iter()
        .flat_map(|d| on_wire(v, d))
        .collect();
    out.push(Check::new(
        sends.len() == 4
            && v.pkts.len() == 4
            && sends
                .iter()
                .all(|p| p.dst.ip() == group && p.src.ip() == from && mac(v, p) == Some(GROUP_MAC)),
        "each sendto() is one datagram out of mc0 (IP_MULTICAST_IF 10.99.0.1): IP destination the group, Ethernet destination its MAC 01:00:5e:01:02:03",
        format!(
            "{} datagrams of {} packets, {}",
            sends.len(),
            v.pkts.len(),
            distinct(sends.iter().map(|p| format!(
                "{} → {}, Ethernet {}",
                p.src.ip(),
                p.dst.ip(),
                mac_text(mac(v, p))
            )))
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
    let (t_before, t_news) = (ttls(BEFORE), ttls(NEWS));
    let t_later: Vec<u8> = [LOOP_OFF, LOOP_ON].iter().flat_map(|d| ttls(d)).collect();
    out.push(Check::new(
        t_before == [1] && t_news == [TTL as u8] && t_later == [TTL as u8; 2],
        "the IP header's TTL is 1 by default for a group, then the IP_MULTICAST_TTL set (3)",
        format!("TTL before: {t_before:?}, after setting 3: {t_news:?} and {t_later:?}"),
    ));

    let off = receives(v, "multicast/loop-off");
    let off_sent = on_wire(v, LOOP_OFF);
    let timed_out = off
        .first()
        .is_some_and(|e| e.errno.as_deref() == Some("EAGAIN"));
    out.push(Check::new(
        loop_set(v, false).is_some_and(Event::ok)
            && off_sent.len() == 1
            && off.len() == 1
            && timed_out,
        "with IP_MULTICAST_LOOP 0 the datagram left by mc0 and the member on this host got no copy",
        format!(
            "IP_MULTICAST_LOOP 0 {}; on the wire: {}; recvfrom(): {}",
            if loop_set(v, false).is_some_and(Event::ok) {
                "set"
            } else {
                "not set"
            },
            off_sent.len(),
            off.first().map_or("none".into(), |e| match &e.errno {
                Some(errno) => errno.clone(),
                None => format!(
                    "{:?}",
                    String::from_utf8_lossy(e.data.as_deref().unwrap_or_default())
                ),
            })
        ),
    ));
    let on = receives(v, "multicast/loop-on");
    out.push(Check::new(
        loop_set(v, true).is_some_and(Event::ok)
            && on_wire(v, LOOP_ON).len() == 1
            && on.iter().any(|e| got(e, LOOP_ON)),
        "with IP_MULTICAST_LOOP 1 again the member received the next datagram: it was listening all along",
        format!(
            "IP_MULTICAST_LOOP 1 {}; received: {}",
            if loop_set(v, true).is_some_and(Event::ok) {
                "set"
            } else {
                "not set"
            },
            on.iter().any(|e| got(e, LOOP_ON))
        ),
    ));
    out
}

fn facts(v: &View) -> Vec<String> {
    [
        ("before joining", BEFORE),
        ("joined, TTL 3", NEWS),
        ("IP_MULTICAST_LOOP 0", LOOP_OFF),
        ("IP_MULTICAST_LOOP 1", LOOP_ON),
    ]
    .iter()
    .filter_map(|(what, d)| {
        let p = on_wire(v, d).into_iter().next()?;
        Some(format!(
            "{what}: {} B from {} to {} ({}), TTL {}",
            p.len,
            p.src.ip(),
            p.dst,
            mac_text(mac(v, p)),
            ttl(v, p).map_or("?".into(), |t| t.to_string())
        ))
    })
    .collect()
}
