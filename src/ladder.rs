//! `sockscope replay FILE --ladder` and `sockscope ladder FILE`: the text ladder of one
//! conversation of a capture (`--stream N`, by default the first TCP stream matching the
//! filter, else the first UDP one); of a run saved by sockscope, every conversation of the run
//! with its calls.

use std::collections::HashSet;
use std::io::Write;

use crate::analyse::Analyser;
use crate::decode::{decode, Transport};
use crate::filter::Filter;
use crate::live::capture::Captured;
use crate::live::model::Proto;
use crate::live::RunData;
use crate::render::ladder_lanes;
use crate::source::CaptureFile;

use crate::cli::{FormatArg, ReplayArgs};
use crate::compare::CompareOptions;
use crate::live::{pcapng, View};
use crate::picture::{conversation, REPLAY_MAX};
use crate::render::ladder_text::{self, Style};
use crate::replay::{ReplayOptions, StreamSel};

/// `sockscope ladder ARGS` or `sockscope replay ARGS --ladder`: refuses the replay options that
/// draw no ladder (clap refuses them with `--ladder`; `sockscope ladder` checks them here).
pub fn command(args: &ReplayArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let other = [
        (args.write.is_some(), "-w"),
        (args.follow.is_some(), "--follow"),
        (args.count.is_some(), "-c"),
        (args.hex, "-X"),
        (args.svg.is_some(), "--svg"),
        (args.html.is_some(), "--html"),
        (args.format != FormatArg::Text, "--format"),
        (args.print, "--print"),
    ];
    if let Some((_, name)) = other.iter().find(|(given, _)| *given) {
        anyhow::bail!(
            "{name} does not go with the ladder (it draws one conversation as text): leave it \
             out, or use `sockscope replay` without --ladder"
        );
    }
    let opts = args.options()?;
    replay(&opts, args.ascii, out)
}

/// Writes the ladder of the conversation `opts` selects. `ascii`: ASCII lines and arrows.
pub fn replay(opts: &ReplayOptions, ascii: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let style = Style {
        time: opts.text.time,
        color: opts.text.color,
        ascii,
        width: opts.width,
    };
    let (text, notes) = draw(opts, &style)?;
    out.write_all(text.as_bytes())?;
    out.flush()?;
    for n in notes {
        eprintln!("sockscope: {n}");
    }
    Ok(())
}

/// The ladder `sockscope ladder` draws of what `opts` selects, and the notes for stderr (other
/// streams, packets left out).
pub fn draw(opts: &ReplayOptions, style: &Style) -> anyhow::Result<(String, Vec<String>)> {
    let mut notes = Vec::new();
    // A run that sockscope saved (`run --save`, `trace --save`), with nothing selected: every
    // conversation of the run, with its pids and calls on the lanes.
    if let ([one], None, None) = (opts.inputs.as_slice(), opts.stream, &opts.filter) {
        if pcapng::written_by_sockscope(one) {
            if let Ok(Some(run)) = pcapng::load_saved(one) {
                let v = View::new(&run);
                let mut s = String::new();
                ladder_text::render_all(&mut s, &v, style);
                return Ok((s, notes));
            }
        }
    }
    // Several conversations between more than two endpoints, none selected: all of them on
    // one ladder when their lanes fit; else the first, and why.
    let mut why = None;
    if opts.stream.is_none() {
        let all = every_stream(opts)?;
        let v = View::new(&all.run);
        let ends = ladder_lanes::endpoints(&v).len();
        if v.conns.len() > 1 && ends > 2 {
            let mut s = String::new();
            match ladder_lanes::render(&mut s, &v, &ladder_lanes::title(&v), style) {
                Ok(()) => {
                    if all.left_out > 0 {
                        notes.push(format!(
                            "{} later packets are not drawn (the first {REPLAY_MAX} are): \
                             --stream N draws one conversation whole",
                            all.left_out
                        ));
                    }
                    return Ok((s, notes));
                }
                Err(f) => {
                    let what = if all.left_out > 0 {
                        "the capture's start"
                    } else {
                        "the capture"
                    };
                    let count = |p: Proto| v.conns.iter().filter(|c| c.proto == p).count();
                    let kinds: Vec<String> = [(Proto::Tcp, "TCP"), (Proto::Udp, "UDP")]
                        .iter()
                        .filter(|(p, _)| count(*p) > 0)
                        .map(|(p, k)| format!("{} {k}", count(*p)))
                        .collect();
                    let s = if v.conns.len() == 1 { "" } else { "s" };
                    let conns = format!("{} stream{s}", kinds.join(" and "));
                    let drawn = if opts.filter.is_some() {
                        "the first the filter selects is drawn"
                    } else {
                        "the first is drawn"
                    };
                    why = Some(f.message(what, &conns, style.width, drawn));
                }
            }
        }
    }
    let conv = conversation(opts)?;
    let sel = match conv.stream {
        Some(StreamSel::Tcp(n)) => format!("TCP stream {n}"),
        Some(StreamSel::Udp(n)) => format!("UDP stream {n}"),
        None => anyhow::bail!(
            "the capture has no TCP or UDP conversation to draw ({} frame{} read{})",
            conv.frames,
            if conv.frames == 1 { "" } else { "s" },
            opts.filter
                .as_deref()
                .map_or(String::new(), |f| format!(" matching `{f}`"))
        ),
    };
    let v = View::new(&conv.run);
    let title = match v.conns.first() {
        Some(c) => format!("{sel}: {}", c.label()),
        None => sel,
    };
    let mut s = String::new();
    ladder_text::render(&mut s, &v, 0, &title, style);
    match why {
        Some(w) => notes.push(w),
        None if opts.stream.is_none() => {
            notes.extend(others(conv.streams, opts.filter.is_some()));
        }
        None => {}
    }
    if conv.left_out > 0 {
        notes.push(format!(
            "{} later packets of the conversation are not drawn (the first {REPLAY_MAX} are): \
             `sockscope replay --stream` shows them all",
            conv.left_out
        ));
    }
    Ok((s, notes))
}

