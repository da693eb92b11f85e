//! Root tests: every scenario runs live over loopback, captured with libpcap, and must pass
//! its self-checks; the structure of what TCP and UDP put on the wire is asserted here too,
//! from the raw header fields (three handshake segments with the right flags and numbers, FIN
//! arithmetic, UDP boundaries, the Nagle inequalities).
//!
//! Live capture needs root or CAP_NET_RAW. Built by an ordinary user (`build.rs` sets
//! `sockscope_unprivileged`), the tests that need it are `#[ignore]`d: `cargo test` counts them
//! as ignored, not passed. At run time each still checks: without the privilege it prints
//! `SKIPPED (needs root): …` to stderr and returns; with SOCKSCOPE_REQUIRE_ROOT_TESTS=1 set (as
//! `.ci/run` does) it fails instead, and so does `root_tests_are_not_skipped`, which is never
//! ignored, so a CI that must run them cannot pass silently. The decision is made in one place:
//! `tests/common/root.rs`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::root;
use sockscope::analyse::flags as f;
use sockscope::live::model::{Dir, Pkt, Proto};
use sockscope::live::{runner, RunData, View};
use sockscope::render::run::report;
use sockscope::scenario;

/// The live tests run one at a time: several scenarios at once on two cores can make the
/// kernel drop and re-send a segment on lo (seen once in a hundred runs), which the
/// no-retransmission checks rightly fail.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs scenario `name` live and asserts its self-checks; None (after saying so loudly) when
/// this process may not capture.
fn run(name: &str) -> Option<RunData> {
    let cap = root::capture_or_skip(&format!("live scenario '{name}'"))?;
    let sc = scenario::find(name).expect("scenario");
    let (_, r) = runner::run_scenario(sc, cap, runner::LIMIT);
    let run = r.unwrap_or_else(|e| panic!("{name}: the live run failed: {e}"));
    assert!(!run.interrupted);
    assert_eq!(run.stats.dropped, 0, "{name}: libpcap dropped packets");
    let checks = report::checks(&run, Some(sc));
    assert!(!checks.is_empty());
    for c in &checks {
        assert!(c.ok, "{name}: ✗ {} ({})", c.what, c.detail);
    }
    Some(run)
}

/// The run saved inside a pcapng by `--save`.
fn load_saved(path: &Path) -> RunData {
    sockscope::live::pcapng::load_saved(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .unwrap_or_else(|| panic!("{} carries no run", path.display()))
}

fn tcp(p: &Pkt) -> (u16, u32, u32, u32) {
    let t = p.tcp.as_ref().expect("a TCP packet");
    (t.flags & 0xff, t.seq, t.ack, t.len)
}

/// The summary line for the whole file: one loud SKIPPED line (or, with
/// SOCKSCOPE_REQUIRE_ROOT_TESTS=1, a failure) even if every other test's own line is missed.
#[test]
fn root_tests_are_not_skipped() {
    let _one_at_a_time = serial();
    // A build made by an ordinary user ignores the root tests (build.rs); run as root, or where
    // they are required, that build would skip them without a word.
    assert!(
        !(cfg!(sockscope_unprivileged) && (root::required() || nix::unistd::geteuid().is_root())),
        "these tests were built by an ordinary user, so the root tests are ignored; rebuild as \
         the user who runs them (cargo clean -p sockscope, or another CARGO_TARGET_DIR)"
    );
    root::capture_allowed("the live scenario tests in tests/live.rs");
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn handshake_is_syn_synack_ack() {
    let _one_at_a_time = serial();
    let Some(run) = run("handshake") else { return };
    let v = View::new(&run);
    let c = v
        .conns
        .iter()
        .position(|c| c.proto == Proto::Tcp)
        .expect("a TCP connection");
    let p: Vec<&Pkt> = v.conn_pkts(c).collect();
    assert!(p.len() >= 3, "{} packets", p.len());
    let ((f1, isn_c, _, l1), (f2, isn_s, a2, l2), (f3, s3, a3, l3)) =
        (tcp(p[0]), tcp(p[1]), tcp(p[2]));
    assert_eq!((f1, p[0].dir, l1), (f::SYN, Dir::ToServer, 0));
    assert_eq!((f2, p[1].dir, l2), (f::SYN | f::ACK, Dir::ToClient, 0));
    assert_eq!((f3, p[2].dir, l3), (f::ACK, Dir::ToServer, 0));
    assert_eq!(a2, isn_c.wrapping_add(1), "SYN+ACK acks ISN + 1");
    assert_eq!(s3, isn_c.wrapping_add(1));
    assert_eq!(
        a3,
        isn_s.wrapping_add(1),
        "the ACK acks the server's ISN + 1"
    );
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn data_seq_advances_by_bytes() {
    let _one_at_a_time = serial();
    let Some(run) = run("data") else { return };
    let v = View::new(&run);
    // In SEQ order: on a busy machine lo may deliver segments out of order.
    let mut segs: Vec<(u32, u32)> = v
        .conn_pkts(0)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .map(|p| (v.rel_seq(p), p.len))
        .collect();
    segs.sort_unstable();
    assert_eq!(segs.iter().map(|s| s.1).sum::<u32>(), 131);
    for w in segs.windows(2) {
        assert_eq!(
            w[1].0,
            w[0].0.wrapping_add(w[0].1),
            "next SEQ = SEQ + bytes"
        );
    }
    // Every ACK of the data is SEQ + bytes of a segment, never the book's SEQ + bytes + 1.
    let ends: Vec<u32> = segs.iter().map(|s| s.0.wrapping_add(s.1)).collect();
    let acks: Vec<u32> = v
        .conn_pkts(0)
        .filter(|p| p.dir == Dir::ToClient && p.len == 0)
        .map(|p| v.rel_ack(p))
        .filter(|&a| a > 1 && a <= 132)
        .collect();
    assert!(!acks.is_empty(), "the data was acknowledged");
    for a in acks {
        assert!(ends.contains(&a), "ack {a} is the end of a segment");
        assert!(
            !ends.contains(&a.wrapping_sub(1)),
            "ack {a} = SEQ + bytes + 1"
        );
    }
    let child = run
        .events
        .iter()
        .find(|e| e.who == "child")
        .expect("events from the forked child");
    assert_ne!(
        child.pid,
        std::process::id(),
        "the child is another process"
    );
    assert!(run
        .events
        .iter()
        .any(|e| e.text.as_deref() == Some("Message from server: Hello world!")));
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn teardown_fin_takes_one_number() {
    let _one_at_a_time = serial();
    let Some(run) = run("teardown") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 2);
    for c in 0..2 {
        let p: Vec<&Pkt> = v.conn_pkts(c).collect();
        let fins: Vec<usize> = (0..p.len())
            .filter(|&i| tcp(p[i]).0 & f::FIN != 0)
            .collect();
        assert_eq!(fins.len(), 2, "one FIN each way");
        for i in fins {
            let (_, seq, _, len) = tcp(p[i]);
            let ack = p[i + 1..]
                .iter()
                .find(|q| q.dir != p[i].dir)
                .map(|q| tcp(q).2)
                .expect("the FIN is acknowledged");
            assert_eq!(
                ack,
                seq.wrapping_add(len).wrapping_add(1),
                "FIN consumes one"
            );
        }
    }
    let four: Vec<u16> = v
        .conn_pkts(0)
        .map(|p| tcp(p).0)
        .skip_while(|fl| fl & f::FIN == 0)
        .collect();
    assert_eq!(four, [f::FIN | f::ACK, f::ACK, f::FIN | f::ACK, f::ACK]);
    // The server's FIN repeats its bare ACK's SEQ and ACK: the same numbers, nothing re-sent.
    let close: Vec<&Pkt> = v
        .conn_pkts(0)
        .skip_while(|p| tcp(p).0 & f::FIN == 0)
        .collect();
    let (bare, fin) = (tcp(close[1]), tcp(close[2]));
    assert_eq!((bare.1, bare.2), (fin.1, fin.2), "same SEQ and ACK");
    // Connection 2: the server acknowledged the client's FIN on its FIN alone (three segments)
    // or also with a bare ACK (four).
    let p: Vec<&Pkt> = v.conn_pkts(1).collect();
    let cfin = p
        .iter()
        .find(|q| q.dir == Dir::ToServer && tcp(q).0 & f::FIN != 0)
        .expect("the client's FIN");
    let want = tcp(cfin).1.wrapping_add(1);
    let mut acks: Vec<u16> = p
        .iter()
        .filter(|q| q.dir == Dir::ToClient && tcp(q).2 == want && tcp(q).0 & f::RST == 0)
        .map(|q| tcp(q).0)
        .collect();
    acks.sort_unstable();
    assert!(
        acks == [f::FIN | f::ACK] || acks == [f::ACK, f::FIN | f::ACK],
        "three or four segments: {acks:?}"
    );
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn nagle_inequalities() {
    let _one_at_a_time = serial();
    let Some(run) = run("nagle") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 2);
    // Requests are 4 + 8 bytes: with Nagle the 8 never leave before the 4 are acknowledged;
    // the burst of 16 one-byte writes takes fewer segments with Nagle than with TCP_NODELAY.
    let burst = |c: usize| {
        v.conn_pkts(c)
            .filter(|p| p.dir == Dir::ToServer && p.payload.iter().all(|&b| b == b'x') && p.len > 0)
            .count()
    };
    assert!(burst(0) < burst(1), "{} vs {}", burst(0), burst(1));
    assert!(burst(1) >= 2);
    // With Nagle a request's 8 bytes left right after a bare ACK that came at least 30 ms
    // after the 4 bytes before them (the delayed-ACK timer), in at least one request.
    let p: Vec<&Pkt> = v.conn_pkts(0).collect();
    let held = (2..p.len()).any(|i| {
        let (ack, four) = (
            p[i - 1],
            p.get(..i - 1).and_then(|b| {
                b.iter()
                    .rev()
                    .find(|q| q.dir == Dir::ToServer && q.len == 4)
            }),
        );
        p[i].dir == Dir::ToServer
            && p[i].len == 8
            && ack.dir == Dir::ToClient
            && ack.len == 0
            && four.is_some_and(|f4| ack.ts - f4.ts >= 30_000_000)
    });
    assert!(held, "no 8-byte segment waited for a delayed ACK");
    // With TCP_NODELAY each write(8)'s segment is on the wire before the write returns.
    let writes: Vec<&sockscope::live::Event> = run
        .events
        .iter()
        .filter(|e| e.call == "write" && e.ret == Some(8) && v.conn_of(e) == Some(1))
        .collect();
    assert_eq!(writes.len(), 3);
    let eights: Vec<&Pkt> = v
        .conn_pkts(1)
        .filter(|q| q.dir == Dir::ToServer && q.len == 8)
        .collect();
    assert_eq!(eights.len(), 3, "each write(8) its own segment");
    for (w, seg) in writes.iter().zip(&eights) {
        assert!(seg.ts <= w.end, "the segment left during write()");
    }
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn udp_keeps_boundaries() {
    let _one_at_a_time = serial();
    let Some(run) = run("udp") else { return };
    let v = View::new(&run);
    // UDP promises no order (lo may reorder datagrams sent from different CPUs): sizes only.
    let mut sizes: Vec<u32> = v.pkts.iter().map(|p| p.len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [3, 4, 4, 7, 17]);
    assert!(v.pkts.iter().all(|p| p.proto == Proto::Udp));
}

/// A datagram to a closed port: the raw frames hold an ICMP port unreachable from lo quoting
/// each datagram's ports; only the connect()ed socket hears of it.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn udperr_port_unreachable_reaches_only_the_connected_socket() {
    use sockscope::decode::{decode, linktype, Transport};
    use sockscope::source::Frame;
    let _one_at_a_time = serial();
    let Some(run) = run("udperr") else { return };
    let closed = run
        .events
        .iter()
        .find(|e| e.call == "bind")
        .and_then(|e| e.local)
        .expect("the closed port")
        .port();
    let mut datagrams = Vec::new();
    let mut errors = Vec::new();
    for i in 0..run.packets.len() {
        let frame = run.frame(i).expect("frame");
        let p = decode(&frame);
        let ip = p.ip.expect("IP");
        match p.transport {
            Transport::Udp(u) => {
                assert_eq!(u.dport, closed);
                datagrams.push(u.sport);
            }
            Transport::Icmp(ic) => {
                assert_eq!((ic.kind, ic.code), (3, 3), "port unreachable");
                assert!(ip.src.is_loopback() && ip.dst.is_loopback());
                let quoted = ic.quoted.expect("an ICMP error quotes");
                let Transport::Udp(q) = decode(&Frame::bare(linktype::RAW, quoted)).transport
                else {
                    panic!("the ICMP error quotes UDP")
                };
                assert_eq!(q.dport, closed);
                errors.push(q.sport);
            }
            other => panic!("frame {}: {other:?}", i + 1),
        }
    }
    assert_eq!(datagrams.len(), 2);
    assert_eq!(datagrams, errors, "each datagram quoted back by its error");
    let errno = |call: &str| {
        run.events
            .iter()
            .find(|e| e.call == call)
            .and_then(|e| e.errno.clone())
    };
    assert_eq!(errno("recvfrom").as_deref(), Some("EAGAIN"));
    assert_eq!(errno("recv").as_deref(), Some("ECONNREFUSED"));
    assert!(run
        .events
        .iter()
        .any(|e| e.call == "getsockopt" && e.text.as_deref() == Some("(value 0)")));
}

/// SO_BROADCAST: the refused sendto() left nothing; the one broadcast datagram on the wire
/// is addressed to 127.255.255.255 in its IP header, and two receivers each got it.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn broadcast_needs_so_broadcast_and_reaches_every_receiver() {
    let _one_at_a_time = serial();
    let Some(run) = run("broadcast") else { return };
    let sends: Vec<_> = run.events.iter().filter(|e| e.call == "sendto").collect();
    assert_eq!(sends.len(), 3);
    assert_eq!(sends[0].errno.as_deref(), Some("EACCES"));
    assert!(sends[1].ok() && sends[2].ok());
    let dsts: Vec<std::net::IpAddr> = (0..run.packets.len())
        .map(|i| {
            let frame = run.frame(i).expect("frame");
            sockscope::decode::decode(&frame).ip.expect("IP").dst
        })
        .collect();
    assert_eq!(
        dsts,
        [
            "127.255.255.255".parse::<std::net::IpAddr>().unwrap(),
            "127.0.0.1".parse().unwrap()
        ]
    );
    assert!(run.packets.iter().all(|p| p.ts > sends[0].end));
    let news: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.call == "recvfrom" && e.data.as_deref() == Some(b"news".as_slice()))
        .filter_map(|e| e.fd)
        .collect();
    assert_eq!(news.len(), 2);
    assert_ne!(news[0], news[1]);
}

/// Multicast out of a veth end (mc0) in a private namespace the run makes, as root and as an
/// ordinary user: every datagram's IP header is addressed to the group from mc0's address, its
/// frame to the group's MAC, TTL 1 before IP_MULTICAST_TTL and 3 after; nothing is received
/// before IP_ADD_MEMBERSHIP, nor with IP_MULTICAST_LOOP 0 (though the datagram left), and the
/// next datagram is received once the option is 1 again. Nothing is added to the host.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn multicast_group_ttl_membership_and_loop() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("live scenario 'multicast'") {
        return;
    }
    let dir = world_tempdir();
    let links = || {
        std::fs::read_dir("/sys/class/net")
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = links();
    let as_root = dir.path().join("root.pcapng");
    let mut root_cmd = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    root_cmd.env_remove("SUDO_UID").env_remove("SUDO_GID");
    let user = dir.path().join("user.pcapng");
    let mut runs = vec![(root_cmd, as_root)];
    if let Some(cmd) = unprivileged(dir.path(), &[]) {
        runs.push((cmd, user));
    }
    for (mut cmd, save) in runs {
        let out = cmd
            .args(["run", "multicast", "--color", "never", "--save"])
            .arg(&save)
            .output()
            .expect("run sockscope");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("capture: lo and mc0 (a veth pair"), "{text}");
        let run = load_saved(&save);
        assert!(run.private_netns);
        let group: std::net::IpAddr = "239.1.2.3".parse().unwrap();
        let mc0: std::net::IpAddr = "10.99.0.1".parse().unwrap();
        let headers: Vec<_> = run
            .packets
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let frame = run.frame(i).expect("frame");
                let p = sockscope::decode::decode(&frame);
                let ip = p.ip.expect("IP");
                let sockscope::decode::Transport::Udp(u) = p.transport else {
                    panic!("frame {}: not UDP", i + 1)
                };
                (
                    c.data[..6].to_vec(),
                    ip.src,
                    ip.dst,
                    ip.ttl,
                    u.payload.to_vec(),
                )
            })
            .collect();
        let mac = vec![0x01, 0x00, 0x5e, 0x01, 0x02, 0x03];
        let want: Vec<_> = [(1, "before"), (3, "news"), (3, "loop off"), (3, "loop on")]
            .iter()
            .map(|&(ttl, d)| (mac.clone(), mc0, group, ttl, d.as_bytes().to_vec()))
            .collect();
        assert_eq!(headers, want);
        let recvs: Vec<_> = run.events.iter().filter(|e| e.call == "recvfrom").collect();
        let got: Vec<_> = recvs
            .iter()
            .map(|e| (e.errno.clone(), e.data.clone()))
            .collect();
        let eagain = (Some("EAGAIN".to_owned()), None);
        assert_eq!(
            got,
            [
                eagain.clone(),
                (None, Some(b"news".to_vec())),
                eagain,
                (None, Some(b"loop on".to_vec()))
            ]
        );
        let join = run
            .events
            .iter()
            .find(|e| e.args.contains("IP_ADD_MEMBERSHIP"))
            .expect("the join");
        assert!(recvs[0].end < join.start && join.ok());
        // The datagram sent with the option at 0 was on mc0 before the receiver gave up.
        assert!(run.packets[2].ts < recvs[2].end);
    }
    assert_eq!(links(), before, "an interface was left on the host");
}

