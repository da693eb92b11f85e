//! Compares sockscope's JSON Lines with tshark's stored reading of a capture
//! (`tests/fixtures/oracle/`, made by `scripts/oracle`), field by field, frame by frame.
//!
//! The rules are those of the reference checker the project was developed against
//! (`check_oracle.py` of the reference corpus), ported so that the agreement check is the
//! project's own code:
//! * Frames are matched by number (1-based). In a pcapng file where tshark also numbers
//!   non-packet records (Custom Blocks: rows with no `frame.interface_id`), numbering that skips
//!   them is tried too and the better one is kept ([`Numbering`]).
//! * A frame's oracle protocol is the first of tcp/udp/icmp/icmpv6 in `frame.protocols` (an ICMP
//!   error quoting a UDP header is "other"); src/dst come from whichever of ip/ipv6 comes first.
//! * ts: equal when closer than one tick of the capture's precision (`File timestamp precision`
//!   of `FILE.capinfos`: 6 or 9 digits; per-packet counts as 9). A fraction of more than 9
//!   digits (tshark's printing of an out-of-range nanosecond field) is read as a count of
//!   nanoseconds. An oracle frame without a timestamp (Simple Packet Block) agrees with null
//!   or 0. A frame sockscope marks `ts_invalid` also agrees when the excess is carried into the
//!   seconds of tshark's sign-wrapped stamp (counted in [`Comparison::carried_ts`]).
//! * src/dst compared as addresses; flags as the whole 12-bit field (AE = 0x100 and the
//!   reserved bits included, as tshark's `tcp.flags`); ack/ack_raw only when the oracle frame has ACK (tshark prints 0 on a bare SYN), so an
//!   output with ack on a bare SYN is not judged; len is `tcp.len`, or `udp.length - 8`.
//! * Frames the oracle calls "other" are not compared, but one that sockscope calls TCP/UDP
//!   counts against agreement, as does a TCP/UDP frame the oracle does not have.
//! * Frame agreement = agreeing TCP/UDP frames / (oracle TCP/UDP frames + actual-only TCP/UDP
//!   frames + oracle "other" frames shown as TCP/UDP).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;

use self::parse::{json_text, read_tsv, to_addr, to_int_json, to_int_str, to_ts};

mod parse;

/// Every compared field, in report order.
pub const FIELDS: [&str; 14] = [
    "proto", "ts", "src", "dst", "sport", "dport", "flags", "seq", "ack", "seq_raw", "ack_raw",
    "len", "win", "stream",
];

/// Integer fields and the tshark column each comes from (TCP; UDP has its own below).
const TCP_INTS: [(&str, &str); 10] = [
    ("sport", "tcp.srcport"),
    ("dport", "tcp.dstport"),
    ("flags", "tcp.flags"),
    ("seq", "tcp.seq"),
    ("ack", "tcp.ack"),
    ("seq_raw", "tcp.seq_raw"),
    ("ack_raw", "tcp.ack_raw"),
    ("len", "tcp.len"),
    ("win", "tcp.window_size_value"),
    ("stream", "tcp.stream"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    Other,
}

/// How frames were matched in a pcapng file with Custom Blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    /// tshark's: Custom Blocks are frames (what sockscope does).
    Tshark,
    /// Packet blocks only.
    Packets,
}

/// One field of one frame, normalised for comparison and shown in reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Int(i64),
    /// Nanoseconds since the epoch.
    Ts(i128),
    Addr(IpAddr),
    Text(String),
    Proto(Proto),
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Int(v) => write!(f, "{v}"),
            Val::Ts(ns) => {
                let sign = if *ns < 0 { "-" } else { "" };
                let a = ns.unsigned_abs();
                write!(f, "{sign}{}.{:09}", a / 1_000_000_000, a % 1_000_000_000)
            }
            Val::Addr(a) => write!(f, "{a}"),
            Val::Text(s) => write!(f, "{s}"),
            Val::Proto(p) => write!(f, "{}", format!("{p:?}").to_lowercase()),
        }
    }
}

/// tshark's reading of one frame.
#[derive(Debug, Clone)]
struct OracleFrame {
    proto: Proto,
    ts: Option<String>,
    src: Option<String>,
    dst: Option<String>,
    ints: HashMap<&'static str, i64>,
    nonpacket: bool,
}

