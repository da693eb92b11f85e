//! The `addr` program: byte-order and address conversions, a server and a client that build
//! their `sockaddr_in` by hand, and the textbook's trap.

use nix::libc;
use socket2::{Domain, Type};

use super::libc::{
    getsockname, htonl, htons, inet_addr, inet_aton, inet_ntoa, ntohl, sockaddr_bytes, sockaddr_in,
    sockaddr_target, sockaddr_text, LibCall, INADDR_NONE,
};
use super::{CLASS_EXAMPLES, TRAP_ADDR, TRAP_PORT, VALUE};
use crate::live::{LiveError, Role, Tracer};
use crate::scenario::{any_port, bound, read_exactly, Peer};

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
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
        "addr/classes",
        "address classes (historic, CIDR since 1993): the first bits of the first byte in network order",
    );
    for cp in CLASS_EXAMPLES {
        let r = inet_addr(cp)?;
        LibCall::new(c, "inet_addr", format!("{cp:?}"))
            .text(format!("= {r:#010x}"))
            .data(&r.to_ne_bytes())
            .emit(t);
    }

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
    // The book's inet_aton.c address: all of 127.0.0.0/8 is loopback, so it reaches lo.
    let (ok, a) = inet_aton(TRAP_ADDR)?;
    if ok != 1 {
        return Err(LiveError::Scenario(format!(
            "inet_aton({TRAP_ADDR:?}) failed"
        )));
    }
    LibCall::new(
        c,
        "inet_aton",
        format!("{TRAP_ADDR:?}, &serv_addr.sin_addr"),
    )
    .ret(1)
    .text(format!("(sin_addr.s_addr = {a:#010x})"))
    .data(&a.to_ne_bytes())
    .emit(t);
    // What C does with `sin_port = htonl(port)`: keeps the low 16 bits of the number.
    let sa = sockaddr_bytes(&sockaddr_in(wrong as u16, a));
    LibCall::new(
        c,
        "sockaddr_in",
        format!("AF_INET, htonl({port}), inet_aton({TRAP_ADDR:?})"),
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
