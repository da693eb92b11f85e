//! TLS records (RFC 8446, 5.1) and the handshake messages in them: each record's content type,
//! and for ClientHello and ServerHello the version (from `supported_versions` when present),
//! the server name (SNI) and the first ALPN protocol.
//!
//! Only a segment that starts a record is read; records are walked while their headers are
//! sound. A handshake record whose messages do not tile it (or that follows a
//! ChangeCipherSpec) is encrypted, as Wireshark calls it.

/// Records listed at most per segment.
const ITEMS_MAX: usize = 16;

pub const CHANGE_CIPHER_SPEC: u8 = 20;
pub const ALERT: u8 = 21;
pub const HANDSHAKE: u8 = 22;
pub const APPLICATION_DATA: u8 = 23;
pub const HEARTBEAT: u8 = 24;

pub const CLIENT_HELLO: u8 = 1;
pub const SERVER_HELLO: u8 = 2;

/// What one record (or one handshake message) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    Hello(Hello<'a>),
    /// Another handshake message, by type.
    Handshake(u8),
    EncryptedHandshake,
    ChangeCipherSpec,
    Alert {
        level: u8,
        description: u8,
    },
    EncryptedAlert,
    ApplicationData,
    Heartbeat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello<'a> {
    pub client: bool,
    /// The version offered (highest in `supported_versions`) or chosen.
    pub version: u16,
    /// The server name, unescaped.
    pub sni: Option<&'a [u8]>,
    /// The first ALPN protocol (offered or chosen), unescaped.
    pub alpn: Option<&'a [u8]>,
}

/// The records at the start of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls<'a> {
    /// The first record's version field.
    pub record_version: u16,
    pub items: Vec<Item<'a>>,
}

/// A record header that looks like TLS: a known content type, version 3.0 to 3.4, a length
/// within the limit (2^14 + 2048).
fn record_header(b: &[u8]) -> Option<(u8, u16, usize)> {
    let &[ct, major, minor, l0, l1, ..] = b else {
        return None;
    };
    let len = u16::from_be_bytes([l0, l1]) as usize;
    let ok = (CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&ct)
        && major == 3
        && minor <= 4
        && (1..=16384 + 2048).contains(&len);
    ok.then_some((ct, u16::from_be_bytes([major, minor]), len))
}

impl<'a> Tls<'a> {
    pub fn parse(payload: &'a [u8]) -> Option<Tls<'a>> {
        let (_, record_version, _) = record_header(payload)?;
        let mut items = Vec::new();
        let mut at = 0;
        let mut after_ccs = false;
        while items.len() < ITEMS_MAX {
            let Some((ct, _, len)) = payload.get(at..).and_then(record_header) else {
                break;
            };
            let end = at + 5 + len;
            // The record's bytes as far as they were captured (it may go on in the next segment).
            let body = &payload[at + 5..end.min(payload.len())];
            let whole = end <= payload.len();
            match ct {
                CHANGE_CIPHER_SPEC => {
                    items.push(Item::ChangeCipherSpec);
                    after_ccs = true;
                }
                ALERT => items.push(match body {
                    &[level @ 1..=2, description] if len == 2 => Item::Alert { level, description },
                    _ => Item::EncryptedAlert,
                }),
                HANDSHAKE if after_ccs => items.push(Item::EncryptedHandshake),
                HANDSHAKE => handshake(body, whole, &mut items),
                APPLICATION_DATA => items.push(Item::ApplicationData),
                _ => items.push(Item::Heartbeat),
            }
            if !whole {
                break;
            }
            at = end;
        }
        Some(Tls {
            record_version,
            items,
        })
    }
}

/// Handshake types a plaintext record carries (RFC 8446, 4; RFC 5246, 7.4).
fn known_handshake(t: u8) -> bool {
    matches!(t, 0..=2 | 4 | 8 | 11..=16 | 20 | 24)
}

/// The messages of one handshake record's `body`; `whole`: the record was captured whole.
fn handshake<'a>(body: &'a [u8], whole: bool, items: &mut Vec<Item<'a>>) {
    let start = items.len();
    let mut at = 0;
    let mut sound = true;
    while at < body.len() && items.len() < ITEMS_MAX {
        let Some(&[t, a, b, c]) = body.get(at..at + 4) else {
            // A header cut by the capture is fine; inside a whole record it is not.
            sound = !whole;
            break;
        };
        let len = u32::from_be_bytes([0, a, b, c]) as usize;
        if !known_handshake(t) || (whole && at + 4 + len > body.len()) {
            sound = false;
            break;
        }
        let msg = &body[at + 4..(at + 4 + len).min(body.len())];
        items.push(match t {
            CLIENT_HELLO | SERVER_HELLO => Item::Hello(hello(t == CLIENT_HELLO, msg)),
            t => Item::Handshake(t),
        });
        at += 4 + len;
    }
    if !sound {
        // The messages do not tile the record: it is encrypted (a TLS 1.2 Finished).
        items.truncate(start);
        items.push(Item::EncryptedHandshake);
    }
}