/// Per field: agree, both present but different, only in the oracle, only in the output.
#[derive(Debug, Clone, Copy, Default)]
pub struct FieldStats {
    pub agree: usize,
    pub differ: usize,
    pub only_oracle: usize,
    pub only_actual: usize,
}

/// One disagreement: frame (oracle numbering), field, oracle value, output value.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub frame: u64,
    pub field: &'static str,
    pub oracle: Option<Val>,
    pub actual: Option<Val>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Val>| v.as_ref().map_or("null".to_owned(), Val::to_string);
        write!(
            f,
            "{}: tshark {} sockscope {}",
            self.field,
            show(&self.oracle),
            show(&self.actual)
        )
    }
}

/// The comparison of one capture.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub stats: BTreeMap<&'static str, FieldStats>,
    pub tu_total: usize,
    pub tu_agree: usize,
    pub missing_frames: usize,
    pub extra_tu: usize,
    pub other_as_tu: usize,
    pub oracle_frames: usize,
    pub actual_frames: usize,
    /// The first disagreeing TCP/UDP frames with all their differing fields.
    pub bad_frames: Vec<(u64, Vec<Mismatch>)>,
    /// Frames whose timestamp agreed only through the `ts_invalid` carry rule.
    pub carried_ts: Vec<u64>,
}

impl Comparison {
    pub fn frame_agreement(&self) -> f64 {
        let denom = self.tu_total + self.extra_tu + self.other_as_tu;
        if denom == 0 {
            1.0
        } else {
            self.tu_agree as f64 / denom as f64
        }
    }
}

/// The check of one capture: its comparison and how it was made.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub numbering: Numbering,
    pub ts_digits: u32,
    /// Output lines that were not a JSON object with a frame number.
    pub bad_lines: usize,
    pub result: Comparison,
}

/// How many disagreeing frames a report lists.
const SHOWN_FRAMES: usize = 8;

impl Check {
    /// One line of figures, then per-field agreement, then the first differing frames.
    pub fn report(&self) -> String {
        let r = &self.result;
        let mut s = format!(
            "{:<34} frame agreement {:6.2}% on {} TCP/UDP frames (oracle {} frames, sockscope {}; \
             missing {}, extra tcp/udp {}, other-as-tcp/udp {}; ts digits {}; numbering {:?}{})",
            self.name,
            100.0 * r.frame_agreement(),
            r.tu_total,
            r.oracle_frames,
            r.actual_frames,
            r.missing_frames,
            r.extra_tu,
            r.other_as_tu,
            self.ts_digits,
            self.numbering,
            if self.bad_lines > 0 {
                format!("; {} unparsable lines", self.bad_lines)
            } else {
                String::new()
            }
        );
        for (f, st) in &r.stats {
            if st.differ + st.only_oracle + st.only_actual > 0 {
                let _ = write!(
                    s,
                    "\n    {f:8} agree={} differ={} only_tshark={} only_sockscope={}",
                    st.agree, st.differ, st.only_oracle, st.only_actual
                );
            }
        }
        for (frame, ms) in &r.bad_frames {
            let list: Vec<String> = ms.iter().map(Mismatch::to_string).collect();
            let _ = write!(s, "\n    frame {frame}: {}", list.join("; "));
        }
        s
    }
}

fn norm_proto(v: Option<&Value>) -> Proto {
    match json_text(v).map(|s| s.trim().to_lowercase()).as_deref() {
        Some("tcp") => Proto::Tcp,
        Some("udp") => Proto::Udp,
        _ => Proto::Other,
    }
}

fn nonempty(s: Option<&String>) -> Option<String> {
    s.filter(|v| !v.is_empty()).cloned()
}

