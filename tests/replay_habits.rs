//! `sockscope replay` with tcpdump's habits: `-r` (repeated), several files, `-c`, `-n`/`-nn`,
//! `-w`, `-l`, standard input, gzip and zstd input, output as packets arrive from a pipe; and
//! the counts of a selection (`--stream`, a filter) in the summary and on stderr.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

mod common;

fn fixture(name: &str) -> PathBuf {
    common::fixture(name)
}

fn sockscope() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    c.env_remove("NO_COLOR")
        .env_remove("RUST_BACKTRACE")
        .timeout(Duration::from_secs(30));
    c
}

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("utf-8")
    }

    fn ok(self) -> Out {
        assert_eq!(self.code, 0, "exit status; stderr:\n{}", self.stderr);
        self
    }

    /// Exit status 2 and one line on stderr; returns it.
    fn one_error(&self) -> String {
        assert_eq!(self.code, 2, "exit status; stderr:\n{}", self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr:\n{}", self.stderr);
        assert!(lines[0].starts_with("sockscope: "), "{}", lines[0]);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        lines[0].to_owned()
    }
}

fn run(args: &[&std::ffi::OsStr], stdin: Option<Vec<u8>>) -> Out {
    let mut c = sockscope();
    c.arg("replay").args(args);
    if let Some(bytes) = stdin {
        c.write_stdin(bytes);
    }
    let o = c.output().expect("run sockscope");
    Out {
        code: o.status.code().expect("exited"),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `replay ARGS`, where ARGS are strings or paths.
macro_rules! replay {
    ($($a:expr),* $(; stdin = $s:expr)?) => {{
        let args: Vec<std::ffi::OsString> = vec![$(std::ffi::OsString::from($a)),*];
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        #[allow(unused_mut, unused_assignments)]
        let mut stdin: Option<Vec<u8>> = None;
        $(stdin = Some($s);)?
        run(&refs, stdin)
    }};
}

/// The packet records of a JSON Lines stream (between its meta and summary records, checked
/// here).
fn jsonl(out: &Out) -> Vec<serde_json::Value> {
    let rows: Vec<serde_json::Value> = out
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(
        rows.first().map(|r| &r["kind"]),
        Some(&"meta".into()),
        "meta first"
    );
    // The summary closes a stream that reached the end of its input (not a damaged one).
    let end = if rows.last().is_some_and(|r| r["kind"] == "summary") {
        rows.len() - 1
    } else {
        assert_ne!(out.code, 0, "a whole replay ends with its summary");
        rows.len()
    };
    let packets = &rows[1..end];
    assert!(packets.iter().all(|r| r["kind"] == "packet"));
    packets.to_vec()
}

/// A JSON Lines stream without its meta record (whose `file` names the input).
fn without_meta(text: &str) -> &str {
    assert!(text.starts_with("{\"kind\":\"meta\""), "{text}");
    text.split_once('\n').map_or("", |(_, rest)| rest)
}

/// The JSON Lines rows without the keys that depend on where a frame sits in the input: its
/// number, and its stream number (streams are numbered in the order they appear).
fn packets_only(rows: &[serde_json::Value]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(o) = r.as_object_mut() {
                o.remove("frame");
                o.remove("stream");
            }
            r
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// -r, several files, -c, -n
// ---------------------------------------------------------------------------------------------

#[test]
fn dash_r_and_dash_c_and_dash_nn_are_accepted() {
    let f = fixture("resp_1_benchmark.pcap");
    let out = replay!("-nn", "-r", &f, "-c", "3", "--format", "jsonl").ok();
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 3, "-c 3 shows three packets");
    assert_eq!(rows[2]["frame"], 3);
    let n = replay!("-n", &f, "--no-summary").ok().text();
    let plain = replay!(&f, "--no-summary").ok().text();
    assert_eq!(n, plain, "-n changes nothing: names are never resolved");
}

#[test]
fn dash_c_counts_packets_after_the_filter() {
    let f = fixture("ldp-common-session.pcap");
    let all = jsonl(&replay!(&f, "--format", "jsonl", "tcp", "port", "646").ok());
    assert!(all.len() > 4);
    let two = jsonl(&replay!("-c", "2", &f, "--format", "jsonl", "tcp", "port", "646").ok());
    assert_eq!(two, all[..2], "the first two packets that match");
    let text = replay!("-c", "2", &f, "tcp", "port", "646").ok().text();
    assert!(text.contains("stopped after 2 packets"), "{text}");
}

#[test]
fn several_files_are_read_one_after_another_as_one_capture() {
    let a = fixture("resp_1_benchmark.pcap");
    let b = fixture("ssh.pcap");
    let ra = jsonl(&replay!(&a, "--format", "jsonl").ok());
    let rb = jsonl(&replay!(&b, "--format", "jsonl").ok());
    let tcp_streams_a = 15;
    for both in [
        replay!(&a, &b, "--format", "jsonl").ok(),
        replay!("-r", &a, "-r", &b, "--format", "jsonl").ok(),
        replay!("-r", &a, &b, "--format", "jsonl").ok(),
    ] {
        let rows = jsonl(&both);
        assert_eq!(rows.len(), ra.len() + rb.len());
        // Frame numbers go on; stream numbers too.
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r["frame"], i as u64 + 1);
        }
        let second = &rows[ra.len()..];
        for (got, want) in second.iter().zip(&rb) {
            assert_eq!(got["seq_raw"], want["seq_raw"]);
            if want["proto"] == "tcp" {
                assert_eq!(
                    got["stream"].as_u64(),
                    want["stream"].as_u64().map(|s| s + tcp_streams_a)
                );
            }
        }
    }
    let text = replay!(&a, &b).ok().text();
    assert!(text.contains("packets in 2 files"), "{text}");
    // A filter after the files.
    let f = jsonl(&replay!(&a, &b, "--format", "jsonl", "port", "22").ok());
    assert_eq!(f.len(), rb.len());
}

