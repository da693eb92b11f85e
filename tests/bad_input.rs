//! `sockscope replay` on bad input: every kind of fault gives one clear line on stderr, exit
//! status 2, no panic and no hang, and everything decoded before the fault is still printed.
//! Damaged packets inside a readable file are shown and marked, and are not fatal (exit 0).
//!
//! The bad files are made at test time, in a temporary directory, from byte arrays or by
//! cutting and patching the fixture captures of `tests/fixtures`.
//!
//! Tests whose name starts with `regression_` pin defects that were found and fixed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use sockscope::source::{PcapWriter, Resolution};
use tempfile::TempDir;

mod common;

/// Longest any single run may take.
const TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Helpers: files
// ---------------------------------------------------------------------------------------------

fn corpus(name: &str) -> PathBuf {
    common::fixture(name)
}

fn corpus_bytes(name: &str) -> Vec<u8> {
    common::fixture_bytes(name)
}

/// Writes `bytes` to `dir/name` and returns the path.
fn write_file(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
    p
}

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn put_le32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Byte offsets of the records of a little-endian classic pcap file.
fn pcap_record_offsets(b: &[u8]) -> Vec<usize> {
    assert_eq!(
        &b[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "expected a little-endian µs pcap"
    );
    let mut offsets = Vec::new();
    let mut at = 24;
    while at + 16 <= b.len() {
        offsets.push(at);
        at += 16 + le32(b, at + 8) as usize;
    }
    offsets
}

/// One block of a little-endian pcapng file.
#[derive(Debug, Clone, Copy)]
struct Block {
    offset: usize,
    kind: u32,
    len: usize,
}

impl Block {
    /// Enhanced/Simple Packet Blocks and Custom Blocks are numbered as frames.
    fn is_frame(&self) -> bool {
        matches!(self.kind, 3 | 6 | 0xbad | 0x4000_0bad)
    }
}

fn pcapng_blocks(b: &[u8]) -> Vec<Block> {
    assert_eq!(&b[..4], &[0x0a, 0x0d, 0x0d, 0x0a], "expected pcapng");
    assert_eq!(le32(b, 8), 0x1a2b_3c4d, "expected a little-endian section");
    let mut blocks = Vec::new();
    let mut at = 0;
    while at + 12 <= b.len() {
        let len = le32(b, at + 4) as usize;
        blocks.push(Block {
            offset: at,
            kind: le32(b, at),
            len,
        });
        at += len;
    }
    blocks
}

/// A little-endian microsecond pcap file of `linktype` holding `packets`, one second apart.
fn pcap_file(linktype: u16, packets: &[&[u8]]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), Resolution::Micros, linktype, 262_144)
        .expect("writing to memory");
    for (i, p) in packets.iter().enumerate() {
        let ts_ns = (1_700_000_000 + i as u64) * 1_000_000_000;
        w.write_packet(ts_ns, p.len() as u32, p)
            .expect("writing to memory");
    }
    w.into_inner()
}

