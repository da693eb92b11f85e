//! DNS messages as the `dns` scenario writes them (RFC 1035, 4.1): a query with one question,
//! and its answer, one A record whose name is a compression pointer. Used by the scenario's
//! client and responder; reading (for them and the checks) is `decode::app::dns`, which replay
//! shares.

use std::net::Ipv4Addr;

pub(super) use crate::decode::app::dns::{
    class_name, flag_names, rcode_name, type_name, Message, Question, Record, AA, CLASS_IN,
    FORMERR, NOERROR, NXDOMAIN, QR, RD, TYPE_A,
};
use crate::decode::app::dns::{HEADER, LABEL_MAX, NAME_MAX};

/// Appends `name` as labels (`5hello8sockscope4test0`).
fn put_name(out: &mut Vec<u8>, name: &str) -> Result<(), String> {
    let start = out.len();
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > LABEL_MAX || !label.is_ascii() {
                return Err(format!("{name:?}: bad label {label:?}"));
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    if out.len() - start > NAME_MAX {
        return Err(format!("{name:?}: longer than {NAME_MAX} bytes"));
    }
    Ok(())
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn header(out: &mut Vec<u8>, id: u16, flags: u16, counts: [u16; 4]) {
    put16(out, id);
    put16(out, flags);
    for c in counts {
        put16(out, c);
    }
}

/// A query for `name`, type `qtype`, class IN, recursion desired (as a stub resolver sends).
pub(super) fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64);
    header(&mut out, id, RD, [1, 0, 0, 0]);
    put_name(&mut out, name)?;
    put16(&mut out, qtype);
    put16(&mut out, CLASS_IN);
    Ok(out)
}

/// The authoritative answer to `q` (its first question): `answer` as one A record, whose name
/// is a compression pointer to the question's name; or no answer with `rcode`.
pub(super) fn response(
    q: &Message,
    answer: Option<(Ipv4Addr, u32)>,
    rcode: u16,
) -> Result<Vec<u8>, String> {
    let Some(question) = q.questions.first() else {
        let mut out = Vec::with_capacity(HEADER);
        header(&mut out, q.id, QR | (q.flags & RD) | FORMERR, [0, 0, 0, 0]);
        return Ok(out);
    };
    let mut out = Vec::with_capacity(64);
    let flags = QR | AA | (q.flags & RD) | (rcode & 0x000f);
    header(&mut out, q.id, flags, [1, answer.is_some() as u16, 0, 0]);
    put_name(&mut out, &question.name)?;
    put16(&mut out, question.qtype);
    put16(&mut out, question.qclass);
    if let Some((addr, ttl)) = answer {
        // The name: a pointer (top two bits set) to offset 12, where the question's name is.
        put16(&mut out, 0xc000 | HEADER as u16);
        put16(&mut out, TYPE_A);
        put16(&mut out, CLASS_IN);
        out.extend_from_slice(&ttl.to_be_bytes());
        put16(&mut out, 4);
        out.extend_from_slice(&addr.octets());
    }
    Ok(out)
}

/// Decodes a message (see [`Message::parse`]); the error as text.
pub(super) fn decode(buf: &[u8]) -> Result<Message, String> {
    Message::parse(buf).map_err(|e| e.to_string())
}

/// A question as dig shows it: `hello.sockscope.test. IN A`.
pub(super) fn show_question(q: &Question) -> String {
    format!(
        "{} {} {}",
        fqdn(&q.name),
        class_name(q.qclass),
        type_name(q.qtype)
    )
}