#[test]
fn a_missing_second_file_fails_before_any_output() {
    let a = fixture("ssh.pcap");
    let out = replay!(&a, "/nonexistent/b.pcap");
    let line = out.one_error();
    assert!(line.contains("/nonexistent/b.pcap: cannot open"), "{line}");
    assert!(out.stdout.is_empty());
}

#[test]
fn options_after_double_dash_are_a_usage_error_not_a_filter_error() {
    let out = replay!("--", "-c", "3");
    let line = out.one_error();
    assert!(line.contains("'-c' after `--`"), "{line}");
    assert!(!line.contains("invalid filter expression"), "{line}");
    // The old clap hint is gone for tcpdump's options.
    let f = fixture("ssh.pcap");
    let ok = replay!("-r", &f, "-c", "1", "--no-summary").ok();
    assert!(!ok.stderr.contains("'-- -r'"));
}

// ---------------------------------------------------------------------------------------------
// Standard input, gzip, zstd
// ---------------------------------------------------------------------------------------------

#[test]
fn standard_input_as_dash_and_dev_stdin() {
    let f = fixture("test202.pcapng");
    let want = replay!(&f, "--format", "jsonl").ok().text();
    let bytes = std::fs::read(&f).expect("read");
    for name in ["-", "/dev/stdin"] {
        let got = replay!(name, "--format", "jsonl"; stdin = bytes.clone()).ok();
        assert_eq!(without_meta(&got.text()), without_meta(&want), "{name}");
    }
    let r = replay!("-r", "-", "-c", "1", "--no-summary"; stdin = bytes).ok();
    assert_eq!(r.text().lines().count(), 2);
}

