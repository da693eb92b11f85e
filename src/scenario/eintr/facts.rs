//! The facts of an `eintr` run: how long each blocked call waited and when its signal came.

use super::checks::{inside, ms, part};
use super::{ALARM, NO_RESTART, RESTART};
use crate::live::event::Event;
use crate::live::{Role, View};

pub(super) fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = part(v, NO_RESTART) {
        if let Some(a) = p.accepts.first() {
            if let Some(h) = inside(&p.handlers, a, "SIGCHLD") {
                out.push(format!(
                    "no SA_RESTART: accept() slept {}, the handler ran {} and it returned {} later",
                    ms(h.start - a.start),
                    ms(h.end - h.start),
                    ms(a.end - h.end)
                ));
            }
        }
        if let Some(b) = p.accepts.get(1) {
            out.push(format!(
                "  the loop's accept() waited {} for the client",
                ms(b.end - b.start)
            ));
        }
    }
    if let Some(p) = part(v, RESTART) {
        if let Some(a) = p.accepts.first() {
            if let Some(h) = inside(&p.handlers, a, "SIGCHLD") {
                out.push(format!(
                    "SA_RESTART: one accept() of {}; the handler ran {} into it",
                    ms(a.end - a.start),
                    ms(h.start - a.start)
                ));
            }
        }
    }
    if let Some(span) = v.phase(ALARM) {
        let alarms: Vec<&Event> = v.calls(Role::Server, "alarm", span).collect();
        let reads: Vec<&Event> = v.calls(Role::Server, "read", span).collect();
        if let (Some(c), Some(r)) = (alarms.get(1), reads.first()) {
            out.push(format!(
                "alarm: the data came {} after alarm(1); alarm(0) returned {} (seconds left, \
                 rounded)",
                ms(r.end - alarms[0].start),
                c.ret.unwrap_or(0)
            ));
        }
        if let (Some(a), Some(r)) = (alarms.get(2), reads.get(1)) {
            out.push(format!(
                "  the timed-out read() returned {} after alarm(1)",
                ms(r.end - a.start)
            ));
        }
    }
    out
}