/// A checked reader over a message.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (h, t) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = t;
        Some(h)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    /// A vector with a `n`-byte length prefix.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.take(n)
    }
}

/// GREASE values (RFC 8701) are not versions.
fn grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// A ClientHello or ServerHello, read as far as its bytes go.
fn hello(client: bool, msg: &[u8]) -> Hello<'_> {
    let mut h = Hello {
        client,
        version: 0,
        sni: None,
        alpn: None,
    };
    let mut c = Cursor(msg);
    let Some(v) = c.u16() else { return h };
    h.version = v;
    let exts = (|| {
        c.take(32)?;
        c.vec8()?;
        if client {
            c.vec16()?;
            c.vec8()?;
        } else {
            c.take(3)?;
        }
        // An extension list cut by the capture is read as far as it goes.
        let n = c.u16()? as usize;
        Some(&c.0[..n.min(c.0.len())])
    })();
    let mut e = Cursor(exts.unwrap_or(&[]));
    while let (Some(t), Some(data)) = (e.u16(), e.vec16()) {
        let mut d = Cursor(data);
        match t {
            0 if client => {
                // server_name: a list of (type, name); type 0 is a host name.
                let mut list = Cursor(d.vec16().unwrap_or(&[]));
                while let (Some(kind), Some(name)) = (list.u8(), list.vec16()) {
                    if kind == 0 {
                        h.sni = Some(name);
                        break;
                    }
                }
            }
            16 => h.alpn = Cursor(d.vec16().unwrap_or(&[])).vec8(),
            43 if client => {
                let mut list = Cursor(d.vec8().unwrap_or(&[]));
                while let Some(v) = list.u16() {
                    if !grease(v) && v > h.version && v >> 8 == 3 {
                        h.version = v;
                    }
                }
            }
            43 => {
                if let Some(v) = d.u16() {
                    h.version = v;
                }
            }
            _ => {}
        }
    }
    h
}

/// `TLSv1.2`, `SSLv3`, or the number.
pub fn version_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x0300 => "SSLv3",
        0x0301 => "TLSv1.0",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        _ => return None,
    })
}

/// Handshake message names as RFC 8446 writes them.
pub fn handshake_name(t: u8) -> &'static str {
    match t {
        0 => "HelloRequest",
        1 => "ClientHello",
        2 => "ServerHello",
        4 => "NewSessionTicket",
        8 => "EncryptedExtensions",
        11 => "Certificate",
        12 => "ServerKeyExchange",
        13 => "CertificateRequest",
        14 => "ServerHelloDone",
        15 => "CertificateVerify",
        16 => "ClientKeyExchange",
        20 => "Finished",
        24 => "KeyUpdate",
        _ => "Handshake",
    }
}