/// Raw IPv4 + TCP RST|ACK 10.0.0.1:80 → 10.0.0.2:33000 (LINKTYPE_RAW).
#[rustfmt::skip]
const RAW_IPV4_TCP_RST: [u8; 40] = [
    0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 0, 0, 1, 10, 0,
    0, 2, //
    0x00, 0x50, 0x80, 0xe8, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x50, 0x14, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Raw IPv6 whose hop-by-hop header is followed by a second hop-by-hop header (a damaged
/// extension chain).
#[rustfmt::skip]
const RAW_IPV6_HBH_THEN_HBH: [u8; 56] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x40, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // HBH → HBH (not allowed)
    0x06, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // HBH → TCP
];

/// A small xorshift generator for reproducible "random" bytes.
fn xorshift_bytes(mut x: u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Helpers: running sockscope
// ---------------------------------------------------------------------------------------------

struct Run {
    out: Output,
    elapsed: Duration,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8(self.out.stdout.clone()).expect("stdout is UTF-8")
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// Exit code, failing clearly when the process was killed (a crash, or the timeout).
    fn code(&self) -> i32 {
        match self.out.status.code() {
            Some(c) => c,
            None => panic!(
                "sockscope was killed ({}) after {:?} (timeout {TIMEOUT:?}); stderr:\n{}",
                self.out.status,
                self.elapsed,
                self.stderr()
            ),
        }
    }
}

/// `sockscope replay FILE ARGS...` with a timeout; colour off so the text can be parsed.
fn replay(file: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("replay")
        .arg(file)
        .args(args)
        .args(["--color", "never"])
        .env_remove("RUST_BACKTRACE")
        .timeout(TIMEOUT)
        .output()
        .expect("run sockscope");
    Run {
        out,
        elapsed: start.elapsed(),
    }
}

fn replay_text(file: &Path) -> Run {
    replay(file, &[])
}

fn replay_jsonl(file: &Path) -> Run {
    replay(file, &["--format", "jsonl"])
}

/// Asserts the run failed with exit status 2 and exactly one error line; returns that line.
fn assert_one_error_line(run: &Run) -> String {
    let stderr = run.stderr();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "sockscope panicked:\n{stderr}"
    );
    assert_eq!(run.code(), 2, "exit status; stderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one non-empty line on stderr, got:\n{stderr}"
    );
    let line = lines[0];
    assert!(
        line.starts_with("sockscope: "),
        "error line starts with 'sockscope: ': {line}"
    );
    line.to_owned()
}

/// [`assert_one_error_line`], and the line names the file.
fn assert_file_error(run: &Run, file: &Path) -> String {
    let line = assert_one_error_line(run);
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        line.contains(&*name),
        "error line names the file {name}: {line}"
    );
    line
}

/// Asserts a clean, successful run: exit 0, nothing on stderr.
fn assert_success(run: &Run) {
    let stderr = run.stderr();
    assert_eq!(run.code(), 0, "exit status; stderr:\n{stderr}");
    assert!(
        stderr.trim().is_empty(),
        "nothing on stderr, got:\n{stderr}"
    );
}

/// Frame numbers of the timeline lines of text output (the header line skipped, up to the
/// blank line before the summary).
fn text_frames(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .skip_while(|l| l.trim_start().starts_with("frame"))
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let first = l.split_whitespace().next().unwrap_or("");
            first
                .parse()
                .unwrap_or_else(|_| panic!("timeline line does not start with a frame number: {l}"))
        })
        .collect()
}

/// The timeline line of frame `n` in text output.
fn text_line(stdout: &str, n: u64) -> &str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&n.to_string()))
        .unwrap_or_else(|| panic!("no line for frame {n} in:\n{stdout}"))
}

/// Frame numbers of JSON Lines output; every line must be one object, the first the `meta`
/// record (a closing `summary` record is passed over).
fn jsonl_frames(stdout: &str) -> Vec<u64> {
    let mut lines = stdout.lines();
    if let Some(first) = lines.next() {
        assert!(first.starts_with("{\"kind\":\"meta\""), "not meta: {first}");
    }
    lines
        .filter(|l| !l.starts_with("{\"kind\":\"summary\""))
        .map(|l| {
            assert!(
                l.starts_with('{') && l.ends_with('}'),
                "not a JSON object: {l}"
            );
            jsonl_number(l, "frame").unwrap_or_else(|| panic!("no frame number: {l}"))
        })
        .collect()
}

/// The unsigned number after `"key":` in a JSON line.
fn jsonl_number(line: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\":");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// The JSON line of frame `n`.
fn jsonl_line(stdout: &str, n: u64) -> &str {
    stdout
        .lines()
        .find(|l| jsonl_number(l, "frame") == Some(n))
        .unwrap_or_else(|| panic!("no JSON line for frame {n} in:\n{stdout}"))
}

fn one_to(n: u64) -> Vec<u64> {
    (1..=n).collect()
}

/// Checks a capture cut short: exit 2 with one line naming the file, the byte offset and that
/// the file was cut; the frames before the cut are printed in both formats, as in the whole
/// file.
fn check_cut_capture(file: &Path, whole: &Path, frames_before: u64, offset: usize) {
    let text = replay_text(file);
    let line = assert_file_error(&text, file);
    assert!(
        line.contains(&format!("byte {offset}")),
        "names the byte offset {offset}: {line}"
    );
    assert!(line.contains("cut"), "says the file was cut: {line}");
    assert!(
        line.contains(&format!("after packet {frames_before}")),
        "says how many packets came before: {line}"
    );
    assert_eq!(
        text_frames(&text.stdout()),
        one_to(frames_before),
        "text:\n{}",
        text.stdout()
    );

    let json = replay_jsonl(file);
    assert_eq!(
        assert_file_error(&json, file),
        line,
        "same message in both formats"
    );
    let got = json.stdout();
    assert_eq!(jsonl_frames(&got), one_to(frames_before));
    // The frames before the cut are exactly what the whole file shows for them.
    let full = replay_jsonl(whole).stdout();
    let want: Vec<&str> = full.lines().skip(1).take(frames_before as usize).collect();
    assert_eq!(got.lines().skip(1).collect::<Vec<_>>(), want);
}

