//! The DNS message format (RFC 1035, 4.1): a header, the questions and the answer records
//! (authority and additional records are counted, not decoded), names with compression
//! pointers. Checked parsing of untrusted bytes: every read is bounds-checked, pointers only go
//! backwards and at most [`JUMPS_MAX`] times, and odd bytes in labels are escaped (`\007`), so
//! a name is always safe to print.
//!
//! The `dns` scenario builds its messages on top of this (`scenario/dns/wire.rs`).

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_MX: u16 = 15;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const CLASS_IN: u16 = 1;

/// Header flag bits.
pub const QR: u16 = 0x8000;
pub const AA: u16 = 0x0400;
pub const TC: u16 = 0x0200;
pub const RD: u16 = 0x0100;
pub const RA: u16 = 0x0080;
/// RCODE values (the low four bits).
pub const NOERROR: u16 = 0;
pub const FORMERR: u16 = 1;
pub const NXDOMAIN: u16 = 3;

/// Header length.
pub const HEADER: usize = 12;
/// Longest name on the wire (RFC 1035, 2.3.4).
pub const NAME_MAX: usize = 255;
pub const LABEL_MAX: usize = 63;
/// Compression pointers followed at most (a loop guard).
const JUMPS_MAX: usize = 32;

/// Most bytes the names and record data of one message may add up to once decoded.
/// Compression lets a 6-byte question name a 255-byte name (up to 1 KiB escaped), so a large
/// payload (a jumbogram, DNS over TCP) could otherwise make gigabytes of names.
pub const DECODED_MAX: usize = 1 << 20;

/// Why a message does not decode; offsets count from the message's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("{0} bytes: shorter than the 12-byte header")]
    Header(usize),
    #[error("cut short at byte {0}")]
    Cut(usize),
    #[error("name cut short at byte {0}")]
    NameCut(usize),
    #[error("label cut short at byte {0}")]
    LabelCut(usize),
    #[error("name longer than {NAME_MAX} bytes")]
    NameTooLong,
    #[error("bad compression pointer at byte {0}")]
    Pointer(usize),
    #[error("unknown label type {kind:#04x} at byte {at}")]
    LabelType { kind: u8, at: usize },
    #[error("record data cut short at byte {0}")]
    DataCut(usize),
    #[error("names and data longer than {} KiB decoded", DECODED_MAX >> 10)]
    TooLarge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// A record's data, decoded for the common types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// CNAME, NS, PTR: one name.
    Name(String),
    Mx {
        pref: u16,
        host: String,
    },
    Srv {
        port: u16,
        target: String,
    },
    /// SOA: the primary name server.
    Soa {
        mname: String,
    },
    /// TXT: the character strings, escaped as names are.
    Txt(String),
    /// Anything else (or data that does not fit its type): see [`Record::data`].
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: Vec<u8>,
    pub rdata: Rdata,
}

impl Record {
    /// The address of an A record.
    pub fn a(&self) -> Option<Ipv4Addr> {
        match (self.class, &self.rdata) {
            (CLASS_IN, Rdata::A(a)) => Some(*a),
            _ => None,
        }
    }
}

/// A decoded message: the header, the questions and the answer records (authority and
/// additional records are counted, not decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub flags: u16,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authority: u16,
    pub additional: u16,
}

impl Message {
    /// Decodes a message: header, questions, answers.
    pub fn parse(buf: &[u8]) -> Result<Message, DnsError> {
        Self::parse_with_end(buf).map(|(m, _)| m)
    }

    /// A datagram on another port that is surely DNS: a standard query or its response with
    /// one question and no authority or additional records, that decodes and fills the
    /// datagram exactly. (How the `dns` scenario's port-0 server is recognised.)
    pub fn parse_strict(buf: &[u8]) -> Option<Message> {
        let (_, flags) = header(buf)?;
        let counts = buf.get(4..12)?;
        let opcode = (flags >> 11) & 0xf;
        let plain = counts[..2] == [0, 1] && counts[4..] == [0, 0, 0, 0] && counts[2] == 0;
        if !plain || opcode != 0 || flags & 0x0040 != 0 {
            return None;
        }
        let (m, end) = Self::parse_with_end(buf).ok()?;
        (end == buf.len()).then_some(m)
    }

