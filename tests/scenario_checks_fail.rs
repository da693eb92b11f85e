//! The self-checks of the newer scenarios can fail: each saved run in `captures/`, altered the
//! way a wrong kernel or a wrong claim would alter it (a packet removed, a call's result
//! changed), fails the check that asserts that claim, and only checks that depend on it.
//! Without root: the runs are the committed ones.

use std::path::Path;

use sockscope::live::{pcapng, Check, RunData, View};
use sockscope::scenario;

fn load(name: &str) -> RunData {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(format!("{name}.pcapng"));
    pcapng::load_saved(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .unwrap_or_else(|| panic!("{} carries no run", path.display()))
}

fn checks(name: &str, run: &RunData) -> Vec<Check> {
    let sc = scenario::find(name).expect("a scenario of that name");
    (sc.checks)(&View::new(run))
}

/// The checks that fail, by the start of their text.
fn failing(name: &str, run: &RunData) -> Vec<String> {
    checks(name, run)
        .into_iter()
        .filter(|c| !c.ok)
        .map(|c| c.what)
        .collect()
}

fn fails(name: &str, run: &RunData, start: &str) {
    let bad = failing(name, run);
    assert!(
        bad.iter().any(|w| w.starts_with(start)),
        "no failing check starts with {start:?}; failing: {bad:#?}"
    );
}

/// The index (in the run's packets) of the first packet that matches `want`.
fn packet(run: &RunData, want: impl Fn(&sockscope::live::model::Pkt) -> bool) -> usize {
    let v = View::new(run);
    v.pkts
        .iter()
        .find(|p| want(p))
        .map(|p| p.index)
        .expect("such a packet")
}

mod keepalive {
    use super::*;
    use sockscope::analyse::flags as f;
    use sockscope::live::model::Dir;

    const NAME: &str = "keepalive";

    fn bare_from_server(p: &sockscope::live::model::Pkt) -> bool {
        p.dir == Dir::ToClient && p.tcp.as_ref().is_some_and(|t| t.flags == f::ACK) && p.len == 0
    }

    #[test]
    fn the_saved_run_passes() {
        let run = load(NAME);
        assert_eq!(failing(NAME, &run), Vec::<String>::new());
    }

    #[test]
    fn an_unanswered_first_probe_fails() {
        let mut run = load(NAME);
        // The last bare ACK from the server is the answer to the first probe.
        let v = View::new(&run);
        let answer = v
            .pkts
            .iter()
            .rev()
            .find(|p| bare_from_server(p))
            .map(|p| p.index)
            .expect("the answer");
        run.packets.remove(answer);
        fails(NAME, &run, "the server's kernel answers the probe");
    }

    #[test]
    fn a_missing_probe_fails() {
        let mut run = load(NAME);
        let rst = packet(&run, |p| {
            p.dir == Dir::ToServer && p.tcp.as_ref().is_some_and(|t| t.has(f::RST))
        });
        // The packet before the RST is the last probe.
        run.packets.remove(rst - 1);
        fails(NAME, &run, "to the silent server, TCP_KEEPCNT");
    }

    #[test]
    fn a_probe_with_the_next_seq_fails() {
        let mut run = load(NAME);
        let rst = packet(&run, |p| {
            p.dir == Dir::ToServer && p.tcp.as_ref().is_some_and(|t| t.has(f::RST))
        });
        // Raise the last probe's SEQ by one (Ethernet, IPv4 without options, then the ports).
        assert_eq!(run.linktype, 1, "lo is captured as Ethernet");
        let data = &mut run.packets[rst - 1].data;
        let at = 14 + 20 + 4;
        let seq = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes"));
        data[at..at + 4].copy_from_slice(&seq.wrapping_add(1).to_be_bytes());
        let bad = failing(NAME, &run);
        assert!(
            bad.iter()
                .any(|w| w.starts_with("each probe is a bare ACK"))
                || bad.iter().any(|w| w.starts_with("to the silent server")),
            "{bad:#?}"
        );
    }

    #[test]
    fn a_read_that_returns_eof_fails() {
        let mut run = load(NAME);
        let read = run
            .events
            .iter()
            .rposition(|e| e.call == "read")
            .expect("the blocked read");
        run.events[read].errno = None;
        run.events[read].ret = Some(0);
        fails(NAME, &run, "one interval after the last probe");
    }

    #[test]
    fn a_server_that_learned_of_the_rst_fails() {
        let mut run = load(NAME);
        let state = run
            .events
            .iter()
            .position(|e| e.call == "state")
            .expect("the server's state");
        run.events[state].text = Some("CLOSED".into());
        fails(
            NAME,
            &run,
            "the server's kernel dropped the probes and the RST",
        );
    }

    #[test]
    fn an_early_first_probe_fails() {
        let mut run = load(NAME);
        let v = View::new(&run);
        let echo = v
            .pkts
            .iter()
            .find(|p| p.dir == Dir::ToClient && p.len > 0)
            .map(|p| (p.index, p.ts))
            .expect("the echo");
        drop(v);
        // The first probe comes right after the echo's ACK: half a second after the echo.
        let probe = echo.0 + 2;
        run.packets[probe].ts = echo.1 + 500_000_000;
        fails(NAME, &run, "the first probe leaves after TCP_KEEPIDLE");
    }
}

mod eintr {
    use super::*;

    const NAME: &str = "eintr";

    fn server_calls(run: &RunData, call: &str) -> Vec<usize> {
        run.events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.role == sockscope::live::Role::Server && e.call == call)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn the_saved_run_passes() {
        let run = load(NAME);
        assert_eq!(failing(NAME, &run), Vec::<String>::new());
    }

    #[test]
    fn an_accept_that_was_not_interrupted_fails() {
        let mut run = load(NAME);
        let first = server_calls(&run, "accept")[0];
        run.events[first].errno = None;
        run.events[first].ret = Some(12);
        fails(NAME, &run, "without SA_RESTART, a child's exit");
    }

    #[test]
    fn a_handler_that_ran_after_the_call_fails() {
        let mut run = load(NAME);
        let first = server_calls(&run, "accept")[0];
        let end = run.events[first].end;
        let h = server_calls(&run, "handler")[0];
        run.events[h].start = end + 1;
        run.events[h].end = end + 2;
        fails(NAME, &run, "without SA_RESTART, a child's exit");
    }

    #[test]
    fn a_packet_during_the_interrupted_accept_fails() {
        let mut run = load(NAME);
        let first = server_calls(&run, "accept")[0];
        let (start, end) = (run.events[first].start, run.events[first].end);
        run.packets[0].ts = start + (end - start) / 2;
        fails(NAME, &run, "EINTR is no network event");
    }

    #[test]
    fn an_interrupted_call_despite_sa_restart_fails() {
        let mut run = load(NAME);
        // The SA_RESTART part's accept() (the third) as two calls: -1 EINTR, then the
        // connection.
        let third = server_calls(&run, "accept")[2];
        let mut cut = run.events[third].clone();
        let h = server_calls(&run, "handler")[1];
        cut.end = run.events[h].end + 1;
        cut.ret = Some(-1);
        cut.errno = Some("EINTR".into());
        run.events.insert(third, cut);
        fails(NAME, &run, "with SA_RESTART the handler runs");
    }

    #[test]
    fn a_read_cut_short_of_the_timeout_fails() {
        let mut run = load(NAME);
        let last = *server_calls(&run, "read").last().expect("a read");
        let start = run.events[last].start;
        run.events[last].end = start + 500_000_000;
        fails(NAME, &run, "nothing comes");
    }

    #[test]
    fn a_fin_before_the_timeout_fails() {
        let mut run = load(NAME);
        let last = *server_calls(&run, "read").last().expect("a read");
        let fin_ts = run.packets.last().map(|p| p.ts).unwrap_or(0);
        run.events[last].end = fin_ts + 1;
        fails(NAME, &run, "the server gives up and closes");
    }
}

mod resolver {
    use super::*;
    use sockscope::live::model::Dir;

    const NAME: &str = "resolver";

    /// The index of the `n`-th datagram going `dir`.
    fn nth(run: &RunData, dir: Dir, n: usize) -> usize {
        let v = View::new(run);
        v.pkts
            .iter()
            .filter(|p| p.dir == dir)
            .nth(n)
            .map(|p| p.index)
            .expect("such a datagram")
    }

    #[test]
    fn the_saved_run_passes() {
        let run = load(NAME);
        assert_eq!(failing(NAME, &run), Vec::<String>::new());
    }

    #[test]
    fn getaddrinfo_with_one_query_fails() {
        let mut run = load(NAME);
        // The second query is getaddrinfo's other one (A or AAAA).
        let q = nth(&run, Dir::ToServer, 1);
        run.packets.remove(q);
        fails(NAME, &run, "getaddrinfo(AF_UNSPEC) sends an A and an AAAA");
    }

    #[test]
    fn an_unanswered_ptr_query_fails() {
        let mut run = load(NAME);
        // Answers: getaddrinfo's two, then the PTR's.
        let a = nth(&run, Dir::ToClient, 2);
        run.packets.remove(a);
        fails(
            NAME,
            &run,
            "gethostbyaddr(192.0.2.1) asks for the PTR record",
        );
        fails(NAME, &run, "each query is one UDP datagram");
    }

    #[test]
    fn the_systems_resolv_conf_fails() {
        let mut run = load(NAME);
        let e = run
            .events
            .iter_mut()
            .find(|e| {
                e.call == "print"
                    && e.text
                        .as_deref()
                        .is_some_and(|t| t.starts_with("/etc/resolv.conf: "))
            })
            .expect("the resolv.conf line");
        e.text = Some("/etc/resolv.conf: nameserver 10.0.0.53".into());
        fails(NAME, &run, "the resolver read the run's own resolv.conf");
    }

    #[test]
    fn a_hostent_without_the_alias_fails() {
        let mut run = load(NAME);
        let e = run
            .events
            .iter()
            .position(|e| e.call == "gethostbyname")
            .expect("gethostbyname");
        run.events[e].text =
            Some("(h_name alias.sockscope.test; h_aliases none; h_addr_list 192.0.2.1)".into());
        fails(NAME, &run, "gethostbyname(alias) sends one A query");
    }

    #[test]
    fn an_answer_without_the_cname_fails() {
        let mut run = load(NAME);
        // The last answer carries CNAME then A: make its answer count 1 (the CNAME alone).
        let a = nth(&run, Dir::ToClient, 3);
        let data = &mut run.packets[a].data;
        // Ethernet, IPv4 without options, UDP: the DNS header starts at 42; ANCOUNT at +6.
        data[42 + 7] = 1;
        fails(NAME, &run, "gethostbyname(alias) sends one A query");
    }
}
