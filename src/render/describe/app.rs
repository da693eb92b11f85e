//! Application messages in words, one line each, as tcpdump's and tshark's summaries give
//! them: `DNS query 0x1a2b A www.google.com`, `HTTP GET /index.html HTTP/1.1`,
//! `TLS ClientHello TLSv1.3 sni example.com`, `SSH SSH-2.0-OpenSSH_9.6`. Every byte taken from
//! the capture goes through [`escape::one_line`].

use super::{ip, num, Sink};
use crate::decode::app::dns::{self, Rdata};
use crate::decode::app::tls::{self, Item};
use crate::decode::app::{quic, ssh, App, Dns, Http};
use crate::render::escape::one_line;

/// Longest field (a URL, a name) shown, in bytes; longer ones end in `…`.
const FIELD_MAX: usize = 200;
/// Answers of a DNS response shown; the rest are counted.
const ANSWERS_SHOWN: usize = 3;

/// Whether the payload holds all the datagram's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whole {
    Yes,
    /// A first IP fragment: the rest is in later fragments.
    FirstFragment,
    /// The snaplen cut the packet.
    Cut,
}

/// Appends `app` in words; `whole` says why a message might not decode.
pub fn app<S: Sink + ?Sized>(out: &mut S, app: &App<'_>, whole: Whole) {
    match app {
        App::Dns(d) => dns_message(out, d, whole),
        App::Http(h) => {
            out.put("HTTP ");
            http(out, h);
        }
        App::Ssdp(h) => {
            out.put("SSDP ");
            http(out, h);
        }
        App::Tls(t) => tls_records(out, t),
        App::Ssh(b) => {
            out.put("SSH ");
            one_line(out, b.line, FIELD_MAX);
        }
        App::SshPackets(p) => {
            out.put("SSH ");
            for (i, &m) in p.msgs.iter().enumerate() {
                if i > 0 {
                    out.put(", ");
                }
                out.put(ssh::message_name(m).unwrap_or("message"));
            }
            if p.encrypted_after {
                out.put(", encrypted");
            }
        }
        App::SshEncrypted => out.put("SSH encrypted"),
        App::Quic(q) => quic_packets(out, q),
    }
}

fn http<S: Sink + ?Sized>(out: &mut S, h: &Http<'_>) {
    match *h {
        Http::Request {
            method,
            target,
            version,
        } => {
            one_line(out, method, FIELD_MAX);
            out.put(" ");
            one_line(out, target, FIELD_MAX);
            if version.is_empty() {
                out.put(" (line continues)");
            } else {
                out.put(" ");
                one_line(out, version, FIELD_MAX);
            }
        }
        Http::Status {
            version,
            code,
            reason,
        } => {
            one_line(out, version, FIELD_MAX);
            out.put(" ");
            num(out, code);
            if !reason.is_empty() {
                out.put(" ");
                one_line(out, reason, FIELD_MAX);
            }
        }
    }
}

fn hex16<S: Sink + ?Sized>(out: &mut S, v: u16) {
    let _ = write!(out, "0x{v:04x}");
}

