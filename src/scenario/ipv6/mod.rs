//! `ipv6`: the handshake and an echo over `::1` with `AF_INET6` and a `sockaddr_in6`, beside
//! the same exchange over 127.0.0.1, to compare the IP headers and the MSS on the wire.
//!
//! ```c
//! /* server */                                  /* client */
//! serv_sock = socket(PF_INET6, SOCK_STREAM, 0); sock = socket(PF_INET6, SOCK_STREAM, 0);
//! memset(&serv_adr, 0, sizeof(serv_adr));       memset(&serv_adr, 0, sizeof(serv_adr));
//! serv_adr.sin6_family = AF_INET6;              serv_adr.sin6_family = AF_INET6;
//! serv_adr.sin6_addr = in6addr_loopback;        inet_pton(AF_INET6, "::1", &serv_adr.sin6_addr);
//! serv_adr.sin6_port = htons(0);                serv_adr.sin6_port = htons(port);
//! bind(…); listen(…, 5);                        connect(sock, &serv_adr, sizeof(serv_adr));
//! getsockname(serv_sock, …);  /* the port */    getsockopt(IPV6_MTU), getsockopt(IPV6_UNICAST_HOPS)
//! clnt_sock = accept(…);                        write(sock, msg, 16); read(sock, …);
//! read(…); write(…); read(…) == 0; close(…);    close(sock);
//! ```
//! The same program with AF_INET and a `sockaddr_in` runs first, over 127.0.0.1.

mod checks;
mod header;
mod program;

use nix::libc;

use crate::scenario::addr::libc::hex;
use crate::scenario::sockopt::calls::{Kind, Opt};
use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "ipv6",
    lesson: "lesson 2: addresses and byte order",
    summary: "AF_INET6 over ::1: sockaddr_in6, the 40-byte IPv6 header, flow label, the MSS",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: checks::facts,
};

const EXPLAIN: &str = "
The program is the book's echo client and server twice: first with AF_INET and a
sockaddr_in over 127.0.0.1, then with AF_INET6 and a sockaddr_in6 over ::1, the IPv6 loopback
address. Only the address structure changes: sin6_family = AF_INET6, sin6_port = htons(port)
as before, and a 16-byte sin6_addr, filled by inet_pton(AF_INET6, \"::1\", …) (inet_addr and
inet_aton know only IPv4) or with in6addr_loopback. sockaddr_in6 is 28 bytes: family, port,
4 bytes of flow information, the address, and a scope id; the port and the address are in
network order and reach the headers unchanged, as sockaddr_in's do.

The handshake and the data are the same TCP: the same flags, sequence numbers and options.
What differs is the IP header in front of each segment:
- IPv4: 20 bytes; a total length that counts the header itself; TTL; an identification and a
  header checksum, recomputed by every router.
- IPv6: 40 bytes, fixed (options would go in extension headers); a payload length that does not
  count the 40; the hop limit (IPv4's TTL renamed: it counts hops); no checksum (TCP's covers
  the addresses through its pseudo-header); and a 20-bit flow label.
So each IPv6 packet is exactly 20 bytes longer on the wire than its IPv4 twin.

The flow label marks the packets of one flow so routers can keep them on one path without
looking past the IP header. Linux fills it from a hash of the connection when the sysctl
net.ipv6.auto_flowlabels is 1 (the default) or 3: each side keeps one label for the whole
connection, and the two sides' labels differ (0 and 2 leave it 0). IPv4 has no such field.

The MSS in each SYN is what fits in one packet of the path's MTU (getsockopt IP_MTU or
IPV6_MTU on the connected socket) after the IP and TCP headers. lo's MTU is 65536, and
IPV6_MTU says so: IPv6 subtracts its 40 and TCP's 20, MSS 65476. IP_MTU says 65535: IPv4's
16-bit total length counts the header, so no IPv4 packet can be longer, and the kernel caps
the route's MTU there; the MSS is 65535 − 40 = 65495, 19 bytes more than over IPv6. On an
Ethernet (MTU 1500) the same rule gives 1460 and 1440.";

/// The message the client sends and the server echoes (16 bytes).
const MESSAGE: &[u8] = b"Hello over IPv6!";

/// 1 (the default) or 3: the kernel puts a hash of the connection in the flow label.
const AUTO_FLOWLABELS: &str = "net.ipv6.auto_flowlabels";

const V4_MARK: &str = "ipv6/v4";
const V6_MARK: &str = "ipv6/v6";

const fn int_opt(level: i32, name: i32, level_name: &'static str, opt_name: &'static str) -> Opt {
    Opt {
        level,
        name,
        level_name,
        opt_name,
        kind: Kind::Int,
    }
}

const IP_MTU: Opt = int_opt(libc::IPPROTO_IP, libc::IP_MTU, "IPPROTO_IP", "IP_MTU");
const IP_TTL: Opt = int_opt(libc::IPPROTO_IP, libc::IP_TTL, "IPPROTO_IP", "IP_TTL");
const IPV6_MTU: Opt = int_opt(
    libc::IPPROTO_IPV6,
    libc::IPV6_MTU,
    "IPPROTO_IPV6",
    "IPV6_MTU",
);
const IPV6_UNICAST_HOPS: Opt = int_opt(
    libc::IPPROTO_IPV6,
    libc::IPV6_UNICAST_HOPS,
    "IPPROTO_IPV6",
    "IPV6_UNICAST_HOPS",
);

/// The 28 bytes of a `struct sockaddr_in6` as they lie in memory, after `memset(0)`:
/// family (host order), port (network order, as given), flow info 0, address, scope id 0.
fn sockaddr_in6_bytes(port_net: u16, addr: &[u8; 16]) -> [u8; 28] {
    let mut b = [0u8; 28];
    b[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&port_net.to_ne_bytes());
    b[8..24].copy_from_slice(addr);
    b
}

/// Bytes with runs of three or more equal bytes shortened: `00×15 01`.
fn runs(b: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let n = b[i..].iter().take_while(|&&x| x == b[i]).count();
        if n >= 3 {
            parts.push(format!("{:02x}×{n}", b[i]));
        } else {
            parts.extend(b[i..i + n].iter().map(|x| format!("{x:02x}")));
        }
        i += n;
    }
    parts.join(" ")
}

/// A sockaddr_in6's bytes as the timeline shows them:
/// `= 0a 00 | 9c bb | 00×4 | 00×15 01 | 00×4` (family | port | flow info | address | scope).
fn sockaddr_in6_text(b: &[u8; 28]) -> String {
    format!(
        "= {} | {} | {} | {} | {}",
        hex(&b[..2]),
        hex(&b[2..4]),
        runs(&b[4..8]),
        runs(&b[8..24]),
        runs(&b[24..28])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_in6_is_laid_out_as_the_kernel_reads_it() {
        let b = sockaddr_in6_bytes(libc::htons(0x9cbb), &std::net::Ipv6Addr::LOCALHOST.octets());
        assert_eq!(&b[2..4], &[0x9c, 0xbb], "port in network order");
        assert_eq!(b[23], 1);
        assert_eq!(b.len(), std::mem::size_of::<libc::sockaddr_in6>());
        assert_eq!(
            sockaddr_in6_text(&b),
            format!("= {} | 9c bb | 00×4 | 00×15 01 | 00×4", hex(&b[..2]))
        );
        assert_eq!(runs(&[1, 1, 2]), "01 01 02");
    }
}