/// Root that may not make a network namespace (no CAP_SYS_ADMIN, as in a container): `run all`
/// still runs every other scenario on lo, and multicast's and resolver's lines say why they
/// could not run.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn run_all_without_a_namespace_runs_the_others() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("sockscope run all without CAP_SYS_ADMIN") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    cmd.args(["run", "all", "--color", "never"])
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID");
    // SAFETY: only a prctl between fork and exec; the bounding set keeps it from the program.
    unsafe {
        cmd.pre_exec(|| {
            caps::drop(
                None,
                caps::CapSet::Bounding,
                caps::Capability::CAP_SYS_ADMIN,
            )
            .map_err(|e| std::io::Error::other(e.to_string()))
        });
    }
    let out = cmd.output().expect("run sockscope");
    let text = String::from_utf8_lossy(&out.stdout);
    let ok = text.lines().filter(|l| l.starts_with('✓')).count();
    assert_eq!(ok, scenario::all().len() - 2, "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("✗ multicast"))
        .unwrap_or_else(|| panic!("no multicast line: {text}"));
    assert!(
        line.contains("needs its mc0 (a veth pair) in a private network namespace")
            && line.contains("unshare(CLONE_NEWNET)"),
        "{line}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("✗ resolver"))
        .unwrap_or_else(|| panic!("no resolver line: {text}"));
    assert!(
        line.contains(
            "needs files of its own (resolv.conf) in a private mount and network namespace"
        ) && line.contains("unshare(CLONE_NEWNET)"),
        "{line}"
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn hello_one_connection_one_message() {
    let _one_at_a_time = serial();
    let Some(run) = run("hello") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 1);
    let p: Vec<&Pkt> = v.conn_pkts(0).collect();
    assert!((7..=10).contains(&p.len()), "{} segments", p.len());
    let data: Vec<&&Pkt> = p.iter().filter(|x| x.len > 0).collect();
    assert_eq!(data.len(), 1, "the message is one segment");
    assert_eq!(data[0].dir, Dir::ToClient);
    assert_ne!(tcp(data[0]).0 & f::PSH, 0, "with PSH");
    assert_eq!(
        data[0].payload, b"Hello world!\0",
        "sizeof(message) counts the NUL"
    );
    let fins = p.iter().filter(|x| tcp(x).0 & f::FIN != 0).count();
    assert_eq!(fins, 2);
    assert!(run
        .events
        .iter()
        .any(|e| e.text.as_deref() == Some("Message from server: Hello world!")));
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn addr_sockaddr_bytes_are_in_the_headers() {
    let _one_at_a_time = serial();
    let Some(run) = run("addr") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 2, "the connection and the trap");
    let sa = run
        .events
        .iter()
        .find(|e| e.call == "sockaddr_in" && e.role == sockscope::live::Role::Client)
        .and_then(|e| e.data.clone())
        .expect("the client's sockaddr_in bytes");
    let syn = v.conn_pkts(0).next().expect("a SYN");
    assert_eq!(tcp(syn).0, f::SYN);
    // lo is Ethernet: the IPv4 header (20 bytes, no options) at 14, the TCP header after it.
    let frame = &run.packets[syn.index].data;
    assert_eq!((run.linktype, frame[14]), (1, 0x45));
    assert_eq!(
        frame[14 + 16..14 + 20],
        sa[4..8],
        "IP destination = sin_addr"
    );
    assert_eq!(
        frame[34 + 2..34 + 4],
        sa[2..4],
        "TCP destination = sin_port"
    );
    let data = v.conn_pkts(0).find(|p| p.len > 0).expect("the data");
    assert_eq!(data.payload[4..], [0x12, 0x34, 0x56, 0x78], "htonl()");
    let trap: Vec<&Pkt> = v.conn_pkts(1).collect();
    assert_eq!(trap.len(), 2);
    assert_eq!(trap[0].dst.port(), 0, "sin_port = htonl(port) is port 0");
    // The trap's address is inet_aton()'s bytes, at the IP destination.
    let aton = run
        .events
        .iter()
        .find(|e| e.call == "inet_aton" && e.args.ends_with("&serv_addr.sin_addr"))
        .and_then(|e| e.data.clone())
        .expect("inet_aton() into sin_addr");
    let tframe = &run.packets[trap[0].index].data;
    assert_eq!(
        tframe[14 + 16..14 + 20],
        aton[..],
        "IP destination = inet_aton()'s bytes"
    );
    assert_eq!(aton, [127, 232, 124, 79]);
    // Classes from the first byte in network order: 192.168.1.20 is C (110…).
    let c = run
        .events
        .iter()
        .find(|e| e.call == "inet_addr" && e.args == "\"192.168.1.20\"")
        .and_then(|e| e.data.clone())
        .expect("inet_addr(\"192.168.1.20\")");
    assert_eq!(
        (c[0] >> 5, c[0]),
        (0b110, 192),
        "class C from the first byte"
    );
    assert_eq!(tcp(trap[1]).0, f::RST | f::ACK);
    let errs: Vec<&str> = run
        .events
        .iter()
        .filter_map(|e| e.errno.as_deref())
        .collect();
    assert_eq!(errs, ["ECONNREFUSED"]);
}

/// `backlog`: with listen(fd, 1), two handshakes complete and their bytes are ACKed before
/// the first accept(); the third connection's SYN is sent twice with the same ISN, at least
/// the initial RTO apart, and nothing answers the first; accept() returns in arrival order.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn backlog_handshakes_before_accept_and_the_dropped_syn() {
    let _one_at_a_time = serial();
    let Some(run) = run("backlog") else { return };
    let v = View::new(&run);
    let tcp_conns: Vec<usize> = (0..v.conns.len())
        .filter(|&c| v.conns[c].proto == Proto::Tcp)
        .collect();
    assert_eq!(tcp_conns.len(), 3);
    let first_accept = run
        .events
        .iter()
        .find(|e| e.call == "accept" && e.ok())
        .expect("an accept()")
        .start;
    for &c in &tcp_conns[..2] {
        let p: Vec<&Pkt> = v.conn_pkts(c).collect();
        assert_eq!(tcp(p[0]).0, f::SYN);
        assert_eq!(tcp(p[1]).0, f::SYN | f::ACK);
        assert_eq!(tcp(p[2]).0, f::ACK);
        assert!(p[2].ts < first_accept, "handshake done before accept()");
        let data = p.iter().find(|x| x.len == 1).expect("the byte");
        let want = tcp(data).1.wrapping_add(1);
        let acked = p
            .iter()
            .find(|x| x.dir == Dir::ToClient && tcp(x).2 == want)
            .expect("its ACK");
        assert!(acked.ts < first_accept, "the byte ACKed before accept()");
    }
    let third: Vec<&Pkt> = v.conn_pkts(tcp_conns[2]).collect();
    let (a, b) = (third[0], third[1]);
    assert_eq!(
        (tcp(a).0, tcp(b).0),
        (f::SYN, f::SYN),
        "the SYN, then its copy"
    );
    assert_eq!(tcp(a).1, tcp(b).1, "the same ISN");
    assert!(
        b.ts - a.ts >= 990_000_000,
        "the initial RTO: {} ns",
        b.ts - a.ts
    );
    assert_eq!(tcp(third[2]).0, f::SYN | f::ACK);
    let peers: Vec<std::net::SocketAddr> = run
        .events
        .iter()
        .filter(|e| e.call == "accept" && e.ok())
        .filter_map(|e| e.addr)
        .collect();
    let clients: Vec<std::net::SocketAddr> = tcp_conns.iter().map(|&c| v.conns[c].client).collect();
    assert_eq!(peers, clients, "accept() in arrival order");
}

/// The MSS option in a TCP header's options (raw bytes after the fixed 20).
fn raw_mss(tcp_header: &[u8]) -> Option<u16> {
    let len = (tcp_header.get(12)? >> 4) as usize * 4;
    let mut o = tcp_header.get(20..len)?;
    while let Some(&kind) = o.first() {
        match kind {
            0 => return None,
            1 => o = &o[1..],
            _ => {
                let l = *o.get(1)? as usize;
                if kind == 2 && l == 4 {
                    return Some(u16::from_be_bytes([*o.get(2)?, *o.get(3)?]));
                }
                o = o.get(l.max(2)..)?;
            }
        }
    }
    None
}

/// `ipv6`: read from the raw frames, the IPv6 connection is IPv6 (EtherType 0x86dd, version
/// 6, a payload length without the 40-byte header, next header TCP, ::1 both ways), each side
/// keeps one flow label, and the SYNs offer lo's MTU less 60 over IPv6 and 65535 less 40 over
/// IPv4.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn ipv6_header_and_mss_on_the_wire() {
    let _one_at_a_time = serial();
    let Some(run) = run("ipv6") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 2, "one IPv4 and one IPv6 connection");
    let c6 = v
        .conns
        .iter()
        .position(|c| c.server.is_ipv6())
        .expect("an IPv6 connection");
    let c4 = 1 - c6;
    assert!(v.conns[c4].server.is_ipv4());
    let mut labels = [std::collections::BTreeSet::new(), Default::default()];
    for p in v.conn_pkts(c6) {
        let fr = &run.packets[p.index].data;
        assert_eq!(fr[12..14], [0x86, 0xdd], "EtherType IPv6");
        let ip = &fr[14..];
        assert_eq!(ip[0] >> 4, 6);
        let payload = u16::from_be_bytes([ip[4], ip[5]]) as usize;
        assert_eq!(
            payload,
            ip.len() - 40,
            "payload length leaves out the header"
        );
        assert_eq!(ip[6], 6, "next header: TCP");
        assert_eq!(ip[7], 64, "hop limit");
        let one = std::net::Ipv6Addr::LOCALHOST.octets();
        assert_eq!((&ip[8..24], &ip[24..40]), (&one[..], &one[..]));
        let label = u32::from_be_bytes([ip[0], ip[1], ip[2], ip[3]]) & 0xf_ffff;
        labels[(p.dir == Dir::ToClient) as usize].insert(label);
    }
    assert_eq!(labels[0].len(), 1, "the client's flow labels: {labels:?}");
    assert_eq!(labels[1].len(), 1, "the server's flow labels: {labels:?}");
    let mtu: i64 = std::fs::read_to_string("/sys/class/net/lo/mtu")
        .expect("lo's MTU")
        .trim()
        .parse()
        .expect("a number");
    let syn_mss = |c: usize, ip_len: usize| {
        let syn = v.conn_pkts(c).next().expect("a SYN");
        assert_eq!(tcp(syn).0, f::SYN);
        raw_mss(&run.packets[syn.index].data[14 + ip_len..]).expect("an MSS option") as i64
    };
    assert_eq!(syn_mss(c6, 40), mtu - 60, "IPv6: MTU - 40 - 20");
    assert_eq!(
        syn_mss(c4, 20),
        mtu.min(65535) - 40,
        "IPv4: at most 65535 - 40"
    );
    let d4 = v.conn_pkts(c4).find(|p| p.len > 0).expect("data over IPv4");
    let d6 = v.conn_pkts(c6).find(|p| p.len > 0).expect("data over IPv6");
    assert_eq!(
        run.packets[d6.index].data.len(),
        run.packets[d4.index].data.len() + 20,
        "the same segment is 20 bytes longer over IPv6"
    );
}

