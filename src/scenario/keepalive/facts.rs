//! The facts of a `keepalive` run: the system's defaults against the socket's timers, each
//! probe and what became of it, and how long the dead peer took to be found.

use super::checks::{blocked_read, secs, story};
use super::{CNT, IDLE, INTVL, SILENT_TTL, SYSCTLS};
use crate::live::View;
use crate::scenario::sockopt::calls::sysctl_values;

/// `2 h 11 min 15 s`.
fn hms(s: i64) -> String {
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

/// The system's keep-alive defaults the run read: (time, intvl, probes).
fn defaults(v: &View) -> Option<(i64, i64, i64)> {
    let value = |name: &str| {
        v.run
            .events
            .iter()
            .find(|e| e.call == "sysctl" && e.args == name)
            .and_then(|e| sysctl_values(e).first().copied())
    };
    Some((value(SYSCTLS[0])?, value(SYSCTLS[1])?, value(SYSCTLS[2])?))
}

pub(super) fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((time, intvl, probes)) = defaults(v) {
        out.push(format!(
            "system defaults: first probe after {time} s idle, then {probes} probes {intvl} s \
             apart: a dead peer is found after {}",
            hms(time + probes * intvl)
        ));
    }
    out.push(format!(
        "this socket: TCP_KEEPIDLE {IDLE} s, TCP_KEEPINTVL {INTVL} s, TCP_KEEPCNT {CNT}: found \
         after {}",
        hms(IDLE + CNT * INTVL)
    ));
    let Some(s) = story(v) else {
        return out;
    };
    for (n, p) in s.probes.iter().enumerate() {
        let mut l = format!(
            "probe {} (frame {}): seq {}",
            n + 1,
            p.pkt.index + 1,
            v.rel_seq(p.pkt)
        );
        if let Some(a) = p.after {
            l.push_str(&format!(
                ", {} after the last segment received",
                secs(p.pkt.ts - a.ts)
            ));
        }
        match p.answer {
            Some(a) => l.push_str(&format!(
                "; answered by frame {} (ack {}) {:.0} µs later",
                a.index + 1,
                v.rel_ack(a),
                (a.ts - p.pkt.ts) as f64 / 1e3
            )),
            None if p.silent => l.push_str(&format!(
                "; dropped by the server (TTL 64 < IP_MINTTL {SILENT_TTL})"
            )),
            None => l.push_str("; unanswered"),
        }
        out.push(l);
    }
    if let (Some(r), Some(e)) = (s.rst, blocked_read(v)) {
        let last_in = s.probes.iter().rev().find_map(|p| p.answer);
        out.push(format!(
            "RST (frame {}): read() returned -1 {} after blocking {}{}",
            r.index + 1,
            e.errno.as_deref().unwrap_or("?"),
            secs(e.end - e.start),
            last_in.map_or(String::new(), |a| format!(
                "; {} after the last answer",
                secs(r.ts - a.ts)
            ))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::hms;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(hms(7875), "2 h 11 min 15 s");
        assert_eq!(hms(3), "3 s");
        assert_eq!(hms(0), "0 s");
        assert_eq!(hms(7200), "2 h");
    }
}
