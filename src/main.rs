//! The `sockscope` binary: parse the command line, run, print errors as one line.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use sockscope::cli::{Cli, Command};
use sockscope::replay::{replay, ReplayError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
            let result = replay(&args.file, &args.options(), &mut out);
            let _ = out.flush();
            match result {
                Ok(_) => ExitCode::SUCCESS,
                Err(ReplayError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sockscope: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::List => sockscope::live::list(),
        Command::Run(args) => sockscope::live::run(&args),
    }
}