/// Alert descriptions (RFC 8446, 6), the common ones.
pub fn alert_name(d: u8) -> Option<&'static str> {
    Some(match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        40 => "handshake_failure",
        42 => "bad_certificate",
        46 => "certificate_unknown",
        48 => "unknown_ca",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        80 => "internal_error",
        90 => "user_canceled",
        109 => "missing_extension",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record: TLS 1.2 legacy version, supported_versions (GREASE, 1.3, 1.2),
    /// SNI example.com, ALPN h2.
    fn client_hello() -> Vec<u8> {
        let mut exts = Vec::new();
        let sni = b"example.com";
        exts.extend_from_slice(&[
            0,
            0,
            0,
            (sni.len() + 5) as u8,
            0,
            (sni.len() + 3) as u8,
            0,
            0,
        ]);
        exts.push(sni.len() as u8);
        exts.extend_from_slice(sni);
        exts.extend_from_slice(&[0, 16, 0, 5, 0, 3, 2, b'h', b'2']);
        exts.extend_from_slice(&[0, 43, 0, 7, 6, 0x3a, 0x3a, 3, 4, 3, 3]);
        let mut m = vec![3, 3];
        m.extend_from_slice(&[7; 32]);
        m.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        m.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        m.extend_from_slice(&exts);
        let mut hs = vec![CLIENT_HELLO, 0];
        hs.extend_from_slice(&(m.len() as u16).to_be_bytes());
        hs.extend_from_slice(&m);
        let mut r = vec![HANDSHAKE, 3, 1];
        r.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        r.extend_from_slice(&hs);
        r
    }

    #[test]
    fn client_hello_version_sni_alpn() {
        let b = client_hello();
        let t = Tls::parse(&b).unwrap();
        assert_eq!(t.record_version, 0x0301);
        assert_eq!(
            t.items,
            [Item::Hello(Hello {
                client: true,
                version: 0x0304,
                sni: Some(b"example.com"),
                alpn: Some(b"h2"),
            })]
        );
        // Cut anywhere: no panic, and a hello while its type is there.
        for n in 0..b.len() {
            if let Some(t) = Tls::parse(&b[..n]) {
                assert!(n >= 5);
                assert!(t.items.len() <= 1, "cut at {n}: {t:?}");
            }
        }
    }

    #[test]
    fn records_after_change_cipher_spec_are_encrypted() {
        let mut b = vec![CHANGE_CIPHER_SPEC, 3, 3, 0, 1, 1];
        b.extend_from_slice(&[HANDSHAKE, 3, 3, 0, 40]);
        b.extend_from_slice(&[0x14; 40]);
        b.extend_from_slice(&[APPLICATION_DATA, 3, 3, 0, 4, 1, 2, 3, 4]);
        b.extend_from_slice(&[ALERT, 3, 3, 0, 2, 2, 40]);
        b.extend_from_slice(&[ALERT, 3, 3, 0, 3, 9, 9, 9]);
        let t = Tls::parse(&b).unwrap();
        assert_eq!(
            t.items,
            [
                Item::ChangeCipherSpec,
                Item::EncryptedHandshake,
                Item::ApplicationData,
                Item::Alert {
                    level: 2,
                    description: 40
                },
                Item::EncryptedAlert,
            ]
        );
    }

    #[test]
    fn a_handshake_record_that_does_not_tile_is_encrypted() {
        let b = [HANDSHAKE, 3, 3, 0, 8, 20, 0, 0, 12, 1, 2, 3, 4];
        assert_eq!(Tls::parse(&b).unwrap().items, [Item::EncryptedHandshake]);
    }

    #[test]
    fn other_bytes_are_not_tls() {
        for b in [
            &b""[..],
            b"GET / HTTP/1.1",
            &[HANDSHAKE, 2, 0, 0, 5],
            &[25, 3, 3, 0, 5],
            &[HANDSHAKE, 3, 3, 0, 0],
        ] {
            assert_eq!(Tls::parse(b), None, "{b:?}");
        }
        assert!(grease(0x3a3a) && !grease(0x0304));
    }
}
