//! The JSON lines of a run that are not packets: `run`, `event`, `check` and `capture`, as
//! `--format jsonl` prints them and a saved `.events.jsonl` holds them (run, events, capture).
//! Each is a serde type whose `kind` comes first; [`write_line`] writes any of them and
//! [`parse`] reads any of them back. Their schema is `docs/jsonl.md`.
//!
//! Keys are written in field order, every key of the kind on every line: a value that is
//! absent is `null`, a flag `false`. Control characters other than `\n`, `\r` and `\t` are
//! escaped as `\u00XX` (serde_json alone would write `\b` and `\f`). Reading is lenient: a
//! missing key takes its default, so logs written before every key was written still load.

use std::io;

use serde::{Deserialize, Serialize};
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

use super::event::Event;
use super::privilege::{Credentials, Identity};

/// The line that opens a run in a JSON Lines stream and a saved event log. The credentials
/// keys say who the program ran as (null when the run did not record it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename = "run")]
pub struct RunLine {
    #[serde(default)]
    pub scenario: String,
    /// Always written; a log without it leaves the link type as it was.
    #[serde(default)]
    pub linktype: Option<u16>,
    #[serde(default)]
    pub filter: String,
    #[serde(default)]
    pub interrupted: bool,
    /// What became of sockscope's privileges before the program started: `dropped` (root
    /// under sudo became the invoking user), `cleared` (a user's capabilities were
    /// cleared), `root` (root with no user to become stayed root).
    #[serde(default)]
    pub privileges: Option<String>,
    /// The effective uid and gid the program ran with.
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
    /// The program's capability sets, as names (`CAP_NET_RAW`); empty lists when it had none.
    #[serde(default)]
    pub cap_effective: Option<Vec<String>>,
    #[serde(default)]
    pub cap_permitted: Option<Vec<String>>,
    #[serde(default)]
    pub cap_inheritable: Option<Vec<String>>,
    #[serde(default)]
    pub cap_ambient: Option<Vec<String>>,
}

impl RunLine {
    /// Sets the privilege keys from what a run recorded.
    pub fn set_credentials(&mut self, identity: Option<Identity>, creds: Option<Credentials>) {
        self.privileges = identity.map(|i| privileges_name(i).to_owned());
        let dropped_to = match identity {
            Some(Identity::Dropped { uid, gid }) => Some((uid, gid)),
            _ => None,
        };
        self.uid = creds.map(|c| c.uid.1).or(dropped_to.map(|d| d.0));
        self.gid = creds.map(|c| c.gid.1).or(dropped_to.map(|d| d.1));
        self.cap_effective = creds.map(|c| cap_names(c.effective));
        self.cap_permitted = creds.map(|c| cap_names(c.permitted));
        self.cap_inheritable = creds.map(|c| cap_names(c.inheritable));
        self.cap_ambient = creds.map(|c| cap_names(c.ambient));
    }

    /// The identity and credentials the line records (None where it records none, or a
    /// value it does not know).
    pub fn credentials(&self) -> (Option<Identity>, Option<Credentials>) {
        let creds = (|| {
            let (uid, gid) = (self.uid?, self.gid?);
            Some(Credentials {
                uid: (uid, uid),
                gid: (gid, gid),
                effective: cap_mask(self.cap_effective.as_deref()?)?,
                permitted: cap_mask(self.cap_permitted.as_deref()?)?,
                inheritable: cap_mask(self.cap_inheritable.as_deref()?)?,
                ambient: cap_mask(self.cap_ambient.as_deref()?)?,
            })
        })();
        let identity = match self.privileges.as_deref() {
            Some("dropped") => self
                .uid
                .zip(self.gid)
                .map(|(uid, gid)| Identity::Dropped { uid, gid }),
            Some("cleared") => Some(Identity::Unprivileged),
            Some("root") => Some(Identity::Root),
            _ => None,
        };
        (identity, creds)
    }
}

/// The `privileges` value of an identity.
pub fn privileges_name(i: Identity) -> &'static str {
    match i {
        Identity::Dropped { .. } => "dropped",
        Identity::Unprivileged => "cleared",
        Identity::Root => "root",
    }
}

/// The names of the capabilities in a mask, lowest bit first (`CAP_<n>` for a bit this build
/// has no name for).
pub fn cap_names(mask: u64) -> Vec<String> {
    (0..64u8)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| {
            caps::all()
                .into_iter()
                .find(|c| c.index() == b)
                .map_or_else(|| format!("CAP_{b}"), |c| c.to_string())
        })
        .collect()
}

