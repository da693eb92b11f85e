//! Hostile files: the bounded, stable part of the fuzzing (the long run is `scripts/fuzz`, on
//! the cargo-fuzz targets in `fuzz/`), and the check that nothing from a file reaches the
//! terminal as a control sequence.
//!
//! * [`mutated_captures_replay_without_panic`]: every capture in `tests/fixtures` and
//!   `captures/` mutated (bit flips, byte insertions and deletions, truncations, length-field
//!   and block-type edits, blocks spliced in from another file) with a seeded PRNG, read by
//!   the capture reader from memory and replayed in-process as `sockscope replay` does (text
//!   with `-X`, JSON Lines, and the saved-run view); the output must be safe for a terminal.
//! * [`regression_inputs_replay_without_panic`]: every file in `tests/fixtures/regress/` (the
//!   crashes the fuzzers found, each kept once fixed), the same way.
//! * [`interfaces_per_section_are_bounded`], [`options_per_block_are_bounded`]: a pcapng of
//!   nothing but interfaces, or a block of nothing but options, stops at the bound.
//! * [`esc_laden_strings_never_reach_stdout`]: a saved run whose comments, interface name,
//!   DNS name and run events carry ESC and other controls, replayed by the binary.

mod common;

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sockscope::decode::decode;
use sockscope::live::pcapng;
use sockscope::live::{Captured, Event, Role, RunData};
use sockscope::render::payload::PayloadView;
use sockscope::replay::{replay, Format, ReplayOptions};
use sockscope::replay_run;
use sockscope::source::write::{InterfaceDescription, SectionHeader};
use sockscope::source::{CaptureFile, PcapngWriter, Resolution};

// ---------------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------------