// ---------------------------------------------------------------------------------------------
// Files that cannot be read at all
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_file_names_the_path_and_says_it_cannot_open_it() {
    let dir = tempdir();
    let file = dir.path().join("no-such-capture.pcap");
    let run = replay_text(&file);
    let line = assert_file_error(&run, &file);
    assert!(
        line.contains(&*file.to_string_lossy()),
        "names the whole path: {line}"
    );
    assert!(
        line.contains("cannot open"),
        "says it cannot open it: {line}"
    );
    assert!(run.out.stdout.is_empty(), "nothing on stdout");
}

#[test]
fn directory_as_file_is_one_error_line() {
    let dir = tempdir();
    let sub = dir.path().join("captures.d");
    std::fs::create_dir(&sub).unwrap();
    let run = replay_text(&sub);
    assert_file_error(&run, &sub);
    assert!(run.out.stdout.is_empty(), "nothing on stdout");
}

/// Regression (fixed): a directory gives "<dir>: read error at byte 0: read failed", which does not say
/// what is wrong. `Counting::read` keeps the real `io::Error` ("Is a directory") but nothing
/// reads it back: `CaptureFile::from_reader` and `io_error()` make up "read failed" / "the read
/// failed". Fix: in `CaptureFile::open`, check `file.metadata()?.is_dir()` and report
/// `ReadError::Open` with `io::ErrorKind::IsADirectory` (or a dedicated "is a directory, not a
/// capture file" variant); and keep the first `io::Error` from `Counting` in a shared cell
/// (e.g. `Arc<Mutex<Option<io::Error>>>`) so `ReadError::Io` carries the real cause.
#[test]
fn regression_directory_error_says_it_is_a_directory() {
    let dir = tempdir();
    let sub = dir.path().join("captures.d");
    std::fs::create_dir(&sub).unwrap();
    let line = assert_file_error(&replay_text(&sub), &sub);
    assert!(
        line.to_lowercase().contains("directory"),
        "says FILE is a directory: {line}"
    );
}

#[test]
fn unreadable_file_names_the_path_and_says_it_cannot_open_it() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // In /tmp with the folder open to all, so that another user can reach the file (and, when
    // this runs as root, the binary): only the file's own mode stops the read.
    let dir = tempfile::tempdir_in("/tmp").expect("a temporary directory in /tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = write_file(&dir, "secret.pcap", &corpus_bytes("ssh.pcap"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    let run = if nix::unistd::geteuid().is_root() {
        // Root reads whatever the mode says: run a copy of the binary as nobody instead.
        let exe = dir.path().join("sockscope");
        std::fs::copy(env!("CARGO_BIN_EXE_sockscope"), &exe).expect("copy the binary");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let start = Instant::now();
        let mut nobody = std::process::Command::new(&exe);
        nobody
            .arg("replay")
            .arg(&file)
            .args(["--color", "never"])
            .uid(65534)
            .gid(65534);
        // The copy and its run, retried on ETXTBSY as tests/common says.
        let out = common::output_of_copy(&mut nobody);
        Run {
            out,
            elapsed: start.elapsed(),
        }
    } else {
        replay_text(&file)
    };
    let line = assert_file_error(&run, &file);
    assert!(
        line.contains("cannot open") && line.contains("Permission denied"),
        "says it cannot open it, and why: {line}"
    );
    assert!(run.out.stdout.is_empty(), "nothing on stdout");
}

#[test]
fn empty_file_is_not_a_capture() {
    let dir = tempdir();
    let file = write_file(&dir, "empty.pcap", &[]);
    let run = replay_text(&file);
    let line = assert_file_error(&run, &file);
    assert!(line.contains("empty"), "says the file is empty: {line}");
    assert!(run.out.stdout.is_empty(), "nothing on stdout");
}

