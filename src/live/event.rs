//! Events: what a scenario's program did, one record per socket call, printed line or mark.
//!
//! Events cross threads and forked processes as JSON lines written to one pipe (each line is
//! written with a single `write` shorter than `PIPE_BUF`, so lines never interleave). The same
//! line format is the `kind:"event"` line of `--format jsonl` and of a saved `.events.jsonl`.
//!
//! Times are CLOCK_REALTIME nanoseconds, the clock libpcap stamps packets with.

use std::fmt::Write;
use std::net::SocketAddr;

use super::json::{self, int_field, key, str_field, Object};

/// Which side of the conversation a call belongs to: its lane in the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    pub fn from_name(s: &str) -> Option<Role> {
        match s {
            "client" => Some(Role::Client),
            "server" => Some(Role::Server),
            _ => None,
        }
    }
}

/// Largest payload copy an event carries; longer writes keep their first bytes and set
/// `data_cut`. Keeps every event line well under `PIPE_BUF` (4096).
pub const DATA_MAX: usize = 256;

/// One thing the program did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When the call started (ns since the epoch, CLOCK_REALTIME).
    pub start: i128,
    /// When it returned (== start for prints and marks).
    pub end: i128,
    pub pid: u32,
    pub tid: u32,
    pub role: Role,
    /// Who made the call: `client`, `server`, or a named process such as `server child`.
    pub who: String,
    /// The call (`socket`, `connect`, `write`, …), or `print`, `mark`, `state`, `fork`, `wait`.
    pub call: String,
    pub fd: Option<i32>,
    /// The arguments as the C call would show them, e.g. `3, 127.0.0.1:40123`.
    pub args: String,
    /// The return value (None for prints and marks); -1 with `errno` on failure.
    pub ret: Option<i64>,
    /// The errno name when the call failed, e.g. `ECONNREFUSED`.
    pub errno: Option<String>,
    /// The address the call names or returns (connect/sendto target, accept/recvfrom peer).
    pub addr: Option<SocketAddr>,
    /// The socket's local address after the call (bind, connect, accept).
    pub local: Option<SocketAddr>,
    /// Bytes written or read (the first [`DATA_MAX`]).
    pub data: Option<Vec<u8>>,
    pub data_cut: bool,
    /// What else the result says: a TCP state, a printed line, a mark's title.
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
    /// while it waits).
    pub fn can_block(&self) -> bool {
        matches!(
            self.call.as_str(),
            "accept"
                | "connect"
                | "read"
                | "recv"
                | "recvfrom"
                | "wait"
                | "waitpid"
                | "sigsuspend"
                | "pause"
                | "poll"
        )
    }

    pub fn ok(&self) -> bool {
        self.errno.is_none()
    }

    /// Appends the event as one JSON line (with its newline).
    pub fn to_json(&self, out: &mut String) {
        out.push('{');
        str_field(out, "kind", "event");
        time_field(out, "ts", self.start);
        time_field(out, "end", self.end);
        int_field(out, "pid", self.pid as i64);
        int_field(out, "tid", self.tid as i64);
        str_field(out, "role", self.role.name());
        str_field(out, "who", &self.who);
        str_field(out, "call", &self.call);
        if let Some(fd) = self.fd {
            int_field(out, "fd", fd as i64);
        }
        str_field(out, "args", &self.args);
        match self.ret {
            Some(r) => int_field(out, "ret", r),
            None => {
                key(out, "ret");
                out.push_str("null");
            }
        }
        if let Some(e) = &self.errno {
            str_field(out, "errno", e);
        }
        if let Some(a) = self.addr {
            str_field(out, "addr", &a.to_string());
        }
        if let Some(a) = self.local {
            str_field(out, "local", &a.to_string());
        }
        if let Some(d) = &self.data {
            str_field(out, "data", &bytes_to_latin1(d));
            if self.data_cut {
                key(out, "data_cut");
                out.push_str("true");
            }
        }
        if let Some(t) = &self.text {
            str_field(out, "text", t);
        }
        out.push_str("}\n");
    }

    /// Reads an event line (`kind` must be `event`).
    pub fn from_json(line: &str) -> Result<Event, String> {
        let o = json::parse(line).map_err(|e| e.to_string())?;
        Event::from_object(&o)
    }

    pub fn from_object(o: &Object) -> Result<Event, String> {
        if o.str("kind") != Some("event") {
            return Err("not an event line (kind is not \"event\")".into());
        }
        let start = time_of(o, "ts")?;
        let role_name = o.str("role").ok_or("missing role")?;
        let role = Role::from_name(role_name).ok_or_else(|| format!("bad role {role_name:?}"))?;
        let mut e = Event::new(
            role,
            o.str("who").unwrap_or(role_name),
            o.str("call").ok_or("missing call")?,
            start,
        );
        e.end = match o.get("end") {
            Some(_) => time_of(o, "end")?,
            None => start,
        };
        e.pid = o.int("pid").unwrap_or(0) as u32;
        e.tid = o.int("tid").unwrap_or(0) as u32;
        e.fd = o.int("fd").map(|n| n as i32);
        e.args = o.str("args").unwrap_or("").to_owned();
        e.ret = o.int("ret");
        e.errno = o.str("errno").map(str::to_owned);
        e.addr = addr_of(o, "addr")?;
        e.local = addr_of(o, "local")?;
        e.data = o.str("data").map(latin1_to_bytes).transpose()?;
        e.data_cut = o.bool("data_cut").unwrap_or(false);
        e.text = o.str("text").map(str::to_owned);
        Ok(e)
    }
}

/// `"key":"secs.nanos"`, the form packet lines use for `ts`.
pub fn time_field(out: &mut String, k: &str, ns: i128) {
    key(out, k);
    out.push('"');
    write_time(out, ns);
    out.push('"');
}

/// `secs.nnnnnnnnn` for a time in ns since the epoch.
pub fn write_time(out: &mut String, ns: i128) {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let _ = write!(out, "{secs}.{frac:09}");
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
    Some(secs * 1_000_000_000 + f)
}

fn time_of(o: &Object, k: &str) -> Result<i128, String> {
    let s = o.str(k).ok_or_else(|| format!("missing {k}"))?;
    parse_time(s).ok_or_else(|| format!("bad time {s:?} in {k}"))
}

fn addr_of(o: &Object, k: &str) -> Result<Option<SocketAddr>, String> {
    o.str(k)
        .map(|s| s.parse().map_err(|_| format!("bad address {s:?} in {k}")))
        .transpose()
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
        e.data = Some(vec![0, b'a', 0xff, b'"']);
        e.data_cut = true;
        e.text = Some("x".into());
        let mut s = String::new();
        e.to_json(&mut s);
        assert!(s.ends_with("}\n") && s.lines().count() == 1);
        assert_eq!(Event::from_json(s.trim_end()).unwrap(), e);
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
