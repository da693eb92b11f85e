//! `--svg` and `--html` on saved runs (no root: `captures/<name>.pcapng` and its event log, as
//! the golden tests load them) and on capture files through `sockscope replay`: the SVG parses
//! as XML with one lane per end, labelled with its role and address, and one arrow per packet
//! going the right way (several conversations: one ladder, a lane per endpoint, each arrow
//! from its sender's lifeline to its receiver's); the page holds every call, packet summary and check of the run and
//! loads nothing from anywhere. Set SOCKSCOPE_PICTURES=DIR to keep the pictures for a look.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use sockscope::live::event::Part;
use sockscope::live::model::Dir;
use sockscope::live::{pcapng, Event, RunData, View};
use sockscope::render::picture::{html, svg, svg_lanes, xml};
use sockscope::render::run::endpoint_lanes;
use sockscope::render::run::report;
use sockscope::render::run::timeline::packet_text;
use sockscope::scenario;

fn load(name: &str) -> RunData {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    pcapng::load(
        &dir.join(format!("{name}.pcapng")),
        &dir.join(format!("{name}.events.jsonl")),
    )
    .unwrap_or_else(|e| panic!("loading the saved {name} run: {e}"))
}

/// Keeps a picture in $SOCKSCOPE_PICTURES when set.
fn keep(name: &str, text: &str) {
    if let Some(dir) = std::env::var_os("SOCKSCOPE_PICTURES") {
        std::fs::write(PathBuf::from(dir).join(name), text).unwrap();
    }
}

fn attr<'a>(n: &roxmltree::Node<'a, '_>, a: &str) -> &'a str {
    n.attribute(a).unwrap_or("")
}

fn has_class(n: &roxmltree::Node, c: &str) -> bool {
    n.is_element() && attr(n, "class").split(' ').any(|x| x == c)
}

/// The SVG of a run parses, with the lanes and arrows its view says.
fn check_svg(name: &str, run: &RunData) -> String {
    let v = View::new(run);
    let text = svg::render(&v, true);
    keep(&format!("{name}.svg"), &text);
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{name}: the SVG is not XML: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let ladders: Vec<_> = root.children().filter(|n| has_class(n, "ladder")).collect();
    let ends = endpoint_lanes::endpoints(&v);
    if v.conns.len() > 1 && ends.len() <= svg_lanes::MAX_LANES {
        check_lanes(name, &v, &ladders);
        return text;
    }
    assert_eq!(
        ladders.len(),
        v.conns.len(),
        "{name}: one ladder per conversation"
    );
    for (ci, (l, c)) in ladders.iter().zip(&v.conns).enumerate() {
        assert_eq!(attr(l, "data-conn"), ci.to_string());
        let lanes: Vec<_> = l.descendants().filter(|n| has_class(n, "lane")).collect();
        let got: Vec<(&str, String)> = lanes
            .iter()
            .map(|n| (attr(n, "data-role"), attr(n, "data-addr").to_owned()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("client", c.client.to_string()),
                ("server", c.server.to_string())
            ],
            "{name}: the lanes of conversation {ci}"
        );
        // Each lane is labelled with its role and its address.
        for (lane, (role, addr)) in lanes.iter().zip(&got) {
            let texts: Vec<&str> = lane
                .descendants()
                .filter(|n| n.has_tag_name("text"))
                .filter_map(|n| n.text())
                .collect();
            assert!(texts.contains(role), "{name}: {texts:?}");
            assert!(texts.contains(&addr.as_str()), "{name}: {texts:?}");
        }
        let arrows: Vec<_> = l.descendants().filter(|n| has_class(n, "pkt")).collect();
        let pkts: Vec<_> = v.conn_pkts(ci).collect();
        assert_eq!(arrows.len(), pkts.len(), "{name}: one arrow per packet");
        for (a, p) in arrows.iter().zip(&pkts) {
            assert_eq!(attr(a, "data-frame"), (p.index + 1).to_string());
            let want = match p.dir {
                Dir::ToServer => "right",
                Dir::ToClient => "left",
            };
            assert_eq!(attr(a, "data-dir"), want, "{name}: frame {}", p.index + 1);
            // The line goes that way too.
            let line = a.children().find(|n| n.has_tag_name("line")).unwrap();
            let (x1, x2): (f64, f64) = (
                attr(&line, "x1").parse().unwrap(),
                attr(&line, "x2").parse().unwrap(),
            );
            assert_eq!(x2 > x1, want == "right", "{name}: frame {}", p.index + 1);
        }
    }
    text
}