/// `anyaddr`: one INADDR_ANY listener's connections are to 127.0.0.1 and 127.0.0.2 (the SYNs'
/// destinations and the accepted sockets' getsockname()); a UDP datagram goes to the TCP
/// listener's port number; the port meant with htonl() answers RST and the server is elsewhere.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn anyaddr_one_listener_two_addresses() {
    let _one_at_a_time = serial();
    let Some(run) = run("anyaddr") else { return };
    let v = View::new(&run);
    let server_call = |call: &str| -> Vec<std::net::SocketAddr> {
        run.events
            .iter()
            .filter(|e| e.role == sockscope::live::Role::Server && e.call == call && e.ok())
            .filter_map(|e| e.local)
            .collect()
    };
    let names = server_call("getsockname");
    assert_eq!(
        names.len(),
        5,
        "the two listeners, then the three accepted sockets: {names:?}"
    );
    let p = names[0].port();
    assert!(names[0].ip().is_unspecified());
    assert_eq!(names[2], std::net::SocketAddr::from(([127, 0, 0, 1], p)));
    assert_eq!(names[3], std::net::SocketAddr::from(([127, 0, 0, 2], p)));
    let syn_dsts: Vec<std::net::SocketAddr> = v
        .pkts
        .iter()
        .filter(|p| p.proto == Proto::Tcp && tcp(p).0 == f::SYN)
        .map(|p| p.dst)
        .collect();
    assert_eq!(
        &syn_dsts[..2],
        &names[2..4],
        "the SYNs went where getsockname() says"
    );
    let udp: Vec<&Pkt> = v.pkts.iter().filter(|p| p.proto == Proto::Udp).collect();
    assert_eq!(udp.len(), 2);
    assert_eq!(udp[0].dst.port(), p, "UDP to the TCP listener's number");
    assert_eq!(udp[1].src, std::net::SocketAddr::from(([127, 0, 0, 1], p)));
    // The refused SYN: to a port that is neither the listener's nor where htonl() put the server.
    let rst = v
        .pkts
        .iter()
        .find(|p| p.proto == Proto::Tcp && tcp(p).0 == f::RST | f::ACK)
        .expect("a RST");
    assert_ne!(rst.src.port(), names[1].port());
    assert!(names[1].ip().is_unspecified());
    assert_eq!(
        names[4],
        std::net::SocketAddr::from(([127, 0, 0, 1], names[1].port()))
    );
    let errs: Vec<&str> = run
        .events
        .iter()
        .filter_map(|e| e.errno.as_deref())
        .collect();
    assert_eq!(errs, ["ECONNREFUSED"]);
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn stream_three_writes_one_read() {
    let _one_at_a_time = serial();
    let Some(run) = run("stream") else { return };
    let reads = |role: sockscope::live::Role| {
        run.events
            .iter()
            .filter(|e| e.call == "read" && e.role == role)
            .filter_map(|e| e.ret)
            .collect::<Vec<i64>>()
    };
    assert_eq!(
        reads(sockscope::live::Role::Server),
        [16],
        "three writes, one read"
    );
    assert_eq!(
        reads(sockscope::live::Role::Client),
        [5, 5, 5, 1, 0],
        "one write, four reads"
    );
    let v = View::new(&run);
    let sent: u32 = v
        .conn_pkts(0)
        .filter(|p| p.dir == Dir::ToServer)
        .map(|p| p.len)
        .sum();
    assert_eq!(sent, 16);
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn proto_reads_until_the_count_is_met() {
    let _one_at_a_time = serial();
    let Some(run) = run("proto") else { return };
    let reads: Vec<i64> = run
        .events
        .iter()
        .filter(|e| e.call == "read" && e.role == sockscope::live::Role::Server)
        .filter_map(|e| e.ret)
        .filter(|&n| n > 0)
        .collect();
    assert_eq!(reads, [1, 13, 1, 9, 1, 6, 11], "count, then 4 × count + 1");
    let v = View::new(&run);
    let segs: Vec<u32> = v
        .conn_pkts(0)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .map(|p| p.len)
        .collect();
    assert_eq!(segs, [14, 17, 11]);
    let results: Vec<&str> = run
        .events
        .iter()
        .filter(|e| e.call == "print" && e.role == sockscope::live::Role::Client)
        .filter_map(|e| e.text.as_deref())
        .collect();
    assert_eq!(
        results,
        [
            "Operation result: 12 + 24 + 36 = 72",
            "Operation result: 7 * 5 = 35",
            "Operation result: 1 - 2 - 3 - 4 = -8"
        ]
    );
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn halfclose_data_flows_after_the_fin() {
    let _one_at_a_time = serial();
    let Some(run) = run("halfclose") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 1);
    let p: Vec<&Pkt> = v.conn_pkts(0).collect();
    let fin = |d: Dir| {
        p.iter()
            .filter(|x| x.dir == d && tcp(x).0 & f::FIN != 0)
            .map(|x| x.ts)
            .collect::<Vec<_>>()
    };
    let (server_fin, client_fin) = (fin(Dir::ToClient), fin(Dir::ToServer));
    assert_eq!(
        (server_fin.len(), client_fin.len()),
        (1, 1),
        "one FIN each way"
    );
    let answer: Vec<&&Pkt> = p
        .iter()
        .filter(|x| x.dir == Dir::ToServer && x.len > 0)
        .collect();
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].payload, b"Thank you\0");
    assert!(
        server_fin[0] < answer[0].ts,
        "the answer follows the server's FIN"
    );
    let file: u32 = p
        .iter()
        .filter(|x| x.dir == Dir::ToClient)
        .map(|x| x.len)
        .sum();
    assert_eq!(file, 96);
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn timewait_server_closes_first_and_rebinds() {
    let _one_at_a_time = serial();
    let Some(run) = run("timewait") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 2);
    for c in 0..2 {
        let first_fin = v
            .conn_pkts(c)
            .find(|p| tcp(p).0 & f::FIN != 0)
            .expect("a FIN");
        assert_eq!(first_fin.dir, Dir::ToClient, "the server closes first");
    }
    // The four restarts: A without, A with, B without, B with SO_REUSEADDR.
    let binds: Vec<Option<&str>> = run
        .events
        .iter()
        .filter(|e| e.call == "bind" && !e.args.ends_with(":0"))
        .map(|e| e.errno.as_deref())
        .collect();
    assert_eq!(
        binds,
        [
            Some("EADDRINUSE"),
            Some("EADDRINUSE"),
            Some("EADDRINUSE"),
            None
        ]
    );
    let table: Vec<&str> = run
        .events
        .iter()
        .filter(|e| e.call == "print" && e.local.is_some())
        .map(|e| e.args.as_str())
        .collect();
    assert_eq!(table, ["TIME_WAIT", "CLOSED", "TIME_WAIT", "CLOSED"]);
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn reset_refused_and_unread_data() {
    let _one_at_a_time = serial();
    let Some(run) = run("reset") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 2);
    let a: Vec<&Pkt> = v.conn_pkts(0).collect();
    assert_eq!(a.len(), 2);
    let ((f1, isn, _, _), (f2, seq, ack, _)) = (tcp(a[0]), tcp(a[1]));
    assert_eq!((f1, f2), (f::SYN, f::RST | f::ACK));
    assert_eq!(
        (seq, ack),
        (0, isn.wrapping_add(1)),
        "RST seq 0, ack ISN + 1"
    );
    let b: Vec<u16> = v
        .conn_pkts(1)
        .filter(|p| p.dir == Dir::ToClient)
        .map(|p| tcp(p).0)
        .filter(|fl| fl & (f::FIN | f::RST) != 0)
        .collect();
    assert_eq!(b, [f::RST | f::ACK], "RST instead of FIN");
    let errs: Vec<&str> = run
        .events
        .iter()
        .filter_map(|e| e.errno.as_deref())
        .collect();
    assert_eq!(errs, ["ECONNREFUSED", "ECONNRESET", "EPIPE"]);
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn linger_close_sends_the_rest_aborts_or_blocks() {
    let _one_at_a_time = serial();
    let Some(run) = run("linger") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 3);
    let closes: Vec<&sockscope::live::Event> = run
        .events
        .iter()
        .filter(|e| e.role == sockscope::live::Role::Client && e.call == "close")
        .collect();
    assert_eq!(closes.len(), 3);
    let from_client =
        |c: usize| -> Vec<&Pkt> { v.conn_pkts(c).filter(|p| p.dir == Dir::ToServer).collect() };
    let isn = |c: usize| tcp(from_client(c)[0]).1;
    // (a) Bytes leave after close() returned; the FIN's seq is ISN + 1 + 16384.
    let a = from_client(0);
    assert!(a.iter().any(|p| p.len > 0 && p.ts > closes[0].end));
    let fin = a.iter().find(|p| tcp(p).0 & f::FIN != 0).expect("a FIN");
    let (_, seq, _, len) = tcp(fin);
    assert_eq!(seq.wrapping_add(len), isn(0).wrapping_add(1 + 16384));
    // (b) One RST from the client, no FIN either way; most of the write never left.
    let closing: Vec<(Dir, u16)> = v
        .conn_pkts(1)
        .map(|p| (p.dir, tcp(p).0))
        .filter(|(_, fl)| fl & (f::FIN | f::RST) != 0)
        .collect();
    assert_eq!(closing.len(), 1, "{closing:?}");
    assert_eq!(closing[0].0, Dir::ToServer);
    assert_ne!(closing[0].1 & f::RST, 0);
    let sent: u32 = from_client(1).iter().map(|p| p.len).sum();
    assert!(sent > 0 && sent < 16384, "{sent} bytes sent");
    assert!(run
        .events
        .iter()
        .any(|e| e.call == "read" && e.errno.as_deref() == Some("ECONNRESET")));
    // (c) close() returns after the ACK of its FIN, and after the reader began.
    let c = from_client(2);
    let fin = c.iter().find(|p| tcp(p).0 & f::FIN != 0).expect("a FIN");
    let (_, seq, _, len) = tcp(fin);
    let want = seq.wrapping_add(len).wrapping_add(1);
    let ack = v
        .conn_pkts(2)
        .find(|p| p.dir == Dir::ToClient && tcp(p).2 == want)
        .expect("the ACK of the FIN");
    assert!(ack.ts <= closes[2].end);
    let first_read = run
        .events
        .iter()
        .filter(|e| e.role == sockscope::live::Role::Server && e.call == "read")
        .find(|e| e.start > closes[2].start)
        .expect("a read after close() began");
    assert!(first_read.start < closes[2].end);
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn lastack_the_fin_comes_again_and_time_wait_answers() {
    let _one_at_a_time = serial();
    let Some(run) = run("lastack") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 1);
    let pkts: Vec<&Pkt> = v.conn_pkts(0).collect();
    let fins: Vec<&&Pkt> = pkts
        .iter()
        .filter(|p| p.dir == Dir::ToClient && tcp(p).0 & f::FIN != 0)
        .collect();
    assert_eq!(fins.len(), 2, "the server's FIN and its copy");
    let (_, seq, ack, _) = tcp(fins[0]);
    assert_eq!((tcp(fins[1]).1, tcp(fins[1]).2), (seq, ack), "the same FIN");
    assert!(fins[1].ts - fins[0].ts >= 190_000_000, "re-sent on the RTO");
    // The client's ACK of it, before and after the copy: the same numbers each time.
    let acks: Vec<&&Pkt> = pkts
        .iter()
        .filter(|p| p.dir == Dir::ToServer && tcp(p).0 == f::ACK && tcp(p).2 == seq.wrapping_add(1))
        .collect();
    assert_eq!(acks.len(), 2, "the lost ACK and the one from TIME_WAIT");
    assert!(acks[0].ts < fins[1].ts && acks[1].ts > fins[1].ts);
    assert_eq!(tcp(acks[0]).1, tcp(acks[1]).1);
    assert!(pkts.iter().all(|p| tcp(p).0 & f::RST == 0), "no RST");
    // The kernels: one drop; the client in TIME_WAIT before and after the copy.
    assert!(run
        .events
        .iter()
        .any(|e| e.args.ends_with("SO_MEMINFO") && e.text.as_deref() == Some("(drops 1)")));
    let tw: Vec<i128> = run
        .events
        .iter()
        .filter(|e| e.call == "print" && e.args == "TIME_WAIT")
        .map(|e| e.end)
        .collect();
    assert!(tw.iter().any(|&t| t < fins[1].ts) && tw.iter().any(|&t| t > acks[1].ts));
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn iosplit_child_writes_parent_reads() {
    let _one_at_a_time = serial();
    let Some(run) = run("iosplit") else { return };
    let v = View::new(&run);
    let fork = run
        .events
        .iter()
        .find(|e| e.call == "fork")
        .expect("a fork() event");
    let child = fork.ret.expect("the child's pid") as u32;
    assert_ne!(child, std::process::id());
    let calls: Vec<&str> = run
        .events
        .iter()
        .filter(|e| e.pid == child)
        .map(|e| e.call.as_str())
        .collect();
    assert_eq!(calls, ["write", "write", "write", "shutdown", "close"]);
    let fins = v
        .conn_pkts(0)
        .filter(|p| p.dir == Dir::ToServer && tcp(p).0 & f::FIN != 0)
        .count();
    assert_eq!(fins, 1);
    let echoed: u32 = v
        .conn_pkts(0)
        .filter(|p| p.dir == Dir::ToClient)
        .map(|p| p.len)
        .sum();
    assert_eq!(echoed, 46);
    // Reaped: no zombie of this process with the child's pid (the pid may be reused since).
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) {
        let after = stat.rsplit(')').next().unwrap_or("");
        let mut f = after.split_whitespace();
        let (state, ppid) = (f.next(), f.next());
        assert!(
            !(state == Some("Z") && ppid == Some(&std::process::id().to_string())),
            "a zombie is left: {stat}"
        );
    }
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn fork_child_per_client_and_the_forgotten_close() {
    let _one_at_a_time = serial();
    let Some(run) = run("fork") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 4, "three clients at once, then one more");
    let parent = run
        .events
        .iter()
        .find(|e| e.who == "parent")
        .expect("events from the server process")
        .pid;
    assert_ne!(
        parent,
        std::process::id(),
        "the server is a process of its own"
    );
    let mut forked: Vec<u32> = run
        .events
        .iter()
        .filter(|e| e.pid == parent && e.call == "fork")
        .filter_map(|e| e.ret)
        .map(|r| r as u32)
        .collect();
    forked.sort_unstable();
    assert_eq!(forked.len(), 4);
    // Each connection is served (read, write) by one child, a different one each time.
    let served_by = |c: usize| -> Vec<u32> {
        let mut pids: Vec<u32> = run
            .events
            .iter()
            .filter(|e| {
                matches!(e.call.as_str(), "read" | "write")
                    && e.who.starts_with("child")
                    && v.conn_of(e) == Some(c)
            })
            .map(|e| e.pid)
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    };
    let mut servers: Vec<u32> = (0..4)
        .map(|c| {
            let p = served_by(c);
            assert_eq!(p.len(), 1, "connection {c} served by {p:?}");
            p[0]
        })
        .collect();
    servers.sort_unstable();
    assert_eq!(servers, forked);
    // The FIN of the server side leaves at the last close() of the connection, whichever
    // process makes it: in the first three the child's, in the fourth the parent's.
    for c in 0..4 {
        let closes: Vec<&sockscope::live::Event> = run
            .events
            .iter()
            .filter(|e| e.role == sockscope::live::Role::Server && e.call == "close")
            .filter(|e| v.conn_of(e) == Some(c))
            .collect();
        assert_eq!(
            closes.len(),
            2,
            "connection {c}: the parent's and the child's close()"
        );
        let last = closes.iter().max_by_key(|e| e.start).expect("a close");
        if c == 3 {
            assert_eq!(last.who, "parent", "the forgotten copy is closed last");
        } else {
            assert!(last.who.starts_with("child"), "{}", last.who);
        }
        let fins: Vec<&Pkt> = v
            .conn_pkts(c)
            .filter(|p| p.dir == Dir::ToClient && tcp(p).0 & f::FIN != 0)
            .collect();
        assert_eq!(fins.len(), 1, "connection {c}");
        assert!(
            fins[0].ts > last.start,
            "connection {c}: a FIN before the last close()"
        );
        let first = closes.iter().min_by_key(|e| e.start).expect("a close");
        assert!(
            fins[0].ts > first.end,
            "connection {c}: a FIN at the first close()"
        );
    }
    // Every child reaped by the server's SIGCHLD handler; the server reaped by the runner.
    let mut reaped: Vec<u32> = run
        .events
        .iter()
        .filter(|e| e.pid == parent && e.call == "waitpid")
        .filter_map(|e| e.ret)
        .filter(|&r| r > 0)
        .map(|r| r as u32)
        .collect();
    reaped.sort_unstable();
    assert_eq!(reaped, forked);
    assert!(run
        .events
        .iter()
        .any(|e| e.call == "waitpid" && e.ret == Some(parent as i64) && e.pid != parent));
    // No zombie left behind (a pid may have been reused since: only a zombie child counts).
    for pid in forked.iter().chain([&parent]) {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            let after = stat.rsplit(')').next().unwrap_or("");
            let mut fs = after.split_whitespace();
            let (state, ppid) = (fs.next(), fs.next());
            let mine = [parent.to_string(), std::process::id().to_string()];
            assert!(
                !(state == Some("Z") && ppid.is_some_and(|p| mine.iter().any(|m| m == p))),
                "a zombie is left: {stat}"
            );
        }
    }
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn retransmit_lost_segment_is_resent_on_the_timers() {
    let _one_at_a_time = serial();
    let Some(run) = run("retransmit") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 1);
    let copies: Vec<&Pkt> = v
        .conn_pkts(0)
        .filter(|p| p.dir == Dir::ToServer && p.payload == b"ping 2")
        .collect();
    assert_eq!(copies.len(), 4, "the original and three copies");
    let (_, seq, _, len) = tcp(copies[0]);
    assert_eq!(len, 6);
    for p in &copies {
        assert_eq!((tcp(p).1, tcp(p).3), (seq, len), "same SEQ, same length");
    }
    // Timers: ≥ 200 ms (minus a jiffy), ≥ 200 ms, then the doubled RTO.
    let ms = |i: usize| (copies[i + 1].ts - copies[i].ts) / 1_000_000;
    assert!(ms(0) >= 190, "first re-send after {} ms", ms(0));
    assert!(ms(1) >= 190, "second re-send after {} ms", ms(1));
    assert!(ms(2) >= 390, "third re-send after {} ms", ms(2));
    // The server says nothing while the copies are lost; the ACK follows the last one.
    let end = seq.wrapping_add(len);
    let silent = v
        .conn_pkts(0)
        .filter(|p| p.dir == Dir::ToClient && p.ts > copies[0].ts && p.ts < copies[3].ts)
        .count();
    assert_eq!(silent, 0);
    let ack = v
        .conn_pkts(0)
        .find(|p| p.dir == Dir::ToClient && tcp(p).2 == end)
        .expect("the ACK of ping 2");
    assert!(ack.ts > copies[3].ts);
    // Wireshark's rules mark the three copies, not the original.
    let marked: Vec<usize> = v
        .pkts
        .iter()
        .filter(|p| {
            p.findings()
                .has(sockscope::analyse::Findings::RETRANSMISSION)
        })
        .map(|p| p.index)
        .collect();
    let copy_frames: Vec<usize> = copies[1..].iter().map(|p| p.index).collect();
    assert_eq!(marked, copy_frames);
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn buffers_window_closes_probes_and_reopens() {
    let _one_at_a_time = serial();
    let Some(run) = run("buffers") else { return };
    let v = View::new(&run);
    // SO_RCVBUF 4096 reads back doubled, on the listener's accepted socket too.
    let rcvbuf: Vec<&str> = run
        .events
        .iter()
        .filter(|e| e.call == "getsockopt" && e.args.ends_with("SO_RCVBUF"))
        .filter_map(|e| e.text.as_deref())
        .collect();
    assert!(rcvbuf.contains(&"(value 8192)"), "{rcvbuf:?}");
    let c = v
        .conns
        .iter()
        .position(|c| c.proto == Proto::Tcp)
        .expect("a TCP connection");
    let p: Vec<&Pkt> = v.conn_pkts(c).collect();
    let zero = p
        .iter()
        .position(|q| q.dir == Dir::ToClient && tcp(q).0 & f::SYN == 0 && v.window(q) == 0)
        .expect("the receiver's window reaches 0");
    let acked = tcp(p[zero]).2;
    let reopen = zero
        + 1
        + p[zero + 1..]
            .iter()
            .position(|q| q.dir == Dir::ToClient && v.window(q) > 0)
            .expect("the window reopens");
    // While it is 0: only probes, each without data and with SEQ = acked − 1 (Linux).
    let probes: Vec<&&Pkt> = p[zero + 1..reopen]
        .iter()
        .filter(|q| q.dir == Dir::ToServer)
        .collect();
    assert!(probes.len() >= 2, "{} probes", probes.len());
    for q in &probes {
        let (_, seq, _, len) = tcp(q);
        assert_eq!((seq, len), (acked.wrapping_sub(1), 0));
    }
    // The persist timer waits ≥ 200 ms (minus a jiffy) and backs off.
    let first = (probes[0].ts - p[zero].ts) / 1_000_000;
    let second = (probes[1].ts - probes[0].ts) / 1_000_000;
    assert!(first >= 190, "first probe after {first} ms");
    assert!(second > first, "{second} ms after {first} ms");
    // The window update: no data, the same ACK, after the reader's first read().
    let (_, _, ack, len) = tcp(p[reopen]);
    assert_eq!((ack, len), (acked, 0));
    let read = run
        .events
        .iter()
        .find(|e| e.call == "read")
        .expect("a read() call");
    assert!(p[reopen].ts > read.start);
    let data: u32 = p
        .iter()
        .filter(|q| q.dir == Dir::ToServer)
        .map(|q| tcp(q).3)
        .sum();
    assert_eq!(data, 5 * 4096);
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn sockopt_ttl_and_tos_reach_the_ip_header() {
    let _one_at_a_time = serial();
    let Some(run) = run("sockopt") else { return };
    let v = View::new(&run);
    let header = |p: &Pkt| {
        let frame = run.frame(p.index).expect("frame");
        let ip = sockscope::decode::decode(&frame).ip.expect("an IP header");
        (ip.ttl, ip.tos & 0xfc)
    };
    let server_ttl: u8 = run
        .events
        .iter()
        .find(|e| {
            e.role == sockscope::live::Role::Server
                && e.call == "getsockopt"
                && e.args.ends_with("IP_TTL")
        })
        .and_then(|e| {
            e.text
                .as_deref()?
                .strip_prefix("(value ")?
                .strip_suffix(')')?
                .parse()
                .ok()
        })
        .expect("the server read its IP_TTL");
    let mut seen = [0; 3];
    for p in &v.pkts {
        let (i, want) = match (p.proto, p.dir) {
            (Proto::Tcp, Dir::ToServer) => (0, (42, 0x10)),
            (Proto::Tcp, Dir::ToClient) => (1, (server_ttl, 0)),
            (Proto::Udp, _) => (2, (3, 0xb8)),
        };
        assert_eq!(header(p), want, "frame {}", p.index + 1);
        seen[i] += 1;
    }
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    // SO_TYPE is read-only; TCP options do not exist on a UDP socket.
    let refused = |opt: &str| {
        run.events
            .iter()
            .filter(|e| e.call == "setsockopt" && e.args.contains(opt))
            .all(|e| e.errno.as_deref() == Some("ENOPROTOOPT"))
    };
    assert!(refused("SO_TYPE") && refused("SO_ERROR"));
    assert!(run
        .events
        .iter()
        .any(|e| e.call == "getsockopt" && e.args.ends_with("TCP_NODELAY") && !e.ok()));
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn dns_query_and_answer_are_one_datagram_each() {
    let _one_at_a_time = serial();
    let Some(run) = run("dns") else { return };
    let v = View::new(&run);
    assert!(v.pkts.iter().all(|p| p.proto == Proto::Udp));
    let queries: Vec<&Pkt> = v.pkts.iter().filter(|p| p.dir == Dir::ToServer).collect();
    let answers: Vec<&Pkt> = v.pkts.iter().filter(|p| p.dir == Dir::ToClient).collect();
    assert_eq!((queries.len(), answers.len()), (2, 2));
    // From the raw bytes (RFC 1035 header): same id, QR set, RCODE 0 then 3 (NXDOMAIN).
    let mut rcodes = Vec::new();
    for q in &queries {
        let a = answers
            .iter()
            .find(|a| a.dst == q.src)
            .expect("an answer to the query's source port");
        assert_eq!(a.payload[..2], q.payload[..2], "the same id");
        assert_eq!(q.payload[2] & 0x80, 0, "the query has QR clear");
        assert_eq!(a.payload[2] & 0x80, 0x80, "the answer has QR set");
        rcodes.push(a.payload[3] & 0x0f);
        if a.payload[3] & 0x0f == 0 {
            assert!(a.payload.ends_with(&[192, 0, 2, 1]), "the A record");
        }
    }
    assert_eq!(rcodes, [0, 3]);
    assert_ne!(queries[0].src.port(), queries[1].src.port());
    // The resolver answered localhost from /etc/hosts.
    let gai = run
        .events
        .iter()
        .find(|e| e.call == "getaddrinfo")
        .expect("getaddrinfo was called (/etc/hosts maps localhost)");
    assert!(gai.ok() && gai.text.as_deref().is_some_and(|t| t.contains("127.0.0.1")));
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn keepalive_probes_are_answered_then_the_silent_peer_times_out() {
    let _one_at_a_time = serial();
    let Some(run) = run("keepalive") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 1);
    let p: Vec<&Pkt> = v.conn_pkts(0).collect();
    let ping = p
        .iter()
        .find(|q| q.dir == Dir::ToServer && q.payload == b"ping")
        .expect("the client's ping");
    let (_, seq, _, len) = tcp(ping);
    let next = seq.wrapping_add(len);
    // The probes: bare ACKs (raw header fields) with SEQ one below the client's next.
    let probes: Vec<usize> = (0..p.len())
        .filter(|&i| p[i].dir == Dir::ToServer && tcp(p[i]).0 == f::ACK)
        .filter(|&i| tcp(p[i]).1 == next.wrapping_sub(1) && tcp(p[i]).3 == 0)
        .collect();
    assert_eq!(probes.len(), 3, "one answered probe, then TCP_KEEPCNT = 2");
    // The first is answered at once with an ACK of the client's next SEQ.
    let answer = p[probes[0] + 1];
    assert_eq!(answer.dir, Dir::ToClient);
    assert_eq!(
        (tcp(answer).0, tcp(answer).2, tcp(answer).3),
        (f::ACK, next, 0)
    );
    // Then the client's RST at its next SEQ, and nothing from the server in between.
    let rst = p
        .iter()
        .position(|q| q.dir == Dir::ToServer && tcp(q).0 & f::RST != 0)
        .expect("the client's RST");
    assert_eq!(tcp(p[rst]).0, f::RST | f::ACK);
    assert_eq!(tcp(p[rst]).1, next);
    assert!(p[probes[1]..rst].iter().all(|q| q.dir == Dir::ToServer));
    // The timers: TCP_KEEPIDLE after the last segment received, then TCP_KEEPINTVL (1 s each,
    // minus a jiffy).
    let echo = p[..probes[0]]
        .iter()
        .rfind(|q| q.dir == Dir::ToClient)
        .expect("the echo");
    let gaps = [
        p[probes[0]].ts - echo.ts,
        p[probes[1]].ts - answer.ts,
        p[probes[2]].ts - p[probes[1]].ts,
        p[rst].ts - p[probes[2]].ts,
    ];
    for g in gaps {
        assert!(g >= 990_000_000, "{gaps:?}");
    }
    // The blocked read() failed with ETIMEDOUT.
    let read = run
        .events
        .iter()
        .rev()
        .find(|e| e.call == "read" && e.role == sockscope::live::Role::Client)
        .expect("the client's last read()");
    assert_eq!(read.errno.as_deref(), Some("ETIMEDOUT"));
    // The server never saw the RST (its kernel says ESTABLISHED); its FIN is answered by a
    // bare RST (no ACK) at the FIN's ACK number.
    assert!(run
        .events
        .iter()
        .any(|e| e.call == "state" && e.text.as_deref() == Some("ESTABLISHED")));
    let fin = p
        .iter()
        .position(|q| q.dir == Dir::ToClient && tcp(q).0 & f::FIN != 0)
        .expect("the server's FIN");
    let reply = p[fin + 1];
    assert_eq!((reply.dir, tcp(reply).0), (Dir::ToServer, f::RST));
    assert_eq!(tcp(reply).1, tcp(p[fin]).2);
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn eintr_interrupted_accept_restarted_accept_and_alarm() {
    let _one_at_a_time = serial();
    let Some(run) = run("eintr") else { return };
    let v = View::new(&run);
    let server = |call: &str| -> Vec<&sockscope::live::Event> {
        run.events
            .iter()
            .filter(|e| e.role == sockscope::live::Role::Server && e.call == call)
            .collect()
    };
    // Three accept() calls for the first two clients: -1 EINTR, the connection, the
    // connection (SA_RESTART), then the third client's.
    let accepts = server("accept");
    let results: Vec<Option<&str>> = accepts.iter().map(|e| e.errno.as_deref()).collect();
    assert_eq!(results, [Some("EINTR"), None, None, None]);
    // No packet while the interrupted accept() waited; a SIGCHLD handler ran inside it and
    // in the restarted one, reaping the children the server forked.
    let inside = |e: &sockscope::live::Event, sig: &str| {
        server("handler")
            .iter()
            .any(|h| h.args.starts_with(sig) && h.start >= e.start && h.end <= e.end)
    };
    assert!(!v
        .pkts
        .iter()
        .any(|p| p.ts > accepts[0].start && p.ts < accepts[0].end));
    assert!(inside(accepts[0], "SIGCHLD") && inside(accepts[2], "SIGCHLD"));
    let forked: Vec<i64> = server("fork").iter().filter_map(|e| e.ret).collect();
    let reaped: Vec<i64> = server("waitpid")
        .iter()
        .filter(|e| e.args.contains("WNOHANG"))
        .filter_map(|e| e.ret)
        .collect();
    // The runner forked the server; the server forked two children, reaped by its handler.
    assert_eq!(reaped.len(), 2);
    assert!(
        reaped.iter().all(|p| forked.contains(p)),
        "{forked:?} {reaped:?}"
    );
    // alarm(1), alarm(0) = 1 second left, alarm(1); the second read() is cut by SIGALRM
    // after a second, with no packet meanwhile; the FIN follows.
    let alarms: Vec<(String, Option<i64>)> = server("alarm")
        .iter()
        .map(|e| (e.args.clone(), e.ret))
        .collect();
    assert_eq!(
        alarms,
        [
            ("1".into(), Some(0)),
            ("0".into(), Some(1)),
            ("1".into(), Some(0))
        ]
    );
    let reads = server("read");
    let timed = reads.last().expect("the timed-out read");
    assert_eq!(timed.errno.as_deref(), Some("EINTR"));
    assert!(timed.end - timed.start >= 990_000_000);
    assert!(inside(timed, "SIGALRM"));
    assert!(!v
        .pkts
        .iter()
        .any(|p| p.ts > timed.start && p.ts < timed.end));
    let fin = v
        .pkts
        .iter()
        .rfind(|p| p.dir == Dir::ToClient && tcp(p).0 & f::FIN != 0)
        .expect("the server's last FIN");
    assert!(fin.ts > timed.end);
    assert_eq!(v.conns.len(), 3);
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn resolver_queries_are_on_the_wire() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("live scenario 'resolver'") {
        return;
    }
    // Its resolv.conf is mounted in the private namespaces `sockscope run` makes: as root, under
    // sudo (dropped to nobody) and as nobody; the host's file is left as it was.
    let host_conf = std::fs::read("/etc/resolv.conf").ok();
    let dir = world_tempdir();
    let mut root_cmd = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    root_cmd.env_remove("SUDO_UID").env_remove("SUDO_GID");
    let mut runs = vec![(root_cmd, dir.path().join("root.pcapng"))];
    if nix::unistd::geteuid().is_root() {
        let mut sudo = Command::new(world_runnable_copy(dir.path()));
        sudo.env("SUDO_UID", "65534").env("SUDO_GID", "65534");
        runs.push((sudo, dir.path().join("sudo.pcapng")));
    }
    if let Some(cmd) = unprivileged(dir.path(), &[]) {
        runs.push((cmd, dir.path().join("user.pcapng")));
    }
    for (mut cmd, save) in runs {
        let out = cmd
            .args(["run", "resolver", "--color", "never", "--save"])
            .arg(&save)
            .output()
            .expect("run sockscope");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = load_saved(&save);
        assert!(run.private_netns);
        resolver_wire(&run);
    }
    assert_eq!(std::fs::read("/etc/resolv.conf").ok(), host_conf);
}

/// The queries and answers of a `resolver` run, read from the raw bytes.
fn resolver_wire(run: &RunData) {
    let v = View::new(run);
    assert!(v.pkts.iter().all(|p| p.proto == Proto::Udp));
    // From the raw bytes (RFC 1035): each query's name as labels and its type.
    fn question(payload: &[u8]) -> (String, u16) {
        let mut at = 12;
        let mut labels = Vec::new();
        while payload[at] != 0 {
            let n = payload[at] as usize;
            labels.push(String::from_utf8_lossy(&payload[at + 1..at + 1 + n]).into_owned());
            at += 1 + n;
        }
        let qtype = u16::from_be_bytes([payload[at + 1], payload[at + 2]]);
        (labels.join("."), qtype)
    }
    let queries: Vec<&Pkt> = v.pkts.iter().filter(|p| p.dir == Dir::ToServer).collect();
    // resolv.conf said 127.0.0.1; DNS's port is 53.
    assert!(queries
        .iter()
        .all(|q| q.dst == "127.0.0.1:53".parse().unwrap()));
    let asked: Vec<(String, u16)> = queries.iter().map(|p| question(&p.payload)).collect();
    let www = "www.sockscope.test".to_owned();
    assert_eq!(asked.len(), 4, "{asked:?}");
    // getaddrinfo: A (1) and AAAA (28), in either order, from one source port.
    let mut first_two = vec![asked[0].clone(), asked[1].clone()];
    first_two.sort();
    assert_eq!(first_two, [(www.clone(), 1), (www.clone(), 28)]);
    assert_eq!(queries[0].src, queries[1].src);
    // gethostbyaddr(192.0.2.1): PTR (12) for the bytes reversed.
    assert_eq!(asked[2], ("1.2.0.192.in-addr.arpa".to_owned(), 12));
    // gethostbyname(alias): A; its answer carries two records (CNAME, A).
    assert_eq!(asked[3], ("alias.sockscope.test".to_owned(), 1));
    for q in &queries {
        let a = v
            .pkts
            .iter()
            .find(|a| a.dir == Dir::ToClient && a.dst == q.src && a.payload[..2] == q.payload[..2])
            .expect("an answer with the query's id, to its port");
        assert_eq!(a.payload[2] & 0x80, 0x80, "QR set");
    }
    let last = v.pkts.last().expect("the last answer");
    assert_eq!(u16::from_be_bytes([last.payload[6], last.payload[7]]), 2);
    let h = run
        .events
        .iter()
        .find(|e| e.call == "gethostbyname")
        .and_then(|e| e.text.clone())
        .expect("gethostbyname's hostent");
    assert_eq!(
        h,
        "(h_name www.sockscope.test; h_aliases alias.sockscope.test; h_addr_list 192.0.2.1)"
    );
}

/// A directory any user may enter and write: in /tmp, whatever TMPDIR says (it may be under
/// a home directory that other users cannot enter).
fn world_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir_in("/tmp").expect("a temporary directory in /tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

/// Copies the test binary where an unprivileged user may run it.
fn world_runnable_copy(dir: &Path) -> std::path::PathBuf {
    let exe = dir.join("sockscope");
    std::fs::copy(env!("CARGO_BIN_EXE_sockscope"), &exe).expect("copy the binary");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    exe
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn cli_run_all_and_list() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("sockscope run all") {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["run", "all", "--color", "never"])
        .output()
        .expect("run sockscope");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with('✓')).count(),
        scenario::all().len(),
        "{text}"
    );
    let list = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("list")
        .output()
        .expect("run sockscope list");
    let list = String::from_utf8_lossy(&list.stdout);
    for s in scenario::all() {
        assert!(
            list.lines()
                .any(|l| l.starts_with(&format!("  {} ", s.name))),
            "{list}"
        );
    }
}

/// `run handshake --ladder` prints the ladder (arrows, states, calls on the lanes) and the
/// checks instead of the timeline, and exits 0; `--ascii` draws it in ASCII; with `all` or
/// `--format jsonl` it is refused in one line with status 2.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn cli_run_ladder() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("sockscope run handshake --ladder") {
        return;
    }
    let sockscope = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sockscope"))
            .args(args)
            .args(["--color", "never"])
            .output()
            .expect("run sockscope")
    };
    let out = sockscope(&["run", "handshake", "--ladder"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}{err}");
    assert!(text.contains("[S] seq=0 "), "{text}");
    assert!(text.contains("─▶ │"), "{text}");
    assert!(text.contains("│ ◀─"), "{text}");
    assert!(text.contains("CLOSED→SYN_SENT"), "{text}");
    assert!(
        text.contains("connect(") && text.contains("accept("),
        "{text}"
    );
    assert!(text.contains("\nchecks\n  ✓ "), "{text}");
    assert!(!text.contains('✗'), "{text}");
    // Not the timeline: no `time  client  wire  server` header.
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("time ")),
        "{text}"
    );

    let out = sockscope(&["run", "handshake", "--ladder", "--ascii"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("--> |") && text.contains("| <--"), "{text}");
    assert!(!text.contains('▶') && !text.contains('│'), "{text}");

    for args in [
        &["run", "all", "--ladder"][..],
        &["run", "handshake", "--ladder", "--format", "jsonl"],
    ] {
        let out = sockscope(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("--ladder"), "{args:?}: {err}");
    }
}

