//! The facts of a `linger` run: per part, what was still queued at close(), how long close()
//! took, and what became of the queued bytes.

use super::checks::{client_data, has, ms, read_total, reads, seen};
use crate::analyse::flags as f;
use crate::live::checks::wire_bytes;
use crate::live::model::Dir;
use crate::live::View;

pub(super) fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = seen(v, "linger/default") {
        let data = client_data(v, s.conn);
        let fin = v
            .conn_pkts(s.conn)
            .find(|p| p.dir == Dir::ToServer && has(p, f::FIN));
        if let (Some(c), Some(fin)) = (s.close, fin) {
            let after: Vec<_> = data.iter().filter(|p| p.ts > c.end).collect();
            out.push(format!(
                "(a) close() took {}; then {} bytes in {} segment(s), and the FIN (frame {}) {} \
                 after close() returned",
                ms(c.end - c.start),
                after.iter().map(|p| p.len).sum::<u32>(),
                after.len(),
                fin.index + 1,
                ms(fin.ts - c.end)
            ));
        }
    }
    if let Some(s) = seen(v, "linger/abort") {
        let rst = v
            .conn_pkts(s.conn)
            .find(|p| p.dir == Dir::ToServer && has(p, f::RST));
        let wire = wire_bytes(v, s.conn, Dir::ToServer).len() as i64;
        if let Some(r) = rst {
            out.push(format!(
                "(b) RST in frame {}, seq {}: {} of the {} bytes written never left the client; \
                 the server read {}",
                r.index + 1,
                v.rel_seq(r),
                s.written - wire,
                s.written,
                read_total(&reads(v, &s))
            ));
        }
    }
    if let Some(s) = seen(v, "linger/block") {
        let fin = v
            .conn_pkts(s.conn)
            .find(|p| p.dir == Dir::ToServer && has(p, f::FIN));
        let ack = fin.and_then(|fp| {
            let want = v.rel_next_seq(fp);
            v.conn_pkts(s.conn)
                .find(|p| p.dir == Dir::ToClient && v.rel_ack(p) == want)
        });
        if let (Some(c), Some(a)) = (s.close, ack) {
            out.push(format!(
                "(c) close() blocked {}; it returned {} after the ACK of its FIN (frame {})",
                ms(c.end - c.start),
                ms(c.end - a.ts),
                a.index + 1
            ));
        }
    }
    out
}