/// A number attribute.
fn num(n: &roxmltree::Node, a: &str) -> f64 {
    attr(n, a)
        .parse()
        .unwrap_or_else(|_| panic!("<{}> has no number {a}", n.tag_name().name()))
}

/// Several conversations on one diagram: a lane per endpoint (clients first, in order of
/// appearance), labelled with role and address, its lifeline at its x; one arrow per packet of
/// the run, from the sender's lane to the receiver's.
fn check_lanes(name: &str, v: &View, ladders: &[roxmltree::Node]) {
    assert_eq!(ladders.len(), 1, "{name}: one ladder of every conversation");
    let l = &ladders[0];
    assert!(has_class(l, "lanes"), "{name}");
    let ends = endpoint_lanes::endpoints(v);
    assert_eq!(attr(l, "data-lanes"), ends.len().to_string());
    let lanes: Vec<_> = l.descendants().filter(|n| has_class(n, "lane")).collect();
    let got: Vec<(&str, &str)> = lanes
        .iter()
        .map(|n| (attr(n, "data-role"), attr(n, "data-addr")))
        .collect();
    let want: Vec<(&str, String)> = ends
        .iter()
        .map(|(a, r)| (r.name(), a.to_string()))
        .collect();
    assert_eq!(
        got,
        want.iter()
            .map(|(r, a)| (*r, a.as_str()))
            .collect::<Vec<_>>(),
        "{name}: the lanes"
    );
    let mut x_of = std::collections::HashMap::new();
    let mut prev = f64::MIN;
    for (lane, (role, addr)) in lanes.iter().zip(&got) {
        let texts: Vec<&str> = lane
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        assert!(texts.contains(role), "{name}: {texts:?}");
        assert!(texts.contains(addr), "{name}: {texts:?}");
        // The lifeline is at the lane's x, left to right in the lanes' order.
        let x = num(lane, "data-x");
        assert!(x > prev + 100.0, "{name}: lanes apart");
        prev = x;
        for life in lane.children().filter(|n| n.has_tag_name("line")) {
            assert_eq!((num(&life, "x1"), num(&life, "x2")), (x, x), "{name}");
        }
        x_of.insert(addr.to_string(), x);
    }
    let arrows: Vec<_> = l.descendants().filter(|n| has_class(n, "pkt")).collect();
    assert_eq!(arrows.len(), v.pkts.len(), "{name}: one arrow per packet");
    let mut frames: Vec<usize> = Vec::new();
    for a in &arrows {
        let frame: usize = attr(a, "data-frame").parse().unwrap();
        let p = v.pkts.iter().find(|p| p.index + 1 == frame).unwrap();
        frames.push(frame);
        assert_eq!(attr(a, "data-conn"), p.conn.to_string(), "{name}: {frame}");
        let (from, to) = (x_of[&p.src.to_string()], x_of[&p.dst.to_string()]);
        let line = a.children().find(|n| n.has_tag_name("line")).unwrap();
        assert_eq!(
            num(&line, "x1"),
            from,
            "{name}: frame {frame} leaves its sender"
        );
        // The head's tip touches the receiver's lifeline.
        let poly = a.children().find(|n| n.has_tag_name("polygon")).unwrap();
        let tip: f64 = attr(&poly, "points")
            .split([',', ' '])
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (tip - to).abs() <= 1.01,
            "{name}: frame {frame} ends at {tip}, not {to}"
        );
        let right = to > from;
        assert_eq!(attr(a, "data-dir"), if right { "right" } else { "left" });
        assert_eq!(num(&line, "x2") > from, right, "{name}: frame {frame}");
    }
    let mut sorted = frames.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), frames.len(), "{name}: each packet once");
}

/// The page of a run holds its calls, packet summaries and checks, and nothing from outside.
fn check_html(name: &str, run: &RunData) -> String {
    check_html_as(name, name, run)
}