/// Output as it reaches a terminal is safe: valid UTF-8 (so no lone 0x9b byte), and no
/// control character but the line feed (and the tab where `tab`: `-A` keeps tabs, as tcpdump
/// does): no ESC, no C1 control (U+009B is CSI), no CR, BEL, DEL; no bidirectional override.
fn assert_terminal_safe(out: &[u8], tab: bool, what: &str) {
    let s = std::str::from_utf8(out).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    let bad = s.char_indices().find(|&(_, c)| {
        (c.is_control() && c != '\n' && !(tab && c == '\t'))
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    });
    if let Some((i, c)) = bad {
        let from = s[..i].rfind('\n').map_or(0, |n| n + 1);
        let line: String = s[from..].chars().take(100).collect();
        panic!("{what}: control {c:?} at byte {i}, in the line {line:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

/// xorshift64*: small, seeded, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Offsets of the records (pcap: record headers) or blocks (pcapng) of a capture, little- or
/// big-endian, as far as they parse; and whether it is pcapng.
fn records(b: &[u8]) -> (Vec<usize>, bool) {
    let word = |at: usize, be: bool| -> Option<u32> {
        let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if be {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        })
    };
    let mut out = Vec::new();
    if b.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let be = b.get(8..12) == Some(&[0x1a, 0x2b, 0x3c, 0x4d]);
        let mut at = 0;
        while let Some(len) = word(at + 4, be) {
            out.push(at);
            if len < 12 || len % 4 != 0 {
                break;
            }
            at += len as usize;
        }
        (out, true)
    } else {
        let be = matches!(b.get(..4), Some([0xa1, 0xb2, ..]));
        let mut at = 24;
        while let Some(caplen) = word(at + 8, be) {
            out.push(at);
            at += 16 + caplen as usize;
        }
        (out, false)
    }
}

/// One mutant of `seed` (with `other`, another capture, for splices).
fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        if b.is_empty() {
            break;
        }
        let (recs, ng) = records(&b);
        let at = rng.below(b.len());
        match rng.below(9) {
            // Bit flip.
            0 => b[at] ^= 1 << rng.below(8),
            // A random byte.
            1 => b[at] = rng.next() as u8,
            // Bytes inserted.
            2 => {
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, bytes);
            }
            // Bytes deleted.
            3 => {
                let n = (1 + rng.below(8)).min(b.len() - at);
                b.drain(at..at + n);
            }
            // Truncated.
            4 => b.truncate(at),
            // A length field: pcap caplen/origlen, pcapng block length (front or back), a
            // pcapng packet's caplen; set to an edge value.
            5 | 6 if !recs.is_empty() => {
                let r = recs[rng.below(recs.len())];
                let field = if ng {
                    [r + 4, r + 20, r + 24][rng.below(3)]
                } else {
                    [r + 8, r + 12][rng.below(2)]
                };
                let v: u32 = match rng.below(6) {
                    0 => 0,
                    1 => u32::MAX,
                    2 => 0x7fff_ffff,
                    3 => 40 << 20,
                    4 => rng.next() as u32 & 0xffff,
                    _ => rng.next() as u32,
                };
                if field + 4 <= b.len() {
                    let bytes = if rng.below(2) == 0 {
                        v.to_le_bytes()
                    } else {
                        v.to_be_bytes()
                    };
                    b[field..field + 4].copy_from_slice(&bytes);
                }
            }
            // A pcapng block type: another known one (SHB, IDB, EPB, SPB, ISB, NRB, CB, DCB).
            7 if ng && !recs.is_empty() => {
                let r = recs[rng.below(recs.len())];
                let types: [u32; 8] = [0x0a0d_0d0a, 1, 6, 3, 5, 4, 0x0000_0bad, 0x4000_0bad];
                let t = types[rng.below(types.len())];
                if r + 4 <= b.len() {
                    b[r..r + 4].copy_from_slice(&t.to_le_bytes());
                }
            }
            // A record or block of another capture spliced in at a record boundary.
            _ => {
                let (theirs, _) = records(other);
                if let (false, false) = (recs.is_empty(), theirs.is_empty()) {
                    let i = rng.below(theirs.len());
                    let from = theirs[i];
                    let to = theirs.get(i + 1).copied().unwrap_or(other.len());
                    let to = to.clamp(from, other.len()).min(from + 4096);
                    let into = recs[rng.below(recs.len())].min(b.len());
                    b.splice(into..into, other[from..to].iter().copied());
                }
            }
        }
    }
    b
}

/// Every capture the repository holds: `tests/fixtures` and `captures/`.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["tests/fixtures", "captures"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        names.sort();
        for p in names {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            out.push((p.display().to_string(), bytes));
        }
    }
    assert!(out.len() >= 50, "the captures are there: {}", out.len());
    out
}

/// The reader on bytes in memory: every frame delivered, caplen == data length, decoded.
fn read_in_memory(bytes: &[u8]) {
    let Ok(mut f) = CaptureFile::from_reader(Path::new("mutant"), Cursor::new(bytes.to_vec()))
    else {
        return;
    };
    let _ = f.for_each(|fr| {
        assert_eq!(fr.caplen as usize, fr.data.len());
        let _ = decode(fr);
        true
    });
}

/// `sockscope replay FILE --color never` in-process: text with `-X` and the summary, JSON
/// Lines, and the saved-run view when the file says sockscope wrote it.
fn replay_file(path: &Path, what: &str) {
    for format in [Format::Text, Format::Jsonl] {
        let opts = ReplayOptions {
            inputs: vec![path.to_path_buf()],
            format,
            summary: true,
            payload: if format == Format::Text {
                PayloadView::Hex
            } else {
                PayloadView::None
            },
            ..ReplayOptions::default()
        };
        let mut out = Vec::new();
        let _ = replay(&opts, &mut out);
        // `-X` indents its lines with a tab, as tcpdump does.
        assert_terminal_safe(&out, true, what);
        let mut run = Vec::new();
        if let Ok(replay_run::Outcome::Shown(_)) = replay_run::replay(path, &opts, &mut run) {
            assert_terminal_safe(&run, false, what);
        }
    }
}

