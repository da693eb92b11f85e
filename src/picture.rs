//! `--svg FILE` and `--html FILE` of `run`, `trace` and `replay`: the files are checked before
//! anything runs and belong to the invoking user, as `--save` ([`crate::save`]); they are
//! drawn ([`crate::render::picture`]) when the run ends. For `replay` of a capture, the picture
//! is of every conversation on one ladder of a lane per endpoint when they fit (as `sockscope
//! ladder` draws them), else of one (`--stream N`, by default the first TCP stream); of a run
//! that sockscope saved, the run's.

use std::path::Path;

use crate::analyse::Analyser;
use crate::decode::{decode, Transport};
use crate::filter::Filter;
use crate::live::capture::{CaptureStats, Captured};
use crate::live::checks::Check;
use crate::live::{pcapng, LiveError, RunData, Scenario, View};
use crate::render::picture::{html, svg, svg_lanes};
use crate::replay::{ReplayOptions, StreamSel};
use crate::save::{Plan, Target};
use crate::source::input::is_stdin;
use crate::source::CaptureFile;

/// Packets of a replayed conversation drawn at most (the rest are counted).
pub const REPLAY_MAX: usize = 2000;

/// The pictures asked for, checked (not yet created).
#[derive(Debug, Default)]
pub struct Plans {
    svg: Option<Plan>,
    html: Option<Plan>,
}

/// The pictures' files, created empty by the user they belong to.
#[derive(Debug, Default)]
pub struct Pictures {
    svg: Option<Target>,
    html: Option<Target>,
}