fn check_html_as(name: &str, keep_as: &str, run: &RunData) -> String {
    let sc = scenario::find(name);
    let checks = report::checks(run, sc);
    let page = html::run_page(run, sc, &checks);
    keep(&format!("{keep_as}.html"), &page);
    self_contained(name, &page);
    let v = View::new(run);
    for e in &run.events {
        let t = match e.call.as_str() {
            "mark" => e.text.clone().unwrap_or_else(|| e.args.clone()),
            _ => e.call_text(Part::Whole, 1),
        };
        // A call that waited is shown as its two halves; its detail holds it whole.
        assert!(
            page.contains(&xml::escaped(&t)),
            "{name}: the page lacks the call {t}"
        );
    }
    for p in &v.pkts {
        let t = packet_text(&v, p).0;
        assert!(page.contains(&xml::escaped(&t)), "{name}: lacks {t}");
    }
    assert!(!checks.is_empty() || sc.is_none());
    for c in &checks {
        assert!(
            page.contains(&xml::escaped(&c.what)),
            "{name}: lacks {}",
            c.what
        );
        assert!(page.contains(&xml::escaped(&c.detail)));
    }
    if let Some(s) = sc {
        let first = s.explain.trim().lines().next().unwrap_or("");
        assert!(
            page.contains(&xml::escaped(first)),
            "{name}: no explanation"
        );
    }
    page
}

fn self_contained(name: &str, page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"));
    for bad in [
        "http://", "https://", "src=", "<link", "@import", "url(", "//cdn",
    ] {
        assert!(!page.contains(bad), "{name}: the page has {bad}");
    }
    assert_eq!(page.matches("<svg").count(), 1, "{name}: the ladder inline");
}

#[test]
fn handshake_pictures_have_both_lanes_and_six_arrows() {
    let run = load("handshake");
    let svg = check_svg("handshake", &run);
    assert_eq!(svg.matches("class=\"pkt\"").count(), 6);
    // Lanes carry the pid of the calls on them, and the calls are beside their lane.
    assert!(svg.contains(">pid 1216<"), "no pid");
    assert!(svg.contains("connect(11, 127.0.0.1:51871)"));
    assert!(svg.contains("listen(6, 16)"));
    // Each end's TCP state changes, as the analyser infers them, beside its lifeline.
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let states: Vec<(&str, &str)> = doc
        .descendants()
        .filter(|n| has_class(n, "tcpstate"))
        .map(|n| (attr(&n, "data-role"), n.text().unwrap_or("")))
        .collect();
    for want in [
        ("client", "CLOSED→SYN_SENT"),
        ("server", "LISTEN→SYN_RECEIVED"),
        ("client", "SYN_SENT→ESTABLISHED"),
        ("client", "FIN_WAIT_1→TIME_WAIT"),
        ("server", "LAST_ACK→CLOSED"),
    ] {
        assert!(states.contains(&want), "{want:?} not in {states:?}");
    }
    let page = check_html("handshake", &run);
    // The states section follows each end from the segments.
    assert!(page.contains("<h2>States</h2>"));
    assert!(page.contains(">SYN_SENT</span> → <span class=\"st\" data-frame=\"2\""));
    assert!(
        page.contains("states: client CLOSED→SYN_SENT"),
        "the SYN's detail"
    );
    // The SYN points at the connect() that sent it.
    let v = View::new(&run);
    let connect = run.events.iter().position(|e| e.call == "connect").unwrap();
    assert!(page.contains(&format!(
        "data-frame=\"1\" data-conn=\"0\" data-dir=\"right\" data-cause=\"{connect}\""
    )));
    assert_eq!(v.conns.len(), 1);
}

#[test]
fn every_saved_run_draws_and_pages() {
    for name in scenario::all().iter().map(|s| s.name) {
        let run = load(name);
        check_svg(name, &run);
        check_html(name, &run);
    }
}

#[test]
fn a_retransmission_is_marked_on_its_arrow() {
    let run = load("retransmit");
    let svg = check_svg("retransmit", &run);
    assert!(svg.contains("class=\"marks\""), "no marks");
    assert!(svg.contains("retransmission"));
}