/// Mutants read and replayed per seed capture. The whole test takes a few seconds in a debug
/// build; `scripts/fuzz` is the long run.
const MUTANTS: usize = 24;
/// Of those, how many go through the whole replay (the rest through the reader only).
const REPLAYED: usize = 6;

#[test]
fn mutated_captures_replay_without_panic() {
    let start = Instant::now();
    let seeds = seeds();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut rng = Rng(0x05ee_d0ff_11e5);
    let mut count = 0;
    for (i, (name, seed)) in seeds.iter().enumerate() {
        // Large seeds are cut (the mutations reach the same code in the first 64 KiB).
        let seed = &seed[..seed.len().min(64 << 10)];
        let other = &seeds[(i + 1 + rng.below(seeds.len() - 1)) % seeds.len()].1;
        for m in 0..MUTANTS {
            let mutant = mutate(&mut rng, seed, other);
            read_in_memory(&mutant);
            if m < REPLAYED {
                let path = dir.path().join(format!("mutant-{i}-{m}.pcapng"));
                std::fs::write(&path, &mutant).expect("write the mutant");
                replay_file(&path, &format!("mutant {m} of {name}"));
            }
            count += 1;
        }
    }
    assert_eq!(count, seeds.len() * MUTANTS);
    assert!(
        start.elapsed() < Duration::from_secs(120),
        "the bounded run stays short: {:?}",
        start.elapsed()
    );
}

#[test]
fn mutations_are_reproducible_and_change_the_file() {
    let seeds = seeds();
    let (a, b) = (&seeds[0].1, &seeds[1].1);
    let (mut r1, mut r2) = (Rng(7), Rng(7));
    let mut changed = 0;
    for _ in 0..50 {
        let m1 = mutate(&mut r1, a, b);
        assert_eq!(m1, mutate(&mut r2, a, b));
        changed += usize::from(&m1 != a);
    }
    assert!(
        changed >= 45,
        "mutants differ from the seed: {changed} of 50"
    );
}

#[test]
fn regression_inputs_replay_without_panic() {
    let dir = common::fixtures_dir().join("regress");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x != "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds the regressions", dir.display());
    for f in &files {
        let bytes = std::fs::read(f).expect("read");
        read_in_memory(&bytes);
        replay_file(f, &f.display().to_string());
    }
}

/// A pcapng section of nothing but Interface Description Blocks stops at 65,536 interfaces
/// (each is kept for the section) with one error, instead of growing without end.
#[test]
fn interfaces_per_section_are_bounded() {
    let idb = |lt: u16| {
        let mut b = Vec::new();
        for w in [1u32, 20] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(&lt.to_le_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&20u32.to_le_bytes());
        b
    };
    let mut file = vec![
        0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
    ];
    file.extend_from_slice(&[0xff; 8]);
    file.extend_from_slice(&28u32.to_le_bytes());
    for n in [65_536usize, 65_537] {
        let mut b = file.clone();
        for _ in 0..n {
            b.extend_from_slice(&idb(1));
        }
        let mut f =
            CaptureFile::from_reader(Path::new("idbs.pcapng"), Cursor::new(b)).expect("a pcapng");
        let read = f.for_each(|_| true);
        if n == 65_536 {
            read.expect("65,536 interfaces are fine");
        } else {
            let e = read.expect_err("one more is not").to_string();
            assert!(e.contains("more than 65536 interfaces"), "{e}");
        }
    }
}