#[test]
fn text_file_is_not_a_pcap_or_pcapng() {
    let dir = tempdir();
    let file = write_file(
        &dir,
        "notes.txt",
        b"12:00:01 client connected\n12:00:02 GET / HTTP/1.1\n12:00:03 closed\n",
    );
    for run in [replay_text(&file), replay_jsonl(&file)] {
        let line = assert_file_error(&run, &file);
        assert!(line.contains("not a pcap or pcapng"), "{line}");
        assert!(run.out.stdout.is_empty(), "nothing on stdout");
    }
}

#[test]
fn garbage_header_is_not_a_pcap_or_pcapng() {
    let dir = tempdir();
    let bytes = xorshift_bytes(0x5eed_1234_abcd_0001, 4096);
    let magics: [[u8; 4]; 7] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
        [0x34, 0xcd, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xcd, 0x34],
        [0x0a, 0x0d, 0x0d, 0x0a],
    ];
    assert!(
        !magics.iter().any(|m| bytes.starts_with(m)),
        "the random bytes start with a magic"
    );
    let file = write_file(&dir, "random.pcap", &bytes);
    let run = replay_text(&file);
    let line = assert_file_error(&run, &file);
    assert!(line.contains("not a pcap or pcapng"), "{line}");
    assert!(run.out.stdout.is_empty(), "nothing on stdout");
}

#[test]
fn pcap_cut_inside_the_file_header() {
    let dir = tempdir();
    let file = write_file(&dir, "header-only.pcap", &corpus_bytes("ssh.pcap")[..10]);
    let line = assert_file_error(&replay_text(&file), &file);
    assert!(line.contains("header"), "says where: {line}");
    assert!(line.contains("cut"), "says the file was cut: {line}");
}

#[test]
fn pcap_with_a_header_and_no_packets_is_fine() {
    let dir = tempdir();
    let file = write_file(&dir, "no-packets.pcap", &corpus_bytes("ssh.pcap")[..24]);
    let run = replay_jsonl(&file);
    assert_success(&run);
    assert_eq!(
        jsonl_frames(&run.stdout()),
        Vec::<u64>::new(),
        "the meta and summary records only"
    );
    assert_eq!(run.stdout().lines().count(), 2);
}

// ---------------------------------------------------------------------------------------------
// Files damaged part-way: the packets before the fault are printed
// ---------------------------------------------------------------------------------------------

#[test]
fn pcap_with_an_absurd_record_length_reports_record_and_offset() {
    let dir = tempdir();
    let mut bytes = corpus_bytes("ssh.pcap");
    let records = pcap_record_offsets(&bytes);
    let fourth = records[3];
    put_le32(&mut bytes, fourth + 8, 0xffff_fff0); // caplen ≈ 4 GB
    let file = write_file(&dir, "huge-caplen.pcap", &bytes);

    let text = replay_text(&file);
    let line = assert_file_error(&text, &file);
    assert!(line.contains("record"), "names the record: {line}");
    assert!(
        line.contains(&format!("byte {fourth}")),
        "names the offset {fourth}: {line}"
    );
    assert!(line.contains("after packet 3"), "{line}");
    assert_eq!(text_frames(&text.stdout()), one_to(3));

    let json = replay_jsonl(&file);
    assert_file_error(&json, &file);
    assert_eq!(jsonl_frames(&json.stdout()), one_to(3));
}

