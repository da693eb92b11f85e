//! The facts of a `resolver` run: each query and its answer, as the wire carried them.

use crate::decode::app::dns::{type_name, Message, Rdata};
use crate::live::model::{Dir, Pkt, Proto};
use crate::live::View;

/// One query datagram and the answer to it.
pub(super) struct Datagram<'v> {
    pub(super) query: &'v Pkt,
    pub(super) id: u16,
    /// The question, lower case, without the final dot.
    pub(super) name: String,
    pub(super) qtype: u16,
    pub(super) answer: Option<Message>,
    pub(super) answer_pkt: Option<&'v Pkt>,
}

/// The queries to the server, in order, each with the first answer that matches it (a
/// response with its id, sent back to its source port).
pub(super) fn datagrams<'v>(v: &'v View) -> Vec<Datagram<'v>> {
    let mut out = Vec::new();
    for p in v
        .pkts
        .iter()
        .filter(|p| p.proto == Proto::Udp && p.dir == Dir::ToServer)
    {
        let Ok(q) = Message::parse(&p.payload) else {
            continue;
        };
        let Some(question) = q.questions.first().filter(|_| !q.is_response()) else {
            continue;
        };
        let answer = v.pkts.iter().find_map(|a| {
            if a.dir != Dir::ToClient || a.dst != p.src || a.ts < p.ts {
                return None;
            }
            let m = Message::parse(&a.payload).ok()?;
            (m.is_response() && m.id == q.id).then_some((a, m))
        });
        out.push(Datagram {
            query: p,
            id: q.id,
            name: question.name.trim_end_matches('.').to_ascii_lowercase(),
            qtype: question.qtype,
            answer_pkt: answer.as_ref().map(|x| x.0),
            answer: answer.map(|x| x.1),
        });
    }
    out
}

fn rdata(r: &Rdata) -> String {
    match r {
        Rdata::A(a) => a.to_string(),
        Rdata::Aaaa(a) => a.to_string(),
        Rdata::Name(n) => n.clone(),
        _ => "…".into(),
    }
}

pub(super) fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    for d in datagrams(v) {
        let mut l = format!(
            "frame {}: {}? {} (id {:#06x}, from port {})",
            d.query.index + 1,
            type_name(d.qtype),
            d.name,
            d.id,
            d.query.src.port()
        );
        match (&d.answer, d.answer_pkt) {
            (Some(m), Some(a)) => {
                let recs: Vec<String> = m
                    .answers
                    .iter()
                    .map(|r| format!("{} {}", type_name(r.rtype), rdata(&r.rdata)))
                    .collect();
                l.push_str(&format!(
                    " → frame {}: {}",
                    a.index + 1,
                    if recs.is_empty() {
                        crate::decode::app::dns::rcode_name(m.rcode())
                    } else {
                        recs.join(", ")
                    }
                ));
            }
            _ => l.push_str(" → no answer"),
        }
        out.push(l);
    }
    out
}
