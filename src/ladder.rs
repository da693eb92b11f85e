//! `sockscope replay FILE --ladder` and `sockscope ladder FILE`: the text ladder of one
//! conversation of a capture (`--stream N`, by default the first TCP stream matching the
//! filter, else the first UDP one).

use std::io::Write;

use crate::live::View;
use crate::picture::{conversation, REPLAY_MAX};
use crate::render::ladder_text::{self, Style};
use crate::replay::{ReplayOptions, StreamSel};

/// Writes the ladder of the conversation `opts` selects. `ascii`: ASCII lines and arrows.
pub fn replay(opts: &ReplayOptions, ascii: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let conv = conversation(opts)?;
    let sel = match conv.stream {
        Some(StreamSel::Tcp(n)) => format!("TCP stream {n}"),
        Some(StreamSel::Udp(n)) => format!("UDP stream {n}"),
        None => anyhow::bail!(
            "the capture has no TCP or UDP conversation to draw (read {} frames{})",
            conv.frames,
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
    let style = Style {
        time: opts.text.time,
        color: opts.text.color,
        ascii,
        width: opts.width,
    };
    let mut s = String::new();
    ladder_text::render(&mut s, &v, 0, &title, &style);
    out.write_all(s.as_bytes())?;
    out.flush()?;
    if conv.left_out > 0 {
        eprintln!(
            "sockscope: {} later packets of the conversation are not drawn (the first \
             {REPLAY_MAX} are): `sockscope replay --stream` shows them all",
            conv.left_out
        );
    }
    Ok(())
}