/// Regression (fixed): a record length of 4 GB in a small file is reported as "the file ends inside the
/// packet record ...: the capture was cut short", while the same field in a file larger than
/// 32 MiB is reported as "larger than 32 MiB: the length field is corrupt". The file was not
/// cut: its length field is wrong. `CaptureFile::for_each` grows the buffer to `MAX_BUFFER`,
/// the refill reaches end of file, and pcap-parser's `UnexpectedEof` becomes `Truncated`.
/// The same happens to a pcapng `block_total_length` of 0xfffffff0.
/// Fix: before reporting `Truncated`, read the pending record's length (pcap: caplen at +8 of
/// the record header, in the file's byte order; pcapng: block_total_length at +4) and report
/// `RecordTooLarge` when it exceeds `MAX_BUFFER` (tshark also rejects a pcap caplen above
/// 262144: "File has 4294967280-byte packet, bigger than maximum of 262144").
#[test]
fn regression_absurd_length_in_a_small_file_is_not_called_cut_short() {
    let dir = tempdir();
    let mut pcap = corpus_bytes("ssh.pcap");
    let fourth = pcap_record_offsets(&pcap)[3];
    put_le32(&mut pcap, fourth + 8, 0xffff_fff0);
    let mut ng = corpus_bytes("of13_ericsson.pcapng");
    let third = pcapng_blocks(&ng)[2];
    put_le32(&mut ng, third.offset + 4, 0xffff_fff0);
    let mut wrong = Vec::new();
    for file in [
        write_file(&dir, "huge-caplen.pcap", &pcap),
        write_file(&dir, "huge-block.pcapng", &ng),
    ] {
        let line = assert_file_error(&replay_text(&file), &file);
        if !line.contains("length") || line.contains("cut short") {
            wrong.push(line);
        }
    }
    assert!(
        wrong.is_empty(),
        "should say the length field is corrupt, not that the file was cut:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn pcap_cut_mid_record_shows_the_packets_before() {
    let dir = tempdir();
    let bytes = corpus_bytes("ssh.pcap");
    let tenth = pcap_record_offsets(&bytes)[9];
    let caplen = le32(&bytes, tenth + 8) as usize;
    // Cut in the middle of packet 10's data, then inside its record header.
    let in_data = write_file(&dir, "ssh-cut.pcap", &bytes[..tenth + 16 + caplen / 2]);
    check_cut_capture(&in_data, &corpus("ssh.pcap"), 9, tenth);
    let in_header = write_file(&dir, "ssh-cut-header.pcap", &bytes[..tenth + 7]);
    check_cut_capture(&in_header, &corpus("ssh.pcap"), 9, tenth);
}

#[test]
fn pcapng_cut_mid_block_shows_the_packets_before() {
    let dir = tempdir();
    for (name, cut_frame) in [("of13_ericsson.pcapng", 10), ("bgp-role.pcapng", 4)] {
        let bytes = corpus_bytes(name);
        let blocks = pcapng_blocks(&bytes);
        let (i, block) = blocks
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_frame())
            .nth(cut_frame - 1)
            .map(|(i, b)| (i, *b))
            .unwrap_or_else(|| panic!("{name} has fewer than {cut_frame} frames"));
        let before = blocks[..i].iter().filter(|b| b.is_frame()).count() as u64;
        assert_eq!(before, cut_frame as u64 - 1);
        let cut = write_file(
            &dir,
            &format!("cut-{name}"),
            &bytes[..block.offset + block.len / 2],
        );
        check_cut_capture(&cut, &corpus(name), before, block.offset);
    }
}