#[test]
fn empty_standard_input_is_one_error_line() {
    let out = replay!("-"; stdin = Vec::new());
    let line = out.one_error();
    assert!(line.contains("standard input: the file is empty"), "{line}");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

#[test]
fn gzip_and_zstd_are_read_by_their_magic_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "ssh.pcap",
        "many_interfaces-1.pcapng",
        "tcp-handshake-nano.pcap",
    ] {
        let f = fixture(name);
        let bytes = std::fs::read(&f).expect("read");
        let want = replay!(&f, "--format", "jsonl").ok().text();
        let gz = dir.path().join(format!("{name}.gz"));
        std::fs::write(&gz, gzip(&bytes)).expect("write");
        let zst = dir.path().join(format!("{name}.zst"));
        std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).expect("zstd")).expect("write");
        // Named by magic, not extension: a gzip file called `capture`.
        let odd = dir.path().join("capture");
        std::fs::copy(&gz, &odd).expect("copy");
        for p in [&gz, &zst, &odd] {
            let got = replay!(p, "--format", "jsonl").ok();
            assert_eq!(
                without_meta(&got.text()),
                without_meta(&want),
                "{}",
                p.display()
            );
        }
        // And through a pipe.
        let piped = replay!("-", "--format", "jsonl"; stdin = gzip(&bytes)).ok();
        assert_eq!(without_meta(&piped.text()), without_meta(&want));
    }
}

#[test]
fn a_cut_gzip_file_shows_what_came_before_and_one_error_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = gzip(&common::fixture_bytes("ssh.pcap"));
    let cut = dir.path().join("cut.pcap.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).expect("write");
    let out = replay!(&cut, "--format", "jsonl");
    let line = out.one_error();
    assert!(line.contains("cut.pcap.gz"), "{line}");
    assert!(
        line.contains("gzip stream ends early") && line.contains("gzip -t"),
        "{line}"
    );
    assert!(!jsonl(&out).is_empty(), "the packets before the cut");
    let xz = dir.path().join("a.pcap.xz");
    std::fs::write(&xz, [0xfd, b'7', b'z', b'X', b'Z', 0, 0, 4, 0xe6]).expect("write");
    let line = replay!(&xz).one_error();
    assert!(
        line.contains("compressed with xz") && line.contains("xz -dc"),
        "{line}"
    );
}

#[test]
fn a_cut_zstd_file_is_one_error_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let z = zstd::encode_all(&common::fixture_bytes("ssh.pcap")[..], 3).expect("zstd");
    let cut = dir.path().join("cut.pcap.zst");
    std::fs::write(&cut, &z[..z.len() / 2]).expect("write");
    let line = replay!(&cut).one_error();
    assert!(
        line.contains("cut.pcap.zst") && line.contains("zstd"),
        "{line}"
    );
}

// ---------------------------------------------------------------------------------------------
// -w
// ---------------------------------------------------------------------------------------------

#[test]
fn dash_w_of_a_whole_pcap_gives_back_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // µs Ethernet, and ns Linux SLL: link type, snaplen and clock kept.
    for name in ["ssh.pcap", "tcp-handshake-nano.pcap"] {
        let f = fixture(name);
        let out = dir.path().join(name);
        let r = replay!(&f, "-w", &out).ok();
        assert!(r.stdout.is_empty(), "-w prints no timeline");
        assert!(r.stderr.contains("wrote "), "{}", r.stderr);
        let want = std::fs::read(&f).expect("read");
        let mut got = std::fs::read(&out).expect("read");
        // thiszone and sigfigs are written as 0.
        got[8..16].copy_from_slice(&want[8..16]);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn dash_w_writes_the_selection_with_its_timestamps_and_link_types() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Several interfaces of different link types and clocks: pcapng keeps them all.
    let f = fixture("many_interfaces-1.pcapng");
    let out = dir.path().join("all.pcapng");
    replay!(&f, "-w", &out).ok();
    let want = jsonl(&replay!(&f, "--format", "jsonl").ok());
    let got = jsonl(&replay!(&out, "--format", "jsonl").ok());
    assert_eq!(got, want);
    // A filter: what is written is what would be shown.
    let f = fixture("ldp-common-session.pcap");
    let sel = dir.path().join("sel.pcap");
    replay!(&f, "-w", &sel, "udp").ok();
    let want = jsonl(&replay!(&f, "--format", "jsonl", "udp").ok());
    let got = jsonl(&replay!(&sel, "--format", "jsonl").ok());
    assert_eq!(packets_only(&got), packets_only(&want));
    // --print shows the timeline as well.
    let both = replay!(&f, "-w", &sel, "--print", "--no-summary", "udp").ok();
    assert_eq!(both.text().lines().count(), want.len() + 1);
}