    /// [`Message::parse`], and where the answers end.
    fn parse_with_end(buf: &[u8]) -> Result<(Message, usize), DnsError> {
        if buf.len() < HEADER {
            return Err(DnsError::Header(buf.len()));
        }
        let id = get16(buf, 0)?;
        let flags = get16(buf, 2)?;
        let (qd, an) = (get16(buf, 4)?, get16(buf, 6)?);
        let (authority, additional) = (get16(buf, 8)?, get16(buf, 10)?);
        let mut pos = HEADER;
        // Counts come from the file: allocate for what the bytes can hold, not what they claim.
        let mut questions = Vec::with_capacity((qd as usize).min(buf.len() / 5));
        let mut decoded = 0usize;
        let mut count = |n: usize| {
            decoded += n;
            if decoded > DECODED_MAX {
                Err(DnsError::TooLarge)
            } else {
                Ok(())
            }
        };
        for _ in 0..qd {
            let (name, next) = read_name(buf, pos)?;
            count(name.len() + 4)?;
            questions.push(Question {
                name,
                qtype: get16(buf, next)?,
                qclass: get16(buf, next + 2)?,
            });
            pos = next + 4;
        }
        let mut answers = Vec::with_capacity((an as usize).min(buf.len() / 11));
        for _ in 0..an {
            let (name, next) = read_name(buf, pos)?;
            count(name.len() + 10)?;
            let rtype = get16(buf, next)?;
            let class = get16(buf, next + 2)?;
            let ttl = get32(buf, next + 4)?;
            let rdlen = get16(buf, next + 8)? as usize;
            let at = next + 10;
            let data = buf
                .get(at..at + rdlen)
                .ok_or(DnsError::DataCut(at))?
                .to_vec();
            count(data.len())?;
            let rdata = rdata(buf, rtype, at, &data);
            answers.push(Record {
                name,
                rtype,
                class,
                ttl,
                data,
                rdata,
            });
            pos = at + rdlen;
        }
        let m = Message {
            id,
            flags,
            questions,
            answers,
            authority,
            additional,
        };
        Ok((m, pos))
    }

    pub fn is_response(&self) -> bool {
        self.flags & QR != 0
    }

    pub fn rcode(&self) -> u16 {
        self.flags & 0x000f
    }

    /// The first A record's address.
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.answers.iter().find_map(Record::a)
    }
}

/// The header's id and flags, when the message is too damaged to decode whole.
pub fn header(buf: &[u8]) -> Option<(u16, u16)> {
    Some((get16(buf, 0).ok()?, get16(buf, 2).ok()?))
}

/// The data of a record of type `rtype`, which starts at byte `at` of the message (names in it
/// may point back into the message).
fn rdata(buf: &[u8], rtype: u16, at: usize, data: &[u8]) -> Rdata {
    // A name must end inside the record's data.
    let name_at = |off: usize| {
        read_name(buf, at + off)
            .ok()
            .filter(|&(_, end)| end <= at + data.len())
            .map(|(n, _)| n)
    };
    let r = match (rtype, data) {
        (TYPE_A, &[a, b, c, d]) => Some(Rdata::A(Ipv4Addr::new(a, b, c, d))),
        (TYPE_AAAA, d) => <[u8; 16]>::try_from(d)
            .ok()
            .map(|o| Rdata::Aaaa(Ipv6Addr::from(o))),
        (TYPE_CNAME | TYPE_NS | TYPE_PTR, _) => name_at(0).map(Rdata::Name),
        (TYPE_MX, d) if d.len() > 2 => name_at(2).map(|host| Rdata::Mx {
            pref: u16::from_be_bytes([d[0], d[1]]),
            host,
        }),
        (TYPE_SRV, d) if d.len() > 6 => name_at(6).map(|target| Rdata::Srv {
            port: u16::from_be_bytes([d[4], d[5]]),
            target,
        }),
        (TYPE_SOA, _) => name_at(0).map(|mname| Rdata::Soa { mname }),
        (TYPE_TXT, d) => Some(Rdata::Txt(txt(d))),
        _ => None,
    };
    r.unwrap_or(Rdata::Other)
}

/// TXT data: its character strings, escaped, space-separated.
fn txt(d: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(&len) = d.get(i) {
        let s = d.get(i + 1..i + 1 + len as usize).unwrap_or(&d[i + 1..]);
        if !out.is_empty() {
            out.push(' ');
        }
        label(&mut out, s);
        i += 1 + len as usize;
    }
    out
}