fn dns_message<S: Sink + ?Sized>(out: &mut S, d: &Dns, whole: Whole) {
    let (id, flags) = match d {
        Dns::Message(m) => (m.id, m.flags),
        Dns::Damaged {
            header: Some(h), ..
        } => *h,
        Dns::Damaged {
            header: None,
            error,
        } => {
            let _ = write!(out, "DNS ({error})");
            return;
        }
    };
    out.put(if flags & dns::QR != 0 {
        "DNS response "
    } else {
        "DNS query "
    });
    hex16(out, id);
    let m = match d {
        Dns::Message(m) => m,
        Dns::Damaged { error, .. } => {
            match whole {
                Whole::FirstFragment => out.put(" (continues in later IP fragments)"),
                Whole::Cut => out.put(" (cut by the snaplen)"),
                Whole::Yes => {
                    let _ = write!(out, " (malformed: {error})");
                }
            }
            return;
        }
    };
    for q in &m.questions {
        out.put(" ");
        out.put(&dns::type_name(q.qtype));
        out.put(" ");
        out.put(&q.name);
    }
    if !m.is_response() {
        return;
    }
    out.put(" →");
    if m.rcode() != dns::NOERROR {
        out.put(" ");
        out.put(&dns::rcode_name(m.rcode()));
    } else if m.answers.is_empty() {
        out.put(" no answer");
    }
    for (i, r) in m.answers.iter().take(ANSWERS_SHOWN).enumerate() {
        out.put(if i == 0 { " " } else { ", " });
        if m.questions.is_empty() {
            // mDNS announcements: no question, so say whose record it is.
            out.put(&r.name);
            out.put(" ");
        }
        out.put(&dns::type_name(r.rtype));
        out.put(" ");
        match &r.rdata {
            Rdata::A(a) => ip(out, (*a).into()),
            Rdata::Aaaa(a) => ip(out, (*a).into()),
            Rdata::Name(n) | Rdata::Soa { mname: n } => out.put(n),
            Rdata::Mx { pref, host } => {
                num(out, *pref);
                out.put(" ");
                out.put(host);
            }
            Rdata::Srv { port, target } => {
                out.put(target);
                out.put(":");
                num(out, *port);
            }
            Rdata::Txt(t) => {
                out.put("\"");
                out.put(t);
                out.put("\"");
            }
            Rdata::Other => {
                num(out, r.data.len() as u64);
                out.put(" bytes");
            }
        }
    }
    if m.answers.len() > ANSWERS_SHOWN {
        out.put(" (+");
        num(out, (m.answers.len() - ANSWERS_SHOWN) as u64);
        out.put(")");
    }
}

fn tls_version<S: Sink + ?Sized>(out: &mut S, v: u16) {
    match tls::version_name(v) {
        Some(n) => out.put(n),
        None => hex16(out, v),
    }
}

fn tls_records<S: Sink + ?Sized>(out: &mut S, t: &tls::Tls<'_>) {
    out.put("TLS ");
    let mut i = 0;
    while i < t.items.len() {
        let item = t.items[i];
        // Runs of one kind of record as one entry: `application data ×3`.
        let run = t.items[i..].iter().take_while(|&&x| x == item).count();
        if i > 0 {
            out.put(", ");
        }
        match item {
            Item::Hello(h) => {
                out.put(if h.client {
                    "ClientHello "
                } else {
                    "ServerHello "
                });
                tls_version(out, h.version);
                if let Some(sni) = h.sni {
                    out.put(" sni ");
                    one_line(out, sni, FIELD_MAX);
                }
                if let Some(alpn) = h.alpn {
                    out.put(" alpn ");
                    one_line(out, alpn, FIELD_MAX);
                }
            }
            Item::Handshake(ty) => out.put(tls::handshake_name(ty)),
            Item::EncryptedHandshake => out.put("encrypted handshake"),
            Item::ChangeCipherSpec => out.put("ChangeCipherSpec"),
            Item::Alert { level, description } => {
                out.put(if level == 2 { "fatal alert " } else { "alert " });
                match tls::alert_name(description) {
                    Some(n) => out.put(n),
                    None => num(out, description),
                }
            }
            Item::EncryptedAlert => out.put("encrypted alert"),
            Item::ApplicationData => out.put("application data"),
            Item::Heartbeat => out.put("heartbeat"),
        }
        if run > 1 {
            out.put(" ×");
            num(out, run as u64);
        }
        i += run;
    }
    if t.items.is_empty() {
        out.put("record ");
        tls_version(out, t.record_version);
    }
}

fn cid<S: Sink + ?Sized>(out: &mut S, name: &str, id: &[u8]) {
    if id.is_empty() {
        return;
    }
    out.put(" ");
    out.put(name);
    out.put(" ");
    for b in id {
        let _ = write!(out, "{b:02x}");
    }
}

