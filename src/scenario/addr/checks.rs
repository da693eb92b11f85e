//! `addr`: byte order and address conversion, then the `sockaddr_in` a program builds and the
//! same bytes in the headers of its packets.
//!
//! ```c
//! htons(0x1234); htonl(0x12345678); htons(8888); htonl(8888);      /* endian_conv.c */
//! inet_addr("1.2.3.4"); inet_addr("1.2.3.256"); inet_addr("255.255.255.255");
//! inet_aton("127.232.124.79", &addr); …                            /* inet_aton.c */
//! str_ptr = inet_ntoa(addr1.sin_addr); strcpy(str_arr, str_ptr);  /* inet_ntoa.c */
//! inet_ntoa(addr2.sin_addr);     /* str_ptr now shows addr2: one static buffer */
//!
//! /* server */                                   /* client */
//! memset(&serv_addr, 0, sizeof(serv_addr));      memset(&serv_addr, 0, sizeof(serv_addr));
//! serv_addr.sin_family = AF_INET;                serv_addr.sin_family = AF_INET;
//! serv_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
//! serv_addr.sin_port = htons(0);                 serv_addr.sin_addr.s_addr = inet_addr("127.0.0.1");
//! bind(serv_sock, &serv_addr); listen(…, 5);     serv_addr.sin_port = htons(port);
//! getsockname(serv_sock, &serv_addr);            connect(sock, &serv_addr);
//! port = ntohs(serv_addr.sin_port);              uint32_t v[2] = {0x12345678, htonl(0x12345678)};
//! clnt_sock = accept(…); read(clnt_sock, v, 8);  write(sock, v, 8);
//! ntohl(v[0]); ntohl(v[1]);                      close(sock);
//!
//! /* the trap */
//! serv_addr.sin_port = htonl(port);   /* compiles: the int is cut to 16 bits, 0 */
//! connect(sock, &serv_addr);          /* SYN to port 0 → RST → ECONNREFUSED */
//! ```

use std::net::Ipv4Addr;

use nix::libc;
use socket2::{Domain, Type};

use super::addr_libc::{
    getsockname, hex, htonl, htons, inet_addr, inet_aton, inet_ntoa, ntohl, sockaddr_bytes,
    sockaddr_in, sockaddr_target, sockaddr_text, LibCall, INADDR_NONE,
};
use super::{any_port, bound, read_exactly, Peer, Scenario};
use crate::analyse::flags as f;
use crate::decode::link::{self, NetStart};
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::{LiveError, Role, Tracer, View};
use crate::render::marks::{class, class_table, dump, Mark};