/// `compare A B --ladder`: the ladders of A and B (of TCP stream N of A and M of B with
/// `--stream N,M`), side by side when `width` leaves each half the ladder's narrowest width
/// (or when no width is set: whole lines), else one after the other under a line saying why.
pub fn compare(opts: &CompareOptions, ascii: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    crate::source::CaptureFile::check(&opts.a)?;
    crate::source::CaptureFile::check(&opts.b)?;
    let gutter = 3;
    let half = opts.width.map(|w| w.saturating_sub(gutter) / 2);
    let mut texts = Vec::new();
    let mut notes = Vec::new();
    for (i, path) in [&opts.a, &opts.b].into_iter().enumerate() {
        let ro = ReplayOptions {
            inputs: vec![path.clone()],
            stream: opts.stream.map(|s| StreamSel::Tcp(s[i])),
            ..ReplayOptions::default()
        };
        let style = Style {
            time: crate::render::TimeMode::Rel,
            color: opts.color,
            ascii,
            width: half,
        };
        let (text, n) = draw(&ro, &style)?;
        let letter = ["A", "B"][i];
        notes.extend(n.into_iter().map(|n| format!("{letter}: {n}")));
        let head = format!("{letter}  {}", path.display());
        texts.push((head, text));
    }
    let [(ha, a), (hb, b)] = [texts.remove(0), texts.remove(0)];
    let widest = |t: &str| t.lines().map(visible_width).max().unwrap_or(0);
    let need = widest(&a).max(widest(&b));
    let mut s = String::new();
    match (half, opts.width) {
        (Some(h), Some(w)) if need > h => {
            // One after the other, each at the whole width.
            let line = format!(
                "the ladders are drawn one after the other: side by side each needs {need} \
                 columns, and {w} columns leave each {h} (--width {} puts them side by side)",
                2 * need + gutter
            );
            for l in crate::render::fit::hanging("", &line, 2, w) {
                s.push_str(&l);
                s.push('\n');
            }
            s.push('\n');
            for (i, path) in [&opts.a, &opts.b].into_iter().enumerate() {
                let ro = ReplayOptions {
                    inputs: vec![path.clone()],
                    stream: opts.stream.map(|st| StreamSel::Tcp(st[i])),
                    ..ReplayOptions::default()
                };
                let style = Style {
                    time: crate::render::TimeMode::Rel,
                    color: opts.color,
                    ascii,
                    width: Some(w),
                };
                let (text, _) = draw(&ro, &style)?;
                if i > 0 {
                    s.push('\n');
                }
                s.push_str(&format!("{}  {}\n", ["A", "B"][i], path.display()));
                s.push_str(&text);
            }
        }
        _ => {
            let left = half.unwrap_or_else(|| widest(&a).max(visible_width(&ha)));
            side_by_side(&mut s, &[ha.as_str()], &[hb.as_str()], left, gutter);
            let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
            side_by_side(&mut s, &la, &lb, left, gutter);
        }
    }
    s.push('\n');
    out.write_all(s.as_bytes())?;
    out.flush()?;
    for n in notes {
        eprintln!("sockscope: {n}");
    }
    Ok(())
}

/// Lines of `a` and `b` side by side: each of `a` padded to `left` columns, then `gutter`
/// spaces, then the line of `b`.
fn side_by_side(out: &mut String, a: &[&str], b: &[&str], left: usize, gutter: usize) {
    for i in 0..a.len().max(b.len()) {
        let (l, r) = (
            a.get(i).copied().unwrap_or(""),
            b.get(i).copied().unwrap_or(""),
        );
        out.push_str(l);
        if !r.is_empty() {
            let pad = left.saturating_sub(visible_width(l)) + gutter;
            out.push_str(&" ".repeat(pad));
            out.push_str(r);
        }
        out.push('\n');
    }
}

