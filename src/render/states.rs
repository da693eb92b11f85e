//! TCP state transitions and named waits as the text views show them:
//! `client SYN_SENT→ESTABLISHED`, `server ?→LAST_ACK` (first evidence of its state),
//! `⏱ 40.2 ms: delayed ACK (…)`.

use std::fmt::Write;

use crate::analyse::tcp::state::{Transition, Transitions};
use crate::analyse::tcp::Wait;

/// Who an endpoint is: `client`/`server` when known, else the segment's `src`/`dst`.
fn who(t: &Transition, sender: bool, sender_is_client: Option<bool>) -> &'static str {
    let client = sender_is_client.map(|c| c == sender).or(t.client);
    match (client, sender) {
        (Some(true), _) => "client",
        (Some(false), _) => "server",
        (None, true) => "src",
        (None, false) => "dst",
    }
}

/// `SYN_SENT→ESTABLISHED` (`?→…` when the state was unknown).
pub fn change(out: &mut String, t: &Transition) {
    let _ = write!(out, "{}→{}", t.from.name(), t.to.name());
}

/// The transitions of a segment, the client's first: `client FIN_WAIT_1→TIME_WAIT, server
/// CLOSE_WAIT→LAST_ACK`. `sender_is_client`: whether the segment's sender is the client, when
/// the caller knows (a live run); otherwise the state machine's roles (who sent the first SYN).
pub fn transitions(out: &mut String, trs: &Transitions, sender_is_client: Option<bool>) {
    let mut list: Vec<(&'static str, &Transition)> = Vec::with_capacity(2);
    for (t, sender) in [(&trs.sender, true), (&trs.receiver, false)] {
        if let Some(t) = t {
            list.push((who(t, sender, sender_is_client), t));
        }
    }
    list.sort_by_key(|(w, _)| matches!(*w, "server" | "dst"));
    for (i, (w, t)) in list.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(w);
        out.push(' ');
        change(out, t);
    }
}

/// Only one side's transition: `SYN_SENT→ESTABLISHED`, for a lane that names its side.
pub fn side(trs: &Transitions, client: bool, sender_is_client: bool) -> Option<Transition> {
    if sender_is_client == client {
        trs.sender
    } else {
        trs.receiver
    }
}

/// A duration as a learner reads it: `40.2 ms`, `1.20 s`, `85 µs`.
pub fn duration(out: &mut String, ns: u64) {
    let _ = if ns >= 1_000_000_000 {
        write!(out, "{:.2} s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        write!(out, "{:.1} ms", ns as f64 / 1e6)
    } else {
        write!(out, "{} µs", ns / 1000)
    };
}

/// `⏱ 40.2 ms: delayed ACK (the receiver waited for more data before acknowledging)`.
pub fn wait(out: &mut String, w: &Wait) {
    out.push_str("⏱ ");
    if let Some(ns) = w.ns {
        duration(out, ns);
        out.push_str(": ");
    }
    out.push_str(w.kind.explain());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::tcp::state::TcpState::*;
    use crate::analyse::tcp::WaitKind;

    #[test]
    fn transitions_name_the_client_first() {
        let trs = Transitions {
            sender: Some(Transition {
                from: Listen,
                to: SynReceived,
                client: Some(false),
            }),
            receiver: Some(Transition {
                from: SynSent,
                to: Established,
                client: Some(true),
            }),
        };
        let mut s = String::new();
        transitions(&mut s, &trs, None);
        assert_eq!(s, "client SYN_SENT→ESTABLISHED, server LISTEN→SYN_RECEIVED");
        // Unknown roles: the segment's src and dst; an unknown state shows as `?`.
        let trs = Transitions {
            sender: Some(Transition {
                from: Unknown,
                to: LastAck,
                client: None,
            }),
            receiver: None,
        };
        s.clear();
        transitions(&mut s, &trs, None);
        assert_eq!(s, "src ?→LAST_ACK");
        s.clear();
        transitions(&mut s, &trs, Some(false));
        assert_eq!(s, "server ?→LAST_ACK");
    }

    #[test]
    fn waits_read_as_the_issue_shows_them() {
        let mut s = String::new();
        wait(
            &mut s,
            &Wait {
                kind: WaitKind::DelayedAck,
                ns: Some(40_200_000),
            },
        );
        assert_eq!(
            s,
            "⏱ 40.2 ms: delayed ACK (the receiver waited for more data before acknowledging)"
        );
        s.clear();
        duration(&mut s, 1_204_000_000);
        assert_eq!(s, "1.20 s");
    }
}
