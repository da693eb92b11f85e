//! What the `eintr` processes read of each other in `/proc`: whether a process sleeps (in
//! accept() or read(), here) and whether a child has been reaped, so that each signal comes
//! while the server is blocked, and each client only once the server blocks again.

use std::io;
use std::time::{Duration, Instant};

use crate::live::LiveError;

/// Parses `/proc/PID/stat`: `pid (comm) S ppid …`; the command may hold spaces and
/// parentheses, so the state is read after the last `)`.
pub(super) fn parse_state(text: &str) -> Option<char> {
    text[text.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// The state letter of process `pid` (R, S, Z…), None once it is gone (reaped).
pub(super) fn state_of(pid: i32) -> io::Result<Option<char>> {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(t) => Ok(parse_state(&t)),
        // A process that is exiting may answer ESRCH before its entry goes (NotFound).
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.raw_os_error() == Some(nix::libc::ESRCH) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn polled(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> io::Result<bool>,
) -> Result<(), LiveError> {
    let deadline = Instant::now() + limit;
    loop {
        if done().map_err(|e| LiveError::Scenario(format!("/proc: {e}")))? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LiveError::Scenario(format!(
                "not within {} s: {what}",
                limit.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until process `pid` sleeps (state S) at two polls in a row, 1 ms apart: a process
/// that does nothing but block in one call.
pub(super) fn wait_asleep(pid: i32, limit: Duration) -> Result<(), LiveError> {
    let mut before = false;
    polled(&format!("process {pid} sleeps"), limit, || {
        let now = state_of(pid)? == Some('S');
        let twice = before && now;
        before = now;
        Ok(twice)
    })
}

/// Waits until process `pid` is gone from `/proc` (exited and reaped).
pub(super) fn wait_gone(pid: i32, limit: Duration) -> Result<(), LiveError> {
    polled(&format!("process {pid} is reaped"), limit, || {
        Ok(state_of(pid)?.is_none())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_even_with_odd_names() {
        assert_eq!(parse_state("4242 (sockscope) S 4200 4242"), Some('S'));
        assert_eq!(parse_state("7 (a) b (c)) Z 1 7 7"), Some('Z'));
        assert_eq!(parse_state("garbage"), None);
    }

    #[test]
    fn this_process_is_there_and_a_reaped_child_is_not() {
        assert!(state_of(std::process::id() as i32).unwrap().is_some());
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("run true");
        let pid = child.id() as i32;
        child.wait().expect("wait");
        wait_gone(pid, Duration::from_secs(1)).unwrap();
    }
}
