//! Running one command to /dev/null: wall time and peak RSS from `wait4`'s resource usage.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A command to time on one capture: program, arguments and environment changes.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// The capture it reads (its path is the last argument).
    pub file: crate::files::Capture,
    /// Short name for the table ("sockscope text", "tcpdump TZ=UTC", ...).
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Variables to set (name, value), and to remove (value None).
    pub env: Vec<(String, Option<String>)>,
    /// Runs to make (tshark gets fewer).
    pub runs: usize,
}

/// One run's outcome.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall: Duration,
    /// Peak resident set size in bytes.
    pub max_rss: u64,
    /// User + system CPU time.
    pub cpu: Duration,
}

/// Starts commands: through `spawn` (bench/spawn.c) when it could be built, so that peak RSS
/// is the command's own; else directly, with `wait4` (peak RSS then includes the bench tool's
/// own, since a child starts from its parent's memory).
pub struct Runner {
    pub spawn: Option<PathBuf>,
    /// Where `spawn` writes its report.
    pub result: PathBuf,
}

impl Runner {
    /// Runs `cmd` once with stdout (and stderr) to /dev/null. A non-zero exit is an error: a
    /// benchmark of a failing command means nothing.
    pub fn run_once(&self, cmd: &Cmd) -> Result<Sample, String> {
        let mut c = match &self.spawn {
            Some(spawn) => {
                let mut c = Command::new(spawn);
                c.arg(&self.result).arg(&cmd.program);
                c
            }
            None => Command::new(&cmd.program),
        };
        c.args(&cmd.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &cmd.env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        let start = Instant::now();
        let child = c
            .spawn()
            .map_err(|e| format!("{}: cannot start {}: {e}", cmd.name, cmd.program.display()))?;
        let (status, mut sample) = wait(child, &cmd.name)?;
        sample.wall = start.elapsed();
        if status != 0 {
            return Err(format!("{}: exited with wait status {status:#x}", cmd.name));
        }
        if self.spawn.is_none() {
            return Ok(sample);
        }
        // spawn's report: "<wait status> <wall ns> <maxrss KiB> <user us> <sys us>".
        let text = std::fs::read_to_string(&self.result)
            .map_err(|e| format!("{}: no report from spawn: {e}", cmd.name))?;
        let f: Vec<i64> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let [status, wall, rss, user, sys] = f[..] else {
            return Err(format!("{}: bad report from spawn: {text:?}", cmd.name));
        };
        if status != 0 {
            return Err(format!("{}: exited with wait status {status:#x}", cmd.name));
        }
        let us = |v: i64| Duration::from_micros(v.max(0) as u64);
        Ok(Sample {
            wall: Duration::from_nanos(wall.max(0) as u64),
            max_rss: rss.max(0) as u64 * 1024,
            cpu: us(user) + us(sys),
        })
    }
}

/// Waits for `child` with `wait4`: its wait status and resource usage.
fn wait(child: std::process::Child, name: &str) -> Result<(i32, Sample), String> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data; wait4 fills it in on success.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `status` and `usage` are valid for writes. The Child
    // handle is dropped without waiting (std does not wait on drop), so it is reaped once.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    drop(child);
    if r != pid {
        return Err(format!(
            "{name}: wait4 failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok((
        status,
        Sample {
            wall: Duration::ZERO,
            max_rss: usage.ru_maxrss as u64 * 1024,
            cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        },
    ))
}

/// Median and spread of some runs.
#[derive(Debug, Clone)]
pub struct Stats {
    pub runs: usize,
    /// Every run's wall time, in the order of the rounds.
    pub walls: Vec<Duration>,
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
    /// Median CPU time (user + system).
    pub cpu: Duration,
    /// Largest peak RSS of the runs, in bytes.
    pub max_rss: u64,
}

impl Stats {
    pub fn of(samples: &[Sample]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let in_order: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
        let mut walls = in_order.clone();
        let mut cpus: Vec<Duration> = samples.iter().map(|s| s.cpu).collect();
        walls.sort();
        cpus.sort();
        Some(Stats {
            runs: samples.len(),
            walls: in_order,
            median: median(&walls),
            min: walls[0],
            max: walls[walls.len() - 1],
            cpu: median(&cpus),
            max_rss: samples.iter().map(|s| s.max_rss).max().unwrap_or(0),
        })
    }
}

fn median(sorted: &[Duration]) -> Duration {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}
