//! TCP states and named waits in the views of saved runs (no root): each transition is shown
//! beside the segment that caused it, the kernel's sampled state is checked against the
//! packets' one, and the waits the nagle run shows are named.

use std::path::Path;

use sockscope::live::{pcapng, RunData};
use sockscope::render::run::{report, ReportOptions};
use sockscope::render::{TextOptions, TimeMode};
use sockscope::scenario;

fn load(name: &str) -> RunData {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    pcapng::load(
        &dir.join(format!("{name}.pcapng")),
        &dir.join(format!("{name}.events.jsonl")),
    )
    .unwrap_or_else(|e| panic!("loading the saved {name} run: {e}"))
}

fn text(run: &RunData, width: Option<usize>) -> String {
    let sc = scenario::find(&run.scenario).expect("a scenario of that name");
    let opts = ReportOptions {
        text: TextOptions {
            time: TimeMode::Rel,
            color: false,
        },
        explain: false,
        width,
    };
    report::text(run, Some(sc), &report::checks(run, Some(sc)), &opts)
}

/// The timeline line holding `needle` (the first).
fn line_with<'t>(text: &'t str, needle: &str) -> &'t str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{text}"))
}

#[test]
fn teardown_shows_each_transition_beside_its_segment() {
    let t = text(&load("teardown"), None);
    // The client's FIN: the client leaves ESTABLISHED, the server sees the FIN.
    let fin = line_with(&t, "[F.] seq 1 ack 1");
    assert!(fin.trim_start().contains("ESTABLISHED→FIN_WAIT_1"), "{fin}");
    assert!(fin.trim_end().ends_with("ESTABLISHED→CLOSE_WAIT"), "{fin}");
    // Connection 1: the server's ACK alone, then its FIN.
    assert!(line_with(&t, "[.] seq 1 ack 2").contains("FIN_WAIT_1→FIN_WAIT_2"));
    let last = line_with(&t, "[F.] seq 1 ack 2");
    assert!(last.contains("FIN_WAIT_2→TIME_WAIT") && last.contains("CLOSE_WAIT→LAST_ACK"));
    assert!(line_with(&t, "[.] seq 2 ack 2").contains("LAST_ACK→CLOSED"));
    // The ladder says it too, under the arrows.
    assert!(
        t.contains("│ FIN_WAIT_2→TIME_WAIT            CLOSE_WAIT→LAST_ACK │"),
        "{t}"
    );
}

#[test]
fn a_kernel_state_the_packets_contradict_is_pointed_out() {
    let run = load("teardown");
    let t = text(&run, None);
    // As saved, the kernel and the packets agree.
    assert!(!t.contains("≠ packets"), "{t}");
    // The client's first sample (FIN_WAIT1, after shutdown) said ESTABLISHED instead.
    let mut run = run;
    let e = run
        .events
        .iter_mut()
        .find(|e| e.call == "state" && e.text.as_deref() == Some("FIN_WAIT1"))
        .expect("a FIN_WAIT1 sample");
    e.text = Some("ESTABLISHED".into());
    let t = text(&run, None);
    assert!(
        line_with(&t, "(kernel: fd")
            .contains("(kernel: fd 11 is ESTABLISHED) ≠ packets: FIN_WAIT_1"),
        "{t}"
    );
}

#[test]
fn nagle_run_names_the_delayed_acks_and_the_held_segments() {
    let t = text(&load("nagle"), None);
    let delayed: Vec<&str> = t.lines().filter(|l| l.contains("delayed ACK (")).collect();
    let nagle: Vec<&str> = t
        .lines()
        .filter(|l| l.contains("⏱") && l.contains("Nagle ("))
        .collect();
    // Three requests with Nagle on: each second write waits ~40 ms for the delayed ACK.
    assert_eq!((delayed.len(), nagle.len()), (4, 4), "{t}");
    for l in delayed.iter().chain(&nagle) {
        let ms: f64 = l
            .split("⏱ ")
            .nth(1)
            .and_then(|r| r.split(" ms").next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no duration in {l}"));
        assert!((40.0..50.0).contains(&ms), "{l}");
    }
    // With TCP_NODELAY (the second connection) nothing waits.
    let second = t
        .split("── TCP_NODELAY")
        .nth(1)
        .expect("the TCP_NODELAY part");
    let second = second.split("\nTCP ").next().unwrap_or(second);
    assert!(!second.contains("⏱ 4"), "{second}");
}

#[test]
fn the_jsonl_stream_of_a_run_carries_states_and_waits() {
    let run = load("retransmit");
    let sc = scenario::find("retransmit").expect("retransmit");
    let out = report::jsonl(&run, &report::checks(&run, Some(sc)));
    let rto = out
        .lines()
        .filter(|l| l.contains("\"wait\":\"retransmission_timeout\""))
        .count();
    assert_eq!(rto, 2, "{out}");
    assert_eq!(
        out.matches("\"wait\":\"tail_loss_probe_or_timeout\"")
            .count(),
        1
    );
    assert!(out.contains("\"state_src\":\"FIN_WAIT_1\",\"state_dst\":\"CLOSE_WAIT\""));
}