#[test]
fn a_delayed_ack_is_a_labelled_gap() {
    let run = load("nagle");
    let svg = check_svg("nagle", &run);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let gaps: Vec<String> = doc
        .descendants()
        .filter(|n| has_class(n, "gap"))
        .filter_map(|n| n.children().find(|c| c.has_tag_name("text")))
        .filter_map(|t| t.text().map(str::to_owned))
        .collect();
    assert!(!gaps.is_empty(), "no gap in the nagle run");
    assert!(
        gaps.iter()
            .all(|g| g.starts_with("… ") && g.ends_with(" …")),
        "{gaps:?}"
    );
    // The analyser names the waits it knows.
    assert!(
        gaps.iter().any(|g| g.contains("ms: delayed ACK …")),
        "{gaps:?}"
    );
    // The page's timeline says so too.
    let page = check_html("nagle", &run);
    assert!(
        page.contains("<tr class=\"gap\"><td class=\"t\">≈</td><td colspan=\"3\">… 4"),
        "no gap row in the page's timeline"
    );
}

#[test]
fn hostile_text_is_escaped() {
    let mut run = load("handshake");
    let mut e = Event::new(
        sockscope::live::Role::Client,
        "client",
        "print",
        run.events[3].start,
    );
    e.text = Some("<script>alert(\"x\")</script> & \u{1b}[31m\u{0} ]]>".into());
    run.events.push(e);
    run.sort();
    let svg = check_svg("hostile", &run);
    assert!(!svg.contains("<script>"));
    let page = check_html_as("handshake", "hostile", &run);
    assert!(!page.contains("<script>alert"));
    assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; \\x1b[31m\\x00"));
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn replay_draws_one_conversation_of_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let (s, h) = (dir.path().join("ssh.svg"), dir.path().join("ssh.html"));
    let out = Command::cargo_bin("sockscope")
        .unwrap()
        .arg("replay")
        .arg(fixture("ssh.pcap"))
        .arg("--svg")
        .arg(&s)
        .arg("--html")
        .arg(&h)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The timeline is printed as well.
    assert!(String::from_utf8_lossy(&out.stdout).contains("[S.]"));
    let svg = std::fs::read_to_string(&s).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let arrows: Vec<_> = doc.descendants().filter(|n| has_class(n, "pkt")).collect();
    assert_eq!(arrows.len(), 54, "the 54 packets of the one TCP stream");
    assert_eq!(attr(&arrows[0], "data-dir"), "right", "the SYN goes right");
    assert_eq!(attr(&arrows[1], "data-dir"), "left");
    let lanes: Vec<_> = doc.descendants().filter(|n| has_class(n, "lane")).collect();
    assert_eq!(attr(&lanes[0], "data-addr"), "202.108.87.165:62146");
    assert_eq!(attr(&lanes[1], "data-addr"), "223.132.53.222:22");
    let page = std::fs::read_to_string(&h).unwrap();
    self_contained("ssh", &page);
    assert!(page.contains("TCP stream 0"));
    // An existing file is not overwritten without --force, and nothing is read first.
    let again = Command::cargo_bin("sockscope")
        .unwrap()
        .arg("replay")
        .arg(fixture("ssh.pcap"))
        .arg("--svg")
        .arg(&s)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(again.stdout.is_empty());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("--svg") && err.contains("add --force"),
        "{err}"
    );
    // --stream chooses another conversation; one the capture lacks is said.
    let none = Command::cargo_bin("sockscope")
        .unwrap()
        .arg("replay")
        .arg(fixture("ssh.pcap"))
        .args(["--stream", "7", "--force", "--svg"])
        .arg(&s)
        .output()
        .unwrap();
    assert!(!none.status.success());
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(err.contains("no TCP stream 7"), "{err}");
}