/// (protocol, "ip"/"ipv6") of a frame, from `frame.protocols` when known.
fn classify(row: &HashMap<String, String>, protos: Option<&str>) -> (Proto, Option<&'static str>) {
    let has = |k: &str| row.get(k).is_some_and(|v| !v.is_empty());
    let fallback_fam = if has("ip.src") {
        Some("ip")
    } else if has("ipv6.src") {
        Some("ipv6")
    } else {
        None
    };
    let Some(protos) = protos else {
        let proto = if has("tcp.srcport") {
            Proto::Tcp
        } else if has("udp.srcport") {
            Proto::Udp
        } else {
            Proto::Other
        };
        return (proto, fallback_fam);
    };
    let layers: Vec<&str> = protos.split(':').collect();
    let fam = layers.iter().find_map(|l| match *l {
        "ip" => Some("ip"),
        "ipv6" => Some("ipv6"),
        _ => None,
    });
    let fam = fam.or(fallback_fam);
    for l in &layers {
        match *l {
            "tcp" => return (Proto::Tcp, fam),
            "udp" => return (Proto::Udp, fam),
            "icmp" | "icmpv6" => return (Proto::Other, fam),
            _ => {}
        }
    }
    (Proto::Other, fam)
}

fn oracle_frames(
    rows: &[HashMap<String, String>],
    proto_rows: Option<&[HashMap<String, String>]>,
) -> BTreeMap<u64, OracleFrame> {
    let col = |r: &HashMap<String, String>, k: &str| r.get(k).cloned().unwrap_or_default();
    let prot: Option<HashMap<String, String>> = proto_rows.map(|rs| {
        rs.iter()
            .map(|r| (col(r, "frame.number"), col(r, "frame.protocols")))
            .collect()
    });
    let mut out = BTreeMap::new();
    for r in rows {
        let Some(fn_) = to_int_str(&col(r, "frame.number")).and_then(|n| u64::try_from(n).ok())
        else {
            continue;
        };
        let protos = prot
            .as_ref()
            .map(|p| p.get(&col(r, "frame.number")).map_or("", String::as_str));
        let (proto, fam) = classify(r, protos);
        let addr = |side: &str| fam.and_then(|f| nonempty(r.get(&format!("{f}.{side}"))));
        let mut ints = HashMap::new();
        let mut put = |k: &'static str, v: Option<i64>| {
            if let Some(v) = v {
                ints.insert(k, v);
            }
        };
        match proto {
            Proto::Tcp => {
                for (k, c) in TCP_INTS {
                    let v = to_int_str(&col(r, c));
                    put(k, v);
                }
            }
            Proto::Udp => {
                put("sport", to_int_str(&col(r, "udp.srcport")));
                put("dport", to_int_str(&col(r, "udp.dstport")));
                put(
                    "len",
                    to_int_str(&col(r, "udp.length"))
                        .filter(|l| *l >= 8)
                        .map(|l| l - 8),
                );
                put("stream", to_int_str(&col(r, "udp.stream")));
            }
            Proto::Other => {}
        }
        out.insert(
            fn_,
            OracleFrame {
                proto,
                ts: nonempty(r.get("frame.time_epoch")),
                src: addr("src"),
                dst: addr("dst"),
                ints,
                nonpacket: false,
            },
        );
    }
    for r in proto_rows.unwrap_or(&[]) {
        if let Some(n) = to_int_str(&col(r, "frame.number")).and_then(|n| u64::try_from(n).ok()) {
            if let Some(f) = out.get_mut(&n) {
                if col(r, "frame.interface_id").is_empty() {
                    f.nonpacket = true;
                }
            }
        }
    }
    out
}

/// sockscope's output: frame number → packet record, and the number of unusable lines. The
/// `meta` record that opens the stream and the `summary` that closes it are not frames and are
/// passed over.
fn read_actual(jsonl: &str) -> (BTreeMap<u64, serde_json::Map<String, Value>>, usize) {
    let (mut frames, mut bad) = (BTreeMap::new(), 0);
    for line in jsonl.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(line) else {
            bad += 1;
            continue;
        };
        if matches!(
            o.get("kind").and_then(Value::as_str),
            Some("meta" | "summary")
        ) {
            continue;
        }
        match to_int_json(o.get("frame")).and_then(|n| u64::try_from(n).ok()) {
            Some(n) => {
                frames.insert(n, o);
            }
            None => bad += 1,
        }
    }
    (frames, bad)
}

/// Outcome of one field: (oracle value, output value, equal, agreed only by the carry rule).
type FieldOutcome = (Option<Val>, Option<Val>, bool, bool);

