//! Starting the traced program: fork; in the child, the caller's hook, `PR_SET_NO_NEW_PRIVS`,
//! a wait until the parent has seized it with its ptrace options, the seccomp filter, exec.
//!
//! Between fork and exec the child calls only async-signal-safe functions (raw `libc` calls on
//! memory prepared before the fork), as `std::process::Command` does. A step that fails sends
//! `[step, errno]` through a close-on-exec pipe and exits 127; a successful exec closes it.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::libc;
use nix::unistd::{fork, ForkResult, Pid};

use super::{arch, PreExec, TraceError};

/// The steps of the child, as reported through the error pipe.
pub const STEP_HOOK: u8 = 1;
pub const STEP_SETUP: u8 = 2;
pub const STEP_SECCOMP: u8 = 3;
pub const STEP_EXEC: u8 = 4;

/// The parent's ends of the child's pipes.
pub struct Spawned {
    pub pid: Pid,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// Reads `[step, errno (4 bytes)]` if the child failed before exec; end of file otherwise.
    pub errors: OwnedFd,
    /// Writing a byte (or closing it) lets the child go on to its filter and exec.
    pub go: OwnedFd,
}

fn pipe() -> Result<(OwnedFd, OwnedFd), TraceError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| TraceError::Setup {
        what: "pipe",
        source: e.into(),
    })
}

/// Forks the child, which waits for `go` before exec.
pub fn spawn(
    argv: &[OsString],
    env: &[(OsString, OsString)],
    null_stdin: bool,
    hook: Option<&mut PreExec>,
) -> Result<Spawned, TraceError> {
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| TraceError::Setup {
            what: "the command holds a NUL byte",
            source: std::io::ErrorKind::InvalidInput.into(),
        })?;
    if args.is_empty() {
        return Err(TraceError::Empty);
    }
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // The environment: this process's, with `env` set over it (built before the fork).
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !env.iter().any(|(e, _)| e == k))
        .collect();
    vars.extend(env.iter().cloned());
    let envs: Vec<CString> = vars
        .iter()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut envp: Vec<*const libc::c_char> = envs.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let filter = arch::filter();
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (fail_r, fail_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let dev_null = c"/dev/null";

    // SAFETY: the child only makes async-signal-safe libc calls on memory prepared above (and
    // runs the caller's hook, whose contract says the same) before exec or _exit.
    match unsafe { fork() } {
        Err(e) => Err(TraceError::Setup {
            what: "fork",
            source: e.into(),
        }),
        Ok(ForkResult::Child) => unsafe {
            let fail = fail_w.as_raw_fd();
            let die = |step: u8, errno: i32| -> ! {
                let mut msg = [0u8; 5];
                msg[0] = step;
                msg[1..].copy_from_slice(&errno.to_ne_bytes());
                libc::write(fail, msg.as_ptr().cast(), msg.len());
                libc::_exit(127)
            };
            let errno = || *libc::__errno_location();
            // The parent's ends are not the child's: holding `go`'s write end would keep its
            // read from ever seeing end of file when the parent gives up.
            for fd in [
                go_w.as_raw_fd(),
                out_r.as_raw_fd(),
                err_r.as_raw_fd(),
                fail_r.as_raw_fd(),
            ] {
                libc::close(fd);
            }
            // sockscope's own handlers (Ctrl-C is noted, not fatal) are not the program's:
            // back to the defaults while it waits (exec would reset them only later).
            for sig in [libc::SIGINT, libc::SIGTERM] {
                libc::signal(sig, libc::SIG_DFL);
            }
            if libc::dup2(out_w.as_raw_fd(), 1) < 0 || libc::dup2(err_w.as_raw_fd(), 2) < 0 {
                die(STEP_SETUP, errno());
            }
            if null_stdin {
                let fd = libc::open(dev_null.as_ptr(), libc::O_RDONLY);
                if fd < 0 || libc::dup2(fd, 0) < 0 {
                    die(STEP_SETUP, errno());
                }
            }
            if let Some(hook) = hook {
                if let Err(e) = hook() {
                    die(STEP_HOOK, e.raw_os_error().unwrap_or(0));
                }
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                die(STEP_SETUP, errno());
            }
            // Wait until the tracer has seized us: a traced call with no tracer fails ENOSYS.
            let mut b = 0u8;
            if libc::read(go_r.as_raw_fd(), (&raw mut b).cast(), 1) != 1 {
                libc::_exit(127);
            }
            if libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &raw const prog,
                0,
                0,
            ) != 0
            {
                die(STEP_SECCOMP, errno());
            }
            libc::execvpe(ptrs[0], ptrs.as_ptr(), envp.as_ptr());
            die(STEP_EXEC, errno())
        },
        Ok(ForkResult::Parent { child }) => Ok(Spawned {
            pid: child,
            stdout: out_r,
            stderr: err_r,
            errors: fail_r,
            go: go_w,
        }),
    }
}

/// What the child reported through the error pipe, read once it has exited: the step that
/// failed and its errno, or None when it reported nothing.
pub fn failure(errors: &OwnedFd) -> Option<(u8, i32)> {
    let mut msg = [0u8; 5];
    let n = nix::unistd::read(errors, &mut msg).ok()?;
    (n == 5).then(|| (msg[0], i32::from_ne_bytes([msg[1], msg[2], msg[3], msg[4]])))
}
