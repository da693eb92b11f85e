//! What a `resolver` run must show: the queries each call sent, their answers, and the
//! struct hostent built from them; and how the run is read back.

use super::facts::datagrams;
use super::responder::ptr_name;
use super::{ALIAS, BYADDR, CNAME, DNS_PORT, GAI, HOSTS, NAMESERVER, V4, V6, WWW};
use crate::decode::app::dns::{Rdata, TYPE_A, TYPE_AAAA, TYPE_CNAME, TYPE_PTR};
use crate::live::checks::Check;
use crate::live::event::Event;
use crate::live::model::Proto;
use crate::live::tracer::{parse_addrs, Hostent};
use crate::live::{Role, View};

/// The client's call `call` in the phase `key`.
pub(super) fn call<'v>(v: &'v View, key: &str, call: &'v str) -> Option<&'v Event> {
    let span = v.phase(key)?;
    v.calls(Role::Client, call, span).next()
}

fn hostent(e: Option<&Event>) -> Option<Hostent> {
    e.filter(|e| e.ok())
        .and_then(|e| Hostent::parse(e.text.as_deref()?))
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let d = datagrams(v);
    let mut out = Vec::new();

    // getaddrinfo: A and AAAA, one socket, two ids, both answered; both addresses back.
    let span = v.phase(GAI);
    let gai: Vec<_> = d
        .iter()
        .filter(|x| span.is_some_and(|s| x.query.ts >= s.0 && x.query.ts < s.1))
        .collect();
    let types: Vec<u16> = gai.iter().map(|x| x.qtype).collect();
    let one_port = gai.windows(2).all(|w| w[0].query.src == w[1].query.src);
    let ids_differ = gai.len() == 2 && gai[0].id != gai[1].id;
    let answered = gai.iter().all(|x| x.answer.is_some());
    let got = call(v, GAI, "getaddrinfo")
        .filter(|e| e.ok())
        .and_then(|e| parse_addrs(e.text.as_deref()?));
    let both = got
        .as_ref()
        .is_some_and(|a| a.contains(&V4.into()) && a.contains(&V6.into()));
    out.push(Check::new(
        gai.len() == 2
            && types.contains(&TYPE_A)
            && types.contains(&TYPE_AAAA)
            && gai.iter().all(|x| x.name == WWW)
            && one_port
            && ids_differ
            && answered
            && both,
        "getaddrinfo(AF_UNSPEC) sends an A and an AAAA query from one socket, two ids, and returns both addresses",
        format!(
            "{} queries ({}) {}; ids {}; returned {}",
            gai.len(),
            gai.iter()
                .map(|x| crate::decode::app::dns::type_name(x.qtype))
                .collect::<Vec<_>>()
                .join(", "),
            if one_port { "from one port" } else { "from several ports" },
            gai.iter()
                .map(|x| format!("{:#06x}", x.id))
                .collect::<Vec<_>>()
                .join(", "),
            got.map_or("nothing".into(), |a| crate::live::tracer::addrs_text(&a))
        ),
    ));

    // gethostbyaddr: one PTR query for the reversed bytes; h_name from its answer.
    let span = v.phase(BYADDR);
    let ptr: Vec<_> = d
        .iter()
        .filter(|x| span.is_some_and(|s| x.query.ts >= s.0 && x.query.ts < s.1))
        .collect();
    let want = ptr_name(V4);
    let h = hostent(call(v, BYADDR, "gethostbyaddr"));
    out.push(Check::new(
        ptr.len() == 1
            && ptr[0].qtype == TYPE_PTR
            && ptr[0].name == want
            && ptr[0].answer.is_some()
            && h.as_ref().is_some_and(|h| h.name == WWW),
        format!("gethostbyaddr({V4}) asks for the PTR record of {want}: the address's bytes reversed; its answer is h_name"),
        format!(
            "{}; h_name {}",
            ptr.iter()
                .map(|x| format!("{} {}", crate::decode::app::dns::type_name(x.qtype), x.name))
                .collect::<Vec<_>>()
                .join(", "),
            h.map_or("none".into(), |h| h.name)
        ),
    ));

    // gethostbyname of the alias: one A query; CNAME then A in the answer; the hostent.
    let span = v.phase(CNAME);
    let al: Vec<_> = d
        .iter()
        .filter(|x| span.is_some_and(|s| x.query.ts >= s.0 && x.query.ts < s.1))
        .collect();
    let chain = al.first().and_then(|x| x.answer.as_ref()).map(|a| {
        a.answers
            .iter()
            .map(|r| (r.rtype, r.rdata.clone()))
            .collect::<Vec<_>>()
    });
    let chain_ok = chain.as_ref().is_some_and(|c| {
        c.len() == 2
            && c[0] == (TYPE_CNAME, Rdata::Name(WWW.into()))
            && c[1] == (TYPE_A, Rdata::A(V4))
    });
    let h = hostent(call(v, CNAME, "gethostbyname"));
    let h_ok = h
        .as_ref()
        .is_some_and(|h| h.name == WWW && h.aliases == [ALIAS] && h.addrs == [V4]);
    out.push(Check::new(
        al.len() == 1 && al[0].qtype == TYPE_A && al[0].name == ALIAS && chain_ok && h_ok,
        "gethostbyname(alias) sends one A query; the answer's CNAME and A become h_name (the canonical name), h_aliases (the name asked) and h_addr_list",
        format!(
            "{} query(ies); answer records {}; {}",
            al.len(),
            chain.map_or("none".into(), |c| c
                .iter()
                .map(|(t, _)| crate::decode::app::dns::type_name(*t))
                .collect::<Vec<_>>()
                .join(" + ")),
            h.map_or("no hostent".into(), |h| h.text())
        ),
    ));

    // Every query is one datagram with one answer: same id, back to its port.
    let unanswered: Vec<usize> = d
        .iter()
        .filter(|x| x.answer.is_none())
        .map(|x| x.query.index + 1)
        .collect();
    let replies = v
        .pkts
        .iter()
        .filter(|p| p.src.port() == v.conns.first().map_or(0, |c| c.server.port()))
        .count();
    out.push(Check::new(
        !d.is_empty() && unanswered.is_empty() && replies == d.len(),
        "each query is one UDP datagram, answered by one datagram with its id, to its source port",
        if unanswered.is_empty() {
            format!("{} queries, {replies} answers", d.len())
        } else {
            format!("unanswered: frames {unanswered:?}")
        },
    ));
    // resolv.conf names a server, not a port: the queries go to 53, where the server is.
    let printed = |path: &str| {
        v.run
            .events
            .iter()
            .filter(|e| e.call == "print")
            .find_map(|e| e.text.as_deref()?.strip_prefix(path)?.strip_prefix(": "))
            .unwrap_or("not shown")
    };
    let (conf, nss) = (printed("/etc/resolv.conf"), printed("/etc/nsswitch.conf"));
    let dsts: std::collections::BTreeSet<std::net::SocketAddr> =
        d.iter().map(|x| x.query.dst).collect();
    let dns: std::net::SocketAddr = (std::net::Ipv4Addr::LOCALHOST, DNS_PORT).into();
    out.push(Check::new(
        conf == NAMESERVER && nss == HOSTS && !d.is_empty() && dsts.iter().all(|a| *a == dns),
        "the resolver read the run's own resolv.conf (nameserver 127.0.0.1, no port) and asked 127.0.0.1:53",
        format!(
            "resolv.conf: {conf}; nsswitch.conf: {nss}; queries to {}",
            dsts.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    let tcp = v.pkts.iter().filter(|p| p.proto == Proto::Tcp).count();
    out.push(Check::new(
        tcp == 0,
        "DNS here is UDP only: no TCP segment",
        format!("{tcp} TCP segment(s)"),
    ));
    out
}