#[test]
fn pcapng_with_a_corrupt_block_length_shows_the_packets_before() {
    let dir = tempdir();
    let bytes = corpus_bytes("of13_ericsson.pcapng");
    let blocks = pcapng_blocks(&bytes);
    // The 3rd block (the first packet) and the 6th (the 4th packet), each given a length that
    // is too small, and one that disagrees with the copy at the block's end.
    for (index, frames_before) in [(2usize, 0u64), (5, 3)] {
        let block = blocks[index];
        assert_eq!(
            block.kind, 6,
            "block {index} of of13_ericsson.pcapng is an EPB"
        );
        for bad in [7, block.len as u32 + 4] {
            let mut b = bytes.clone();
            put_le32(&mut b, block.offset + 4, bad);
            let file = write_file(&dir, &format!("bad-len-{index}-{bad}.pcapng"), &b);
            let text = replay_text(&file);
            let line = assert_file_error(&text, &file);
            assert!(line.contains("block"), "names the block: {line}");
            assert!(
                line.contains(&format!("byte {}", block.offset)),
                "names the offset: {line}"
            );
            assert!(
                line.contains(&format!("after packet {frames_before}")),
                "{line}"
            );
            assert_eq!(text_frames(&text.stdout()), one_to(frames_before));
            let json = replay_jsonl(&file);
            assert_file_error(&json, &file);
            assert_eq!(jsonl_frames(&json.stdout()), one_to(frames_before));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Readable files with packets that cannot be (fully) decoded: shown, marked, exit 0
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_link_type_shows_every_packet_with_a_label() {
    let dir = tempdir();
    let ssh = corpus_bytes("ssh.pcap");
    let offsets = pcap_record_offsets(&ssh);
    // ssh.pcap's header and first 5 records, with LINKTYPE 147 (user DLT 0).
    let mut bytes = ssh[..offsets[5]].to_vec();
    put_le32(&mut bytes, 20, 147);
    let file = write_file(&dir, "user-dlt.pcap", &bytes);

    let text = replay_text(&file);
    assert_success(&text);
    let out = text.stdout();
    assert_eq!(text_frames(&out), one_to(5));
    for n in 1..=5 {
        let l = text_line(&out, n);
        assert!(
            l.contains("link type 147") && l.contains("not decoded"),
            "{l}"
        );
    }

    let json = replay_jsonl(&file);
    assert_success(&json);
    let out = json.stdout();
    assert_eq!(jsonl_frames(&out), one_to(5));
    for l in out
        .lines()
        .filter(|l| l.starts_with("{\"kind\":\"packet\""))
    {
        assert!(l.contains("link type 147 not decoded"), "{l}");
    }
}

#[test]
fn tcp_header_cut_after_the_ports_is_shown_and_marked() {
    let f = corpus("tcp_header_heapoverflow.pcap");
    let text = replay_text(&f);
    assert_success(&text);
    let out = text.stdout();
    assert_eq!(text_frames(&out), vec![1]);
    let l = text_line(&out, 1);
    assert!(
        l.contains("TCP") && l.contains("12336"),
        "ports are shown: {l}"
    );
    assert!(l.contains("cut"), "marked as cut: {l}");

    let json = replay_jsonl(&f);
    assert_success(&json);
    let l = json.stdout();
    assert!(
        l.contains("\"proto\":\"tcp\"") && l.contains("\"sport\":12336"),
        "{l}"
    );
    assert!(
        l.contains("\"truncated\":true") && l.contains("\"seq\":null"),
        "{l}"
    );
}

#[test]
fn udp_header_cut_after_the_ports_is_shown_and_marked() {
    let f = corpus("udp-length-heapoverflow.pcap");
    let text = replay_text(&f);
    assert_success(&text);
    let l = text_line(&text.stdout(), 1).to_owned();
    assert!(l.contains("UDP") && l.contains("cut"), "{l}");

    let json = replay_jsonl(&f);
    assert_success(&json);
    let l = json.stdout();
    assert!(
        l.contains("\"proto\":\"udp\"") && l.contains("\"truncated\":true"),
        "{l}"
    );
    assert!(
        l.contains("\"len\":null"),
        "no UDP length was captured: {l}"
    );
}

#[test]
fn invalid_nanosecond_timestamps_are_marked() {
    let f = corpus("timestamp_invalid_nano.pcap");
    let json = replay_jsonl(&f);
    assert_success(&json);
    let out = json.stdout();
    assert_eq!(jsonl_frames(&out), one_to(3));
    assert!(
        jsonl_line(&out, 1).contains("\"ts_invalid\":false"),
        "frame 1 is valid"
    );
    for n in [2, 3] {
        assert!(
            jsonl_line(&out, n).contains("\"ts_invalid\":true"),
            "frame {n}"
        );
    }
    let text = replay_text(&f);
    assert_success(&text);
    let out = text.stdout();
    assert!(!text_line(&out, 1).contains("invalid timestamp"));
    for n in [2, 3] {
        assert!(
            text_line(&out, n).contains("invalid timestamp"),
            "frame {n}"
        );
    }
}

#[test]
fn snaplen_cut_rst_payload_is_marked_truncated() {
    let f = corpus("tcp_rst_diag_payload-trunc.pcap");
    let json = replay_jsonl(&f);
    assert_success(&json);
    let l = json.stdout();
    assert_eq!(jsonl_frames(&l), vec![1]);
    assert!(l.contains("\"truncated\":true"), "{l}");
    let text = replay_text(&f);
    assert_success(&text);
    assert!(text_line(&text.stdout(), 1).contains("cut by snaplen"));
}

#[test]
fn fuzzed_corpus_files_replay_to_the_end() {
    for (name, frames) in [
        ("heapoverflow-tcp_print.pcap", 1),
        ("tcp_header_heapoverflow.pcap", 1),
        ("udp-length-heapoverflow.pcap", 1),
        ("tftp-heapoverflow.pcap", 1),
        ("beep-oobr.pcap", 2),
        ("bgp_mp_reach_nlri-oobr.pcap", 1),
        ("lisp_invalid_length.pcap", 1),
    ] {
        let f = corpus(name);
        let text = replay_text(&f);
        assert_success(&text);
        assert_eq!(text_frames(&text.stdout()), one_to(frames), "{name}");
        let json = replay_jsonl(&f);
        assert_success(&json);
        assert_eq!(jsonl_frames(&json.stdout()), one_to(frames), "{name}");
    }
}

/// Regression (fixed; memory safety, see `decode::tests::regression_ipv6_extension_error_after_a_good_header_
/// reads_out_of_bounds`): one IPv6 packet whose extension chain breaks after a good header
/// (hop-by-hop followed by a second hop-by-hop) makes `decode_ip` iterate etherparse's
/// extension slice past its end. A debug build aborts (SIGABRT, "unsafe precondition(s)
/// violated") and prints nothing at all, not even the packets before; a release build reads
/// out of bounds. Expected: the packet is shown and marked, like any damaged packet, exit 0.
#[test]
fn regression_damaged_ipv6_extension_chain_does_not_kill_the_process() {
    let dir = tempdir();
    let bytes = pcap_file(
        101, // LINKTYPE_RAW
        &[&RAW_IPV4_TCP_RST, &RAW_IPV6_HBH_THEN_HBH, &RAW_IPV4_TCP_RST],
    );
    let file = write_file(&dir, "bad-ipv6-ext.pcap", &bytes);
    for run in [replay_text(&file), replay_jsonl(&file)] {
        assert_success(&run);
    }
    assert_eq!(jsonl_frames(&replay_jsonl(&file).stdout()), one_to(3));
}

// ---------------------------------------------------------------------------------------------
// Bad command lines and closed pipes
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_filter_expression_is_one_line_naming_it() {
    let f = corpus("ssh.pcap");
    for format in ["text", "jsonl"] {
        let run = replay(&f, &["--format", format, "tcp", "prot", "80"]);
        let line = assert_one_error_line(&run);
        assert!(
            line.contains("'tcp prot 80'"),
            "names the expression: {line}"
        );
        assert!(run.out.stdout.is_empty(), "nothing on stdout ({format})");
    }
}

/// Waits for `child` up to [`TIMEOUT`]; kills it and fails if it takes longer.
fn wait_or_kill(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for sockscope") {
            return status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sockscope did not exit within {TIMEOUT:?} after its stdout was closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn closed_stdout_pipe_exits_quietly_with_success() {
    // A generated capture whose timeline (over 800 KB) is far more than a pipe buffer (64 KiB)
    // holds.
    let dir = tempdir();
    let f = dir.path().join("busy.pcap");
    let cfg = sockscope::synth::Config {
        packets: 5_000,
        ..sockscope::synth::Config::default()
    };
    let file = std::fs::File::create(&f).expect("create the capture");
    sockscope::synth::write(&cfg, std::io::BufWriter::new(file)).expect("write the capture");
    for format in ["text", "jsonl"] {
        let whole = replay(&f, &["--format", format]);
        assert_success(&whole);
        assert!(
            whole.out.stdout.len() > 512 << 10,
            "the {format} output ({} bytes) must be far bigger than a pipe buffer",
            whole.out.stdout.len()
        );
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
            .arg("replay")
            .arg(&f)
            .args(["--format", format, "--color", "never"])
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sockscope");
        let stdout = child.stdout.take().unwrap();
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read the first line");
        assert!(!first.is_empty(), "a first line was written ({format})");
        // The reader (and with it the pipe) is dropped here: the next write gets EPIPE.
        let status = wait_or_kill(&mut child);
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(
            !stderr.contains("panicked"),
            "no panic ({format}):\n{stderr}"
        );
        assert_eq!(
            status.code(),
            Some(0),
            "exit status 0 ({format}), stderr:\n{stderr}"
        );
        assert!(
            stderr.trim().is_empty(),
            "nothing on stderr ({format}):\n{stderr}"
        );
    }
}