fn field_values(
    field: &'static str,
    o: &OracleFrame,
    a: Option<&serde_json::Map<String, Value>>,
    digits: u32,
) -> FieldOutcome {
    let ov: Option<Val> = match field {
        "proto" => Some(Val::Proto(o.proto)),
        "ts" => o.ts.as_deref().and_then(to_ts).map(Val::Ts),
        "src" => o.src.as_deref().and_then(to_addr),
        "dst" => o.dst.as_deref().and_then(to_addr),
        f => o.ints.get(f).copied().map(Val::Int),
    };
    let Some(a) = a else {
        let eq = ov.is_none();
        return (ov, None, eq, false);
    };
    let av: Option<Val> = match field {
        "proto" => Some(Val::Proto(norm_proto(a.get("proto")))),
        "ts" => json_text(a.get("ts")).and_then(|s| to_ts(&s)).map(Val::Ts),
        "src" | "dst" => json_text(a.get(field)).and_then(|s| to_addr(&s)),
        f => to_int_json(a.get(f)).map(Val::Int),
    };
    if field != "ts" {
        let eq = ov == av;
        return (ov, av, eq, false);
    }
    let tick: i128 = 10i128.pow(9 - digits.min(9));
    match (&ov, &av) {
        (None, None) => (None, None, true, false),
        (None, Some(Val::Ts(0))) => (None, None, true, false),
        (None, Some(_)) | (Some(_), None) => (ov, av, false, false),
        (Some(Val::Ts(ot)), Some(Val::Ts(at))) => {
            if (ot - at).abs() < tick {
                return (ov, av, true, false);
            }
            // ts_invalid: the excess may be carried into the seconds; tshark prints such a
            // stamp as a sign-wrapped epoch with an over-long fraction.
            let invalid = match a.get("ts_invalid") {
                Some(Value::Bool(b)) => *b,
                Some(Value::Null) | None => false,
                Some(v) => to_int_json(Some(v)).is_some_and(|n| n != 0),
            };
            let raw = o.ts.as_deref().unwrap_or("").trim();
            let raw = raw.strip_prefix('-').unwrap_or(raw);
            let carried = raw.split_once('.').and_then(|(s, f)| {
                let digits_only = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
                if !digits_only(s) || !digits_only(f) {
                    return None;
                }
                Some(s.parse::<i128>().ok()? * 1_000_000_000 + f.parse::<i128>().ok()?)
            });
            match carried {
                Some(c) if invalid => {
                    let eq = (c - at).abs() < tick;
                    (Some(Val::Ts(c)), av, eq, eq)
                }
                _ => (ov, av, false, false),
            }
        }
        _ => (ov, av, false, false),
    }
}