fn quic_packets<S: Sink + ?Sized>(out: &mut S, q: &quic::Quic<'_>) {
    out.put("QUIC ");
    for (i, p) in q.packets.iter().enumerate() {
        if i > 0 {
            out.put(", ");
        }
        out.put(p.name());
    }
    if q.version != 0 {
        out.put(" ");
        out.put(&quic::version_name(q.version));
    }
    cid(out, "dcid", q.dcid);
    cid(out, "scid", q.scid);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::app::{Banner, Message};

    fn shown(a: &App<'_>) -> String {
        let mut s = String::new();
        app(&mut s, a, Whole::Yes);
        s
    }

    #[test]
    fn one_line_each() {
        let mut q = vec![0x1a, 0x2b, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03www\x06google\x03com\x00\x00\x01\x00\x01");
        let m = Message::parse(&q).unwrap();
        assert_eq!(
            shown(&App::Dns(Dns::Message(m.clone()))),
            "DNS query 0x1a2b A www.google.com"
        );
        let mut r = q.clone();
        r[2] = 0x81;
        r[7] = 4;
        for i in 0..4u8 {
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 9, 0, 4, 142, 250, 1, i]);
        }
        let m = Message::parse(&r).unwrap();
        assert_eq!(
            shown(&App::Dns(Dns::Message(m))),
            "DNS response 0x1a2b A www.google.com → A 142.250.1.0, A 142.250.1.1, A 142.250.1.2 (+1)"
        );
        let mut nx = q.clone();
        nx[2] = 0x81;
        nx[3] = 0x83;
        let m = Message::parse(&nx).unwrap();
        assert_eq!(
            shown(&App::Dns(Dns::Message(m))),
            "DNS response 0x1a2b A www.google.com → NXDOMAIN"
        );
        let d = Dns::Damaged {
            header: Some((7, 0)),
            error: dns::DnsError::Cut(20),
        };
        assert_eq!(
            shown(&App::Dns(d)),
            "DNS query 0x0007 (malformed: cut short at byte 20)"
        );
        let h = Http::parse(b"GET /a\x1b]0;pwned\x07 HTTP/1.1\r\n").unwrap();
        assert_eq!(
            shown(&App::Http(h)),
            "HTTP GET /a\\x1b]0;pwned\\x07 HTTP/1.1"
        );
        let h = Http::parse(b"HTTP/1.1 200 OK\r\n").unwrap();
        assert_eq!(shown(&App::Http(h)), "HTTP HTTP/1.1 200 OK");
        let b = Banner::parse(b"SSH-2.0-OpenSSH_9.6\r\n").unwrap();
        assert_eq!(shown(&App::Ssh(b)), "SSH SSH-2.0-OpenSSH_9.6");
    }

    /// Random and mutated payloads on every port that selects a parser: no panic, and the
    /// words are one line without controls.
    #[test]
    fn any_bytes_give_one_safe_line() {
        use crate::decode::{Tcp, Transport, Udp};
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds: [&[u8]; 5] = [
            b"GET /index.html HTTP/1.1\r\n",
            b"HTTP/1.1 200 OK\r\n",
            b"SSH-2.0-OpenSSH_9.6\r\n",
            &[22, 3, 1, 0, 60, 1, 0, 0, 56, 3, 3],
            &[
                0x1a, 0x2b, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0, 1, b'x', 0, 0, 1, 0, 1, 0xc0, 12,
            ],
        ];
        for round in 0..20_000 {
            let len = (next() % 120) as usize;
            let mut b: Vec<u8> = match round % 3 {
                0 => (0..len).map(|_| next() as u8).collect(),
                _ => seeds[round % seeds.len()].to_vec(),
            };
            for _ in 0..(next() % 4) {
                if !b.is_empty() {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
            }
            b.extend((0..(next() % 40)).map(|_| next() as u8));
            let port = [53u16, 443, 1900, 5353, 22, 80, 9][round % 7];
            for t in [
                Transport::Tcp(Tcp {
                    sport: port,
                    dport: 40000,
                    fixed: None,
                    options: &[],
                    options_cut: false,
                    payload: &b,
                }),
                Transport::Udp(Udp {
                    sport: 40000,
                    dport: port,
                    length: None,
                    length_ok: true,
                    payload: &b,
                }),
            ] {
                if let Some(a) = crate::decode::app::parse(&t) {
                    let s = shown(&a);
                    assert!(!s.chars().any(|c| c.is_control()), "{s:?} from {b:?}");
                }
            }
        }
    }

    #[test]
    fn tls_runs_and_hellos() {
        let t = tls::Tls {
            record_version: 0x0303,
            items: vec![
                Item::Hello(tls::Hello {
                    client: false,
                    version: 0x0303,
                    sni: None,
                    alpn: Some(b"h2"),
                }),
                Item::ChangeCipherSpec,
                Item::EncryptedHandshake,
                Item::ApplicationData,
                Item::ApplicationData,
            ],
        };
        assert_eq!(
            shown(&App::Tls(t)),
            "TLS ServerHello TLSv1.2 alpn h2, ChangeCipherSpec, encrypted handshake, application data ×2"
        );
    }
}