pub const SCENARIO: Scenario = Scenario {
    name: "addr",
    lesson: "lesson 2: addresses and byte order",
    summary: "htons/htonl, inet_addr/inet_aton/inet_ntoa, and the sockaddr_in bytes in the headers",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
Byte order. A 16- or 32-bit number is stored low byte first on x86 and most ARM machines
(little-endian), but every number in an IP or TCP header is big-endian, \"network byte order\".
htons()/htonl() (host to network, short/long) reorder the bytes; ntohs()/ntohl() undo it.
They do not change what the number means, only how it lies in memory: htonl(0x12345678)
lies as 12 34 56 78, which a little-endian CPU reads back as the number 0x78563412. On a
big-endian host they do nothing. The facts list each value's bytes before and after.

The trap: htonl(8888) is not htons(8888). htons(8888) = 0xb822 lies as 22 b8, port 8888 in
network order. htonl(8888) = 0xb8220000 lies as 00 00 22 b8, and assigned to the 16-bit
sin_port (C converts silently) it keeps only 0x0000: port 0. The last connection does exactly
that with the server's port: its SYN goes to port 0, the kernel answers RST, and connect()
fails with ECONNREFUSED. (Its socket is bound to port 0 before the run starts, only so that
the capture, whose filter names the run's ports, sees it.)

Text to address. inet_addr(\"1.2.3.4\") returns the address as a number whose bytes in memory
are 01 02 03 04 (network order), so it prints as 0x04030201 here. On bad input it returns
INADDR_NONE, 0xffffffff, which is also the valid address 255.255.255.255: the book's check
`if (inet_addr(s) == INADDR_NONE)` calls the broadcast address an error. inet_aton() returns
1 or 0 and writes the address elsewhere, so the two cases differ; it also takes the old short
forms (\"127.1\" is 127.0.0.1). inet_ntoa() returns a pointer to one static buffer that the
next call overwrites, so the book copies the result with strcpy() before calling it again
(notation2 shows the second address through the first pointer).

The sockaddr_in. Of its 16 bytes, sin_port and sin_addr are in network order, because the
kernel copies them unchanged into the headers: the SYN's destination port and address are
the client's sin_port and sin_addr byte for byte, and the SYN+ACK's source is what
getsockname() returned to the server. sin_family (02 00 here) is in host order: it tells the
kernel how to read the rest and never goes on the wire. The data the client sends is
converted by no one: 0x12345678 written as is goes out as 78 56 34 12, after htonl() as
12 34 56 78, and the server's ntohl() gets the number back only from the second.

Address classes (A: first bit 0, B: 10, C: 110, D: 1110 multicast, E: 1111) told routers
where the network part ended: 8, 16 or 24 bits. They are history: CIDR (1993) replaced them
with an explicit prefix length (/8, /12, /16, /22…), so 172.16.0.0/12 or 192.168.0.0/16 are
networks no class describes. The facts show the first bits of the run's addresses.";

/// The value the client sends, once as is and once with htonl().
const VALUE: u32 = 0x1234_5678;
/// The port of the textbook's trap.
const TRAP_PORT: u16 = 8888;

fn run(t: &Tracer) -> Result<(), LiveError> {
    let c = Role::Client;
    t.mark(
        "addr/order",
        "byte order: htons()/htonl() turn host numbers into network (big-endian) order",
    );
    htons(t, c, 0x1234, "0x1234");
    htonl(t, c, VALUE, "0x12345678");
    htons(t, c, TRAP_PORT, "8888");
    htonl(t, c, TRAP_PORT as u32, "8888");

    t.mark(
        "addr/inet",
        "inet_addr(), inet_aton(), inet_ntoa(): dotted text ⇄ a 32-bit address in network order",
    );
    for cp in ["1.2.3.4", "1.2.3.256", "255.255.255.255"] {
        let r = inet_addr(cp)?;
        let note = if r == INADDR_NONE {
            " (INADDR_NONE)"
        } else {
            ""
        };
        LibCall::new(c, "inet_addr", format!("{cp:?}"))
            .text(format!("= {r:#010x}{note}"))
            .data(&r.to_ne_bytes())
            .emit(t);
        if r == INADDR_NONE {
            // The book's check: `if (conv_addr == INADDR_NONE) printf("Error occurred!")`.
            t.print(c, &format!("inet_addr({cp:?}): Error occurred!"));
        }
    }
    for cp in ["127.232.124.79", "255.255.255.255", "1.2.3.256", "127.1"] {
        let (r, a) = inet_aton(cp)?;
        let mut call = LibCall::new(c, "inet_aton", format!("{cp:?}, &addr")).ret(r as i64);
        call = if r == 1 {
            call.text(format!("(addr.s_addr = {a:#010x})"))
                .data(&a.to_ne_bytes())
        } else {
            call.text("(not an address)")
        };
        call.emit(t);
    }
    let addr1 = htonl(t, c, 0x0102_0304, "0x01020304");
    let addr2 = htonl(t, c, 0x0101_0101, "0x01010101");
    let str_ptr = inet_ntoa(addr1)?;
    let first = str_ptr.read();
    LibCall::new(c, "inet_ntoa", "addr1.sin_addr")
        .text(format!("= {first:?} (str_ptr)"))
        .data(&addr1.to_ne_bytes())
        .emit(t);
    let str_arr = first.clone(); // strcpy(str_arr, str_ptr)
    t.print(c, &format!("Dotted-Decimal notation1: {first}"));
    let second = inet_ntoa(addr2)?.read();
    LibCall::new(c, "inet_ntoa", "addr2.sin_addr")
        .text(format!("= {second:?}"))
        .data(&addr2.to_ne_bytes())
        .emit(t);
    t.print(c, &format!("Dotted-Decimal notation2: {}", str_ptr.read()));
    t.print(c, &format!("Dotted-Decimal notation3: {str_arr}"));

    t.mark(
        "addr/sockaddr",
        "each side's sockaddr_in, and the same bytes in the packets' headers",
    );
    let s = Role::Server;
    let listener = t.socket(s, Domain::IPV4, Type::STREAM)?;
    let loopback = htonl(t, s, libc::INADDR_LOOPBACK, "INADDR_LOOPBACK");
    let serv = sockaddr_bytes(&sockaddr_in(libc::htons(0), loopback));
    LibCall::new(
        s,
        "sockaddr_in",
        "AF_INET, htons(0), htonl(INADDR_LOOPBACK)",
    )
    .text(sockaddr_text(&serv))
    .data(&serv)
    .emit(t);
    t.bind(&listener, sockaddr_target(&serv))?;
    t.listen(&listener, 5)?;
    let got = getsockname(t, &listener)?;
    let port = u16::from_be(got.sin_port);
    if bound(&listener)?.port() != port {
        return Err(LiveError::Scenario(
            "getsockname() and the bound socket disagree on the port".into(),
        ));
    }
    // The trap's socket, bound now so that its port is in the capture filter.
    let trap = t.socket(c, Domain::IPV4, Type::STREAM)?;
    t.bind(&trap, any_port())?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let sock = tc.socket(c, Domain::IPV4, Type::STREAM)?;
        let a = loopback_by_name(tc)?;
        let p = htons(tc, c, port, &port.to_string());
        let sa = sockaddr_bytes(&sockaddr_in(p, a));
        LibCall::new(
            c,
            "sockaddr_in",
            format!("AF_INET, htons({port}), inet_addr(\"127.0.0.1\")"),
        )
        .text(sockaddr_text(&sa))
        .data(&sa)
        .addr(sockaddr_target(&sa))
        .emit(tc);
        tc.connect(&sock, sockaddr_target(&sa))?;
        let net = htonl(tc, c, VALUE, "0x12345678");
        let mut v = [0u8; 8];
        v[..4].copy_from_slice(&VALUE.to_ne_bytes());
        v[4..].copy_from_slice(&net.to_ne_bytes());
        tc.write(&sock, &v)?;
        tc.close(sock)
    });

    client.go();
    let conn = t.accept(&listener)?;
    let v = read_exactly(t, &conn, 8)?;
    let word = |b: &[u8]| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    let plain = ntohl(t, s, word(&v[..4]), "v[0]");
    let converted = ntohl(t, s, word(&v[4..]), "v[1]");
    t.print(
        s,
        &format!("sent as is: {plain:#010x}; sent with htonl(): {converted:#010x}"),
    );
    t.close(conn)?;
    client.join()?;

    t.mark(
        "addr/trap",
        "the trap: sin_port = htonl(port) leaves 0 in the 16-bit port",
    );
    let wrong = htonl(t, c, port as u32, &port.to_string());
    let a = loopback_by_name(t)?;
    // What C does with `sin_port = htonl(port)`: keeps the low 16 bits of the number.
    let sa = sockaddr_bytes(&sockaddr_in(wrong as u16, a));
    LibCall::new(
        c,
        "sockaddr_in",
        format!("AF_INET, htonl({port}), inet_addr(\"127.0.0.1\")"),
    )
    .text(sockaddr_text(&sa))
    .data(&sa)
    .addr(sockaddr_target(&sa))
    .emit(t);
    match t.connect(&trap, sockaddr_target(&sa)) {
        Err(LiveError::Call { .. }) => {}
        Ok(()) => {
            return Err(LiveError::Scenario(
                "connect() to port 0 succeeded: something listens there".into(),
            ))
        }
        Err(e) => return Err(e),
    }
    t.close(trap)?;
    t.close(listener)
}

/// `inet_addr("127.0.0.1")`, recorded.
fn loopback_by_name(t: &Tracer) -> Result<u32, LiveError> {
    let a = inet_addr("127.0.0.1")?;
    LibCall::new(Role::Client, "inet_addr", "\"127.0.0.1\"")
        .text(format!("= {a:#010x}"))
        .data(&a.to_ne_bytes())
        .emit(t);
    Ok(a)
}

// ---- reading the run back ----

/// The run's `sockaddr_in` events of `role` with their 16 bytes.
fn sockaddrs<'v>(v: &'v View, role: Role) -> Vec<(&'v Event, [u8; 16])> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == role && e.call == "sockaddr_in")
        .filter_map(|e| {
            let d: [u8; 16] = e.data.as_deref()?.try_into().ok()?;
            Some((e, d))
        })
        .collect()
}

/// The client's sockaddr for the real connection (port not 0) and the trap's (port 0).
fn client_sockaddrs(v: &View) -> (Option<[u8; 16]>, Option<[u8; 16]>) {
    let all = sockaddrs(v, Role::Client);
    let good = all.iter().find(|(_, b)| b[2..4] != [0, 0]).map(|x| x.1);
    let trap = all.iter().find(|(_, b)| b[2..4] == [0, 0]).map(|x| x.1);
    (good, trap)
}

fn getsockname_bytes(v: &View) -> Option<[u8; 16]> {
    v.run
        .events
        .iter()
        .find(|e| e.call == "getsockname" && e.ok())
        .and_then(|e| e.data.as_deref()?.try_into().ok())
}

/// The IP header and what follows it, as captured.
fn ip_bytes<'v>(v: &'v View, p: &Pkt) -> Option<&'v [u8]> {
    let data = &v.run.packets.get(p.index)?.data;
    let (start, at) = link::strip(v.run.linktype, data).ok()?;
    let at = match start {
        NetStart::Ip => at,
        NetStart::EtherType(et) => link::strip_vlans(et, data, at).at,
    };
    data.get(at..)
}