#[test]
fn dash_w_dash_writes_the_capture_to_standard_output() {
    let f = fixture("resp_1_benchmark.pcap");
    let out = replay!(&f, "-w", "-", "-c", "10").ok();
    // Read back through standard input.
    let back = jsonl(&replay!("-", "--format", "jsonl"; stdin = out.stdout).ok());
    let want = jsonl(&replay!(&f, "--format", "jsonl", "-c", "10").ok());
    assert_eq!(back, want);
}

#[test]
fn a_pcap_output_refuses_a_second_link_type_and_names_pcapng() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("mixed.pcap");
    let r = replay!(
        fixture("ssh.pcap"),
        fixture("tcp-handshake-nano.pcap"),
        "-w",
        &out
    );
    let line = r.one_error();
    assert!(
        line.contains("link type LINUX_SLL")
            && line.contains("(EN10MB)")
            && line.contains("-w FILE.pcapng"),
        "{line}"
    );
    let ng = dir.path().join("mixed.pcapng");
    replay!(
        fixture("ssh.pcap"),
        fixture("tcp-handshake-nano.pcap"),
        "-w",
        &ng
    )
    .ok();
    let rows = jsonl(&replay!(&ng, "--format", "jsonl").ok());
    let n = jsonl(&replay!(fixture("ssh.pcap"), "--format", "jsonl").ok()).len()
        + jsonl(&replay!(fixture("tcp-handshake-nano.pcap"), "--format", "jsonl").ok()).len();
    assert_eq!(rows.len(), n);
    // The ns timestamps of the second file are kept to the ns.
    assert!(rows.last().is_some_and(|r| r["ts"]
        .as_str()
        .is_some_and(|t| t.split('.').nth(1).is_some_and(|f| f.len() == 9))));
}

#[test]
fn dash_w_onto_its_own_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("a.pcap");
    std::fs::copy(fixture("ssh.pcap"), &f).expect("copy");
    let line = replay!(&f, "-w", &f).one_error();
    assert!(line.contains("that is an input"), "{line}");
    assert_eq!(
        std::fs::read(&f).ok(),
        std::fs::read(fixture("ssh.pcap")).ok()
    );
}

// ---------------------------------------------------------------------------------------------
// Output as it arrives
// ---------------------------------------------------------------------------------------------

/// A pcap header and one Ethernet/IPv4/TCP SYN, as `tcpdump -U -w -` writes them.
fn pcap_header_and_syn(port: u16) -> (Vec<u8>, Vec<u8>) {
    let mut head = Vec::new();
    sockscope::source::PcapWriter::new(&mut head, sockscope::source::Resolution::Micros, 1, 65535)
        .expect("header");
    let mut p = vec![0u8; 12];
    p.extend([0x08, 0x00]);
    p.extend([
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
    ]);
    p.extend(40000u16.to_be_bytes());
    p.extend(port.to_be_bytes());
    p.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    let mut rec = Vec::new();
    let mut w = sockscope::source::PcapWriter::new(
        Vec::new(),
        sockscope::source::Resolution::Micros,
        1,
        65535,
    )
    .expect("writer");
    w.write_packet(1_700_000_000_000_000_000, p.len() as u32, &p)
        .expect("packet");
    rec.extend_from_slice(&w.into_inner()[24..]);
    (head, rec)
}

/// Runs `replay ARGS`, feeds it one packet (through its standard input, or through `fifo`
/// when given) and waits for that packet's line while the input stays open.
fn line_arrives_before_the_input_ends(args: &[&std::ffi::OsStr], fifo: Option<&Path>) -> bool {
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("replay")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdin = child.stdin.take().expect("stdin");
    let mut input: Box<dyn Write> = match fifo {
        // Opening a FIFO for writing waits for the reader: sockscope.
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .expect("fifo"),
        ),
        None => Box::new(stdin),
    };
    let stdout = child.stdout.take().expect("stdout");
    let (head, syn) = pcap_header_and_syn(80);
    input.write_all(&head).expect("write");
    input.write_all(&syn).expect("write");
    input.flush().expect("flush");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.contains("40000"));
        let _ = tx.send(first);
        for _ in lines {}
    });
    let got = rx.recv_timeout(Duration::from_secs(10)).ok().flatten();
    drop(input);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    got.is_some()
}