/// `run --width 80` fits a live run into 80 columns, in a pipe too; COLUMNS counts when there
/// is no `--width`; without either, a pipe gets whole lines (the server lane past column 100).
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn cli_run_fits_the_width() {
    use unicode_width::UnicodeWidthStr;
    let _one_at_a_time = serial();
    if !root::capture_allowed("sockscope run --width") {
        return;
    }
    for (flag, columns, limit) in [
        (Some("80"), Some("200"), Some(80)),
        (None, Some("100"), Some(100)),
        (Some("0"), Some("100"), None),
        (None, None, None),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockscope"));
        cmd.args(["run", "handshake", "--color", "never"]);
        if let Some(w) = flag {
            cmd.args(["--width", w]);
        }
        cmd.env_remove("COLUMNS");
        if let Some(c) = columns {
            cmd.env("COLUMNS", c);
        }
        let out = cmd.output().expect("run sockscope");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        let widest = text.lines().map(UnicodeWidthStr::width).max().unwrap_or(0);
        match limit {
            Some(w) => assert!(
                widest <= w,
                "{flag:?} {columns:?}: {widest} columns\n{text}"
            ),
            None => assert!(
                widest > 100,
                "{flag:?} {columns:?}: whole lines expected\n{text}"
            ),
        }
    }
}