#[test]
fn picture_files_are_checked_like_save() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/h.html");
    let out = Command::cargo_bin("sockscope")
        .unwrap()
        .arg("replay")
        .arg(fixture("ssh.pcap"))
        .arg("--html")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--html") && err.contains("does not exist"),
        "{err}"
    );
    // --force alone is a usage error.
    let out = Command::cargo_bin("sockscope")
        .unwrap()
        .args(["replay", "--force"])
        .arg(fixture("ssh.pcap"))
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn replay_of_a_saved_run_draws_the_run_with_its_checks() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("h.pcapng");
    let run = load("handshake");
    let mut f = std::fs::File::create(&saved).unwrap();
    pcapng::write(&mut f, &run).unwrap();
    drop(f);
    let page = dir.path().join("h.html");
    let out = Command::cargo_bin("sockscope")
        .unwrap()
        .arg("replay")
        .arg(&saved)
        .arg("--html")
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&page).unwrap();
    self_contained("saved", &page);
    let sc = scenario::find("handshake").unwrap();
    let checks = report::checks(&run, Some(sc));
    for c in &checks {
        assert!(page.contains(&xml::escaped(&c.what)), "lacks {}", c.what);
    }
    assert!(page.contains("connect(11, 127.0.0.1:51871)"));
}

/// A live run writes both pictures (a private namespace when not root; skipped without
/// capture).
#[test]
fn run_writes_both_pictures() {
    if !common::root::capture_allowed("run --svg --html") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (s, h) = (dir.path().join("h.svg"), dir.path().join("h.html"));
    let saved = dir.path().join("h.pcapng");
    let out = Command::cargo_bin("sockscope")
        .unwrap()
        .args(["run", "handshake", "--color", "never", "--svg"])
        .arg(&s)
        .arg("--html")
        .arg(&h)
        .arg("--save")
        .arg(&saved)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One arrow per packet of the run (six, unless the kernel added one on a busy machine).
    let run = pcapng::load_saved(&saved).unwrap().expect("a saved run");
    let svg = std::fs::read_to_string(&s).unwrap();
    assert_eq!(
        svg,
        svg::render(&View::new(&run), true),
        "the run's own ladder"
    );
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let arrows = doc.descendants().filter(|n| has_class(n, "pkt")).count();
    assert_eq!(arrows, View::new(&run).pkts.len());
    assert!(arrows >= 6, "the handshake and the close: {arrows}");
    let page = std::fs::read_to_string(&h).unwrap();
    self_contained("run", &page);
    assert!(page.contains("data-ok=\"true\""));
    assert!(!page.contains("data-ok=\"false\""));
    // `all` draws nothing: refused before anything runs.
    let all = Command::cargo_bin("sockscope")
        .unwrap()
        .args(["run", "all", "--svg"])
        .arg(dir.path().join("all.svg"))
        .output()
        .unwrap();
    assert!(!all.status.success());
    assert!(String::from_utf8_lossy(&all.stderr).contains("need one scenario"));
}

/// Calls go to the conversation they belong to: the unconnected socket's sendto() calls (its
/// local address is the wildcard 0.0.0.0) to the first UDP conversation, the connected one's
/// send() to the second, each the cause of its datagram.
#[test]
fn calls_are_on_their_own_conversation() {
    let run = load("udp");
    let svg = check_svg("udp", &run);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let calls_of = |conn: &str| -> Vec<String> {
        doc.descendants()
            .filter(|n| has_class(n, "call") && attr(n, "data-conn") == conn)
            .filter_map(|n| n.children().rfind(|c| c.has_tag_name("text")))
            .filter_map(|t| t.text().map(str::to_owned))
            .collect()
    };
    let (first, second) = (calls_of("0"), calls_of("1"));
    assert!(
        first.iter().any(|c| c.starts_with("sendto(9, \"one\"")),
        "{first:?}"
    );
    assert!(
        !second.iter().any(|c| c.starts_with("sendto(9")),
        "{second:?}"
    );
    assert!(
        second.iter().any(|c| c.starts_with("send(9, \"ping\"")),
        "{second:?}"
    );
    let v = View::new(&run);
    let conns = sockscope::render::run::ladder_rows::event_conns(&v);
    let causes = sockscope::render::run::ladder_rows::Causes::new(&v, &conns);
    for p in &v.pkts {
        let cause = causes.of(p);
        let e = &run.events[cause.expect("every datagram has its call")];
        assert!(e.call.starts_with("send"), "{}", e.call);
    }
}