/// `A`, `AAAA`, …, or `TYPE65`.
pub fn type_name(t: u16) -> String {
    match t {
        TYPE_A => "A".into(),
        TYPE_NS => "NS".into(),
        TYPE_CNAME => "CNAME".into(),
        TYPE_SOA => "SOA".into(),
        TYPE_PTR => "PTR".into(),
        TYPE_MX => "MX".into(),
        TYPE_TXT => "TXT".into(),
        TYPE_AAAA => "AAAA".into(),
        TYPE_SRV => "SRV".into(),
        41 => "OPT".into(),
        43 => "DS".into(),
        46 => "RRSIG".into(),
        47 => "NSEC".into(),
        48 => "DNSKEY".into(),
        64 => "SVCB".into(),
        65 => "HTTPS".into(),
        255 => "ANY".into(),
        n => format!("TYPE{n}"),
    }
}

/// `IN`, or `CLASS3`. mDNS's top bit (unicast response / cache flush) is not part of it.
pub fn class_name(c: u16) -> String {
    match c & 0x7fff {
        1 => "IN".into(),
        n => format!("CLASS{n}"),
    }
}

pub fn rcode_name(r: u16) -> String {
    match r {
        NOERROR => "NOERROR".into(),
        FORMERR => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        NXDOMAIN => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("RCODE{n}"),
    }
}

/// The flag bits set, as dig shows them: `qr aa rd`.
pub fn flag_names(flags: u16) -> String {
    [(QR, "qr"), (AA, "aa"), (TC, "tc"), (RD, "rd"), (RA, "ra")]
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(" ")
}

fn get16(buf: &[u8], at: usize) -> Result<u16, DnsError> {
    match buf.get(at..at + 2) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(DnsError::Cut(at)),
    }
}

fn get32(buf: &[u8], at: usize) -> Result<u32, DnsError> {
    match buf.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(DnsError::Cut(at)),
    }
}

/// Appends a label's bytes: graphic ASCII as is (but `.` and `\`), the rest as `\DDD`.
fn label(out: &mut String, bytes: &[u8]) {
    for &c in bytes {
        if c.is_ascii_graphic() && c != b'.' && c != b'\\' {
            out.push(c as char);
        } else {
            let _ = write!(out, "\\{c:03}");
        }
    }
}

