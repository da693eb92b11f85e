//! `trace CMD ARGS…`: runs a command under `sockscope::live::syscalls` (for the cost figures
//! in bench/syscalls/README.md and for trying it by hand) and prints its socket calls to
//! stderr (`-q`: only their count), then exits with the command's status.

use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let quiet = args.first().is_some_and(|a| a == "-q");
    if quiet {
        args.remove(0);
    }
    match sockscope::live::syscalls::trace(&args) {
        Ok(t) => {
            if quiet {
                eprintln!("{} calls", t.events.len());
            } else {
                for e in &t.events {
                    eprintln!(
                        "{:>7} {:>7} {:<6} {}",
                        e.pid,
                        e.tid,
                        e.role.name(),
                        e.line()
                    );
                }
                for l in &t.output {
                    eprintln!("{:?}: {}", l.stream, l.text);
                }
            }
            ExitCode::from(t.exit.status() as u8)
        }
        Err(e) => {
            eprintln!("trace: {e}");
            ExitCode::from(127)
        }
    }
}
