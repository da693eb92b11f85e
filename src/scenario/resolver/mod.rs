//! `resolver`: the C library's own resolver on the wire. getaddrinfo, gethostbyaddr and
//! gethostbyname, pointed (through this thread's `_res`) at a DNS server the scenario runs on
//! 127.0.0.1, send their real queries: A and AAAA, PTR, and an A answered with a CNAME.
//!
//! ```c
//! /* server */                                  /* client */
//! s = socket(AF_INET, SOCK_DGRAM, 0);           res_init();
//! bind(s, 127.0.0.1:0);                         _res.nsaddr_list[0] = server;   /* its port */
//! for (;;) {                                    _res.nscount = 1;
//!     n = recvfrom(s, buf, …, &from);           getaddrinfo("www.sockscope.test", NULL,
//!     m = make_answer(buf, n, answer);                      &(AF_UNSPEC hints), &res);
//!     sendto(s, answer, m, 0, from);            gethostbyaddr(&addr, 4, AF_INET); /* 192.0.2.1 */
//! }                                             h = gethostbyname("alias.sockscope.test");
//!                                               /* h->h_name, h->h_aliases, h->h_addr_list */
//! ```
//!
//! No privilege and no change to the system: `_res` belongs to the calling thread, and the
//! server listens on a port the kernel picked. (resolv.conf has no port field; a private mount
//! namespace with its own resolv.conf would need port 53, which needs privilege the program
//! does not keep.)

mod checks;
mod facts;
mod program;
mod responder;

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "resolver",
    lesson: "lesson 9: domain names",
    summary: "the C resolver's real queries: getaddrinfo's A and AAAA, gethostbyaddr's PTR, a CNAME as h_aliases",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
The resolver on the wire. The client points its resolver at the scenario's DNS server
(res_init(), then _res.nsaddr_list[0], as programs did before resolv.conf could be swapped;
_res belongs to the calling thread) and calls the functions of the classic texts. Names
under .test are reserved for testing (RFC 6761); 192.0.2.1 and 2001:db8::1 are documentation
addresses.

What to look at:
- getaddrinfo(\"www.sockscope.test\") with AF_UNSPEC sends two queries at once, A (IPv4) and
  AAAA (IPv6), from one socket (one source port) with two ids, and waits for both answers.
  It returns both addresses: one call, two questions.
- gethostbyaddr(192.0.2.1) asks for a PTR record of 1.2.0.192.in-addr.arpa: the address's
  four bytes in reverse order, one label each. Names grow more specific to the left and
  addresses to the right, so the reverse tree reads the bytes backwards: another byte-order
  lesson. The answer's name becomes h_name.
- gethostbyname(\"alias.sockscope.test\") sends one A query. The answer holds two records: a
  CNAME (alias → www) and the A record of www. The struct hostent shows it: h_name is the
  canonical name www.sockscope.test, h_aliases holds the name asked for, h_addr_list the
  address.
- Each query is one UDP datagram and so is each answer, matched by id and source port; the
  resolver opens a new socket (a new source port) for each call.

Textbook vs wire: gethostbyname() is not one question. getaddrinfo() asks twice (A and
AAAA, unless told AF_INET); the answer to one name may be a chain of records; and the library
decides which server to ask (here: this thread's _res; normally /etc/resolv.conf, after
/etc/hosts if /etc/nsswitch.conf says files first).";

/// The zone the server answers for.
const WWW: &str = "www.sockscope.test";
const ALIAS: &str = "alias.sockscope.test";
const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const TTL: u32 = 300;

/// The marks of the three calls.
const GAI: &str = "resolver/getaddrinfo";
const BYADDR: &str = "resolver/byaddr";
const CNAME: &str = "resolver/alias";