/// Under sudo (SUDO_UID/SUDO_GID set) the run drops to that user: the saved files are theirs.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn privileges_are_dropped_and_the_save_belongs_to_the_user() {
    let _one_at_a_time = serial();
    if !root::is_root_or_skip(
        "dropping privileges to SUDO_UID",
        "only root can drop to another user",
    ) {
        return;
    }
    let dir = world_tempdir();
    let save = dir.path().join("udp.pcapng");
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["run", "udp", "--format", "jsonl", "--save"])
        .arg(&save)
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .output()
        .expect("run sockscope");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&save).expect("saved file");
    assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", save.display());
    // One file: the run travels inside it, nothing is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read the folder")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("udp.pcapng")]);
    // Every record has its kind's keys (docs/jsonl.md); the run record says who the program
    // ran as, and the saved run remembers it.
    let text = String::from_utf8_lossy(&out.stdout);
    common::schema::load()
        .check_stream(&text, "run")
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let run: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .find(|v| v["kind"] == "run")
        .expect("a run record");
    assert_eq!(run["privileges"], "dropped", "{run}");
    assert_eq!(
        (&run["uid"], &run["gid"]),
        (&65534.into(), &65534.into()),
        "{run}"
    );
    assert_eq!(run["cap_effective"], serde_json::json!([]), "{run}");
    assert_eq!(run["cap_permitted"], serde_json::json!([]), "{run}");
    let back = load_saved(&save);
    assert_eq!(back.packets.len(), 5);
    assert_eq!(
        back.identity,
        Some(sockscope::live::privilege::Identity::Dropped {
            uid: 65534,
            gid: 65534
        })
    );
    assert_eq!(back.credentials.map(|c| c.uid), Some((65534, 65534)));
}