#[test]
fn packets_from_a_pipe_are_shown_as_they_arrive() {
    let dash = std::ffi::OsStr::new("-");
    assert!(
        line_arrives_before_the_input_ends(&[dash], None),
        "the packet's line appears while the pipe is still open"
    );
    let jsonl = [dash, "--format".as_ref(), "jsonl".as_ref()];
    assert!(line_arrives_before_the_input_ends(&jsonl, None));
}

#[test]
fn packets_from_a_fifo_are_shown_as_they_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("capture.fifo");
    let c = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("path");
    // SAFETY: mkfifo reads a NUL-terminated path and touches no memory of ours.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    assert!(line_arrives_before_the_input_ends(
        &[fifo.as_os_str()],
        Some(&fifo)
    ));
    // -l: every line at once, too.
    let args = [fifo.as_os_str(), "-l".as_ref()];
    assert!(line_arrives_before_the_input_ends(&args, Some(&fifo)));
}

// ---------------------------------------------------------------------------------------------
// Counts of a selection
// ---------------------------------------------------------------------------------------------

#[test]
fn the_summary_lists_only_the_selected_streams() {
    let f = fixture("resp_1_benchmark.pcap");
    let s = replay!(&f, "--stream", "2").ok().text();
    assert!(
        s.contains("10 of 150 packets matched `--stream tcp:2`: 10 TCP"),
        "{s}"
    );
    assert!(s.contains("1 TCP stream\n"), "{s}");
    let rows: Vec<&str> = s.lines().filter(|l| l.starts_with('│')).collect();
    assert_eq!(rows.len(), 2, "the header and stream 2 only:\n{s}");
    assert!(
        rows[1].trim_start_matches('│').trim().starts_with("2 "),
        "{s}"
    );
}

#[test]
fn a_selection_that_matches_nothing_says_so_with_the_totals() {
    let f = fixture("resp_1_benchmark.pcap");
    let out = replay!(&f, "--stream", "tcp:99").ok();
    assert!(out.stdout.is_empty(), "no empty table: {}", out.text());
    assert!(
        out.stderr
            .contains("0 of 150 packets matched `--stream tcp:99` (the capture has 15 TCP"),
        "{}",
        out.stderr
    );
    let out = replay!(&f, "udp", "port", "53").ok();
    assert!(
        out.stderr
            .contains("0 of 150 packets matched `udp port 53`"),
        "{}",
        out.stderr
    );
    // JSON Lines: the meta record alone, and the note on stderr.
    let json = replay!(&f, "--format", "jsonl", "udp").ok();
    assert!(jsonl(&json).is_empty() && json.stderr.contains("0 of 150"));
}

#[test]
fn a_filter_error_names_the_link_type_as_tcpdump_does() {
    let line = replay!(fixture("ssh.pcap"), "tcp", "prot", "80").one_error();
    assert!(line.contains("for link type EN10MB:"), "{line}");
    let line = replay!(fixture("sll2.pcap"), "tcp", "prot", "80").one_error();
    assert!(line.contains("for link type LINUX_SLL2:"), "{line}");
}

#[test]
fn filters_work_on_raw_ip_and_skip_frames_without_a_link_type() {
    // LINKTYPE_RAW (101) is compiled as libpcap's DLT_RAW: `udp` picks the UDP packets, as
    // `tcpdump -r raw_ip.pcap udp` does (8).
    for name in ["raw_ip.pcap", "test202.pcapng"] {
        let f = fixture(name);
        let all = jsonl(&replay!(&f, "--format", "jsonl").ok());
        let want: Vec<_> = all.iter().filter(|r| r["proto"] == "udp").collect();
        assert!(!want.is_empty(), "{name}");
        // test202.pcapng has Custom Blocks (no link type): they match nothing.
        let got = jsonl(&replay!(&f, "--format", "jsonl", "udp").ok());
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "{name}");
    }
}
