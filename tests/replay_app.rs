//! Application messages in replay: the details column names DNS, HTTP, TLS, SSH, QUIC and ICMP
//! echo messages in the corpus captures; `-A` and `-X` print payloads, `--follow` prints one
//! conversation as tshark's `-z follow,…,ascii` does; no byte of a file reaches the terminal
//! as a control.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use sockscope::decode::linktype;
use sockscope::source::{PcapWriter, Resolution};

mod common;

fn run(file: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .env_remove("NO_COLOR")
        .timeout(std::time::Duration::from_secs(60))
        .arg("replay")
        .arg(file)
        .args(args)
        .output()
        .expect("run sockscope")
}

fn stdout(file: &Path, args: &[&str]) -> String {
    let out = run(file, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The timeline line of frame `n`.
fn frame_line(text: &str, n: u64) -> String {
    let want = n.to_string();
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(want.as_str()))
        .unwrap_or_else(|| panic!("no line for frame {n} in\n{text}"))
        .to_owned()
}

/// The details column of frame `n`: what follows the last `len N` cell.
fn details(text: &str, n: u64) -> String {
    let line = frame_line(text, n);
    let at = line.find(" len ").unwrap_or(0);
    let rest = &line[at + 5..];
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '+' || c == '?');
    rest.trim().to_owned()
}

#[test]
fn dns_queries_and_responses_are_named() {
    let text = stdout(
        &common::fixture("many_interfaces-1.pcapng"),
        &["--no-summary"],
    );
    assert_eq!(
        details(&text, 5),
        "DNS query 0xf303 PTR 139.1.168.192.in-addr.arpa"
    );
    assert_eq!(
        details(&text, 7),
        "DNS response 0xf303 PTR 139.1.168.192.in-addr.arpa → PTR Hadriels-MBP"
    );
    assert_eq!(
        details(&text, 12),
        "DNS response 0x5685 PTR 255.1.168.192.in-addr.arpa → NXDOMAIN"
    );
    // tshark: "Standard query response 0xa0d9 A clients6.google.com CNAME clients.l.google.com
    // A 74.125.228.227 A 74.125.228.224 …" (12 answers).
    assert_eq!(
        details(&text, 23),
        "DNS response 0xa0d9 A clients6.google.com → CNAME clients.l.google.com, \
         A 74.125.228.227, A 74.125.228.224 (+9)"
    );
    let v6 = stdout(&common::fixture("LINKTYPE_IPV6.pcap"), &["--no-summary"]);
    assert_eq!(details(&v6, 1), "DNS query 0x1234 A example.com");
    // The dns scenario's saved run: its server listens on a port of its own, not 53; the
    // datagrams are still read as DNS, being exactly one plain message each. (A filter shows a
    // saved run's packets rather than the run.)
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let run = stdout(&dir.join("dns.pcapng"), &["--no-summary", "udp"]);
    assert!(details(&run, 1).starts_with("DNS query 0x"), "{run}");
    assert!(
        details(&run, 1).ends_with(" A hello.sockscope.test"),
        "{run}"
    );
    assert!(
        details(&run, 2).ends_with(" A hello.sockscope.test → A 192.0.2.1"),
        "{run}"
    );
    assert!(details(&run, 4).ends_with(" → NXDOMAIN"), "{run}");
    // mDNS cut into IPv6 fragments: the first fragment does not hold the whole message.
    let frag = stdout(&common::fixture("ip6_fragments.pcap"), &["--no-summary"]);
    assert!(details(&frag, 1).starts_with("DNS query 0x0000 (continues in later IP fragments)"));
}

#[test]
fn http_in_a_fragmented_request_and_len_agrees_with_the_summary() {
    let text = stdout(&common::fixture("frag_http_req.pcap"), &[]);
    let line = frame_line(&text, 1);
    // tshark -o ip.defragment:FALSE: "GET /convert_data.js?partner_id=29 HTTP/1.1".
    assert!(
        line.contains("len 124+  HTTP GET /convert_data.js?partner_id=29 HTTP/1.1"),
        "{line}"
    );
    let row = text
        .lines()
        .find(|l| l.contains("172.16.133.54:64415 ↔ 216.137.33.81:80"))
        .expect("summary row");
    assert!(row.contains(" 124+ "), "{row}");
    let raw = stdout(&common::fixture("raw_ip.pcap"), &["--no-summary"]);
    assert!(details(&raw, 4).starts_with("HTTP GET / HTTP/1.1  <nop"));
    assert!(details(&raw, 5).starts_with("HTTP HTTP/1.1 200 OK  <nop"));
}

