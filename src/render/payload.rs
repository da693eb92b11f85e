//! A packet's payload under its timeline line: as text (`-A`, as tcpdump's `-A`) or as hex
//! and ASCII (`-X`, tcpdump's layout). The bytes shown are the application's: the TCP or UDP
//! payload, an ICMP message's data. Every byte passes through [`super::escape`].

use super::escape;
use crate::decode::{Packet, Transport};

/// How payloads are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadView {
    /// Not at all.
    #[default]
    None,
    /// As text lines (`-A`).
    Text,
    /// As hex and ASCII, 16 bytes a line (`-X`).
    Hex,
}

/// The captured application bytes of `pkt`.
pub fn bytes<'a>(pkt: &Packet<'a>) -> &'a [u8] {
    match pkt.transport {
        Transport::Tcp(t) => t.payload,
        Transport::Udp(u) => u.payload,
        Transport::Icmp(i) => i.data,
        _ => &[],
    }
}

/// Appends `pkt`'s payload in `view` (nothing when there is none).
pub fn write(out: &mut String, view: PayloadView, pkt: &Packet<'_>) {
    let b = bytes(pkt);
    if b.is_empty() {
        return;
    }
    match view {
        PayloadView::None => {}
        PayloadView::Text => {
            escape::text(out, b, true);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        PayloadView::Hex => hex(out, b),
    }
}

/// tcpdump's `-X` lines: `\t0x0010:  6865 6c6c 6f0a                           hello.`
pub fn hex(out: &mut String, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (n, row) in b.chunks(16).enumerate() {
        out.push_str("\t0x");
        let off = n * 16;
        for shift in [12, 8, 4, 0] {
            out.push(HEX[(off >> shift) & 15] as char);
        }
        out.push_str(": ");
        for i in 0..16 {
            if i % 2 == 0 {
                out.push(' ');
            }
            match row.get(i) {
                Some(&x) => {
                    out.push(HEX[(x >> 4) as usize] as char);
                    out.push(HEX[(x & 15) as usize] as char);
                }
                None => out.push_str("  "),
            }
        }
        out.push_str("  ");
        for &x in row {
            // As tcpdump: a space is a dot too, so the column's width is plain.
            out.push(if x.is_ascii_graphic() { x as char } else { '.' });
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_as_tcpdump_lays_it_out() {
        let mut s = String::new();
        hex(&mut s, b"GET / HTTP/1.1\r\nHost: a\x1b\r\n");
        let want = "\t0x0000:  4745 5420 2f20 4854 5450 2f31 2e31 0d0a  GET./.HTTP/1.1..\n\
                    \t0x0010:  486f 7374 3a20 611b 0d0a                 Host:.a...\n";
        assert_eq!(s, want);
    }
}