/// A record as dig shows it: `hello.sockscope.test. 300 IN A 192.0.2.1`.
pub(super) fn show_record(r: &Record) -> String {
    let data = match r.a() {
        Some(a) => a.to_string(),
        None => r.data.iter().map(|b| format!("{b:02x}")).collect(),
    };
    format!(
        "{} {} {} {} {data}",
        fqdn(&r.name),
        r.ttl,
        class_name(r.class),
        type_name(r.rtype)
    )
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// The message's bytes in groups: header | question name | type class [| answer …], in hex,
/// the name's labels shown as text (`05 hello 08 sockscope 04 test 00`).
pub(super) fn show_bytes(buf: &[u8]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut parts: Vec<String> = Vec::new();
    let Some(head) = buf.get(..HEADER) else {
        return hex(buf);
    };
    parts.push(head.chunks(2).map(hex).collect::<Vec<_>>().join(" "));
    let mut pos = HEADER;
    // The question's name, label by label.
    let mut name = Vec::new();
    while let Some(&len) = buf.get(pos) {
        if len == 0 {
            name.push("00".to_owned());
            pos += 1;
            break;
        }
        if len & 0xc0 != 0 {
            break;
        }
        let Some(label) = buf.get(pos + 1..pos + 1 + len as usize) else {
            break;
        };
        name.push(format!("{len:02x} {}", String::from_utf8_lossy(label)));
        pos += 1 + len as usize;
    }
    parts.push(name.join(" "));
    if let Some(tc) = buf.get(pos..pos + 4) {
        parts.push(format!("{} {}", hex(&tc[..2]), hex(&tc[2..])));
        pos += 4;
    }
    if pos < buf.len() {
        // An answer: name (pointer), type, class, TTL, length, data.
        let rest = &buf[pos..];
        let cuts = [2usize, 2, 2, 4, 2];
        let mut fields = Vec::new();
        let mut at = 0;
        for c in cuts {
            if let Some(f) = rest.get(at..at + c) {
                fields.push(hex(f));
                at += c;
            }
        }
        if at < rest.len() {
            fields.push(hex(&rest[at..]));
        }
        parts.push(fields.join(" "));
    }
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes_are_rfc_1035() {
        let q = query(0xbeef, "hello.sockscope.test", TYPE_A).unwrap();
        let mut want = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(b"\x05hello\x09sockscope\x04test\x00");
        want.extend_from_slice(&[0, 1, 0, 1]);
        assert_eq!(q, want);
        let m = decode(&q).unwrap();
        assert_eq!(m.id, 0xbeef);
        assert!(!m.is_response());
        assert_eq!(m.flags, RD);
        assert_eq!(
            m.questions,
            [Question {
                name: "hello.sockscope.test".into(),
                qtype: TYPE_A,
                qclass: CLASS_IN
            }]
        );
        assert!(m.answers.is_empty());
    }

    #[test]
    fn response_answers_with_a_pointer_to_the_question() {
        let q = decode(&query(7, "hello.sockscope.test", TYPE_A).unwrap()).unwrap();
        let r = response(&q, Some((Ipv4Addr::new(192, 0, 2, 1), 300)), NOERROR).unwrap();
        let tail = [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, 1];
        assert!(r.ends_with(&tail));
        let m = decode(&r).unwrap();
        assert_eq!((m.id, m.is_response(), m.rcode()), (7, true, NOERROR));
        assert_eq!(m.flags & (AA | RD), AA | RD);
        assert_eq!(m.questions, q.questions);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].name, "hello.sockscope.test");
        assert_eq!(m.answers[0].ttl, 300);
        assert_eq!(m.address(), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(
            show_record(&m.answers[0]),
            "hello.sockscope.test. 300 IN A 192.0.2.1"
        );
        assert_eq!(
            show_bytes(&r),
            "0007 8500 0001 0001 0000 0000 | 05 hello 09 sockscope 04 test 00 | 0001 0001 | c00c 0001 0001 0000012c 0004 c0000201"
        );
        let nx = decode(&response(&q, None, NXDOMAIN).unwrap()).unwrap();
        assert_eq!((nx.rcode(), nx.answers.len()), (NXDOMAIN, 0));
        assert_eq!(rcode_name(nx.rcode()), "NXDOMAIN");
        assert_eq!(flag_names(nx.flags), "qr aa rd");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(query(1, "a..b", TYPE_A).is_err());
        assert!(query(1, &"x".repeat(64), TYPE_A).is_err());
        assert!(query(1, &["abcdefghij"; 25].join("."), TYPE_A).is_err());
        assert!(query(1, "héllo", TYPE_A).is_err());
        assert_eq!(
            decode(&query(1, ".", TYPE_A).unwrap()).unwrap().questions[0].name,
            "."
        );
    }

    #[test]
    fn bad_messages_are_errors_not_panics() {
        let good = response(
            &decode(&query(9, "a.b", TYPE_A).unwrap()).unwrap(),
            Some((Ipv4Addr::LOCALHOST, 1)),
            NOERROR,
        )
        .unwrap();
        for n in 0..good.len() {
            assert!(decode(&good[..n]).is_err(), "cut at {n}");
        }
        // A pointer to itself, and one forwards.
        let mut looped = good[..12].to_vec();
        looped[5] = 1;
        looped[7] = 0;
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(decode(&looped).is_err());
        let mut fwd = looped.clone();
        fwd[13] = 14;
        assert!(decode(&fwd).is_err());
        // Label type 0x40 (extended) is not supported.
        let mut ext = good[..12].to_vec();
        ext.extend_from_slice(&[0x41, 0]);
        assert!(decode(&ext).is_err());
    }

    #[test]
    fn odd_bytes_in_labels_are_escaped() {
        let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[3, b'a', b'.', 0x07, 0, 0, 1, 0, 1]);
        assert_eq!(decode(&m).unwrap().questions[0].name, "a\\046\\007");
    }
}