#[test]
fn ssh_banners_tls_hellos_and_quic_headers() {
    let ssh = stdout(&common::fixture("ssh.pcap"), &["--no-summary"]);
    // tshark: "Client: Protocol (SSH-2.0-OpenSSH_7.8)", "Server: Protocol (…)".
    assert_eq!(details(&ssh, 4), "SSH SSH-2.0-OpenSSH_7.8");
    assert!(details(&ssh, 6).starts_with("SSH SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u3  <nop"));
    // tshark: "Client: Key Exchange Init", "Server: Elliptic Curve Diffie-Hellman Key Exchange
    // Reply, New Keys", "Client: New Keys", then encrypted packets.
    assert_eq!(details(&ssh, 8), "SSH KEXINIT");
    // (Frames 12 and 18 go on with a named wait: Nagle held each until an ACK came.)
    assert!(details(&ssh, 12).starts_with("SSH KEXDH_INIT  ⏱ "));
    assert!(details(&ssh, 14).starts_with("SSH KEXDH_REPLY, NEWKEYS, encrypted  <nop"));
    assert_eq!(details(&ssh, 16), "SSH NEWKEYS");
    assert!(details(&ssh, 18).starts_with("SSH encrypted  ⏱ "));
    let tls = stdout(
        &common::fixture("many_interfaces-1.pcapng"),
        &["--no-summary"],
    );
    // tshark: "Client Hello", "Server Hello, Change Cipher Spec, Encrypted Handshake Message".
    assert!(details(&tls, 27)
        .starts_with("TLS ClientHello TLSv1.2 sni clients6.google.com alpn http/1.1  <"));
    assert!(details(&tls, 29)
        .starts_with("TLS ServerHello TLSv1.2 alpn h2, ChangeCipherSpec, encrypted handshake  <"));
    assert!(details(&tls, 32).starts_with("TLS application data  <"));
    let ex = stdout(&common::fixture("pcapng-example.pcapng"), &["--no-summary"]);
    assert!(details(&ex, 10).starts_with(
        "TLS ServerHello TLSv1.0, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone"
    ));
    assert!(details(&ex, 15).starts_with("TLS application data ×2"));
    // tshark: "Initial, DCID=f71ae16671baa8b7, PKN: 0"; "Handshake, SCID=beb256567ee5698c".
    let quic = stdout(
        &common::fixture("quic_handshake_truncated.pcap"),
        &["--no-summary"],
    );
    assert!(details(&quic, 1).starts_with("QUIC Initial v1 dcid f71ae16671baa8b7"));
    assert!(details(&quic, 3).starts_with("QUIC Handshake v1 scid beb256567ee5698c"));
}

/// An IPv4 packet (no options) of protocol `proto` around `l4`.
fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let total = (20 + l4.len()) as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

/// A TCP segment 1234 → 80 with PSH|ACK carrying `payload`.
fn tcp(seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0x04, 0xd2, 0, 80];
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    ipv4(6, &t)
}