/// An Enhanced Packet Block of nothing but empty options: up to 2^20 are read (pcap-parser
/// lists them, 32 bytes each), one more is an error before any list is made.
#[test]
fn options_per_block_are_bounded() {
    let mut head = vec![
        0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
    ];
    head.extend_from_slice(&[0xff; 8]);
    head.extend_from_slice(&28u32.to_le_bytes());
    for w in [1u32, 20, 1, 0, 20] {
        head.extend_from_slice(&w.to_le_bytes());
    }
    for (n, ok) in [(1usize << 20, true), ((1 << 20) + 1, false)] {
        let len = 32 + 4 * n + 4;
        let mut b = head.clone();
        for w in [6u32, len as u32, 0, 0, 0, 0, 0] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        for _ in 0..n {
            b.extend_from_slice(&[2, 0, 0, 0]); // epb_flags, empty
        }
        b.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        b.extend_from_slice(&(len as u32).to_le_bytes());
        let mut f =
            CaptureFile::from_reader(Path::new("opts.pcapng"), Cursor::new(b)).expect("a pcapng");
        let mut frames = 0;
        let read = f.for_each(|_| {
            frames += 1;
            true
        });
        if ok {
            read.expect("2^20 options are read");
            assert_eq!(frames, 1);
        } else {
            let e = read.expect_err("one more is not").to_string();
            assert!(e.contains("more than 1048576 options"), "{e}");
            assert_eq!(frames, 0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Controls in every string a file carries
// ---------------------------------------------------------------------------------------------

/// What a hostile file puts in its strings: a screen clear, a title change, red text, CSI
/// as a C1 character, a bell, a carriage return, a right-to-left override.
const EVIL: &str = "\u{1b}[2J\u{1b}]0;owned\u{7}\u{1b}[31m\u{9b}1m\r\u{202e}x";

/// Ethernet + IPv4 + UDP 40000 → 53, a DNS query for a name whose labels hold ESC, CSI and
/// a bell.
fn dns_query_frame() -> Vec<u8> {
    let mut dns = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in [&b"\x1b[2J\x1b]0;x\x07"[..], b"\xc2\x9b1m", b"com"] {
        dns.push(label.len() as u8);
        dns.extend_from_slice(label);
    }
    dns.extend_from_slice(&[0, 0, 1, 0, 1]);
    let udp_len = 8 + dns.len();
    let mut f = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    let total = (20 + udp_len) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&53u16.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&dns);
    f
}

/// A saved run (as `run --save` writes it: the calls as packet comments, the run in a Custom
/// Block) whose scenario name, events and packet comments carry [`EVIL`], and whose packet
/// is the DNS query above.
fn hostile_saved_run(scenario: &str) -> Vec<u8> {
    let t = 1_700_000_000_000_000_000i128;
    let mut events = Vec::new();
    let mut e = Event::new(Role::Client, &format!("client{EVIL}"), "sendto", t);
    e.end = t + 10;
    e.fd = Some(3);
    e.args = format!("3, \"{EVIL}\", 33");
    e.ret = Some(33);
    e.data = Some(b"\x1b[2J\x9b\x07data".to_vec());
    e.text = Some(EVIL.into());
    events.push(e);
    let mut p = Event::new(Role::Client, "client", "print", t + 20);
    p.text = Some(format!("program output {EVIL}"));
    events.push(p);
    let mut m = Event::new(Role::Server, &format!("server{EVIL}"), "mark", t + 30);
    m.args = EVIL.into();
    m.text = Some(format!("mark {EVIL}"));
    events.push(m);
    let mut x = Event::new(Role::Server, "server", "recvfrom", t + 40);
    x.end = t + 50;
    x.ret = Some(-1);
    x.errno = Some(format!("EAGAIN{EVIL}"));
    events.push(x);
    let run = RunData {
        scenario: scenario.into(),
        linktype: 1,
        filter: format!("port 53{EVIL}"),
        packets: vec![Captured {
            ts: t + 5,
            origlen: dns_query_frame().len() as u32,
            data: dns_query_frame(),
        }],
        events,
        ..RunData::default()
    };
    let mut buf = Vec::new();
    pcapng::write(&mut buf, &run).expect("write the run");
    buf
}

/// A pcapng (not a saved run) whose section comment, interface name and packet comment carry
/// [`EVIL`], holding the DNS query.
fn hostile_capture() -> Vec<u8> {
    let comment = format!("section {EVIL}");
    let section = SectionHeader {
        user_appl: Some("editcap"),
        comments: &[comment.as_str()],
    };
    let mut w = PcapngWriter::new(Vec::new(), &section).expect("in memory");
    let name = format!("eth0{EVIL}");
    let i = w
        .add_interface(&InterfaceDescription {
            linktype: 1,
            snaplen: 65535,
            resolution: Resolution::Micros,
            name: Some(&name),
        })
        .expect("in memory");
    let frame = dns_query_frame();
    w.write_enhanced(
        i,
        1_700_000_000_000_000_000,
        frame.len() as u32,
        &frame,
        &[format!("packet {EVIL}")],
    )
    .expect("in memory");
    w.finish().expect("in memory")
}

fn sockscope(file: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("replay")
        .arg(file)
        .args(args)
        .args(["--color", "never"])
        .output()
        .expect("run sockscope")
}

#[test]
fn esc_laden_strings_never_reach_stdout() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut files = Vec::new();
    // A traced program's run (no scenario), and runs that name real scenarios, whose facts
    // and checks then read the hostile events.
    for (i, scenario) in [format!("trace: evil{EVIL}"), "dns".into(), "udp".into()]
        .iter()
        .enumerate()
    {
        let path = dir.path().join(format!("run{i}.pcapng"));
        std::fs::write(&path, hostile_saved_run(scenario)).expect("write");
        files.push((path, true));
    }
    let path = dir.path().join("capture.pcapng");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(&hostile_capture()).expect("write");
    files.push((path, false));

    for (file, is_run) in &files {
        let runs: [(&[&str], bool); 6] = [
            (&[], false),
            (&["--format", "jsonl"], false),
            (&["udp"], false),
            (&["udp", "--format", "jsonl"], false),
            (&["udp", "-X"], true),
            (&["udp", "-A"], true),
        ];
        for (args, tab) in runs {
            let out = sockscope(file, args);
            let what = format!("replay {} {args:?}", file.display());
            assert!(!out.stdout.is_empty(), "{what}: printed something");
            assert_terminal_safe(&out.stdout, tab, &what);
            assert_terminal_safe(&out.stderr, false, &format!("{what} (stderr)"));
            let text = String::from_utf8_lossy(&out.stdout);
            if args.is_empty() && *is_run {
                // The run view: the calls and the program's output are there, escaped.
                assert!(text.contains("\\x1b[2J"), "{what}: {text}");
                assert!(text.contains("program output"), "{what}: {text}");
            }
            if args == ["udp"] {
                // The DNS name is named, its controls escaped as dig and tshark write them.
                assert!(
                    text.contains("DNS query 0x1234 A \\027[2J\\027]0;x\\007.\\194\\1551m.com"),
                    "{what}: {text}"
                );
            }
        }
    }
}

/// A saved run whose event log does not parse (an event's role is ESC: serde's error quotes
/// it): the packets are shown, and the line on stderr that says why is escaped.
#[test]
fn a_broken_saved_run_is_named_on_stderr_escaped() {
    let mut bytes = hostile_saved_run("udp");
    let from = b"\"role\":\"client\"";
    let to = b"\"role\":\"\\u001b\"";
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the log names a role");
    bytes[at..at + to.len()].copy_from_slice(to);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("broken.pcapng");
    std::fs::write(&path, &bytes).expect("write");
    let out = sockscope(&path, &[]);
    assert_eq!(out.status.code(), Some(2), "the run could not be shown");
    assert_terminal_safe(&out.stdout, false, "stdout");
    assert_terminal_safe(&out.stderr, false, "stderr");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("its packets are shown without the run"),
        "{err}"
    );
    assert!(err.contains("\\x1b"), "the ESC is named: {err}");
}