/// What a text run says about who its program ran as.
fn privilege_line(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find(|l| l.starts_with("privileges: "))
        .unwrap_or_else(|| panic!("no privileges line in:\n{text}"))
        .to_owned()
}

/// Each way of getting the capture ends with the program holding no privilege it does not
/// need: under sudo it runs as the user with no capabilities; from a binary given
/// `cap_net_raw,cap_net_admin+eip` by setcap, as the user who started it, with its
/// capabilities cleared (read back from /proc/thread-self/status of the scenario's thread, whose
/// forked children inherit them); root without SUDO_UID stays root and says so.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn capabilities_are_cleared_however_the_capture_was_allowed() {
    let _one_at_a_time = serial();
    if !root::is_root_or_skip(
        "clearing capabilities (sudo and setcap paths)",
        "only root can set a file capability and run as another user",
    ) {
        return;
    }
    let sudo = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["run", "fork", "--color", "never"])
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .output()
        .expect("run sockscope");
    assert_eq!(
        privilege_line(&sudo),
        "privileges: the program ran as uid 65534, gid 65534, no capabilities"
    );

    let dir = world_tempdir();
    let nosuid = nix::sys::statvfs::statvfs(dir.path())
        .expect("statvfs /tmp")
        .flags()
        .contains(nix::sys::statvfs::FsFlags::ST_NOSUID);
    assert!(
        !nosuid,
        "/tmp is mounted nosuid: the kernel ignores file capabilities and set-user-ID bits there, so \
         the setcap and set-user-ID paths cannot be tested"
    );
    let exe = world_runnable_copy(dir.path());
    let setcap = Command::new("setcap")
        .arg("cap_net_raw,cap_net_admin+eip")
        .arg(&exe)
        .output()
        .expect("setcap (Debian's libcap2-bin; scripts/setup --test installs it)");
    assert!(
        setcap.status.success(),
        "setcap: {}",
        String::from_utf8_lossy(&setcap.stderr)
    );
    let capped = common::output_of_copy(
        Command::new(&exe)
            .args(["run", "fork", "--color", "never"])
            .env_remove("SUDO_UID")
            .env_remove("SUDO_GID")
            .uid(65534)
            .gid(65534),
    );
    assert_eq!(
        privilege_line(&capped),
        "privileges: the program ran as uid 65534, gid 65534, no capabilities"
    );

    // A set-user-ID-root copy started by a user: no SUDO_UID, so back to the real user.
    let suid = dir.path().join("sockscope-suid");
    std::fs::copy(&exe, &suid).expect("copy the binary");
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).expect("chmod u+s");
    let setuid = common::output_of_copy(
        Command::new(&suid)
            .args(["run", "hello", "--color", "never"])
            .env_remove("SUDO_UID")
            .env_remove("SUDO_GID")
            .uid(65534)
            .gid(65534),
    );
    assert_eq!(
        privilege_line(&setuid),
        "privileges: the program ran as uid 65534, gid 65534, no capabilities"
    );

    let root = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["run", "hello", "--color", "never"])
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .output()
        .expect("run sockscope");
    assert!(privilege_line(&root).contains("ran as root"));

    // SUDO_UID without SUDO_GID: whom to become is unknown, so nothing runs as root.
    let half = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["run", "hello"])
        .env("SUDO_UID", "65534")
        .env_remove("SUDO_GID")
        .output()
        .expect("run sockscope");
    let err = String::from_utf8_lossy(&half.stderr);
    assert_eq!(half.status.code(), Some(2), "{err}");
    assert!(half.stdout.is_empty());
    assert!(
        err.lines().count() == 1 && err.contains("SUDO_GID is not set"),
        "{err}"
    );
}

