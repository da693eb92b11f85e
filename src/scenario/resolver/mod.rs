//! `resolver`: the C library's own resolver on the wire. getaddrinfo, gethostbyaddr and
//! gethostbyname, called plainly, read /etc/resolv.conf, which names a DNS server the scenario
//! runs on 127.0.0.1:53, and send their real queries: A and AAAA, PTR, and an A answered with
//! a CNAME.
//!
//! ```c
//! /* server */                                  /* client: resolv.conf says 127.0.0.1 */
//! s = socket(AF_INET, SOCK_DGRAM, 0);           getaddrinfo("www.sockscope.test", NULL,
//! bind(s, 127.0.0.1:53);                                    &(AF_UNSPEC hints), &res);
//! for (;;) {                                    gethostbyaddr(&addr, 4, AF_INET); /* 192.0.2.1 */
//!     n = recvfrom(s, buf, …, &from);           h = gethostbyname("alias.sockscope.test");
//!     m = make_answer(buf, n, answer);          /* h->h_name, h->h_aliases, h->h_addr_list */
//!     sendto(s, answer, m, 0, from);
//! }
//! ```
//!
//! resolv.conf has no port field: the server must be on 53, and the file must name it. So
//! `sockscope run` gives this scenario a private network namespace and a private mount
//! namespace ([`MOUNTS`], made by `crate::live::mountns` while still privileged): its own
//! resolv.conf and nsswitch.conf bind-mounted over the system's, where only this process sees
//! them, and `net.ipv4.ip_unprivileged_port_start` lowered to 53 in that network namespace
//! alone, so the server binds port 53 after privileges are dropped. Nothing on the host
//! changes; the program checks it reads those files before it asks anything.

mod checks;
mod facts;
mod program;
mod responder;

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::live::mountns::Mounts;
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
The resolver on the wire. The client calls the functions of the classic texts and nothing
else; the C library reads /etc/resolv.conf to know which DNS server to ask. This run has
files of its own there: sockscope gives it a private network namespace (its own lo) and a
private mount namespace, in which a resolv.conf saying \"nameserver 127.0.0.1\" and an
nsswitch.conf saying \"hosts: files dns\" are bind-mounted over the system's. Only this
process sees them, and the system's DNS server is never asked. resolv.conf has no port: the
scenario's DNS server must listen on 127.0.0.1:53, a port below 1024, which needs privilege;
in the private network namespace alone, net.ipv4.ip_unprivileged_port_start is set to 53 so
the server may bind it after sockscope gave its privileges up. Names under .test are reserved
for testing (RFC 6761); 192.0.2.1 and 2001:db8::1 are documentation addresses.

What to look at:
- getaddrinfo(\"www.sockscope.test\") with AF_UNSPEC sends two queries at once, A (IPv4) and
  AAAA (IPv6), from one socket (one source port) with two ids, and waits for both answers.
  It returns both addresses: one call, two questions. (glibc hands both to one sendmmsg();
  on a busy machine the server may answer the first before the second is on the wire.)
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
decides which server to ask (/etc/resolv.conf, after /etc/hosts when /etc/nsswitch.conf says
files first: /etc/hosts knows no .test name, so each call went on to DNS).";

/// DNS's port: resolv.conf names a server, never a port.
const DNS_PORT: u16 = 53;

/// The lines of the mounted files the program checks it reads, as it prints them.
const NAMESERVER: &str = "nameserver 127.0.0.1";
const HOSTS: &str = "hosts: files dns";

/// The files the run needs over the system's, and port 53 open to the dropped user. Files
/// first in nsswitch.conf, as most systems have it, so that `run all`'s `dns` scenario, in the
/// same process, still answers localhost from /etc/hosts; no `search` line and ndots 1, so
/// each name is asked as written; one try of two seconds.
pub const MOUNTS: Mounts = Mounts {
    files: &[
        (
            "/etc/resolv.conf",
            "# sockscope run resolver: this process's own resolv.conf (a private mount namespace)\n\
             nameserver 127.0.0.1\n\
             options ndots:1 timeout:2 attempts:1\n",
        ),
        (
            "/etc/nsswitch.conf",
            "# sockscope run resolver: this process's own nsswitch.conf (a private mount namespace)\n\
             passwd: files\n\
             group: files\n\
             hosts: files dns\n\
             networks: files\n\
             protocols: files\n\
             services: files\n",
        ),
    ],
    port_start: DNS_PORT,
};

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
