//! The JSON lines of a run that are not packets: `run`, `event`, `check` and `capture`, as
//! `--format jsonl` prints them and a saved `.events.jsonl` holds them (run, events, capture).
//! Each is a serde type whose `kind` comes first; [`write_line`] writes any of them and
//! [`parse`] reads any of them back.
//!
//! The bytes are those sockscope has always written: keys in field order, absent values left
//! out (except `ret`, written as `null`), and control characters other than `\n`, `\r` and
//! `\t` escaped as `\u00XX` (serde_json alone would write `\b` and `\f`).

use std::io;

use serde::{Deserialize, Serialize};
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

use super::event::Event;

/// The line that opens a JSON Lines stream and a saved event log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "run")]
pub struct RunLine {
    #[serde(default)]
    pub scenario: String,
    /// Always written; a log without it leaves the link type as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linktype: Option<u16>,
    #[serde(default)]
    pub filter: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub interrupted: bool,
}

/// libpcap's counters, the last line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "capture")]
pub struct CaptureLine {
    #[serde(default)]
    pub packets: u64,
    #[serde(default)]
    pub received: u64,
    #[serde(default)]
    pub dropped: u64,
    #[serde(default)]
    pub if_dropped: u64,
    /// The run had a private user and network namespace (written only when true).
    #[serde(default, skip_serializing_if = "is_false")]
    pub private_netns: bool,
    /// Who the program ran as (written when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<super::privilege::Credentials>,
}

/// One of the scenario's checks (`--format jsonl` only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "check")]
pub struct CheckLine {
    pub scenario: String,
    pub ok: bool,
    pub what: String,
    pub detail: String,
}

/// Any line, read back by its `kind`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Line {
    Run(RunLine),
    Event(Box<Event>),
    Check(CheckLine),
    Capture(CaptureLine),
    /// Any other kind (`packet`, for one): not read here.
    #[serde(other)]
    Other,
}

/// Reads one line (a JSON object with a `kind`).
pub fn parse(line: &str) -> Result<Line, serde_json::Error> {
    serde_json::from_str(line)
}

/// Appends `value` as one JSON line, with its newline.
///
/// The types written here serialize to strings, integers, booleans and null only, so writing
/// cannot fail; if it ever did, nothing is appended.
pub fn write_line<T: Serialize + ?Sized>(out: &mut String, value: &T) {
    let at = out.len();
    let mut ser = serde_json::Serializer::with_formatter(StringWriter(&mut *out), Escapes);
    let ok = value.serialize(&mut ser).is_ok();
    debug_assert!(ok, "a JSON line failed to serialize");
    if ok {
        out.push('\n');
    } else {
        out.truncate(at);
    }
}

/// For `skip_serializing_if`: a flag written only when set.
pub(super) fn is_false(b: &bool) -> bool {
    !*b
}

/// serde_json's compact output, with `\b` and `\f` written as `\u0008` and `\u000c` as
/// sockscope always wrote them (payload bytes in event data hit these).
struct Escapes;

impl Formatter for Escapes {
    fn write_char_escape<W>(&mut self, w: &mut W, escape: CharEscape) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        match escape {
            CharEscape::Backspace => w.write_all(b"\\u0008"),
            CharEscape::FormFeed => w.write_all(b"\\u000c"),
            other => CompactFormatter.write_char_escape(w, other),
        }
    }
}

/// serde_json's output into a `String`. It writes whole UTF-8 pieces (a run of unescaped
/// characters, an escape, a number, punctuation), each checked here.
struct StringWriter<'a>(&'a mut String);

impl io::Write for StringWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let s =
            std::str::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.0.push_str(s);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<T: Serialize>(v: &T) -> String {
        let mut s = String::new();
        write_line(&mut s, v);
        s
    }

    #[test]
    fn lines_keep_their_key_order_and_escapes() {
        let run = RunLine {
            scenario: "hello".into(),
            linktype: Some(1),
            filter: "port 9".into(),
            interrupted: false,
        };
        assert_eq!(
            line(&run),
            "{\"kind\":\"run\",\"scenario\":\"hello\",\"linktype\":1,\"filter\":\"port 9\"}\n"
        );
        let run = RunLine {
            interrupted: true,
            ..run
        };
        assert!(line(&run).ends_with(",\"filter\":\"port 9\",\"interrupted\":true}\n"));
        let cap = CaptureLine {
            packets: 3,
            received: 6,
            dropped: 0,
            if_dropped: 0,
            private_netns: false,
            credentials: None,
        };
        assert_eq!(
            line(&cap),
            "{\"kind\":\"capture\",\"packets\":3,\"received\":6,\"dropped\":0,\"if_dropped\":0}\n"
        );
        let private = CaptureLine {
            private_netns: true,
            ..cap
        };
        assert!(line(&private).ends_with(",\"if_dropped\":0,\"private_netns\":true}\n"));
        let check = CheckLine {
            scenario: "s".into(),
            ok: false,
            what: "x\"y\\z\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é".into(),
            detail: String::new(),
        };
        assert_eq!(
            line(&check),
            "{\"kind\":\"check\",\"scenario\":\"s\",\"ok\":false,\
             \"what\":\"x\\\"y\\\\z\\n\\r\\t\\u0008\\u000c\\u0001\\u001f\u{7f}é\",\"detail\":\"\"}\n"
        );
    }

    #[test]
    fn lines_read_back_by_kind() {
        let run = RunLine {
            scenario: "a".into(),
            linktype: Some(113),
            filter: String::new(),
            interrupted: true,
        };
        let cap = CaptureLine {
            packets: 1,
            received: 2,
            dropped: 3,
            if_dropped: 4,
            private_netns: true,
            credentials: Some(super::super::privilege::Credentials {
                uid: (1000, 1000),
                gid: (1000, 1000),
                effective: 0x20,
                ..Default::default()
            }),
        };
        let check = CheckLine {
            scenario: "a".into(),
            ok: true,
            what: "w".into(),
            detail: "d".into(),
        };
        assert_eq!(parse(&line(&run)).unwrap(), Line::Run(run));
        assert_eq!(parse(&line(&cap)).unwrap(), Line::Capture(cap));
        assert_eq!(parse(&line(&check)).unwrap(), Line::Check(check));
        assert_eq!(
            parse("{\"kind\":\"packet\",\"frame\":1}").unwrap(),
            Line::Other
        );
        // Absent values take their defaults; unknown keys are ignored.
        assert_eq!(
            parse("{\"kind\":\"run\",\"new\":[1]}").unwrap(),
            Line::Run(RunLine::default())
        );
        assert_eq!(
            parse("{\"kind\":\"capture\"}").unwrap(),
            Line::Capture(CaptureLine::default())
        );
    }

    #[test]
    fn rejects_broken_lines() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"kind\":\"run\",}",
            "{\"kind\":\"run\"} x",
            "[1]",
            "{}",
            "{\"kind\":\"run\",\"linktype\":\"x\"}",
            "{\"kind\":\"check\",\"ok\":true}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