/// Columns a line takes on a terminal, its colour escapes left out.
fn visible_width(l: &str) -> usize {
    let mut plain = String::with_capacity(l.len());
    let mut esc = false;
    for c in l.chars() {
        match c {
            '\x1b' => esc = true,
            'm' if esc => esc = false,
            _ if esc => {}
            c => plain.push(c),
        }
    }
    crate::render::width(&plain)
}

/// The TCP and UDP packets of a capture (those of the conversations with a packet that
/// matches the filter, when one is given), as a run without calls: at most [`REPLAY_MAX`].
pub(crate) struct Streams {
    pub(crate) run: RunData,
    pub(crate) left_out: usize,
}

pub(crate) fn every_stream(opts: &ReplayOptions) -> anyhow::Result<Streams> {
    let mut analyser = Analyser::new();
    let mut filter: Option<Filter> = None;
    let mut kept: Vec<(StreamSel, Captured)> = Vec::new();
    // Matching streams, as (is UDP, number).
    let mut matched: HashSet<(bool, u64)> = HashSet::new();
    let key = |s: &StreamSel| match *s {
        StreamSel::Tcp(n) => (false, n),
        StreamSel::Udp(n) => (true, n),
    };
    let mut linktype: Option<u16> = None;
    let mut left_out = 0usize;
    for path in &opts.inputs {
        let mut file = CaptureFile::open(path)?;
        if let (None, Some(expr)) = (&filter, opts.filter.as_deref()) {
            filter = Some(Filter::for_linktype(
                expr,
                file.first_linktype().unwrap_or(1),
            )?);
        }
        let mut failed = None;
        file.for_each(|frame| {
            let pkt = decode(frame);
            let analysis = analyser.analyse(frame, &pkt);
            let Some(stream) = analysis.stream else {
                return true;
            };
            let this = match pkt.transport {
                Transport::Tcp(_) => StreamSel::Tcp(stream),
                Transport::Udp(_) => StreamSel::Udp(stream),
                _ => return true,
            };
            if *linktype.get_or_insert(frame.linktype) != frame.linktype {
                return true;
            }
            if kept.len() >= REPLAY_MAX {
                left_out += 1;
                return true;
            }
            if let Some(f) = filter.as_mut() {
                match f.matches(frame.linktype, frame.data) {
                    Ok(true) => {
                        matched.insert(key(&this));
                    }
                    Ok(false) => {}
                    Err(e) => {
                        failed = Some(e);
                        return false;
                    }
                }
            }
            kept.push((
                this,
                Captured {
                    ts: frame.ts.map_or(0, |t| t.as_nanos()),
                    origlen: frame.origlen,
                    data: frame.data.to_vec(),
                },
            ));
            true
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
    }
    let packets = kept
        .into_iter()
        .filter(|(s, _)| filter.is_none() || matched.contains(&key(s)))
        .map(|(_, c)| c)
        .collect();
    Ok(Streams {
        run: RunData {
            scenario: "replay".into(),
            linktype: linktype.unwrap_or(1),
            packets,
            ..RunData::default()
        },
        left_out,
    })
}

/// When the capture has more conversations than the one drawn, which `--stream` draws them.
fn others((tcp, udp): (u64, u64), filtered: bool) -> Option<String> {
    if tcp + udp <= 1 {
        return None;
    }
    let mut kinds = Vec::new();
    if tcp > 0 {
        kinds.push(format!("{tcp} TCP"));
    }
    if udp > 0 {
        kinds.push(format!("{udp} UDP"));
    }
    let how = if filtered {
        "the first the filter selects"
    } else {
        "the first"
    };
    Some(format!(
        "the capture has {} streams and one ladder is drawn ({how}): --stream N (or udp:N) \
         draws another",
        kinds.join(" and ")
    ))
}

#[cfg(test)]
mod tests {
    use super::{others, side_by_side, visible_width};

    #[test]
    fn lines_side_by_side_keep_the_left_column_whatever_its_colour() {
        assert_eq!(visible_width("\x1b[36m│ ab\x1b[0m"), 4);
        let mut s = String::new();
        side_by_side(&mut s, &["ab", "\x1b[1mx\x1b[0m", "c"], &["1", "2"], 4, 3);
        assert_eq!(s, "ab     1\n\x1b[1mx\x1b[0m      2\nc\n");
    }

    #[test]
    fn a_capture_of_one_conversation_needs_no_note() {
        assert_eq!(others((1, 0), false), None);
        assert_eq!(others((0, 1), false), None);
        let n = others((3, 2), true).unwrap();
        assert!(n.contains("3 TCP and 2 UDP streams"), "{n}");
        assert!(n.contains("--stream N"), "{n}");
    }
}