/// A command for a copy of sockscope as a user with no privilege: uid 65534 when this runs
/// as root; else this user (None, after saying so, when this user can capture anyway, so that
/// no namespace would be used).
fn unprivileged(dir: &Path, args: &[&str]) -> Option<Command> {
    let exe = world_runnable_copy(dir);
    let mut cmd = Command::new(&exe);
    cmd.args(args).env_remove("SUDO_UID").env_remove("SUDO_GID");
    if nix::unistd::geteuid().is_root() {
        cmd.uid(65534).gid(65534);
    } else if root::can_capture() {
        // Not root but allowed to capture (CAP_NET_RAW): only root could become a user who is not.
        root::lacking(
            "a run without privilege",
            "this process can capture and cannot become a user who cannot",
        );
        return None;
    }
    Some(cmd)
}

/// Without root or a capability, `run` gets a private user and network namespace of its own:
/// the same checks pass, the files are the user's, and the report says where it captured.
#[test]
fn an_ordinary_user_runs_in_a_private_namespace() {
    let _one_at_a_time = serial();
    let dir = world_tempdir();
    let save = dir.path().join("handshake.pcapng");
    let Some(mut cmd) = unprivileged(
        dir.path(),
        &["run", "handshake", "--color", "never", "--save"],
    ) else {
        return;
    };
    let out = common::output_of_copy(cmd.arg(&save));
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}{err}");
    assert!(
        text.contains("capture: lo of a private network namespace"),
        "{text}"
    );
    let checks: Vec<&str> = text.lines().filter(|l| l.starts_with("  ✓ ")).collect();
    assert_eq!(checks.len(), 7, "every handshake check passed:\n{text}");
    assert!(!text.contains("  ✗ "), "{text}");
    let me = if nix::unistd::geteuid().is_root() {
        65534
    } else {
        nix::unistd::geteuid().as_raw()
    };
    assert!(
        text.contains(&format!("privileges: the program ran as uid {me}, ")),
        "{text}"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&save).expect("saved").uid(), me);
    let back = load_saved(&save);
    assert!(back.private_netns, "the saved run remembers its namespace");
    let shown = text
        .lines()
        .find_map(|l| l.split(", ").find_map(|w| w.strip_suffix(" packets")))
        .and_then(|n| n.parse::<usize>().ok())
        .expect("the capture line's packet count");
    assert!(shown >= 6, "{text}");
    assert_eq!(
        back.packets.len(),
        shown,
        "the saved run has the packets shown"
    );
}

/// Where the system forbids unprivileged user namespaces (simulated: the real settings allow
/// them here): one line naming the setting and the ways out, exit 2, nothing on stdout.
#[test]
fn forbidden_namespace_one_clear_line() {
    let _one_at_a_time = serial();
    let dir = world_tempdir();
    let Some(mut cmd) = unprivileged(dir.path(), &["run", "handshake"]) else {
        return;
    };
    let out = common::output_of_copy(cmd.env(
        sockscope::live::netns::SIMULATE_REFUSAL,
        "kernel.unprivileged_userns_clone",
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.contains("kernel.unprivileged_userns_clone = 0")
            && err.contains("sudo")
            && err.contains("setcap cap_net_raw"),
        "{err}"
    );
}

/// A report that cannot be written (a full disk) is an error, but the capture is saved first.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn the_save_survives_a_report_that_cannot_be_written() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("--save with a failed report") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let save = dir.path().join("udp.pcapng");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["run", "udp", "--save"])
        .arg(&save)
        .stdout(full)
        .output()
        .expect("run sockscope");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("writing the output failed"), "{err}");
    let back = load_saved(&save);
    assert_eq!(back.packets.len(), 5);
}

/// `run --netns NAME` runs in the named private namespace (made here: no other sockscope
/// holds it), as an ordinary user, with every check passing.
#[test]
fn run_in_a_named_namespace() {
    let _one_at_a_time = serial();
    let dir = world_tempdir();
    let name = format!("run-{}", std::process::id());
    let Some(mut cmd) = unprivileged(
        dir.path(),
        &["run", "hello", "--color", "never", "--netns", &name],
    ) else {
        return;
    };
    let out = common::output_of_copy(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("capture: lo of a private network namespace"),
        "{text}"
    );
    assert!(!text.contains("  ✗ "), "{text}");
}

/// Each Enhanced Packet Block's comments, in order.
fn packet_comments(file: &[u8]) -> Vec<Vec<String>> {
    use pcap_parser::pcapng::{parse_block_le, Block};
    let mut out = Vec::new();
    let mut rest = file;
    while !rest.is_empty() {
        let (r, block) = parse_block_le(rest).expect("a pcapng block");
        if let Block::EnhancedPacket(epb) = block {
            out.push(
                epb.options
                    .iter()
                    .filter(|o| o.code.0 == 1)
                    .map(|o| String::from_utf8_lossy(o.as_bytes().expect("text")).into_owned())
                    .collect(),
            );
        }
        rest = r;
    }
    out
}

/// The saved-run round trip, live: `run handshake --save h.pcapng`, then `replay h.pcapng`
/// prints the very report `run` printed (calls, packets, checks, counters, privileges). In
/// the file, each call's start and return are comments on the first packet after each moment
/// (`connect() = 0` after the SYN+ACK, not on the SYN). `--save -` writes the same kind of
/// file to stdout, and prints the verdict on stderr instead of the report.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn a_saved_run_replays_as_it_ran() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("run --save, then replay") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let save = dir.path().join("h.pcapng");
    let sockscope = || Command::new(env!("CARGO_BIN_EXE_sockscope"));
    let ran = sockscope()
        .args(["run", "handshake", "--color", "never", "--save"])
        .arg(&save)
        .output()
        .expect("run sockscope run");
    let err = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(0), "{err}");
    // Three segments open; the close takes three, or four when the ACK of the client's FIN
    // leaves before the server's FIN. The message counts what the file holds.
    let packets = load_saved(&save).packets.len();
    assert!((6..=7).contains(&packets), "{packets} packets: {err}");
    assert!(
        err.contains(&format!("saved {packets} packets and")),
        "{err}"
    );
    let replayed = sockscope()
        .args(["replay", "--color", "never"])
        .arg(&save)
        .output()
        .expect("run sockscope replay");
    assert_eq!(replayed.status.code(), Some(0));
    let text = String::from_utf8_lossy(&replayed.stdout);
    assert_eq!(text, String::from_utf8_lossy(&ran.stdout));
    for want in [
        "connect(",
        "… connect() = 0",
        "… accept() = ",
        "  ✓ ",
        "privileges: ",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }

    // Every comment sits on the first packet after the moment it names.
    let back = load_saved(&save);
    let comments = packet_comments(&std::fs::read(&save).expect("read"));
    assert_eq!(comments.len(), back.packets.len());
    let mut connect_returned = None;
    for (i, cs) in comments.iter().enumerate() {
        for c in cs {
            let at = c
                .rsplit_once("(at ")
                .and_then(|(_, t)| t.strip_suffix(')'))
                .and_then(sockscope::live::event::parse_time)
                .unwrap_or_else(|| panic!("no time in {c:?}"));
            if c.starts_with("after this packet: ") {
                assert_eq!(i + 1, comments.len(), "{c}");
                assert!(at > back.packets[i].ts, "{c}");
                continue;
            }
            assert!(at <= back.packets[i].ts, "frame {}: {c}", i + 1);
            assert!(
                i == 0 || at > back.packets[i - 1].ts,
                "frame {}: {c} belongs on an earlier packet",
                i + 1
            );
            if c.contains("… connect() = 0") {
                connect_returned = Some(i);
            }
        }
    }
    // Frames 1 and 2 are the SYN and the SYN+ACK.
    assert!(connect_returned.is_some_and(|i| i >= 2), "{comments:#?}");

    let to_stdout = sockscope()
        .args(["run", "handshake", "--save", "-"])
        .output()
        .expect("run sockscope run --save -");
    let err = String::from_utf8_lossy(&to_stdout.stderr);
    assert_eq!(to_stdout.status.code(), Some(0), "{err}");
    assert!(err.contains("handshake: 7 of 7 checks passed"), "{err}");
    assert_eq!(&to_stdout.stdout[..4], &[0x0a, 0x0d, 0x0d, 0x0a], "pcapng");
    let piped = dir.path().join("piped.pcapng");
    std::fs::write(&piped, &to_stdout.stdout).expect("write");
    assert_eq!(load_saved(&piped).scenario, "handshake");
}

/// `--save` is checked before anything runs: a missing folder, an existing file (without
/// `--force`), a name that is neither .pcapng nor .pcap, stop at once, with nothing on stdout
/// and no file made.
#[test]
fn save_is_checked_before_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let existing = dir.path().join("there.pcapng");
    std::fs::write(&existing, b"mine").expect("write");
    for (target, why) in [
        (
            dir.path().join("no/such/h.pcapng"),
            "does not exist: create it first",
        ),
        (existing.clone(), "the file exists: add --force"),
        (dir.path().join("h.txt"), "name it .pcapng"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
            .args(["run", "handshake", "--save"])
            .arg(&target)
            .output()
            .expect("run sockscope");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(out.stdout.is_empty(), "the scenario ran");
        assert!(err.contains(why), "{}: {err}", target.display());
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert_eq!(std::fs::read(&existing).expect("read"), b"mine");
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
}

/// Under sudo, a folder the invoking user may not write in stops the run before the scenario
/// starts (root could write there; the file would be the user's), and leaves nothing behind.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn a_folder_the_user_cannot_write_stops_the_run_first() {
    let _one_at_a_time = serial();
    if !root::is_root_or_skip(
        "--save checked as SUDO_UID",
        "only root can drop to another user",
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["run", "handshake", "--save"])
        .arg(dir.path().join("h.pcapng"))
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .output()
        .expect("run sockscope");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty(), "the scenario ran");
    assert!(
        err.contains("cannot create a file in the folder") && err.contains("permission denied"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}

/// `writev`: three write()s with TCP_NODELAY are three segments of 7, 7 and 3 bytes; one
/// writev() of the same buffers is one segment of 17; readv() returned all 17 in one call.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn writev_one_call_one_segment() {
    let _one_at_a_time = serial();
    let Some(run) = run("writev") else { return };
    let v = View::new(&run);
    let data: Vec<&[u8]> = v
        .conn_pkts(0)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .map(|p| p.payload.as_slice())
        .collect();
    let want: [&[u8]; 4] = [b"ABCDEFG", b"1234567", b"890", b"ABCDEFG1234567890"];
    assert_eq!(data, want);
    let readv: Vec<i64> = run
        .events
        .iter()
        .filter(|e| e.call == "readv")
        .filter_map(|e| e.ret)
        .collect();
    assert_eq!(readv, [17]);
}

/// `peek`: the first recv(MSG_PEEK|MSG_DONTWAIT) fails with EAGAIN, a later peek and the
/// plain recv() after it both return "123", and the wire carries the 3 bytes once.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn peek_leaves_the_bytes_for_the_next_read() {
    let _one_at_a_time = serial();
    let Some(run) = run("peek") else { return };
    let recvs: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.call == "recv" && e.role == sockscope::live::Role::Server)
        .collect();
    assert_eq!(recvs[0].errno.as_deref(), Some("EAGAIN"));
    let got: Vec<&[u8]> = recvs
        .iter()
        .filter(|e| e.ret.unwrap_or(0) > 0)
        .map(|e| e.data.as_deref().unwrap_or(&[]))
        .collect();
    assert_eq!(got, [b"123", b"123"], "the peek and the read");
    let v = View::new(&run);
    let sent: Vec<&[u8]> = v
        .conn_pkts(0)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .map(|p| p.payload.as_slice())
        .collect();
    assert_eq!(sent, [b"123"]);
}

