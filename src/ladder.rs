//! `sockscope replay FILE --ladder` and `sockscope ladder FILE`: the text ladder of one
//! conversation of a capture (`--stream N`, by default the first TCP stream matching the
//! filter, else the first UDP one); of a run saved by sockscope, every conversation of the run
//! with its calls.

use std::io::Write;

use crate::cli::{FormatArg, ReplayArgs};
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
    // A run that sockscope saved (`run --save`, `trace --save`), with nothing selected: every
    // conversation of the run, with its pids and calls on the lanes.
    if let ([one], None, None) = (opts.inputs.as_slice(), opts.stream, &opts.filter) {
        if pcapng::written_by_sockscope(one) {
            if let Ok(Some(run)) = pcapng::load_saved(one) {
                let v = View::new(&run);
                let mut s = String::new();
                ladder_text::render_all(&mut s, &v, &style);
                out.write_all(s.as_bytes())?;
                out.flush()?;
                return Ok(());
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
    ladder_text::render(&mut s, &v, 0, &title, &style);
    out.write_all(s.as_bytes())?;
    out.flush()?;
    if opts.stream.is_none() {
        if let Some(note) = others(conv.streams, opts.filter.is_some()) {
            eprintln!("sockscope: {note}");
        }
    }
    if conv.left_out > 0 {
        eprintln!(
            "sockscope: {} later packets of the conversation are not drawn (the first \
             {REPLAY_MAX} are): `sockscope replay --stream` shows them all",
            conv.left_out
        );
    }
    Ok(())
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
    use super::others;

    #[test]
    fn a_capture_of_one_conversation_needs_no_note() {
        assert_eq!(others((1, 0), false), None);
        assert_eq!(others((0, 1), false), None);
        let n = others((3, 2), true).unwrap();
        assert!(n.contains("3 TCP and 2 UDP streams"), "{n}");
        assert!(n.contains("--stream N"), "{n}");
    }
}
