//! Events: what a scenario's program did, one record per socket call, printed line or mark.
//!
//! Events cross threads and forked processes as JSON lines written to one pipe (each line is
//! written with a single `write` shorter than `PIPE_BUF`, so lines never interleave). The same
//! line format is the `kind:"event"` line of `--format jsonl` and of a saved `.events.jsonl`.
//!
//! Times are CLOCK_REALTIME nanoseconds, the clock libpcap stamps packets with.

use std::fmt::{self, Write};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::json::{self, Line};

/// Which side of the conversation a call belongs to: its lane in the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

/// Largest payload copy an event carries; longer writes keep their first bytes and set
/// `data_cut`. Keeps every event line well under `PIPE_BUF` (4096).
pub const DATA_MAX: usize = 256;

/// One thing the program did. As a JSON line (see [`super::json`]): `kind` "event", then the
/// fields in this order, times as `"secs.nnnnnnnnn"` strings, `data` as a string of the code
/// points U+0000..U+00FF (one per byte), every key written (`null` when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "event")]
pub struct Event {
    /// When the call started (ns since the epoch, CLOCK_REALTIME).
    #[serde(rename = "ts", with = "time_string")]
    pub start: i128,
    /// When it returned (== start for prints and marks).
    #[serde(with = "time_string")]
    pub end: i128,
    #[serde(default)]
    pub pid: u32,
    #[serde(default)]
    pub tid: u32,
    pub role: Role,
    /// Who made the call: `client`, `server`, or a named process such as `server child`.
    pub who: String,
    /// The call (`socket`, `connect`, `write`, …), or `print`, `mark`, `state`, `fork`, `wait`.
    pub call: String,
    #[serde(default)]
    pub fd: Option<i32>,
    /// The arguments as the C call would show them, e.g. `3, 127.0.0.1:40123`.
    #[serde(default)]
    pub args: String,
    /// The return value (None for prints and marks); -1 with `errno` on failure.
    #[serde(default)]
    pub ret: Option<i64>,
    /// The errno name when the call failed, e.g. `ECONNREFUSED`.
    #[serde(default)]
    pub errno: Option<String>,
    /// The address the call names or returns (connect/sendto target, accept/recvfrom peer).
    #[serde(default)]
    pub addr: Option<SocketAddr>,
    /// The socket's local address after the call (bind, connect, accept).
    #[serde(default)]
    pub local: Option<SocketAddr>,
    /// Bytes written or read (the first [`DATA_MAX`]).
    #[serde(default, with = "latin1")]
    pub data: Option<Vec<u8>>,
    /// `data` holds only the first bytes (set only with `data`).
    #[serde(default)]
    pub data_cut: bool,
    /// What else the result says: a TCP state, a printed line, a mark's title.
    #[serde(default)]
    pub text: Option<String>,
}

impl Event {
    /// An event with only the identity fields set.
    pub fn new(role: Role, who: &str, call: &str, start: i128) -> Event {
        Event {
            start,
            end: start,
            pid: 0,
            tid: 0,
            role,
            who: who.to_owned(),
            call: call.to_owned(),
            fd: None,
            args: String::new(),
            ret: None,
            errno: None,
            addr: None,
            local: None,
            data: None,
            data_cut: false,
            text: None,
        }
    }

    /// Whether the call may wait for the network (shown as two lines when something happens
    /// while it waits). Includes the kernel's names that traced programs use (`accept4`,
    /// `recvmsg`, `pselect6`, …; see `live::syscalls`), and the resolver's calls, which wait
    /// for DNS answers.
    pub fn can_block(&self) -> bool {
        matches!(
            self.call.as_str(),
            "accept"
                | "accept4"
                | "connect"
                | "read"
                | "readv"
                | "recv"
                | "recvfrom"
                | "recvmsg"
                | "recvmmsg"
                | "wait"
                | "waitpid"
                | "sigsuspend"
                | "pause"
                | "poll"
                | "ppoll"
                | "select"
                | "pselect6"
                | "epoll_wait"
                | "epoll_pwait"
                | "pthread_join"
                | "getaddrinfo"
                | "gethostbyname"
                | "gethostbyaddr"
        )
    }

    pub fn ok(&self) -> bool {
        self.errno.is_none()
    }

    /// Appends the event as one JSON line (with its newline).
    pub fn to_json(&self, out: &mut String) {
        json::write_line(out, self);
    }

    /// Reads an event line (`kind` must be `event`).
    pub fn from_json(line: &str) -> Result<Event, String> {
        match json::parse(line).map_err(|e| e.to_string())? {
            Line::Event(e) => Ok(*e),
            _ => Err("not an event line (kind is not \"event\")".into()),
        }
    }
}

/// `secs.nnnnnnnnn` for a time in ns since the epoch.
pub fn write_time(out: &mut String, ns: i128) {
    let _ = write!(out, "{}", Time(ns));
}

/// Shows a time in ns since the epoch as `secs.nnnnnnnnn`.
struct Time(i128);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000_000);
        let frac = self.0.rem_euclid(1_000_000_000);
        write!(f, "{secs}.{frac:09}")
    }
}