/// The TCP states the run read from the kernel are badges on the lifeline of their end.
#[test]
fn kernel_states_are_on_their_lifeline() {
    let run = load("teardown");
    let svg = check_svg("teardown", &run);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let states: Vec<(String, String)> = doc
        .descendants()
        .filter(|n| has_class(n, "call"))
        .filter(|n| n.children().any(|c| has_class(&c, "state")))
        .map(|n| {
            let text = n.children().rfind(|c| c.has_tag_name("text"));
            (
                attr(&n, "data-role").to_owned(),
                text.and_then(|t| t.text()).unwrap_or("").to_owned(),
            )
        })
        .collect();
    for want in [
        ("client", "FIN_WAIT1"),
        ("server", "CLOSE_WAIT"),
        ("client", "TIME_WAIT"),
    ] {
        assert!(
            states.iter().any(|(r, t)| r == want.0 && t == want.1),
            "{want:?} not in {states:?}"
        );
    }
}

/// A long conversation keeps its first 150 and last 50 arrows; one row counts the rest.
#[test]
fn a_long_conversation_is_cut_in_the_middle() {
    let mut run = load("handshake");
    let ack = run.packets[2].clone();
    let end = run.packets.last().unwrap().ts;
    for i in 0..300 {
        let mut p = ack.clone();
        p.ts = end + 1000 * (i + 1);
        run.packets.push(p);
    }
    let v = View::new(&run);
    assert_eq!(v.conn_pkts(0).count(), 306);
    let svg = svg::render(&v, true);
    keep("long.svg", &svg);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let arrows: Vec<_> = doc.descendants().filter(|n| has_class(n, "pkt")).collect();
    assert_eq!(arrows.len(), 200);
    assert_eq!(attr(&arrows[0], "data-frame"), "1");
    assert_eq!(attr(arrows.last().unwrap(), "data-frame"), "306");
    let cut: Vec<&str> = doc
        .descendants()
        .filter(|n| has_class(n, "cut"))
        .filter_map(|n| n.descendants().find_map(|t| t.text()))
        .collect();
    assert_eq!(cut.len(), 1);
    assert!(cut[0].starts_with("… 106 more packets"), "{cut:?}");
}

/// The fork run (four clients of one server, a child per client): one ladder of five lanes,
/// the four clients' then the server's, every packet an arrow between its two ends' lanes
/// (check_svg), the server's lane naming the parent and its children, each call beside its
/// lane with its conversation, and the data the children echo pointing at their write().
#[test]
fn fork_is_one_ladder_of_five_lanes() {
    let run = load("fork");
    let v = View::new(&run);
    let svg = check_svg("fork", &run);
    assert_eq!(svg.matches("<svg").count(), 1);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let ladders: Vec<_> = doc
        .descendants()
        .filter(|n| has_class(n, "ladder"))
        .collect();
    assert_eq!(ladders.len(), 1);
    assert_eq!(attr(&ladders[0], "data-lanes"), "5");
    let lanes: Vec<_> = doc.descendants().filter(|n| has_class(n, "lane")).collect();
    let roles: Vec<&str> = lanes.iter().map(|n| attr(n, "data-role")).collect();
    assert_eq!(roles, ["client", "client", "client", "client", "server"]);
    let server_text: Vec<&str> = lanes[4].descendants().filter_map(|n| n.text()).collect();
    let pids: Vec<u32> = run
        .events
        .iter()
        .filter(|e| e.role == sockscope::live::Role::Server && e.pid != 0)
        .map(|e| e.pid)
        .collect();
    assert!(
        server_text
            .iter()
            .any(|t| t.starts_with("pids ") && pids.iter().all(|p| t.contains(&p.to_string()))),
        "{server_text:?}"
    );
    assert_eq!(
        doc.descendants().filter(|n| has_class(n, "pkt")).count(),
        v.pkts.len()
    );
    // Every call is drawn once, on a conversation, beside its lane's lifeline.
    let xs: Vec<f64> = lanes.iter().map(|n| num(n, "data-x")).collect();
    let calls: Vec<_> = doc.descendants().filter(|n| has_class(n, "call")).collect();
    assert!(calls.len() > 40, "{}", calls.len());
    for c in &calls {
        assert!(
            !attr(c, "data-conn").is_empty(),
            "a call with no conversation"
        );
        if let Some(dot) = c.children().find(|n| n.has_tag_name("circle")) {
            assert!(xs.contains(&num(&dot, "cx")), "a call off its lane");
        }
    }
    // The children's echoes were sent by their write().
    let echoes: Vec<_> = doc
        .descendants()
        .filter(|n| has_class(n, "pkt") && attr(n, "data-dir") == "left")
        .filter(|n| {
            let frame: usize = attr(n, "data-frame").parse().unwrap();
            let p = v.pkts.iter().find(|p| p.index + 1 == frame).unwrap();
            p.tcp.as_ref().is_some_and(|t| t.len > 0)
        })
        .collect();
    assert_eq!(echoes.len(), 4);
    for e in &echoes {
        let ev: usize = attr(e, "data-cause").parse().expect("a cause");
        assert_eq!(run.events[ev].call, "write");
        assert_eq!(run.events[ev].role, sockscope::live::Role::Server);
    }
    // The page holds the same picture, once.
    let page = check_html("fork", &run);
    assert!(page.contains("data-lanes=\"5\""));
}

