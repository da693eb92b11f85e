//! `dns`: the system resolver (gethostbyname, gethostbyaddr, getaddrinfo, getnameinfo) on
//! localhost and 127.0.0.1, then a DNS query built by hand and sent over UDP to a small
//! responder the scenario runs on 127.0.0.1.
//!
//! ```c
//! /* the resolver */
//! h = gethostbyname("localhost");                 /* h->h_addr_list */
//! h = gethostbyaddr(&addr, 4, AF_INET);           /* 127.0.0.1 → h->h_name */
//! getaddrinfo("localhost", NULL, &hints, &res);   /* hints: AF_UNSPEC, SOCK_STREAM */
//! getnameinfo(&sa, sizeof sa, host, sizeof host, NULL, 0, NI_NAMEREQD);
//!
//! /* responder */                          /* client */
//! s = socket(AF_INET, SOCK_DGRAM, 0);      c = socket(AF_INET, SOCK_DGRAM, 0);
//! bind(s, 127.0.0.1:0);                    n = make_query(buf, id, "hello.sockscope.test", A);
//! n = recvfrom(s, buf, …, &from);          sendto(c, buf, n, 0, responder);
//! m = make_answer(buf, answer);            n = recvfrom(c, buf, …, &from);  /* same id? */
//! sendto(s, answer, m, 0, from);           … and again for a name it does not know
//! ```

mod checks;
mod facts;
mod program;
mod resolver;
mod wire;

use std::net::Ipv4Addr;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "dns",
    lesson: "lesson 9: domain names",
    summary: "the resolver on localhost (no packet: /etc/hosts), then a DNS query and answer over UDP, decoded",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
The resolver. gethostbyname() and gethostbyaddr() are the classic texts' calls (IPv4 only,
and not thread-safe: they return static storage); getaddrinfo() and getnameinfo() replace
them. The textbooks say these calls ask a DNS server. They need not: glibc follows
/etc/nsswitch.conf (\"hosts: files dns\"), and files, /etc/hosts, knows localhost and
127.0.0.1, so every answer here came without a single packet.

A query on the wire. The client builds a DNS message by hand (RFC 1035, 4.1) and sends it as
one UDP datagram to a small responder on 127.0.0.1 (on a port the kernel picked, not 53):
- the header, 12 bytes: a random 16-bit id, the flags (rd: recursion desired), four counts
  (1 question);
- the question: the name as length-prefixed labels (05 hello 09 sockscope 04 test 00), the
  type (A = 1) and the class (IN = 1).
The answer is one datagram too: the same id, flags qr (a response), aa (authoritative), rd
copied, RCODE 0 (NOERROR); the question repeated; one A record whose name is a compression
pointer (c00c: \"the name at byte 12\"), a TTL (300 s) and 4 bytes of address: 192.0.2.1 (a
documentation address, RFC 5737). A name the responder does not know gets RCODE 3, NXDOMAIN,
and no record.

The client believes an answer only if it comes from the address it asked and carries the id
it chose; with a fresh socket (so a fresh source port) and a random id per query, that is what
keeps forged answers out (RFC 5452).

DNS is UDP datagrams: no handshake, no ACK, nothing else on the wire; a lost query is the
client's to send again. (Answers too long for one datagram set TC and are asked again over
TCP; not here.)";

/// The one name the responder knows, and its answer.
const KNOWN: &str = "hello.sockscope.test";
const ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const TTL: u32 = 300;
/// A name it does not know.
const UNKNOWN: &str = "nowhere.sockscope.test";
const NAMES: [&str; 2] = [KNOWN, UNKNOWN];
