//! `sockscope replay FILE --ladder` and `sockscope ladder FILE`: golden ladders of fixture
//! captures in Unicode and ASCII (`tests/snapshots/`), every line within `--width`, and the
//! errors (a stream the file does not have, options that do not go with a ladder).

mod common;

use assert_cmd::Command;
use common::fixture;
use sockscope::render::width;

/// The ladder as `sockscope ARGS` prints it, without colour.
fn ladder(args: &[&str]) -> String {
    let out = Command::cargo_bin("sockscope")
        .unwrap()
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sockscope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn file(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

#[test]
fn ssh_handshake_and_delayed_acks() {
    let text = ladder(&["ladder", &file("ssh.pcap"), "--width", "80"]);
    // The delayed ACK the analyser names is the label of a compressed gap.
    assert!(
        text.contains("┆") && text.contains(": delayed ACK …"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn redis_benchmark_unicode() {
    insta::assert_snapshot!(ladder(&[
        "replay",
        &file("resp_1_benchmark.pcap"),
        "--ladder",
        "--width",
        "72",
    ]));
}

#[test]
fn pptp_retransmissions_ascii() {
    let text = ladder(&[
        "replay",
        &file("pptp.pcap"),
        "--ladder",
        "--ascii",
        "--width",
        "80",
    ]);
    assert!(text.is_ascii(), "{text}");
    assert!(text.contains("<retransmission>"), "{text}");
    assert!(text.contains("-->") || text.contains("->"), "{text}");
    assert!(text.contains("| <--"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn ascii_and_unicode_ladders_have_the_same_rows() {
    let u = ladder(&["ladder", &file("pptp.pcap"), "--width", "80"]);
    let a = ladder(&["ladder", &file("pptp.pcap"), "--width", "80", "-A"]);
    assert_eq!(u.lines().count(), a.lines().count());
    let unicode_arrows = u
        .lines()
        .filter(|l| l.contains("─▶ │") || l.contains("│ ◀─"))
        .count();
    let ascii_arrows = a
        .lines()
        .filter(|l| l.contains("-> |") || l.contains("| <-"))
        .count();
    assert_eq!(unicode_arrows, ascii_arrows);
    assert!(unicode_arrows > 20, "{u}");
    assert!(u.contains("‹retransmission›"));
}

#[test]
fn replay_ladder_and_the_ladder_subcommand_agree() {
    let a = ladder(&["replay", &file("ssh.pcap"), "--ladder", "--stream", "0"]);
    let b = ladder(&["ladder", &file("ssh.pcap"), "--stream", "0"]);
    assert_eq!(a, b);
    // One arrow per packet of TCP stream 0, as the timeline of that stream shows them.
    let arrows = a
        .lines()
        .filter(|l| l.contains('▶') || l.contains('◀'))
        .count();
    let frames = ladder(&[
        "replay",
        &file("ssh.pcap"),
        "--stream",
        "0",
        "--format",
        "jsonl",
    ])
    .lines()
    .filter(|l| l.contains("\"kind\":\"packet\""))
    .count();
    assert_eq!(arrows, frames);
}

#[test]
fn every_line_fits_the_width() {
    for name in [
        "ssh.pcap",
        "pptp.pcap",
        "resp_1_benchmark.pcap",
        "LINKTYPE_IPV6.pcap",
    ] {
        for w in [40usize, 52, 64, 100] {
            for extra in [&[][..], &["-t", "abs"][..], &["--ascii"][..]] {
                let (path, ws) = (file(name), w.to_string());
                let mut args = vec!["ladder", path.as_str(), "--width", ws.as_str()];
                args.extend_from_slice(extra);
                let text = ladder(&args);
                assert!(text.lines().count() > 3, "{name} at {w}: {text}");
                for l in text.lines() {
                    assert!(
                        width(l) <= w,
                        "{name} {extra:?} at {w} columns, a line of {}:\n{l}",
                        width(l)
                    );
                }
            }
        }
    }
}

#[test]
fn a_stream_the_file_does_not_have_is_one_line_and_exit_2() {
    for sub in [&["ladder"][..], &["replay", "--ladder"][..]] {
        let out = Command::cargo_bin("sockscope")
            .unwrap()
            .args(sub)
            .args([&file("ssh.pcap"), "--stream", "99"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("no TCP stream 99 (it has TCP stream 0)"),
            "{err}"
        );
    }
}

#[test]
fn options_that_do_not_draw_a_ladder_are_refused() {
    for bad in [
        &["-w", "x.pcap"][..],
        &["--follow", "tcp:0"][..],
        &["-X"][..],
    ] {
        let out = Command::cargo_bin("sockscope")
            .unwrap()
            .args(["replay", &file("ssh.pcap"), "--ladder"])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(out.stdout.is_empty());
        // The subcommand refuses them too, in one line naming the option.
        let out = Command::cargo_bin("sockscope")
            .unwrap()
            .args(["ladder", &file("ssh.pcap")])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "ladder {bad:?}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(bad[0]), "{err}");
    }
}

#[test]
fn a_capture_without_tcp_or_udp_says_so() {
    let out = Command::cargo_bin("sockscope")
        .unwrap()
        .args(["ladder", &file("ssh.pcap"), "icmp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no TCP or UDP conversation"), "{err}");
}

#[test]
fn other_streams_are_named_on_stderr_and_stream_picks_one() {
    let run = |extra: &[&str]| {
        Command::cargo_bin("sockscope")
            .unwrap()
            .args(["ladder", &file("resp_1_benchmark.pcap"), "--width", "80"])
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let first = run(&[]);
    assert!(first.status.success());
    let err = String::from_utf8(first.stderr).unwrap();
    assert!(err.contains("15 TCP streams"), "{err}");
    assert!(err.contains("--stream N"), "{err}");
    let third = run(&["--stream", "2"]);
    assert!(third.status.success());
    assert!(third.stderr.is_empty());
    let text = String::from_utf8(third.stdout).unwrap();
    assert!(text.starts_with("TCP stream 2: "), "{text}");
    assert_ne!(text, String::from_utf8(first.stdout).unwrap());
}

/// A saved scenario run (the golden tests' capture and event log).
fn saved(name: &str) -> sockscope::live::RunData {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    sockscope::live::pcapng::load(
        &dir.join(format!("{name}.pcapng")),
        &dir.join(format!("{name}.events.jsonl")),
    )
    .unwrap()
}

fn run_ladders(name: &str, width: Option<usize>, ascii: bool) -> String {
    use sockscope::render::ladder_text::{render_all, Style};
    let run = saved(name);
    let v = sockscope::live::View::new(&run);
    let mut s = String::new();
    let st = Style {
        time: sockscope::render::TimeMode::Rel,
        color: false,
        ascii,
        width,
    };
    render_all(&mut s, &v, &st);
    s
}

#[test]
fn a_run_has_its_calls_and_pids_on_the_lanes() {
    let text = run_ladders("hello", Some(80), false);
    assert!(text.contains("connect("), "{text}");
    assert!(text.contains("accept"), "{text}");
    assert!(text.contains(" pid "), "{text}");
    // The client's connect() is against the left lifeline, the server's accept against the right.
    let connect = text.lines().find(|l| l.contains("connect(")).unwrap();
    assert!(connect.contains("│ connect("), "{connect}");
    insta::assert_snapshot!(text);
}

/// The endpoints (addr:port) of a saved run's conversations, and how many conversations.
fn endpoints(name: &str) -> (usize, usize) {
    let run = saved(name);
    let v = sockscope::live::View::new(&run);
    let mut ends: Vec<_> = v.conns.iter().flat_map(|c| [c.client, c.server]).collect();
    ends.sort();
    ends.dedup();
    (ends.len(), v.conns.len())
}

#[test]
fn fork_draws_each_client_and_fits() {
    let (ends, conns) = endpoints("fork");
    assert!(ends > 3 && conns >= 3, "{ends} {conns}");
    // 8 columns of time, 2 of margin, a lifeline, and 17 columns per further lane.
    let need = 11 + (ends - 1) * 17;
    for w in [40, 60, 90] {
        let text = run_ladders("fork", Some(w), w == 60);
        for l in text.lines() {
            assert!(width(l) <= w, "fork at {w}, a line of {}:\n{l}", width(l));
        }
        if w < need {
            // Below, a ladder per conversation, and why.
            assert_eq!(text.matches("\nTCP ").count(), conns, "{text}");
            let why = text.split("\n\n").next().unwrap().replace("\n  ", " ");
            let start = format!(
                "the run has {ends} endpoints (addr:port) in {conns} conversations and {} fit in \
                 {w} columns",
                1 + (w - 11) / 17
            );
            assert!(why.starts_with(&start), "{why}");
            assert!(why.contains("--stream N") && why.contains(&format!("--width {need}")));
        } else {
            let title = format!("{conns} TCP conversations on one ladder, {ends} endpoints\n");
            assert!(text.starts_with(&title), "{text}");
        }
    }
}

/// `fork`'s clients and the server they share on one ladder: a lane per endpoint, each
/// client's arrows from its own lane to the server's (the last), in time order; at 80 and 120
/// columns, in Unicode and ASCII.
#[test]
fn fork_on_one_ladder_of_a_lane_per_endpoint() {
    let run = saved("fork");
    let v = sockscope::live::View::new(&run);
    let server = v.conns[0].server;
    assert!(v.conns.iter().all(|c| c.server == server));
    for w in [80usize, 120] {
        let uni = run_ladders("fork", Some(w), false);
        let asc = run_ladders("fork", Some(w), true);
        assert!(asc.is_ascii(), "{asc}");
        for text in [&uni, &asc] {
            for l in text.lines() {
                assert!(width(l) <= w, "fork at {w}, a line of {}:\n{l}", width(l));
            }
        }
        // Every client's SYN, from its own lane, ends on the server's lane, the last one.
        let syns: Vec<&str> = uni.lines().filter(|l| l.contains("[S] seq=0")).collect();
        assert_eq!(syns.len(), v.conns.len(), "{uni}");
        let starts: Vec<usize> = syns.iter().map(|l| l.find("[S]").unwrap()).collect();
        assert!(starts.windows(2).all(|s| s[0] < s[1]), "{starts:?}\n{uni}");
        assert!(syns.iter().all(|l| l.ends_with("▶ │")), "{uni}");
        // One arrow per packet, in both styles.
        let arrows = uni.matches('▶').count() + uni.matches('◀').count();
        assert_eq!(arrows, v.pkts.len(), "{uni}");
        // The same rows in ASCII (its `->` and `...` may wrap more): those with a time.
        let timed = |t: &str| {
            t.lines()
                .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
                .count()
        };
        assert_eq!(timed(&uni), timed(&asc));
        // Time goes down: the packets' times are in order.
        let times: Vec<f64> = uni
            .lines()
            .filter(|l| l.contains('▶') || l.contains('◀'))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(times.len(), v.pkts.len());
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        insta::assert_snapshot!(format!("fork_lanes_{w}"), uni);
        insta::assert_snapshot!(format!("fork_lanes_{w}_ascii"), asc);
    }
}

#[test]
fn a_saved_run_file_is_drawn_with_its_calls() {
    let run = saved("hello");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ladder-hello.pcapng");
    let mut f = std::fs::File::create(&path).unwrap();
    sockscope::live::pcapng::write(&mut f, &run).unwrap();
    drop(f);
    let p = path.to_string_lossy().into_owned();
    let text = ladder(&["ladder", &p, "--width", "80"]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(text, run_ladders("hello", Some(80), false));
    assert!(text.contains("│ connect("), "{text}");
}

#[test]
fn colour_per_direction_only_when_asked() {
    let text = ladder(&["ladder", &file("ssh.pcap"), "--color", "always"]);
    let to_server = text.lines().find(|l| l.contains("[S] seq=0")).unwrap();
    let to_client = text.lines().find(|l| l.contains("[S.] seq=0")).unwrap();
    assert!(to_server.contains("\x1b[36m"), "{to_server:?}");
    assert!(to_client.contains("\x1b[33m"), "{to_client:?}");
    // In a pipe (auto), and with NO_COLOR, no escape at all.
    let plain = ladder(&["ladder", &file("ssh.pcap")]);
    assert!(!plain.contains('\x1b'));
}

/// A capture of several conversations between more than two endpoints: all on one ladder of a
/// lane per endpoint when they fit the width; else the first, and on stderr how many endpoints
/// there are, how many fit and what to do. `--stream N` still picks one.
#[test]
fn a_capture_of_many_endpoints_on_one_ladder_or_the_first_and_why() {
    let f = file("ldp-common-session.pcap");
    let run = |w: &str, extra: &[&str]| {
        let out = Command::cargo_bin("sockscope")
            .unwrap()
            .args(["ladder", &f, "--width", w])
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    // Its TCP and UDP packets, as the JSON Lines count them.
    let packets = ladder(&["replay", &f, "--format", "jsonl"])
        .lines()
        .filter(|l| l.contains("\"kind\":\"packet\""))
        .filter(|l| l.contains("\"proto\":\"tcp\"") || l.contains("\"proto\":\"udp\""))
        .count();
    let (text, err) = run("120", &[]);
    assert!(err.is_empty(), "{err}");
    let title = text.lines().next().unwrap();
    assert!(title.ends_with("on one ladder, 6 endpoints"), "{text}");
    let arrows = text.matches('▶').count() + text.matches('◀').count();
    assert_eq!(arrows, packets, "{text}");
    for l in text.lines() {
        assert!(width(l) <= 120, "{l}");
    }
    // Six lanes do not fit 80 columns: the first conversation, and why.
    let (text, err) = run("80", &[]);
    assert!(text.starts_with("TCP stream 0: "), "{text}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("6 endpoints (addr:port)"), "{err}");
    assert!(err.contains("fit in 80 columns"), "{err}");
    assert!(
        err.contains("--stream N") && err.contains("--width "),
        "{err}"
    );
    // The width it names draws them all.
    let need = err
        .split("--width ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap();
    let (text, err) = run(need, &[]);
    assert!(
        err.is_empty() && text.contains("on one ladder"),
        "{err}{text}"
    );
    // --stream N: one conversation, as before.
    let (text, _) = run("120", &["--stream", "0"]);
    assert!(text.starts_with("TCP stream 0: "), "{text}");
}