/// More endpoints than a picture's lanes: each conversation on a ladder of its own, under a
/// note that says why.
#[test]
fn too_many_endpoints_fall_back_to_a_ladder_per_conversation() {
    let mut run = load("handshake");
    let v = View::new(&run);
    let (client, server) = (v.conns[0].client.port(), v.conns[0].server.port());
    drop(v);
    // 13 more clients: the handshake's packets again, later, from other ports.
    let base: Vec<_> = run.packets.clone();
    let end = base.last().unwrap().ts;
    for k in 1..=13u16 {
        for p in &base {
            let mut p = p.clone();
            p.ts += end * i128::from(k) + 1_000_000;
            for (a, b) in [(client, server), (server, client)] {
                let pat = [a.to_be_bytes(), b.to_be_bytes()].concat();
                if let Some(i) = p.data.windows(4).position(|w| w == pat) {
                    let at = if a == client { i } else { i + 2 };
                    p.data[at..at + 2].copy_from_slice(&(client + k).to_be_bytes());
                    break;
                }
            }
            run.packets.push(p);
        }
    }
    run.events.clear();
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 14);
    assert!(endpoint_lanes::endpoints(&v).len() > svg_lanes::MAX_LANES);
    let svg = check_svg("fallback", &run);
    assert!(
        svg.contains("15 endpoints (addr:port) in 14 conversations: more than 12 lanes"),
        "no note"
    );
}

/// `replay --svg` of a capture with several streams and none chosen: all of them on one
/// ladder, as `sockscope ladder` draws them.
#[test]
fn replay_of_a_capture_draws_every_stream_on_one_ladder() {
    let dir = tempfile::tempdir().unwrap();
    let (s, h) = (dir.path().join("fork.svg"), dir.path().join("fork.html"));
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/fork.pcapng");
    let out = Command::cargo_bin("sockscope")
        .unwrap()
        .arg("replay")
        .arg(&capture)
        .arg("--svg")
        .arg(&s)
        .arg("--html")
        .arg(&h)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&s).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let ladders: Vec<_> = doc
        .descendants()
        .filter(|n| has_class(n, "ladder"))
        .collect();
    assert_eq!(ladders.len(), 1);
    assert_eq!(attr(&ladders[0], "data-lanes"), "5");
    assert_eq!(
        doc.descendants().filter(|n| has_class(n, "pkt")).count(),
        40
    );
    let page = std::fs::read_to_string(&h).unwrap();
    self_contained("fork replay", &page);
    assert!(page.contains("4 TCP conversations on one ladder, 5 endpoints"));
    // --stream still draws one conversation on its two lanes.
    let out = Command::cargo_bin("sockscope")
        .unwrap()
        .arg("replay")
        .arg(&capture)
        .args(["--stream", "2", "--force", "--svg"])
        .arg(&s)
        .output()
        .unwrap();
    assert!(out.status.success());
    let svg = std::fs::read_to_string(&s).unwrap();
    assert_eq!(svg.matches("class=\"lane\"").count(), 2);
    assert_eq!(svg.matches("class=\"pkt\"").count(), 10);
}
