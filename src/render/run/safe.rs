//! The strings of a run made safe for a terminal before the report is drawn: a saved run's
//! scenario name, filter and events come from a file (`sockscope replay` of any pcapng that
//! says sockscope wrote it), and a traced program's output lines and call arguments from the
//! program. Every control character in them (ESC, CSI, CR, BEL, tab, line feed…) and every
//! bidirectional or invisible formatting character is written as `\xNN` ([`controls`]).

use std::borrow::Cow;

use crate::live::{Check, RunData};
use crate::render::escape::controls;

/// `run` itself when none of its strings needs escaping (the usual case), else a copy whose
/// strings are escaped.
pub fn run(run: &RunData) -> Cow<'_, RunData> {
    let unsafe_str = |s: &str| matches!(controls(s), Cow::Owned(_));
    let unsafe_opt = |s: &Option<String>| s.as_deref().is_some_and(unsafe_str);
    let dirty = unsafe_str(&run.scenario)
        || unsafe_str(&run.filter)
        || run.events.iter().any(|e| {
            unsafe_str(&e.who)
                || unsafe_str(&e.call)
                || unsafe_str(&e.args)
                || unsafe_opt(&e.errno)
                || unsafe_opt(&e.text)
        });
    if !dirty {
        return Cow::Borrowed(run);
    }
    let mut safe = run.clone();
    let fix = |s: &mut String| {
        if let Cow::Owned(o) = controls(s) {
            *s = o;
        }
    };
    fix(&mut safe.scenario);
    fix(&mut safe.filter);
    for e in &mut safe.events {
        fix(&mut e.who);
        fix(&mut e.call);
        fix(&mut e.args);
        e.errno.as_mut().map(fix);
        e.text.as_mut().map(fix);
    }
    Cow::Owned(safe)
}

/// The checks' texts, escaped (a check may quote what the run holds).
pub fn checks(checks: &[Check]) -> Vec<Check> {
    checks
        .iter()
        .map(|c| Check {
            ok: c.ok,
            what: controls(&c.what).into_owned(),
            detail: controls(&c.detail).into_owned(),
        })
        .collect()
}

/// Lines of text (the facts) with their controls escaped.
pub fn lines(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|l| match controls(&l) {
            Cow::Borrowed(_) => l,
            Cow::Owned(o) => o,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{Event, Role};

    #[test]
    fn only_a_run_with_controls_is_copied() {
        let mut e = Event::new(Role::Client, "client", "write", 1);
        e.args = "3, \"hi\\n\", 3".into();
        let clean = RunData {
            scenario: "hello".into(),
            events: vec![e.clone()],
            ..RunData::default()
        };
        assert!(matches!(run(&clean), Cow::Borrowed(_)));
        e.who = "\u{1b}]0;owned\u{7}".into();
        e.text = Some("red \u{1b}[31m\u{9b}2J".into());
        let hostile = RunData {
            scenario: "x\u{1b}[2J".into(),
            events: vec![e],
            ..clean
        };
        let safe = run(&hostile);
        assert_eq!(safe.scenario, "x\\x1b[2J");
        assert_eq!(safe.events[0].who, "\\x1b]0;owned\\x07");
        assert_eq!(
            safe.events[0].text.as_deref(),
            Some("red \\x1b[31m\\xc2\\x9b2J")
        );
        assert_eq!(safe.events[0].args, "3, \"hi\\n\", 3", "backslashes kept");
        let c = checks(&[Check::new(false, "a\u{1b}", "b\r")]);
        assert_eq!(
            (c[0].what.as_str(), c[0].detail.as_str()),
            ("a\\x1b", "b\\x0d")
        );
    }
}