/// The mask of a list of capability names (None when a name is not one).
pub fn cap_mask(names: &[String]) -> Option<u64> {
    names.iter().try_fold(0u64, |m, n| {
        let bit = match n.parse::<caps::Capability>() {
            Ok(c) => c.index(),
            Err(_) => n
                .strip_prefix("CAP_")?
                .parse::<u8>()
                .ok()
                .filter(|b| *b < 64)?,
        };
        Some(m | 1u64 << bit)
    })
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
    /// The capture buffer's size in KiB (`-B`); None in runs saved before it was recorded.
    #[serde(default)]
    pub buffer_kib: Option<u64>,
    /// The run had a private user and network namespace.
    #[serde(default)]
    pub private_netns: bool,
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

    /// C1 controls (U+0080..U+009F, which a terminal may take as CSI and the like) and
    /// bidirectional or invisible formatting characters as `\uXXXX` too: JSON allows any
    /// character escaped, and a saved run or a traced program's bytes (`data`: one code
    /// point per byte) may hold them.
    fn write_string_fragment<W>(&mut self, w: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut rest = fragment;
        while let Some(at) = rest.find(terminal_unsafe) {
            w.write_all(&rest.as_bytes()[..at])?;
            let c = rest[at..].chars().next().unwrap_or(' ');
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[at + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }
}

/// The characters `render::escape` never lets through, less the C0 controls serde_json
/// escapes itself (kept here: the live layer does not use `render`).
fn terminal_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}')
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
            ..RunLine::default()
        };
        // Every key, null when the run recorded no credentials.
        assert_eq!(
            line(&run),
            "{\"kind\":\"run\",\"scenario\":\"hello\",\"linktype\":1,\"filter\":\"port 9\",\
             \"interrupted\":false,\"privileges\":null,\"uid\":null,\"gid\":null,\
             \"cap_effective\":null,\"cap_permitted\":null,\"cap_inheritable\":null,\
             \"cap_ambient\":null}\n"
        );
        let mut run = RunLine {
            interrupted: true,
            ..run
        };
        let creds = Credentials {
            uid: (1000, 1000),
            gid: (100, 100),
            permitted: 1 << 13 | 1 << 12,
            effective: 1 << 13,
            inheritable: 0,
            ambient: 1 << 63,
        };
        run.set_credentials(Some(Identity::Unprivileged), Some(creds));
        assert!(line(&run).ends_with(
            ",\"filter\":\"port 9\",\"interrupted\":true,\"privileges\":\"cleared\",\
             \"uid\":1000,\"gid\":100,\"cap_effective\":[\"CAP_NET_RAW\"],\
             \"cap_permitted\":[\"CAP_NET_ADMIN\",\"CAP_NET_RAW\"],\"cap_inheritable\":[],\
             \"cap_ambient\":[\"CAP_63\"]}\n"
        ));
        // Read back: the same identity and credentials (real ids as the effective ones).
        let Line::Run(back) = parse(&line(&run)).unwrap() else {
            panic!("not a run line")
        };
        assert_eq!(
            back.credentials(),
            (Some(Identity::Unprivileged), Some(creds))
        );
        run.set_credentials(
            Some(Identity::Dropped {
                uid: 1000,
                gid: 100,
            }),
            None,
        );
        assert_eq!(
            run.credentials(),
            (
                Some(Identity::Dropped {
                    uid: 1000,
                    gid: 100
                }),
                None
            )
        );
        run.privileges = Some("sudo".into());
        assert_eq!(run.credentials(), (None, None));
        let cap = CaptureLine {
            packets: 3,
            received: 6,
            dropped: 0,
            if_dropped: 0,
            buffer_kib: Some(10240),
            private_netns: false,
        };
        assert_eq!(
            line(&cap),
            "{\"kind\":\"capture\",\"packets\":3,\"received\":6,\"dropped\":0,\"if_dropped\":0,\
             \"buffer_kib\":10240,\"private_netns\":false}\n"
        );
        let private = CaptureLine {
            private_netns: true,
            ..cap
        };
        assert!(line(&private).ends_with(",\"buffer_kib\":10240,\"private_netns\":true}\n"));
        // An older saved run has no buffer size: it reads back as None.
        let old = "{\"kind\":\"capture\",\"packets\":3,\"received\":6,\"dropped\":0}";
        match parse(old).unwrap() {
            Line::Capture(c) => assert_eq!(c.buffer_kib, None),
            other => panic!("{other:?}"),
        }
        let check = CheckLine {
            scenario: "s".into(),
            ok: false,
            what: "x\"y\\z\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}\u{9b}\u{202e}é".into(),
            detail: String::new(),
        };
        assert_eq!(
            line(&check),
            "{\"kind\":\"check\",\"scenario\":\"s\",\"ok\":false,\
             \"what\":\"x\\\"y\\\\z\\n\\r\\t\\u0008\\u000c\\u0001\\u001f\\u007f\\u009b\\u202eé\",\
             \"detail\":\"\"}\n"
        );
    }

    #[test]
    fn lines_read_back_by_kind() {
        let run = RunLine {
            scenario: "a".into(),
            linktype: Some(113),
            filter: String::new(),
            interrupted: true,
            privileges: Some("root".into()),
            uid: Some(0),
            ..RunLine::default()
        };
        let cap = CaptureLine {
            packets: 1,
            received: 2,
            dropped: 3,
            if_dropped: 4,
            buffer_kib: None,
            private_netns: true,
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