/// The IPv4 header and the TCP header of a captured packet.
fn headers<'v>(v: &'v View, p: &Pkt) -> Option<(&'v [u8], &'v [u8])> {
    let ip = ip_bytes(v, p)?;
    if ip.first()? >> 4 != 4 {
        return None;
    }
    let ihl = ((ip[0] & 0x0f) as usize) * 4;
    let tcp_len = ((*ip.get(ihl + 12)? >> 4) as usize) * 4;
    if ihl < 20 || tcp_len < 20 {
        return None;
    }
    Some((ip.get(..ihl)?, ip.get(ihl..ihl + tcp_len)?))
}

/// The connection the client's successful connect() opened.
fn main_conn(v: &View) -> Option<usize> {
    v.run
        .events
        .iter()
        .find(|e| e.call == "connect" && e.role == Role::Client && e.ok())
        .and_then(|e| v.conn_of(e))
}

/// The trap's SYN and the answer to it.
fn trap_pkts<'v>(v: &'v View) -> (Option<&'v Pkt>, Option<&'v Pkt>) {
    let syn = v
        .pkts
        .iter()
        .find(|p| p.dst.port() == 0 && p.tcp.as_ref().is_some_and(|t| t.has(f::SYN)));
    let answer = syn.and_then(|s| v.conn_pkts(s.conn).find(|p| p.dir == Dir::ToClient));
    (syn, answer)
}

