//! Facts about each conversation of a run that has no scenario of its own (`sockscope trace`):
//! the ISNs and SYN options of a TCP connection, and what each side sent. Pure, from the view.

use std::fmt::Write;

use crate::analyse::flags as f;
use crate::live::model::{Dir, Pkt, Proto, View};

use super::timeline::compact_options;

/// One block of lines per conversation, in the order they appeared.
pub fn conversations(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    for (ci, c) in v.conns.iter().enumerate() {
        let pkts: Vec<&Pkt> = v.conn_pkts(ci).collect();
        let proto = match c.proto {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        };
        out.push(format!("{proto} {}", c.label()));
        if c.proto == Proto::Tcp {
            let syn = |d: Dir| {
                pkts.iter()
                    .find(|p| p.dir == d && p.tcp.as_ref().is_some_and(|t| t.flags & f::SYN != 0))
            };
            let (cs, ss) = (syn(Dir::ToServer), syn(Dir::ToClient));
            let isn = |p: Option<&&Pkt>| {
                p.and_then(|p| p.tcp.as_ref())
                    .map_or("not seen".to_owned(), |t| t.seq.to_string())
            };
            out.push(format!(
                "  ISNs (seq/ack above count from them): client {}, server {}",
                isn(cs),
                isn(ss)
            ));
            let opts = |p: Option<&&Pkt>| {
                let mut s = String::new();
                match p.and_then(|p| p.tcp.as_ref()) {
                    Some(t) => {
                        s.push('<');
                        compact_options(&mut s, &t.options);
                        s.push('>');
                    }
                    None => s.push_str("(no SYN)"),
                }
                s
            };
            if cs.is_some() || ss.is_some() {
                out.push(format!(
                    "  SYN options: client {}, server {}",
                    opts(cs),
                    opts(ss)
                ));
            }
        }
        for (d, from) in [(Dir::ToServer, "client"), (Dir::ToClient, "server")] {
            let (n, bytes) = pkts
                .iter()
                .filter(|p| p.dir == d)
                .fold((0usize, 0u64), |(n, b), p| (n + 1, b + u64::from(p.len)));
            let mut line = format!("  sent by the {from}: {n} packet");
            if n != 1 {
                line.push('s');
            }
            let _ = write!(line, ", {bytes} bytes of data");
            out.push(line);
        }
    }
    out
}