fn compare(
    orc: &BTreeMap<u64, OracleFrame>,
    act: &BTreeMap<u64, serde_json::Map<String, Value>>,
    digits: u32,
    fields: &[&'static str],
    offset_map: Option<&BTreeMap<u64, u64>>,
) -> Comparison {
    let mut r = Comparison {
        stats: fields.iter().map(|f| (*f, FieldStats::default())).collect(),
        oracle_frames: orc.len(),
        actual_frames: act.len(),
        ..Comparison::default()
    };
    for (&fn_, o) in orc {
        let afn = match offset_map {
            Some(m) => m.get(&fn_).copied(),
            None => Some(fn_),
        };
        let a = afn.and_then(|n| act.get(&n));
        if o.proto == Proto::Other {
            if a.is_some_and(|a| norm_proto(a.get("proto")) != Proto::Other) {
                r.other_as_tu += 1;
            }
            continue;
        }
        r.tu_total += 1;
        if a.is_none() {
            r.missing_frames += 1;
        }
        let ack_set = o.ints.get("flags").is_some_and(|f| f & 0x10 != 0);
        let mut bad = Vec::new();
        for &f in fields {
            if (f == "ack" || f == "ack_raw") && o.proto == Proto::Tcp && !ack_set {
                continue;
            }
            let (ov, av, eq, carried) = field_values(f, o, a, digits);
            if ov.is_none() && av.is_none() {
                continue;
            }
            let st = r.stats.get_mut(f).expect("every field has stats");
            if eq {
                st.agree += 1;
                if carried {
                    r.carried_ts.push(fn_);
                }
                continue;
            }
            match (&ov, &av) {
                (Some(_), Some(_)) => st.differ += 1,
                (Some(_), None) => st.only_oracle += 1,
                _ => st.only_actual += 1,
            }
            bad.push(Mismatch {
                frame: fn_,
                field: f,
                oracle: ov,
                actual: av,
            });
        }
        if bad.is_empty() && a.is_some() {
            r.tu_agree += 1;
        } else if r.bad_frames.len() < SHOWN_FRAMES {
            r.bad_frames.push((fn_, bad));
        }
    }
    let matched: BTreeSet<u64> = match offset_map {
        Some(m) => m.values().copied().collect(),
        None => orc.keys().copied().collect(),
    };
    r.extra_tu = act
        .iter()
        .filter(|(n, a)| !matched.contains(n) && norm_proto(a.get("proto")) != Proto::Other)
        .count();
    r
}

/// Oracle frame → frame number when non-packet records (Custom Blocks) are skipped.
fn packet_numbering(orc: &BTreeMap<u64, OracleFrame>) -> BTreeMap<u64, u64> {
    orc.iter()
        .filter(|(_, o)| !o.nonpacket)
        .zip(1..)
        .map(|((n, _), k)| (*n, k))
        .collect()
}

/// (timestamp digits, is pcapng) from `FILE.capinfos`.
fn capinfo(oracle_dir: &Path, name: &str) -> (u32, bool) {
    let (mut digits, mut ng) = (9, name.ends_with(".pcapng"));
    if let Ok(t) = std::fs::read(oracle_dir.join(format!("{name}.capinfos"))) {
        let t = String::from_utf8_lossy(&t);
        for line in t.lines() {
            if let Some(rest) = line.strip_prefix("File timestamp precision:") {
                let inner = rest.rsplit_once('(').and_then(|(_, r)| r.split_once(')'));
                if let Some(d) = inner.and_then(|(d, _)| d.trim().parse::<i64>().ok()) {
                    if d > 0 {
                        digits = u32::try_from(d).unwrap_or(9);
                    }
                }
            } else if let Some(rest) = line.strip_prefix("File type:") {
                ng = rest.contains("pcapng");
            }
        }
    }
    (digits, ng)
}

fn read_text(p: &Path) -> Option<String> {
    std::fs::read(p)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Checks sockscope's JSON Lines for capture `name` against its oracle in `oracle_dir`, in the
/// per-packet view (`FILE.nodefrag.tsv` where it exists: IP fragments not reassembled, as
/// sockscope shows them). Err when the capture has no oracle.
pub fn check(
    oracle_dir: &Path,
    name: &str,
    jsonl: &str,
    fields: &[&'static str],
) -> Result<Check, String> {
    let base = oracle_dir.join(name);
    let with = |ext: &str| {
        let mut p = base.clone().into_os_string();
        p.push(ext);
        std::path::PathBuf::from(p)
    };
    let (tsv, proto) = if with(".nodefrag.tsv").is_file() {
        (with(".nodefrag.tsv"), with(".nodefrag.proto.tsv"))
    } else {
        (with(".tsv"), with(".proto.tsv"))
    };
    let rows = read_tsv(
        &read_text(&tsv).ok_or_else(|| format!("no oracle for {name}: {}", tsv.display()))?,
    );
    let proto_rows = read_text(&proto).map(|t| read_tsv(&t));
    let orc = oracle_frames(&rows, proto_rows.as_deref());
    let (act, bad_lines) = read_actual(jsonl);
    let (digits, is_ng) = capinfo(oracle_dir, name);
    let mut result = compare(&orc, &act, digits, fields, None);
    let mut numbering = Numbering::Tshark;
    let pk = packet_numbering(&orc);
    if is_ng && pk.len() != orc.len() {
        let r2 = compare(&orc, &act, digits, fields, Some(&pk));
        if r2.frame_agreement() > result.frame_agreement() {
            result = r2;
            numbering = Numbering::Packets;
        }
    }
    Ok(Check {
        name: name.to_owned(),
        numbering,
        ts_digits: digits,
        bad_lines,
        result,
    })
}