/// Reads the name at `at`, following compression pointers (only backwards, at most
/// [`JUMPS_MAX`]). Returns the name (`hello.sockscope.test`, `.` for the root) and the offset
/// after the name where it started.
pub fn read_name(buf: &[u8], at: usize) -> Result<(String, usize), DnsError> {
    let mut name = String::new();
    let mut pos = at;
    let mut after = None;
    let mut jumps = 0;
    let mut wire_len = 0;
    loop {
        let len = *buf.get(pos).ok_or(DnsError::NameCut(pos))? as usize;
        match len & 0xc0 {
            0xc0 => {
                let target = (get16(buf, pos)? & 0x3fff) as usize;
                jumps += 1;
                if target >= pos || jumps > JUMPS_MAX {
                    return Err(DnsError::Pointer(pos));
                }
                after.get_or_insert(pos + 2);
                pos = target;
            }
            0 if len == 0 => {
                if name.is_empty() {
                    name.push('.');
                }
                return Ok((name, after.unwrap_or(pos + 1)));
            }
            0 => {
                let bytes = buf
                    .get(pos + 1..pos + 1 + len)
                    .ok_or(DnsError::LabelCut(pos))?;
                wire_len += len + 1;
                if wire_len + 1 > NAME_MAX {
                    return Err(DnsError::NameTooLong);
                }
                if !name.is_empty() {
                    name.push('.');
                }
                label(&mut name, bytes);
                pos += 1 + len;
            }
            _ => {
                return Err(DnsError::LabelType {
                    kind: len as u8,
                    at: pos,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 60 KB message of questions that each point at one long name: 10,000 names of 250
    /// bytes would be 2.5 MB decoded; it stops at the bound.
    #[test]
    fn compressed_names_cannot_make_unbounded_text() {
        let mut b = vec![0x12, 0x34, 0x01, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0];
        for _ in 0..4 {
            b.push(60);
            b.extend_from_slice(&[b'a'; 60]);
        }
        b.extend_from_slice(&[0, 0, 1, 0, 1]);
        while b.len() < 60_000 {
            b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        }
        assert_eq!(Message::parse(&b), Err(DnsError::TooLarge));
        // A message with a few such questions still decodes.
        b[4..6].copy_from_slice(&[0, 20]);
        assert_eq!(Message::parse(&b).map(|m| m.questions.len()), Ok(20));
    }

    /// A response to `www.example.com A` with a CNAME and an A record, both names compressed.
    static RESPONSE: [u8; 70] = [
        0x1a, 0x2b, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0, // header
        3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
        0, 1, 0, 1, // question (12..33)
        0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, b'c', b'd', b'n', 0xc0,
        16, // CNAME cdn.example.com
        0xc0, 45, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34, // A
        0, 0, 0, // trailing bytes are ignored
    ];

    #[test]
    fn deconstruct_a_response() {
        let m = Message::parse(&RESPONSE).unwrap();
        assert_eq!((m.id, m.is_response(), m.rcode()), (0x1a2b, true, NOERROR));
        assert_eq!(flag_names(m.flags), "qr rd ra");
        assert_eq!(m.questions[0].name, "www.example.com");
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].rdata, Rdata::Name("cdn.example.com".into()));
        assert_eq!(m.answers[1].name, "cdn.example.com");
        assert_eq!(m.address(), Some(Ipv4Addr::new(93, 184, 216, 34)));
    }

    #[test]
    fn strict_reading_wants_the_datagram_filled() {
        let (m, end) = Message::parse_with_end(&RESPONSE).unwrap();
        assert_eq!(end, 67);
        assert_eq!(Message::parse_strict(&RESPONSE), None);
        assert_eq!(Message::parse_strict(&RESPONSE[..67]), Some(m));
        // An opcode other than QUERY, or authority records: not taken on a strange port.
        let mut b = RESPONSE[..67].to_vec();
        b[2] |= 0x28;
        assert_eq!(Message::parse_strict(&b), None);
        let mut b = RESPONSE[..67].to_vec();
        b[9] = 1;
        assert_eq!(Message::parse_strict(&b), None);
    }

    #[test]
    fn truncated_messages_are_errors() {
        for n in 0..67 {
            assert!(Message::parse(&RESPONSE[..n]).is_err(), "cut at {n}");
        }
        assert_eq!(Message::parse(&RESPONSE[..5]), Err(DnsError::Header(5)));
        assert_eq!(header(&RESPONSE[..5]), Some((0x1a2b, 0x8180)));
    }

    #[test]
    fn pointers_loop_or_forward_are_refused() {
        let mut looped = RESPONSE[..12].to_vec();
        looped[5] = 1;
        looped[7] = 0;
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&looped), Err(DnsError::Pointer(12)));
        let mut ext = RESPONSE[..12].to_vec();
        ext[7] = 0;
        ext.extend_from_slice(&[0x41, 0]);
        assert!(matches!(
            Message::parse(&ext),
            Err(DnsError::LabelType { kind: 0x41, .. })
        ));
    }

    #[test]
    fn record_data_of_common_types() {
        let msg = |rtype: u16, data: &[u8]| {
            let mut b = vec![0, 0, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, b'x', 0];
            b.extend_from_slice(&rtype.to_be_bytes());
            b.extend_from_slice(&[0, 1, 0, 0, 0, 1]);
            b.extend_from_slice(&(data.len() as u16).to_be_bytes());
            b.extend_from_slice(data);
            Message::parse(&b).unwrap().answers.remove(0).rdata
        };
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(msg(TYPE_AAAA, &v6.octets()), Rdata::Aaaa(v6));
        assert_eq!(
            msg(TYPE_MX, &[0, 10, 2, b'm', b'x', 0xc0, 12]),
            Rdata::Mx {
                pref: 10,
                host: "mx.x".into()
            }
        );
        assert_eq!(
            msg(TYPE_TXT, b"\x02hi\x03a\x1bb"),
            Rdata::Txt("hi a\\027b".into())
        );
        // A name that runs past its record's data is not taken.
        assert_eq!(msg(TYPE_PTR, &[0xc0]), Rdata::Other);
        assert_eq!(msg(TYPE_A, &[1, 2, 3]), Rdata::Other);
        assert_eq!(class_name(0x8001), "IN");
    }
}