/// A conversion event's value and its text result, e.g. (`8888`, `0xb822`).
fn conversion<'v>(v: &'v View, call: &str, args: &str) -> Option<&'v Event> {
    v.run
        .events
        .iter()
        .find(|e| e.call == call && e.args == args)
}

fn result_of(e: &Event) -> Option<u32> {
    let t = e.text.as_deref()?.strip_prefix("= 0x")?;
    u32::from_str_radix(t.split_whitespace().next()?, 16).ok()
}

fn printed<'v>(v: &'v View, prefix: &str) -> Option<&'v str> {
    v.run
        .events
        .iter()
        .filter(|e| e.call == "print")
        .find_map(|e| e.text.as_deref()?.strip_prefix(prefix))
}

fn checks(v: &View) -> Vec<Check> {
    let mut out = Vec::new();
    let (good, trap_sa) = client_sockaddrs(v);
    let conn = main_conn(v);
    let syn = conn.and_then(|c| v.conn_pkts(c).next());
    let synack = conn.and_then(|c| v.conn_pkts(c).nth(1));
    let syn_h = syn.and_then(|p| headers(v, p));
    match (good, syn_h) {
        (Some(sa), Some((ip, tcp))) => {
            out.push(Check::new(
                ip[16..20] == sa[4..8],
                "the SYN's destination address is the client's sin_addr, byte for byte",
                format!(
                    "IP header bytes 16–19: {}; sin_addr: {}",
                    hex(&ip[16..20]),
                    hex(&sa[4..8])
                ),
            ));
            out.push(Check::new(
                tcp[2..4] == sa[2..4],
                "the SYN's destination port is the client's sin_port, byte for byte (network order)",
                format!(
                    "TCP header bytes 2–3: {}; sin_port: {} = port {}",
                    hex(&tcp[2..4]),
                    hex(&sa[2..4]),
                    u16::from_be_bytes([sa[2], sa[3]])
                ),
            ));
        }
        _ => out.push(Check::missing(
            "the SYN carries the client's sin_addr and sin_port",
            "no client sockaddr_in event or no SYN captured",
        )),
    }
    match (
        getsockname_bytes(v),
        synack.and_then(|p| headers(v, p)),
        synack,
    ) {
        (Some(g), Some((ip, tcp)), Some(p)) => out.push(Check::new(
            ip[12..16] == g[4..8]
                && tcp[0..2] == g[2..4]
                && p.tcp.as_ref().is_some_and(|t| t.has(f::SYN | f::ACK)),
            "the SYN+ACK's source is the server's address as getsockname() returned it",
            format!(
                "source {} port {}; getsockname(): sin_addr {} sin_port {}",
                hex(&ip[12..16]),
                hex(&tcp[0..2]),
                hex(&g[4..8]),
                hex(&g[2..4])
            ),
        )),
        _ => out.push(Check::missing(
            "the SYN+ACK's source is the server's getsockname() address",
            "no getsockname() event or no SYN+ACK captured",
        )),
    }
    out.push(data_check(v, conn));
    out.push(trap_numbers_check(v));
    let (tsyn, answer) = trap_pkts(v);
    let refused = v.run.events.iter().find(|e| e.call == "connect" && !e.ok());
    match (trap_sa, tsyn.and_then(|p| headers(v, p)), answer, refused) {
        (Some(sa), Some((_, tcp)), Some(a), Some(e)) => {
            let rst = a
                .tcp
                .as_ref()
                .is_some_and(|t| t.has(f::RST) && t.has(f::ACK));
            out.push(Check::new(
                tcp[2..4] == [0, 0]
                    && sa[2..4] == [0, 0]
                    && rst
                    && e.errno.as_deref() == Some("ECONNREFUSED"),
                "the trap: sin_port = htonl(port) sent the SYN to port 0; RST+ACK came back and connect() failed with ECONNREFUSED",
                format!(
                    "sin_port {}, SYN frame {} destination port bytes {}, answer frame {} {}, connect() = -1 {}",
                    hex(&sa[2..4]),
                    tsyn.map_or(0, |p| p.index + 1),
                    hex(&tcp[2..4]),
                    a.index + 1,
                    crate::render::describe::flags_bracketed(a.tcp.as_ref().map_or(0, |t| t.flags)),
                    e.errno.as_deref().unwrap_or("?")
                ),
            ));
        }
        _ => out.push(Check::missing(
            "the trap's SYN went to port 0 and was refused",
            "the trap's sockaddr, SYN, answer or failed connect() is missing",
        )),
    }
    out.push(inet_addr_check(v));
    let n1 = printed(v, "Dotted-Decimal notation1: ");
    let n2 = printed(v, "Dotted-Decimal notation2: ");
    let n3 = printed(v, "Dotted-Decimal notation3: ");
    out.push(Check::new(
        n1 == Some("1.2.3.4") && n2 == Some("1.1.1.1") && n3 == Some("1.2.3.4"),
        "inet_ntoa() returns one static buffer: after the second call the first pointer shows the second address",
        format!(
            "notation1 {}, notation2 (same pointer) {}, notation3 (strcpy'd copy) {}",
            n1.unwrap_or("?"),
            n2.unwrap_or("?"),
            n3.unwrap_or("?")
        ),
    ));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

/// The 8 data bytes: the value as is (host order) and after htonl() (network order).
fn data_check(v: &View, conn: Option<usize>) -> Check {
    let what = "0x12345678 goes on the wire as its bytes in memory: as is in host order, after htonl() as 12 34 56 78; only ntohl() of the second gives it back";
    let host = conversion(v, "htonl", "0x12345678").and_then(|e| e.data.clone());
    let data = conn.and_then(|c| {
        v.conn_pkts(c)
            .find(|p| p.dir == Dir::ToServer && p.len > 0)
            .map(|p| p.payload.clone())
    });
    let ntohl: Vec<u32> = v
        .run
        .events
        .iter()
        .filter(|e| e.call == "ntohl")
        .filter_map(result_of)
        .collect();
    match (host, data) {
        (Some(h), Some(d)) if d.len() == 8 => {
            let back_ok = ntohl.len() == 2
                && ntohl[1] == VALUE
                && (ntohl[0] == VALUE) == (h == VALUE.to_be_bytes());
            Check::new(
                d[..4] == h[..] && d[4..] == VALUE.to_be_bytes() && back_ok,
                what,
                format!(
                    "payload {} | {}; ntohl() gave {}",
                    hex(&d[..4]),
                    hex(&d[4..]),
                    ntohl
                        .iter()
                        .map(|n| format!("{n:#010x}"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            )
        }
        _ => Check::missing(what, "no htonl(0x12345678) event or no 8-byte data segment"),
    }
}

/// htons(8888) and htonl(8888) differ, and htonl's result cut to 16 bits is 0.
fn trap_numbers_check(v: &View) -> Check {
    let what = "htonl(8888) ≠ htons(8888): cut to the 16 bits of sin_port, htonl(8888) is port 0";
    let s = conversion(v, "htons", "8888").and_then(result_of);
    let l = conversion(v, "htonl", "8888").and_then(result_of);
    match (s, l) {
        (Some(s), Some(l)) => Check::new(
            s as u16 == 8888u16.to_be() && l as u16 == 0 && l != s,
            what,
            format!(
                "htons(8888) = {s:#06x} (bytes {}), htonl(8888) = {l:#010x} (bytes {}), (unsigned short) {:#06x}",
                hex(&(s as u16).to_ne_bytes()),
                hex(&l.to_ne_bytes()),
                l as u16
            ),
        ),
        _ => Check::missing(what, "no htons(8888) or htonl(8888) event"),
    }
}

/// INADDR_NONE is both the error and 255.255.255.255; inet_aton tells them apart.
fn inet_addr_check(v: &View) -> Check {
    let what = "inet_addr() returns INADDR_NONE for the bad 1.2.3.256 and for the valid 255.255.255.255; inet_aton() tells them apart";
    let a = |cp: &str| conversion(v, "inet_addr", &format!("{cp:?}")).and_then(result_of);
    let n = |cp: &str| conversion(v, "inet_aton", &format!("{cp:?}, &addr")).and_then(|e| e.ret);
    let (bad, bcast) = (a("1.2.3.256"), a("255.255.255.255"));
    let (nbad, nbcast) = (n("1.2.3.256"), n("255.255.255.255"));
    Check::new(
        bad == Some(INADDR_NONE)
            && bcast == Some(INADDR_NONE)
            && nbad == Some(0)
            && nbcast == Some(1),
        what,
        format!(
            "inet_addr: {} and {}; inet_aton: {} and {}",
            bad.map_or("?".into(), |x| format!("{x:#010x}")),
            bcast.map_or("?".into(), |x| format!("{x:#010x}")),
            nbad.map_or("?".into(), |x| x.to_string()),
            nbcast.map_or("?".into(), |x| x.to_string())
        ),
    )
}

// ---- facts ----

fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    byte_order_facts(v, &mut out);
    sockaddr_facts(v, &mut out);
    class_facts(v, &mut out);
    out
}

/// Whether the run's host was little-endian, from the bytes htonl(0x12345678) started from.
fn little_endian(v: &View) -> Option<bool> {
    let e = conversion(v, "htonl", "0x12345678")?;
    Some(e.data.as_deref()? == VALUE.to_le_bytes())
}

fn byte_order_facts(v: &View, out: &mut Vec<String>) {
    let Some(le) = little_endian(v) else { return };
    out.push(format!(
        "byte order: this host is {}; network order is big-endian (high byte first)",
        if le {
            "little-endian (low byte first in memory)"
        } else {
            "big-endian: htons()/htonl() change nothing"
        }
    ));
    out.push(format!(
        "  {:<20}{:<18}{:<19}{}",
        "call", "value in memory", "result in memory", "result as a number"
    ));
    let span = v.phase("addr/order").unwrap_or((i128::MIN, i128::MAX));
    for e in &v.run.events {
        if !matches!(e.call.as_str(), "htons" | "htonl") || e.start < span.0 || e.start >= span.1 {
            continue;
        }
        let key = format!("{}({})", e.call, e.args);
        let (Some(d), Some(r)) = (e.data.as_deref(), result_of(e)) else {
            continue;
        };
        let after: Vec<u8> = if d.len() == 2 {
            (r as u16).to_ne_bytes().to_vec()
        } else {
            r.to_ne_bytes().to_vec()
        };
        let after = if le {
            after
        } else {
            after.into_iter().rev().collect()
        };
        let shown = if d.len() == 2 {
            format!("{:#06x}", r as u16)
        } else {
            format!("{r:#010x}")
        };
        out.push(format!(
            "  {key:<20}{:<18}{:<19}{shown}",
            hex(d),
            hex(&after)
        ));
    }
    if let Some(l) = conversion(v, "htonl", "8888").and_then(result_of) {
        out.push(format!(
            "  sin_port = htonl(8888) keeps the low 16 bits, {:#06x}: port {}, not 8888",
            l as u16, l as u16
        ));
    }
    out.push(String::new());
}

fn sockaddr_facts(v: &View, out: &mut Vec<String>) {
    let (good, trap_sa) = client_sockaddrs(v);
    let conn = main_conn(v);
    if let (Some(sa), Some(c)) = (good, conn) {
        let port = u16::from_be_bytes([sa[2], sa[3]]);
        out.push(format!(
            "the client's sockaddr_in for 127.0.0.1:{port} (16 bytes, as connect() hands them to the kernel):"
        ));
        out.extend(dump(
            "  ",
            &[&sa[..2], &sa[2..4], &sa[4..8], &sa[8..]],
            &[
                Mark {
                    from: 0,
                    to: 2,
                    label: "family",
                },
                Mark {
                    from: 2,
                    to: 4,
                    label: "port",
                },
                Mark {
                    from: 4,
                    to: 8,
                    label: "address",
                },
            ],
        ));
        out.push(
            "  port and address in network order: the kernel copies them into the headers as they are;"
                .into(),
        );
        out.push(
            "  family in host order: it only tells the kernel how to read the rest; then 8 zero bytes"
                .into(),
        );
        let mut pk = v.conn_pkts(c);
        if let (Some(syn), Some(synack)) = (pk.next(), pk.next()) {
            for (p, what, src) in [
                (syn, "SYN's destination", false),
                (synack, "SYN+ACK's source", true),
            ] {
                let Some((ip, tcp)) = headers(v, p) else {
                    continue;
                };
                out.push(format!(
                    "the {what} address and port (frame {}: the IPv4 header, then the TCP header's ports):",
                    p.index + 1
                ));
                let marks = if src {
                    [
                        Mark {
                            from: 12,
                            to: 16,
                            label: "= the server's sin_addr",
                        },
                        Mark {
                            from: 20,
                            to: 22,
                            label: "= its sin_port",
                        },
                    ]
                } else {
                    [
                        Mark {
                            from: 16,
                            to: 20,
                            label: "= sin_addr",
                        },
                        Mark {
                            from: 22,
                            to: 24,
                            label: "= sin_port",
                        },
                    ]
                };
                out.extend(dump("  ", &[ip, &tcp[..4]], &marks));
            }
        }
        if let Some(d) = v
            .conn_pkts(c)
            .find(|p| p.dir == Dir::ToServer && p.len == 8)
        {
            out.push(format!(
                "the data (frame {}): 0x12345678 as is, then htonl(0x12345678)",
                d.index + 1
            ));
            out.extend(dump(
                "  ",
                &[&d.payload[..4], &d.payload[4..]],
                &[
                    Mark {
                        from: 0,
                        to: 4,
                        label: "host order",
                    },
                    Mark {
                        from: 4,
                        to: 8,
                        label: "network order",
                    },
                ],
            ));
        }
        out.push(String::new());
    }
    let (tsyn, answer) = trap_pkts(v);
    if let (Some(sa), Some(p)) = (trap_sa, tsyn) {
        out.push("the trap's sockaddr_in, with sin_port = htonl(port):".into());
        out.extend(dump(
            "  ",
            &[&sa[..2], &sa[2..4], &sa[4..8], &sa[8..]],
            &[Mark {
                from: 2,
                to: 4,
                label: "port 0",
            }],
        ));
        if let Some((ip, tcp)) = headers(v, p) {
            out.push(format!(
                "its SYN (frame {}){}:",
                p.index + 1,
                answer.map_or(String::new(), |a| format!(
                    ", answered by {} (frame {})",
                    crate::render::describe::flags_bracketed(a.tcp.as_ref().map_or(0, |t| t.flags)),
                    a.index + 1
                ))
            ));
            out.extend(dump(
                "  ",
                &[ip, &tcp[..4]],
                &[Mark {
                    from: 22,
                    to: 24,
                    label: "destination port 0",
                }],
            ));
        }
        out.push(String::new());
    }
}

fn class_facts(v: &View, out: &mut Vec<String>) {
    let mut addrs: Vec<(Ipv4Addr, &str)> = Vec::new();
    for e in &v.run.events {
        let Some(q) = e.args.split('"').nth(1) else {
            continue;
        };
        if !e.call.starts_with("inet_") {
            continue;
        }
        if let Ok(a) = q.parse::<Ipv4Addr>() {
            if !addrs.iter().any(|x| x.0 == a) {
                addrs.push((a, ""));
            }
        }
    }
    for (a, note) in [
        (Ipv4Addr::new(172, 16, 0, 1), "example"),
        (Ipv4Addr::new(192, 168, 1, 20), "example"),
        (Ipv4Addr::new(224, 0, 0, 251), "example: mDNS"),
    ] {
        addrs.push((a, note));
    }
    addrs.sort_by_key(|(a, _)| (class(*a).0, a.octets()));
    out.push(
        "address classes from the first bits, historic: since CIDR (1993) a prefix length says where the network part ends"
            .into(),
    );
    out.extend(class_table(&addrs));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_read_back_from_the_event_text() {
        let mut e = Event::new(Role::Client, "client", "htonl", 0);
        e.text = Some("= 0xb8220000".into());
        assert_eq!(result_of(&e), Some(0xb822_0000));
        e.text = Some("= 0xffffffff (INADDR_NONE)".into());
        assert_eq!(result_of(&e), Some(INADDR_NONE));
        e.text = Some("(addr.s_addr = 0x1)".into());
        assert_eq!(result_of(&e), None);
        assert_eq!(hex(&[1, 0xab]), "01 ab");
    }

    #[test]
    fn the_kernel_reads_a_sockaddr_as_network_order() {
        let sa = sockaddr_bytes(&sockaddr_in(libc::htons(40123), libc::htonl(0x7f00_0001)));
        assert_eq!(
            sockaddr_target(&sa),
            std::net::SocketAddr::from(([127, 0, 0, 1], 40123))
        );
    }
}