/// Reads `secs.nnnnnnnnn` (any number of fractional digits up to 9).
pub fn parse_time(s: &str) -> Option<i128> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i128 = secs.parse().ok()?;
    let mut f: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..9 {
        f *= 10;
    }
    // A saved log is input: an absurd number of seconds is refused, not wrapped.
    secs.checked_mul(1_000_000_000)?.checked_add(f)
}

/// A time as the string `"secs.nnnnnnnnn"` (serde `with`).
mod time_string {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use super::{parse_time, Time};

    pub fn serialize<S: Serializer>(ns: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Time(*ns))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let s = String::deserialize(d)?;
        parse_time(&s).ok_or_else(|| D::Error::custom(format!("bad time {s:?}")))
    }
}

/// Payload bytes as a string of the code points U+0000..U+00FF (serde `with`).
mod latin1 {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use super::{bytes_to_latin1, latin1_to_bytes};

    pub fn serialize<S: Serializer>(data: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match data {
            Some(d) => s.serialize_str(&bytes_to_latin1(d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| latin1_to_bytes(&s).map_err(D::Error::custom))
            .transpose()
    }
}

/// Bytes as a string of the code points U+0000..U+00FF (lossless; JSON escapes the controls).
fn bytes_to_latin1(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

fn latin1_to_bytes(s: &str) -> Result<Vec<u8>, String> {
    s.chars()
        .map(|c| u8::try_from(c as u32).map_err(|_| format!("data holds {c:?}, not a byte")))
        .collect()
}

/// Payload bytes for display: printable ASCII as is, the rest as C escapes, cut to `max`
/// characters with `…`.
pub fn show_bytes(out: &mut String, b: &[u8], max: usize) {
    out.push('"');
    for (n, &c) in b.iter().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(c as char),
            _ => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_round_trips_through_json() {
        let mut e = Event::new(
            Role::Server,
            "server child",
            "read",
            1_700_000_000_123_456_789,
        );
        e.end = e.start + 5;
        e.pid = 10;
        e.tid = 11;
        e.fd = Some(5);
        e.args = "5, 1024".into();
        e.ret = Some(3);
        e.addr = Some("127.0.0.1:4000".parse().unwrap());
        e.local = Some("[::1]:5".parse().unwrap());
        e.data = Some(vec![0, b'a', 0xff, b'"', 8, 12, b'\n']);
        e.data_cut = true;
        e.text = Some("x".into());
        let mut s = String::new();
        e.to_json(&mut s);
        // Every key, in field order (docs/jsonl.md).
        assert_eq!(
            s,
            "{\"kind\":\"event\",\"ts\":\"1700000000.123456789\",\"end\":\"1700000000.123456794\",\
             \"pid\":10,\"tid\":11,\"role\":\"server\",\"who\":\"server child\",\"call\":\"read\",\
             \"fd\":5,\"args\":\"5, 1024\",\"ret\":3,\"errno\":null,\"addr\":\"127.0.0.1:4000\",\"local\":\"[::1]:5\",\
             \"data\":\"\\u0000a\u{ff}\\\"\\u0008\\u000c\\n\",\"data_cut\":true,\"text\":\"x\"}\n"
        );
        assert_eq!(Event::from_json(s.trim_end()).unwrap(), e);
    }

    #[test]
    fn a_bare_event_writes_every_key_with_nulls() {
        let e = Event::new(Role::Client, "", "mark", -1);
        let mut s = String::new();
        e.to_json(&mut s);
        assert_eq!(
            s,
            "{\"kind\":\"event\",\"ts\":\"-1.999999999\",\"end\":\"-1.999999999\",\"pid\":0,\
             \"tid\":0,\"role\":\"client\",\"who\":\"\",\"call\":\"mark\",\"fd\":null,\"args\":\"\",\
             \"ret\":null,\"errno\":null,\"addr\":null,\"local\":null,\"data\":null,\"data_cut\":false,\
             \"text\":null}\n"
        );
        assert_eq!(Event::from_json(&s).unwrap(), e);
        // pid, tid, args, ret and the optional fields may be absent (as in logs written before
        // every key was written).
        let short = "{\"kind\":\"event\",\"ts\":\"-1.999999999\",\"end\":\"-1.999999999\",\
                     \"role\":\"client\",\"who\":\"\",\"call\":\"mark\"}";
        assert_eq!(Event::from_json(short).unwrap(), e);
    }

    #[test]
    fn bad_event_lines_are_refused() {
        let good = "{\"kind\":\"event\",\"ts\":\"5.0\",\"end\":\"5.0\",\"role\":\"client\",\
                    \"who\":\"client\",\"call\":\"x\"}";
        assert!(Event::from_json(good).is_ok());
        for (from, to) in [
            ("\"kind\":\"event\"", "\"kind\":\"run\""),
            ("\"role\":\"client\"", "\"role\":\"nobody\""),
            ("\"ts\":\"5.0\"", "\"ts\":\"5.x\""),
            ("\"ts\":\"5.0\"", "\"ts\":5"),
            ("\"call\":\"x\"", "\"call\":\"x\",\"data\":\"\u{100}\""),
            ("\"call\":\"x\"", "\"call\":\"x\",\"addr\":\"nowhere\""),
            (",\"call\":\"x\"", ""),
            ("\"end\":\"5.0\",", ""),
        ] {
            let bad = good.replace(from, to);
            assert_ne!(bad, good);
            assert!(Event::from_json(&bad).is_err(), "{bad} was read");
        }
    }

    #[test]
    fn failed_call_keeps_errno() {
        let mut e = Event::new(Role::Client, "client", "connect", 5);
        e.ret = Some(-1);
        e.errno = Some("ECONNREFUSED".into());
        let mut s = String::new();
        e.to_json(&mut s);
        let back = Event::from_json(&s).unwrap();
        assert!(!back.ok());
        assert_eq!(back.errno.as_deref(), Some("ECONNREFUSED"));
    }

    #[test]
    fn times_parse_back() {
        let mut s = String::new();
        write_time(&mut s, 1_418_145_369_999_999_999);
        assert_eq!(s, "1418145369.999999999");
        assert_eq!(parse_time(&s), Some(1_418_145_369_999_999_999));
        assert_eq!(parse_time("5.5"), Some(5_500_000_000));
        assert_eq!(parse_time("5"), Some(5_000_000_000));
        assert_eq!(parse_time("x.1"), None);
        assert_eq!(parse_time("1.1234567890"), None);
        // Seconds that overflow i128 nanoseconds are refused, not wrapped (nor a panic).
        let huge = format!("{}.0", i128::MAX / 10);
        assert_eq!(parse_time(&huge), None);
    }

    #[test]
    fn the_kernel_names_of_waiting_calls_can_block() {
        for call in [
            "accept",
            "accept4",
            "recvmsg",
            "pselect6",
            "epoll_wait",
            "poll",
            "pthread_join",
        ] {
            assert!(Event::new(Role::Client, "", call, 0).can_block(), "{call}");
        }
        for call in ["write", "sendto", "close", "socket"] {
            assert!(!Event::new(Role::Client, "", call, 0).can_block(), "{call}");
        }
    }

    #[test]
    fn bytes_are_shown_escaped_and_cut() {
        let mut s = String::new();
        show_bytes(&mut s, b"Hi\n\x00", 10);
        assert_eq!(s, "\"Hi\\n\\x00\"");
        s.clear();
        show_bytes(&mut s, b"abcdef", 3);
        assert_eq!(s, "\"abc…\"");
    }
}

/// Which part of a call a line shows: all of it, or the start or the end of a call that waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Whole,
    Begin,
    End,
}

impl Event {
    /// `call(args) = ret text`, `call(args) …` or `… call() = ret text`.
    pub fn call_text(&self, part: Part, repeat: usize) -> String {
        let e = self;
        let mut s = String::new();
        if e.who != e.role.name() && !e.who.is_empty() {
            let _ = write!(s, "[{}] ", e.who);
        }
        match e.call.as_str() {
            "print" => {
                let _ = write!(s, "» {}", e.text.as_deref().unwrap_or(""));
                return s;
            }
            "error" => {
                let _ = write!(s, "error: {}", e.text.as_deref().unwrap_or(""));
                return s;
            }
            "mark" => {
                let _ = write!(s, "── {}", e.text.as_deref().unwrap_or(&e.args));
                return s;
            }
            "state" => {
                let _ = write!(
                    s,
                    "(kernel: fd {} is {})",
                    e.args,
                    e.text.as_deref().unwrap_or("?")
                );
                return s;
            }
            _ => {}
        }
        let result = |s: &mut String| {
            match (&e.errno, e.ret) {
                (Some(err), _) => {
                    let _ = write!(s, " = -1 {err}");
                }
                (None, Some(r)) => {
                    let _ = write!(s, " = {r}");
                }
                _ => {}
            }
            if let (Some(t), None) = (&e.text, &e.errno) {
                let _ = write!(s, " {t}");
            }
        };
        if e.call == "wait" {
            let state = e.text.as_deref().unwrap_or("?");
            let _ = match part {
                Part::Whole => write!(s, "wait until {} → {state}", e.args),
                Part::Begin => write!(s, "wait until {} …", e.args),
                Part::End => write!(s, "… now {state}"),
            };
            return s;
        }
        let name = e.call.as_str();
        match part {
            Part::Whole => {
                let _ = write!(s, "{name}({})", e.args);
                result(&mut s);
            }
            Part::Begin => {
                let _ = write!(s, "{name}({}) …", e.args);
            }
            Part::End => {
                let _ = write!(s, "… {name}()");
                result(&mut s);
            }
        }
        if repeat > 1 {
            let _ = write!(s, "  ×{repeat}");
        }
        s
    }

    /// One event as a single line, e.g. `connect(4, 127.0.0.1:40123) = 0`.
    pub fn line(&self) -> String {
        self.call_text(Part::Whole, 1)
    }
}
