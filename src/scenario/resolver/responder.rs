//! The scenario's DNS server: an authoritative answer for the few names of the zone, written
//! as RFC 1035 (4.1) lays a message out, every name in full (no compression pointers).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{ALIAS, TTL, V4, V6, WWW};
use crate::decode::app::dns::{
    Message, Question, AA, CLASS_IN, LABEL_MAX, NOERROR, NXDOMAIN, QR, RD, TYPE_A, TYPE_AAAA,
    TYPE_CNAME, TYPE_PTR,
};

/// The PTR name of an IPv4 address: its bytes in reverse, under in-addr.arpa (RFC 1035,
/// 3.5): 192.0.2.1 → 1.2.0.192.in-addr.arpa.
pub(super) fn ptr_name(a: Ipv4Addr) -> String {
    let [b0, b1, b2, b3] = a.octets();
    format!("{b3}.{b2}.{b1}.{b0}.in-addr.arpa")
}

/// One answer record's data.
enum Data {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Name(u16, String),
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// `name` as labels; a label too long (impossible for the names answered) is cut.
fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let b = &label.as_bytes()[..label.len().min(LABEL_MAX)];
        out.push(b.len() as u8);
        out.extend_from_slice(b);
    }
    out.push(0);
}

fn put_record(out: &mut Vec<u8>, name: &str, d: &Data) {
    put_name(out, name);
    let (rtype, rdata) = match d {
        Data::A(a) => (TYPE_A, a.octets().to_vec()),
        Data::Aaaa(a) => (TYPE_AAAA, a.octets().to_vec()),
        Data::Name(t, n) => {
            let mut v = Vec::new();
            put_name(&mut v, n);
            (*t, v)
        }
    };
    put16(out, rtype);
    put16(out, CLASS_IN);
    out.extend_from_slice(&TTL.to_be_bytes());
    put16(out, rdata.len() as u16);
    out.extend_from_slice(&rdata);
}

/// The records that answer `q`, or None for a name outside the zone (NXDOMAIN).
fn records(q: &Question) -> Option<Vec<(String, Data)>> {
    let name = q.name.trim_end_matches('.').to_ascii_lowercase();
    let addr = |owner: &str| match q.qtype {
        TYPE_A => vec![(owner.to_owned(), Data::A(V4))],
        TYPE_AAAA => vec![(owner.to_owned(), Data::Aaaa(V6))],
        _ => Vec::new(),
    };
    if name == WWW {
        Some(addr(WWW))
    } else if name == ALIAS {
        let mut v = vec![(ALIAS.to_owned(), Data::Name(TYPE_CNAME, WWW.to_owned()))];
        v.extend(addr(WWW));
        Some(v)
    } else if name == ptr_name(V4) && q.qtype == TYPE_PTR {
        Some(vec![(name, Data::Name(TYPE_PTR, WWW.to_owned()))])
    } else {
        None
    }
}

/// The authoritative answer to `q`'s first question.
pub(super) fn answer(q: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let question = q.questions.first();
    let recs = question.and_then(records);
    let rcode = if recs.is_some() { NOERROR } else { NXDOMAIN };
    let recs = recs.unwrap_or_default();
    put16(&mut out, q.id);
    put16(&mut out, QR | AA | (q.flags & RD) | rcode);
    put16(&mut out, question.is_some() as u16);
    put16(&mut out, recs.len() as u16);
    put16(&mut out, 0);
    put16(&mut out, 0);
    if let Some(question) = question {
        put_name(&mut out, &question.name);
        put16(&mut out, question.qtype);
        put16(&mut out, question.qclass);
    }
    for (name, d) in &recs {
        put_record(&mut out, name, d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::app::dns::Rdata;

    fn ask(name: &str, qtype: u16) -> Message {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        put_name(&mut q, name);
        put16(&mut q, qtype);
        put16(&mut q, CLASS_IN);
        Message::parse(&q).expect("a query")
    }

    #[test]
    fn the_reversed_bytes() {
        assert_eq!(
            ptr_name(Ipv4Addr::new(192, 0, 2, 1)),
            "1.2.0.192.in-addr.arpa"
        );
    }

    #[test]
    fn answers_decode_as_what_was_meant() {
        let a = Message::parse(&answer(&ask(ALIAS, TYPE_A))).expect("an answer");
        assert_eq!((a.id, a.rcode(), a.is_response()), (0x1234, NOERROR, true));
        assert_eq!(a.answers.len(), 2);
        assert_eq!(a.answers[0].rdata, Rdata::Name(WWW.into()));
        assert_eq!(a.answers[1].a(), Some(V4));
        let p = Message::parse(&answer(&ask(&ptr_name(V4), TYPE_PTR))).expect("an answer");
        assert_eq!(p.answers[0].rdata, Rdata::Name(WWW.into()));
        let six = Message::parse(&answer(&ask(WWW, TYPE_AAAA))).expect("an answer");
        assert_eq!(six.answers[0].rdata, Rdata::Aaaa(V6));
        let none = Message::parse(&answer(&ask("x.example", TYPE_A))).expect("an answer");
        assert_eq!((none.rcode(), none.answers.len()), (NXDOMAIN, 0));
    }
}