impl Plans {
    /// Checks the names (folder exists, file does not unless `force`) before anything runs.
    pub fn check(svg: Option<&Path>, html: Option<&Path>, force: bool) -> Result<Plans, LiveError> {
        if let (Some(a), Some(b)) = (svg, html) {
            if a == b {
                return Err(LiveError::Save {
                    flag: "--html",
                    path: b.to_owned(),
                    why: "is the --svg file too: give each picture a file of its own".into(),
                });
            }
        }
        Ok(Plans {
            svg: svg
                .map(|p| Plan::picture("--svg", "svg", p, force))
                .transpose()?,
            html: html
                .map(|p| Plan::picture("--html", "html", p, force))
                .transpose()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.svg.is_none() && self.html.is_none()
    }

    /// Creates the files under temporary names (as the user they will belong to).
    pub fn open(self) -> Result<Pictures, LiveError> {
        Ok(Pictures {
            svg: self.svg.map(Plan::open).transpose()?,
            html: self.html.map(Plan::open).transpose()?,
        })
    }
}

impl Pictures {
    /// Draws the run (with its checks) and writes the files; says so on stderr.
    pub fn finish(
        self,
        run: &RunData,
        sc: Option<&Scenario>,
        checks: &[Check],
    ) -> Result<(), LiveError> {
        self.write(run, || html::run_page(run, sc, checks))
    }

    fn write(self, run: &RunData, page: impl FnOnce() -> String) -> Result<(), LiveError> {
        if let Some(t) = self.svg {
            let v = View::new(run);
            let path = t.finish_bytes(svg::render(&v, true).as_bytes())?;
            eprintln!(
                "sockscope: drew the ladder of {} conversation{} ({} packets) to {}",
                v.conns.len(),
                if v.conns.len() == 1 { "" } else { "s" },
                v.pkts.len(),
                path.display()
            );
        }
        if let Some(t) = self.html {
            let path = t.finish_bytes(page().as_bytes())?;
            eprintln!(
                "sockscope: wrote the page to {} (open it in a browser: it needs no network)",
                path.display()
            );
        }
        Ok(())
    }
}

/// The pictures `replay --svg/--html` asks for, checked before the replay starts: files, not
/// standard input (the capture is read again to draw it).
pub fn replay_plans(
    opts: &ReplayOptions,
    svg: Option<&Path>,
    html: Option<&Path>,
    force: bool,
) -> anyhow::Result<Plans> {
    let plans = Plans::check(svg, html, force)?;
    if plans.is_empty() {
        return Ok(plans);
    }
    if let Some(p) = opts.inputs.iter().find(|p| is_stdin(p)) {
        anyhow::bail!(
            "--svg/--html read the capture again after the timeline, and {} cannot be read \
             twice: save it first (sockscope replay - -w c.pcapng), then draw the file",
            p.display()
        );
    }
    Ok(plans)
}

/// `replay --svg/--html`: the pictures of the capture in `opts` (one conversation), or of the
/// run a file saved by sockscope holds.
pub fn replay(opts: &ReplayOptions, plans: Plans) -> anyhow::Result<()> {
    if plans.is_empty() {
        return Ok(());
    }
    let pictures = plans.open()?;
    // A run that sockscope saved: its pictures, with its checks.
    if let ([one], None) = (opts.inputs.as_slice(), opts.stream.or(opts.follow)) {
        if pcapng::written_by_sockscope(one) {
            if let Ok(Some(run)) = pcapng::load_saved(one) {
                let sc = (!run.scenario.starts_with("trace:"))
                    .then(|| crate::scenario::find(&run.scenario))
                    .flatten();
                let checks = crate::render::run::report::checks(&run, sc);
                return Ok(pictures.finish(&run, sc, &checks)?);
            }
        }
    }
    let names: Vec<String> = opts
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let title = format!("sockscope replay {}", names.join(" "));
    // Several conversations, none selected: all of them on one ladder of a lane per endpoint,
    // as `sockscope ladder` draws them, when their lanes fit.
    if opts.stream.or(opts.follow).is_none() {
        let all = crate::ladder::every_stream(opts)?;
        let v = View::new(&all.run);
        if v.conns.len() > 1 && svg_lanes::fits(&v).is_ok() {
            let mut notes = vec![format!(
                "{} packets of {} conversations",
                all.run.packets.len(),
                v.conns.len()
            )];
            if all.left_out > 0 {
                notes.push(format!(
                    "{} later packets are not drawn (the first {REPLAY_MAX} are): \
                     `sockscope replay --stream N --svg` draws one conversation whole",
                    all.left_out
                ));
            }
            let page = html::Page {
                title,
                subtitle: crate::render::ladder_lanes::title(&v),
                checks: None,
                facts: crate::render::run::facts::conversations(&v),
                explain: None,
                notes,
            };
            pictures.write(&all.run, || html::render(&v, &page))?;
            return Ok(());
        }
    }
    let conv = conversation(opts)?;
    let run = &conv.run;
    let v = View::new(run);
    let sel = match conv.stream {
        Some(StreamSel::Tcp(n)) => format!("TCP stream {n}"),
        Some(StreamSel::Udp(n)) => format!("UDP stream {n}"),
        None => "no TCP or UDP conversation".into(),
    };
    let mut notes = vec![format!(
        "{} packets of {sel}, from {} frames read",
        run.packets.len(),
        conv.frames
    )];
    if conv.left_out > 0 {
        notes.push(format!(
            "{} later packets of the conversation are not drawn (the first {REPLAY_MAX} are): \
             `sockscope replay --stream` shows them all",
            conv.left_out
        ));
    }
    let subtitle = match v.conns.first() {
        Some(c) => format!("{sel}: {}", c.label()),
        None => sel,
    };
    let page = html::Page {
        title,
        subtitle,
        checks: None,
        facts: crate::render::run::facts::conversations(&v),
        explain: None,
        notes,
    };
    pictures.write(run, || html::render(&v, &page))?;
    Ok(())
}

/// The streams a capture has, for an error about one it lacks: `it has TCP streams 0 to 4 and
/// UDP stream 0`.
fn streams_text(tcp: u64, udp: u64) -> String {
    let range = |kind: &str, n: u64| match n {
        0 => None,
        1 => Some(format!("{kind} stream 0")),
        n => Some(format!("{kind} streams 0 to {}", n - 1)),
    };
    let parts: Vec<String> = [range("TCP", tcp), range("UDP", udp)]
        .into_iter()
        .flatten()
        .collect();
    if parts.is_empty() {
        "it has no TCP or UDP stream".into()
    } else {
        format!("it has {}", parts.join(" and "))
    }
}

/// The packets of one conversation of a capture, as a run without calls.
pub(crate) struct Conversation {
    pub(crate) run: RunData,
    pub(crate) stream: Option<StreamSel>,
    pub(crate) frames: u64,
    pub(crate) left_out: usize,
    /// TCP and UDP streams in the whole capture.
    pub(crate) streams: (u64, u64),
}

/// Reads the capture and keeps the packets of `--stream` (or the first TCP stream, matching the
/// filter when one is given; else the first UDP stream).
pub(crate) fn conversation(opts: &ReplayOptions) -> anyhow::Result<Conversation> {
    let mut analyser = Analyser::new();
    let mut filter: Option<Filter> = None;
    // `--follow tcp:N` chooses the conversation as `--stream` does.
    let mut chosen = opts.stream.or(opts.follow);
    let mut first_udp: Option<u64> = None;
    let mut run = RunData {
        scenario: "replay".into(),
        ..RunData::default()
    };
    let mut linktype: Option<u16> = None;
    let mut frames = 0u64;
    let mut left_out = 0usize;
    // Packets of the first UDP stream, in case no TCP stream turns up.
    let mut udp: Vec<Captured> = Vec::new();
    let mut udp_left_out = 0usize;
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
            frames += 1;
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
            if chosen.is_none() {
                let matches = match filter.as_mut() {
                    Some(f) => match f.matches(frame.linktype, frame.data) {
                        Ok(m) => m,
                        Err(e) => {
                            failed = Some(e);
                            return false;
                        }
                    },
                    None => true,
                };
                match this {
                    StreamSel::Tcp(_) if matches => chosen = Some(this),
                    StreamSel::Udp(n) if matches && first_udp.is_none() => first_udp = Some(n),
                    _ => {}
                }
            }
            let keep = chosen == Some(this);
            let keep_udp = chosen.is_none() && first_udp.map(StreamSel::Udp) == Some(this);
            if !(keep || keep_udp) || *linktype.get_or_insert(frame.linktype) != frame.linktype {
                return true;
            }
            let (list, over) = if keep {
                (&mut run.packets, &mut left_out)
            } else {
                (&mut udp, &mut udp_left_out)
            };
            if list.len() >= REPLAY_MAX {
                *over += 1;
                return true;
            }
            list.push(Captured {
                ts: frame.ts.map_or(0, |t| t.as_nanos()),
                origlen: frame.origlen,
                data: frame.data.to_vec(),
            });
            true
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
    }
    if chosen.is_none() {
        chosen = first_udp.map(StreamSel::Udp);
        run.packets = udp;
        left_out = udp_left_out;
    }
    if let (Some(sel), true) = (opts.stream.or(opts.follow), run.packets.is_empty()) {
        let what = match sel {
            StreamSel::Tcp(n) => format!("TCP stream {n}"),
            StreamSel::Udp(n) => format!("UDP stream {n}"),
        };
        let have = streams_text(analyser.tcp_streams(), analyser.udp_streams());
        anyhow::bail!("--stream: the capture has no {what} ({have}), so there is nothing to draw");
    }
    run.linktype = linktype.unwrap_or(1);
    run.stats = CaptureStats::default();
    Ok(Conversation {
        run,
        stream: chosen,
        frames,
        left_out,
        streams: (analyser.tcp_streams(), analyser.udp_streams()),
    })
}
