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

mod checks;
mod facts;
pub(super) mod libc;
mod program;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "addr",
    lesson: "lesson 2: addresses and byte order",
    summary: "htons/htonl, inet_addr/inet_aton/inet_ntoa, and the sockaddr_in bytes in the headers",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
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
the capture, whose filter names the run's ports, sees it.) Its address comes from inet_aton()
as the book's inet_aton.c writes it, inet_aton(\"127.232.124.79\", &serv_addr.sin_addr): all of
127.0.0.0/8 is loopback, so the SYN really goes there, and the bytes inet_aton() wrote are
its destination address, as inet_addr()'s are for the first connection.

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
networks no class describes. The program converts a class B, C and D address too; the checks
read each address's class from the first bits of its first byte as inet_addr() stored it
(network order: the first number of the dotted text). The number's top byte, s_addr >> 24,
is that byte only on a big-endian host (on a little-endian one it is the last byte). The
facts show the table.";

/// The value the client sends, once as is and once with htonl().
const VALUE: u32 = 0x1234_5678;
/// The port of the textbook's trap.
const TRAP_PORT: u16 = 8888;
/// The address the trap connects to, from inet_aton() (the textbook's inet_aton.c example).
const TRAP_ADDR: &str = "127.232.124.79";
/// Addresses converted only to be classed: a class B, a class C and a class D one.
const CLASS_EXAMPLES: [&str; 3] = ["172.16.0.1", "192.168.1.20", "224.0.0.251"];
