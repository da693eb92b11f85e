//! The `sockscope` binary: parse the command line, run the command, print an error as one line
//! with its causes, exit with the status the table in `sockscope --help` gives.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use sockscope::cli::{Cli, Command};
use sockscope::exit::{self, Status};
use sockscope::replay_run::Outcome;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(status) => status.into(),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockscope: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Status> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let status = match cli.command {
        // `sockscope ladder` is `replay --ladder`.
        Command::Ladder(args) => ladder(&args, &mut out)?,
        Command::Replay(args) if args.ladder => ladder(&args, &mut out)?,
        Command::Replay(args) => {
            let opts = args.options()?;
            // The pictures' files are checked before anything is read.
            let pictures = sockscope::picture::replay_plans(
                &opts,
                args.svg.as_deref(),
                args.html.as_deref(),
                args.force,
            )?;
            // A run that sockscope saved is shown as the run it was (one file, nothing to
            // select, count or write).
            let problem = match opts.inputs.as_slice() {
                [one] if opts.count.is_none() && opts.write.is_none() => {
                    match sockscope::replay_run::replay(one, &opts, &mut out)? {
                        Outcome::Shown(status) => {
                            out.flush()?;
                            sockscope::picture::replay(&opts, pictures)?;
                            return Ok(status);
                        }
                        Outcome::Packets { problem } => problem,
                    }
                }
                _ => None,
            };
            let result = sockscope::replay::replay(&opts, &mut out);
            // What was decoded before a fault is still printed.
            let flushed = out.flush();
            if let Ok(stats) = &result {
                if stats.evicted > 0 {
                    let note = sockscope::render::summary::eviction_note(stats.evicted);
                    eprintln!("note: {note}");
                }
            }
            let stats = result?;
            flushed?;
            sockscope::picture::replay(&opts, pictures)?;
            if let Some(note) = stats.note {
                eprintln!("sockscope: {note}");
            }
            match problem {
                Some(why) => {
                    // Why the saved run cannot be shown may quote the file (a parse error).
                    let why: Vec<_> = why
                        .lines()
                        .map(sockscope::render::escape::controls)
                        .collect();
                    eprintln!("sockscope: {}", why.join("\n"));
                    Status::Error
                }
                None => Status::Success,
            }
        }
        Command::List => sockscope::run::list(&mut out)?,
        Command::Run(args) => sockscope::run::run(&args, &mut out)?,
        Command::Trace(args) => sockscope::trace::trace(&args, &mut out)?,
        Command::Compare(args) => {
            let opts = args.options();
            if let Some(ascii) = opts.ladder {
                if opts.jsonl {
                    anyhow::bail!("--ladder draws text: leave out --format jsonl, or --ladder");
                }
                sockscope::ladder::compare(&opts, ascii, &mut out)?;
            }
            sockscope::compare::compare(&opts, &mut out)?;
            Status::Success
        }
        Command::Completions { shell } => {
            sockscope::cli::completions(shell, &mut out);
            Status::Success
        }
        Command::Man { subcommand } => {
            sockscope::cli::man(subcommand.as_deref(), &mut out)?;
            Status::Success
        }
    };
    out.flush()?;
    Ok(status)
}

/// The text ladder of one conversation (`replay --ladder`, `sockscope ladder`).
fn ladder(args: &sockscope::cli::ReplayArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    sockscope::ladder::command(args, out)?;
    Ok(Status::Success)
}

/// A closed pipe (`sockscope replay f | head`) ends the output early; that is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