/// A capture (raw IP) of an ICMP echo request and reply, and an HTTP request whose target
/// holds an OSC title sequence, a bell, ESC, a C1 control and invalid UTF-8.
fn hostile_capture(dir: &Path) -> PathBuf {
    let path = dir.join("hostile.pcap");
    let file = std::fs::File::create(&path).expect("create");
    let mut w = PcapWriter::new(file, Resolution::Micros, linktype::RAW, 65535).expect("header");
    let mut packets = Vec::new();
    for (kind, seq) in [(8u8, 3u16), (0, 3)] {
        let mut icmp = vec![kind, 0, 0, 0, 0x12, 0x34];
        icmp.extend_from_slice(&seq.to_be_bytes());
        icmp.extend_from_slice(b"ping\x1b[2J");
        packets.push(ipv4(1, &icmp));
    }
    packets.push(tcp(
        1000,
        b"GET /a\x1b]0;pwned\x07\xc2\x9b\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    ));
    for (i, p) in packets.iter().enumerate() {
        w.write_packet(1_000_000_000 * (i as u64 + 1), p.len() as u32, p)
            .expect("write");
    }
    w.finish().expect("finish");
    path
}

#[test]
fn icmp_echo_and_escaped_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = hostile_capture(dir.path());
    for args in [
        &["--no-summary"][..],
        &["-A"],
        &["-X"],
        &["--follow", "tcp:0"],
    ] {
        let out = run(&file, args);
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8(out.stdout).expect("the output is UTF-8");
        let bad: Vec<char> = text
            .chars()
            .filter(|&c| c.is_control() && c != '\n' && c != '\t')
            .collect();
        assert!(bad.is_empty(), "{args:?}: controls {bad:?} in\n{text}");
        assert!(!text.contains('\u{fffd}'), "{args:?}");
    }
    let text = stdout(&file, &["--no-summary"]);
    // tcpdump: "ICMP echo request, id 4660, seq 3"; tshark: "Echo (ping) request id=0x1234, seq=3/768".
    assert!(
        frame_line(&text, 1).ends_with("ICMP echo request id 0x1234 seq 3"),
        "{text}"
    );
    assert!(
        frame_line(&text, 2).ends_with("ICMP echo reply id 0x1234 seq 3"),
        "{text}"
    );
    assert!(
        frame_line(&text, 3).ends_with(r"HTTP GET /a\x1b]0;pwned\x07\xc2\x9b\xff HTTP/1.1"),
        "{text}"
    );
    // -A: the payload under its line, as text (tcpdump's -A shows non-printables as dots).
    let a = stdout(&file, &["-A", "--no-summary"]);
    let lines: Vec<&str> = a.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("HTTP GET"))
        .expect("line");
    assert_eq!(lines[at + 1], "GET /a.]0;pwned.... HTTP/1.1");
    assert_eq!(lines[at + 2], "Host: x");
    assert!(a.contains("\nping.[2J\n"), "{a}");
    // -X: tcpdump's hex and ASCII layout.
    let x = stdout(&file, &["-X", "--no-summary"]);
    assert!(
        x.contains("\n\t0x0000:  7069 6e67 1b5b 324a                      ping.[2J\n"),
        "{x}"
    );
    assert!(
        x.contains("\t0x0000:  4745 5420 2f61 1b5d 303b 7077 6e65 6407  GET./a.]0;pwned.\n"),
        "{x}"
    );
}

#[test]
fn payload_views_need_the_text_timeline_and_follow_a_stream_that_exists() {
    let f = common::fixture("ssh.pcap");
    let out = run(&f, &["-A", "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("leave out --format jsonl"));
    let out = run(&f, &["--follow", "tcp:7"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no TCP stream 7"), "{err}");
    let out = run(&f, &["--follow", "tcp:0", "--stream", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

/// tshark's follow output, made as sockscope writes its text: a CR before a LF dropped, every
/// other byte outside printable ASCII as `.` (the size lines, `\tN`, kept).
fn tshark_follow(file: &Path, proto: &str, n: u64) -> String {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-q", "-z", &format!("follow,{proto},ascii,{n}")])
        .output()
        .unwrap_or_else(|e| panic!("tshark is needed (scripts/setup --test installs it): {e}"));
    assert!(out.status.success());
    let raw = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    raw.split('\n')
        .map(|l| {
            let size = l.strip_prefix('\t').unwrap_or(l);
            if !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()) {
                l.to_owned()
            } else {
                l.chars()
                    .map(|c| if (' '..='~').contains(&c) { c } else { '.' })
                    .collect()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn follow_agrees_with_tshark() {
    // HTTP both ways, SSH, retransmissions (sll2), a missing segment the peer ACKed (bgp-role),
    // many streams (raw_ip), UDP (QUIC, DNS).
    for (name, proto, n) in [
        ("nanosecs_big_endian.pcap", "tcp", 0),
        ("ssh.pcap", "tcp", 0),
        ("raw_ip.pcap", "tcp", 1),
        ("sll2.pcap", "tcp", 0),
        ("bgp-role.pcapng", "tcp", 0),
        ("one_tcp_stream_max_seq.pcap", "tcp", 0),
        ("quic_handshake_truncated.pcap", "udp", 0),
        ("many_interfaces-1.pcapng", "udp", 2),
    ] {
        let f = common::fixture(name);
        let ours = stdout(&f, &["--follow", &format!("{proto}:{n}")]);
        let theirs = tshark_follow(&f, proto, n);
        assert_eq!(ours, theirs, "{name} {proto}:{n}");
    }
}