/// `oob`: each send(MSG_OOB) is a segment with URG whose urgent pointer ends at its last byte
/// (1 for "4", 3 for "890"); the handler's recv(MSG_OOB) got "4" and "0" on the plain
/// connection and EINVAL with SO_OOBINLINE, where the reads returned all ten bytes.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn oob_urgent_pointer_and_sigurg() {
    let _one_at_a_time = serial();
    let Some(run) = run("oob") else { return };
    let v = View::new(&run);
    let urg: Vec<(u32, u16, Vec<u8>)> = v
        .pkts
        .iter()
        .filter(|p| p.tcp.as_ref().is_some_and(|t| t.has(f::URG)))
        .map(|p| {
            (
                v.rel_seq(p),
                p.tcp.as_ref().unwrap().urgent,
                p.payload.clone(),
            )
        })
        .collect();
    let want = |s: u32, u: u16, d: &[u8]| (s, u, d.to_vec());
    assert_eq!(
        urg,
        [
            want(4, 1, b"4"),
            want(8, 3, b"890"),
            want(4, 1, b"4"),
            want(8, 3, b"890")
        ]
    );
    let handler: Vec<(Option<String>, Vec<u8>)> = run
        .events
        .iter()
        .filter(|e| e.who == "handler" && e.call == "recv")
        .map(|e| (e.errno.clone(), e.data.clone().unwrap_or_default()))
        .collect();
    let ok = |d: &[u8]| (None, d.to_vec());
    let einval = (Some("EINVAL".to_owned()), Vec::new());
    assert_eq!(handler, [ok(b"4"), ok(b"0"), einval.clone(), einval]);
    let eintr = run
        .events
        .iter()
        .filter(|e| e.who == "receiver" && e.errno.as_deref() == Some("EINTR"))
        .count();
    assert!(eintr >= 2, "{eintr} EINTR");
}

/// `stdio`: three write()s are three segments; three fputs() and fflush() are one, with all
/// 45 bytes; the second connection's FIN comes from fclose().
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn stdio_fflush_sends_the_buffered_lines_at_once() {
    let _one_at_a_time = serial();
    let Some(run) = run("stdio") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 2);
    let data = |c: usize| -> Vec<u32> {
        v.conn_pkts(c)
            .filter(|p| p.dir == Dir::ToServer && p.len > 0)
            .map(|p| p.len)
            .collect()
    };
    assert_eq!(data(0), [26, 17, 2]);
    assert_eq!(data(1), [45]);
    let calls: Vec<&str> = run
        .events
        .iter()
        .filter(|e| e.role == sockscope::live::Role::Client)
        .map(|e| e.call.as_str())
        .filter(|c| matches!(*c, "fdopen" | "fputs" | "fflush" | "fclose"))
        .collect();
    assert_eq!(
        calls,
        ["fdopen", "fputs", "fputs", "fputs", "fflush", "fclose"]
    );
}

/// The sets of a `select` event: (in, out), from `7, {3 5}, 0, 0, {…}` and `{5} timeout left …`.
fn select_sets(e: &sockscope::live::Event) -> (Vec<i32>, Vec<i32>) {
    let set = |s: &str| -> Vec<i32> {
        let inner = s.split('{').nth(1).and_then(|r| r.split('}').next());
        inner
            .expect("a {…} set")
            .split_whitespace()
            .map(|f| f.parse().expect("an fd"))
            .collect()
    };
    let given = set(e.args.split(", ").nth(1).expect("the read set"));
    (given, set(e.text.as_deref().expect("the result")))
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn select_one_thread_wakes_at_each_segment() {
    let _one_at_a_time = serial();
    let Some(run) = run("select") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 3, "clients A, B and C");
    let server: Vec<&sockscope::live::Event> = run
        .events
        .iter()
        .filter(|e| e.role == sockscope::live::Role::Server)
        .collect();
    let count = |call: &str| server.iter().filter(|e| e.call == call && e.ok()).count();
    assert_eq!(count("accept"), 3);
    assert_eq!(
        count("read"),
        6,
        "one line and one end of stream per client"
    );
    // One thread serves, and it is not the clients' thread.
    let tid = server[0].tid;
    assert!(server
        .iter()
        .all(|e| e.tid == tid && e.pid == server[0].pid));
    assert!(run
        .events
        .iter()
        .filter(|e| e.role == sockscope::live::Role::Client && e.call != "mark")
        .all(|e| e.tid != tid));
    // Nine descriptors came back ready in all (3 handshakes, 3 lines, 3 FINs), each from the
    // set passed in; a call that timed out came back empty.
    let sels: Vec<&&sockscope::live::Event> =
        server.iter().filter(|e| e.call == "select").collect();
    let mut ready = 0;
    let mut woken = 0;
    for e in &sels {
        let (given, out) = select_sets(e);
        assert!(out.iter().all(|f| given.contains(f)), "{}", e.line());
        assert_eq!(e.ret, Some(out.len() as i64), "{}", e.line());
        ready += out.len();
        // A wake-up: a segment toward the server arrived while select() slept.
        if !out.is_empty()
            && v.pkts
                .iter()
                .any(|p| p.dir == Dir::ToServer && p.ts > e.start && p.ts < e.end)
        {
            woken += 1;
        }
    }
    assert_eq!(ready, 9);
    assert!(
        sels.iter().any(|e| e.ret == Some(0)),
        "the first call times out"
    );
    assert!(woken >= 1, "no select() was woken by a segment");
    // Every connection: the client's FIN first, then the server's (read() = 0, close()).
    for c in 0..3 {
        let fins: Vec<&Pkt> = v.conn_pkts(c).filter(|p| tcp(p).0 & f::FIN != 0).collect();
        assert_eq!(fins.len(), 2, "connection {c}");
        assert_eq!(
            fins[0].dir,
            Dir::ToServer,
            "connection {c}: the client closes first"
        );
    }
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn epoll_level_repeats_edge_waits_for_more_data() {
    let _one_at_a_time = serial();
    let Some(run) = run("epoll") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 2, "clients L and E");
    let server = |call: &str| -> Vec<&sockscope::live::Event> {
        run.events
            .iter()
            .filter(|e| e.role == sockscope::live::Role::Server && e.call == call)
            .collect()
    };
    // The connections in order: L first, then E; each client sent its lines in one segment
    // each (10 bytes; 10 then 8).
    let data = |c: usize| -> Vec<u32> {
        v.conn_pkts(c)
            .filter(|p| p.dir == Dir::ToServer && p.len > 0)
            .map(|p| p.len)
            .collect()
    };
    assert_eq!(data(0), [10]);
    assert_eq!(data(1), [10, 8]);
    // Between L's segment and its FIN, epoll_wait() returned three times (4 + 4 + 2 bytes)
    // with no other segment from L.
    let seg = |c: usize, n: usize| {
        v.conn_pkts(c)
            .filter(|p| p.dir == Dir::ToServer && (p.len > 0 || tcp(p).0 & f::FIN != 0))
            .nth(n)
            .expect("a segment")
            .ts
    };
    let waits = server("epoll_wait");
    let l_events = waits
        .iter()
        .filter(|e| e.ret == Some(1) && e.end > seg(0, 0) && e.end < seg(0, 1))
        .count();
    assert_eq!(l_events, 3, "level-triggered: an event per 4-byte read");
    // Between E's two segments: one event (its first), then a 100 ms call that returned 0.
    let between: Vec<&&sockscope::live::Event> = waits
        .iter()
        .filter(|e| e.end > seg(1, 0) && e.end < seg(1, 1))
        .collect();
    let got: Vec<Option<i64>> = between.iter().map(|e| e.ret).collect();
    assert_eq!(
        got,
        [Some(1), Some(0)],
        "edge-triggered: one event, then nothing"
    );
    assert!(between[1].args.ends_with(", 100"));
    let unread = server("ioctl");
    assert_eq!(unread.len(), 1);
    assert!(
        unread[0]
            .text
            .as_deref()
            .is_some_and(|t| t.starts_with("(n = 6:")),
        "{:?}",
        unread[0].text
    );
    // The non-blocking loop: reads after E's second segment until EAGAIN.
    let reads = server("read");
    let after: Vec<(Option<i64>, Option<&str>)> = reads
        .iter()
        .filter(|e| e.start > seg(1, 1) && e.start < seg(1, 2))
        .map(|e| (e.ret, e.errno.as_deref()))
        .collect();
    assert_eq!(
        after,
        [
            (Some(4), None),
            (Some(4), None),
            (Some(4), None),
            (Some(2), None),
            (Some(-1), Some("EAGAIN"))
        ]
    );
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn threads_one_process_a_thread_per_client_one_close() {
    let _one_at_a_time = serial();
    let Some(run) = run("threads") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 3);
    let server: Vec<&sockscope::live::Event> = run
        .events
        .iter()
        .filter(|e| e.role == sockscope::live::Role::Server)
        .collect();
    // One process: the runner's own (no fork), every server call with its pid.
    assert!(server.iter().all(|e| e.pid == std::process::id()));
    assert!(!run.events.iter().any(|e| e.call == "fork"));
    // A thread per connection: the tids that read and write on each connection.
    let mut tids = Vec::new();
    for c in 0..3 {
        let mut t: Vec<u32> = server
            .iter()
            .filter(|e| matches!(e.call.as_str(), "read" | "write") && v.conn_of(e) == Some(c))
            .map(|e| e.tid)
            .collect();
        t.sort_unstable();
        t.dedup();
        assert_eq!(t.len(), 1, "connection {c} served by {t:?}");
        tids.push(t[0]);
    }
    let accepter = server
        .iter()
        .find(|e| e.call == "accept")
        .expect("an accept()")
        .tid;
    tids.push(accepter);
    tids.sort_unstable();
    tids.dedup();
    assert_eq!(tids.len(), 4, "three serving threads and the accepting one");
    // Each connection: one close() on the server side, made by its serving thread, on the
    // number accept() returned; the server's FIN after it. The listener: one close().
    for c in 0..3 {
        let fd = server
            .iter()
            .find(|e| e.call == "accept" && v.conn_of(e) == Some(c))
            .and_then(|e| e.ret)
            .expect("accepted");
        let closes: Vec<&&sockscope::live::Event> = server
            .iter()
            .filter(|e| e.call == "close" && v.conn_of(e) == Some(c))
            .collect();
        assert_eq!(closes.len(), 1, "connection {c}");
        assert_eq!(closes[0].fd.map(i64::from), Some(fd));
        assert_ne!(closes[0].tid, accepter);
        let fin = v
            .conn_pkts(c)
            .find(|p| p.dir == Dir::ToClient && tcp(p).0 & f::FIN != 0)
            .expect("the server's FIN");
        assert!(fin.ts > closes[0].start);
        // The segments of a fork child's connection: handshake, line, echo, the client's FIN
        // then the server's.
        let pkts: Vec<&Pkt> = v.conn_pkts(c).collect();
        let flags: Vec<u16> = pkts.iter().map(|p| tcp(p).0).collect();
        assert_eq!(flags[..3], [f::SYN, f::SYN | f::ACK, f::ACK], "{flags:?}");
        for d in [Dir::ToServer, Dir::ToClient] {
            let data: Vec<u32> = pkts
                .iter()
                .filter(|p| p.dir == d && p.len > 0)
                .map(|p| p.len)
                .collect();
            assert_eq!(data, [10], "connection {c}: one line each way");
        }
        let fins: Vec<Dir> = pkts
            .iter()
            .filter(|p| tcp(p).0 & f::FIN != 0)
            .map(|p| p.dir)
            .collect();
        assert_eq!(fins, [Dir::ToServer, Dir::ToClient], "connection {c}");
    }
    let listener = server
        .iter()
        .find(|e| e.call == "listen")
        .and_then(|e| e.fd)
        .expect("listen");
    assert_eq!(
        server
            .iter()
            .filter(|e| e.call == "close" && e.fd == Some(listener))
            .count(),
        1
    );
}
