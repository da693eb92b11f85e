//! `anyaddr`: a server bound to INADDR_ANY accepts connections to any of the host's addresses
//! (127.0.0.1 and 127.0.0.2 here), and getsockname() on each accepted socket says which; a UDP
//! socket binds the TCP listener's port number; and a server that writes `htonl(port)` into
//! `sin_port` binds a port the kernel picks.
//!
//! ```c
//! serv_sock = socket(PF_INET, SOCK_STREAM, 0);
//! serv_adr.sin_family = AF_INET;
//! serv_adr.sin_addr.s_addr = htonl(INADDR_ANY);
//! serv_adr.sin_port = htons(0);            /* the kernel picks the number: P */
//! bind(serv_sock, …); listen(serv_sock, 5); getsockname(serv_sock, …);   /* 0.0.0.0:P */
//! udp_sock = socket(PF_INET, SOCK_DGRAM, 0); bind(udp_sock, 0.0.0.0:P);  /* no conflict */
//!
//! clnt_sock = accept(serv_sock, …);        /* client dialled 127.0.0.1:P, then 127.0.0.2:P */
//! getsockname(clnt_sock, …);               /* 127.0.0.1:P, then 127.0.0.2:P */
//!
//! serv_adr.sin_port = htonl(port);         /* the bug: 0 in the 16 bits */
//! bind(…); listen(…); getsockname(…);      /* 0.0.0.0:Q, a port the kernel chose */
//! ```

mod checks;
mod program;

use std::net::Ipv4Addr;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "anyaddr",
    lesson: "lesson 2: addresses and byte order",
    summary: "INADDR_ANY: one listener, two addresses, getsockname(); TCP and UDP on one port number; htonl(port)",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: checks::facts,
};

const EXPLAIN: &str = "
INADDR_ANY (0.0.0.0) in sin_addr binds the socket to every address of the host: the
listener accepts a connection whatever local address the client dialled. This host has the
whole of 127.0.0.0/8 on lo, so 127.0.0.2 is as much its address as 127.0.0.1. The client
connects to 127.0.0.1:P, then to 127.0.0.2:P, and the same listener accepts both. getsockname()
on the listener says 0.0.0.0:P; on each accepted socket it says the address that connection
really uses, the destination of the client's SYN, and the server's packets on that
connection leave from it.

TCP and UDP have separate port numbers: a UDP socket binds 0.0.0.0:P while the TCP
listener holds P, with no EADDRINUSE. The protocol field of the IP header (6 or 17) tells
the kernel which of the two a packet is for.

A UDP socket on INADDR_ANY does not remember which address a datagram came in on: its answer
gets the source address the routing table picks for the destination. The datagram went to
127.0.0.2, and the answer comes from 127.0.0.1 (lo's preferred source), so a client that had
connect()ed its UDP socket to 127.0.0.2:P would not receive it. Servers that must answer from
the address asked use IP_PKTINFO, or one socket per address.

The last server makes the mistake of `serv_adr.sin_port = htonl(port)`. htonl() gives a
32-bit number whose low 16 bits are 0 for any port number on a little-endian host, and the
assignment to the 16-bit sin_port keeps just those: port 0, which asks the kernel for any free
port. bind() succeeds, so the bug is silent; getsockname() shows where the server ended up.
A client dialling the meant port gets RST and ECONNREFUSED; only one told the other number
reaches the server. (The meant port is held by a socket that does not listen, so that no other
program takes it during the run.)";

/// The second loopback address the client dials.
const SECOND: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The datagram the client sends to the UDP socket.
const UDP_REQUEST: &[u8] = b"udp to the same port";

const ANY_MARK: &str = "anyaddr/any";
const UDP_MARK: &str = "anyaddr/udp";
const HTONL_MARK: &str = "anyaddr/htonl";
