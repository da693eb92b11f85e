//! A private network namespace for a user without privilege: a new user namespace (in which
//! this process holds every capability, over namespaces it owns only) and a new network
//! namespace with nothing but `lo`, brought up here. Capturing on that `lo` needs no privilege
//! on the host, and only the run's own traffic is there.
//!
//! `unshare(CLONE_NEWUSER)` refuses a process with more than one thread (EINVAL): call
//! [`enter_private`] before any thread starts. The user and group keep their numbers inside
//! (`uid uid 1`), so files written from inside belong to the user; `setgroups` is denied, as
//! the kernel requires of an unprivileged mapping.

use std::io;

use nix::libc;
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{geteuid, getgid, getuid};

/// Why the private namespace could not be had.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The kernel refused the user namespace; `why` names the setting when one is known.
    #[error("{why}")]
    Refused { why: String },
    #[error("setting up the private namespace failed at {step}")]
    Setup {
        step: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Set in tests to make the kernel's refusal happen on purpose: its value is the setting the
/// refusal is blamed on (`kernel.unprivileged_userns_clone`, …), as if it were in force.
pub const SIMULATE_REFUSAL: &str = "SOCKSCOPE_TEST_REFUSE_USERNS";

/// The sysctls that forbid unprivileged user namespaces, and the value that forbids.
const SETTINGS: [(&str, &str, &str); 3] = [
    (
        "kernel.unprivileged_userns_clone",
        "/proc/sys/kernel/unprivileged_userns_clone",
        "0",
    ),
    (
        "kernel.apparmor_restrict_unprivileged_userns",
        "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "1",
    ),
    (
        "user.max_user_namespaces",
        "/proc/sys/user/max_user_namespaces",
        "0",
    ),
];

/// Set once this process has left the network namespace it started in.
static ENTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`enter_private`] has moved this process out of the namespace it started in.
pub fn entered() -> bool {
    ENTERED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Moves this (single-threaded) process into a new network namespace, with a new user
/// namespace when it is not root, and brings its `lo` up.
pub fn enter_private() -> Result<(), NetnsError> {
    let step = |step: &'static str| move |source: io::Error| NetnsError::Setup { step, source };
    if geteuid().is_root() {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::Setup {
            step: "unshare(CLONE_NEWNET)",
            source: e.into(),
        })?;
        ENTERED.store(true, std::sync::atomic::Ordering::SeqCst);
        return loopback_up().map_err(step("bringing lo up"));
    }
    let (uid, gid) = (getuid().as_raw(), getgid().as_raw());
    if let Some(setting) = std::env::var_os(SIMULATE_REFUSAL) {
        let setting = setting.to_string_lossy().into_owned();
        let value = SETTINGS
            .iter()
            .find(|(name, _, _)| *name == setting)
            .map_or("0", |(_, _, v)| *v);
        return Err(NetnsError::Refused {
            why: refusal(
                io::Error::from_raw_os_error(libc::EPERM),
                &[(setting, value.into())],
            ),
        });
    }
    if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET) {
        let readings: Vec<(String, String)> = SETTINGS
            .iter()
            .filter_map(|(name, path, _)| {
                let v = std::fs::read_to_string(path).ok()?;
                Some((name.to_string(), v.trim().to_owned()))
            })
            .collect();
        return Err(NetnsError::Refused {
            why: refusal(io::Error::from(e), &readings),
        });
    }
    ENTERED.store(true, std::sync::atomic::Ordering::SeqCst);
    std::fs::write("/proc/self/setgroups", "deny").map_err(step("/proc/self/setgroups"))?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))
        .map_err(step("/proc/self/uid_map"))?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))
        .map_err(step("/proc/self/gid_map"))?;
    loopback_up().map_err(step("bringing lo up"))
}

/// Joins the private namespace called `name` that another sockscope of this user holds, or
/// creates it (as [`enter_private`]) when none does, so that two programs traced apart (a
/// server in one terminal, its client in another) meet on one `lo`. Returns true when it
/// joined one that existed. The namespace lives as long as a process is in it; the registry
/// (`$XDG_RUNTIME_DIR/sockscope/netns/NAME`, else `/tmp/sockscope-UID/netns/NAME`) lists the
/// members by pid and namespace inode, so a member that is gone is never joined.
pub fn enter_named(name: &str) -> Result<bool, NetnsError> {
    let step = |step: &'static str| move |source: io::Error| NetnsError::Setup { step, source };
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(NetnsError::Setup {
            step: "the namespace name",
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?}: give a plain name such as lab"),
            ),
        });
    }
    let dir = registry_dir();
    own_dir(&dir).map_err(step("the namespace registry's folder"))?;
    let path = dir.join(name);
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .map_err(step("opening the namespace registry"))?
    };
    {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata().map_err(step("the namespace registry"))?;
        if !m.is_file() || m.uid() != geteuid().as_raw() {
            return Err(NetnsError::Setup {
                step: "the namespace registry",
                source: io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{} is not a file of this user", path.display()),
                ),
            });
        }
    }
    // One sockscope at a time decides whether to join or create.
    let mut lock =
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| {
            NetnsError::Setup {
                step: "locking the namespace registry",
                source: e.into(),
            }
        })?;
    let text = std::fs::read_to_string(&path).map_err(step("reading the namespace registry"))?;
    let member = text.lines().find_map(|l| {
        let (pid, inode) = l.split_once(' ')?;
        let pid: u32 = pid.parse().ok()?;
        (net_inode(pid)? == inode.trim()).then_some(pid)
    });
    let joined = match member {
        Some(pid) => {
            join(pid)?;
            true
        }
        None => {
            enter_private()?;
            // A fresh list: the old members are all gone.
            lock.set_len(0)
                .map_err(step("resetting the namespace registry"))?;
            false
        }
    };
    let me = std::process::id();
    let inode = net_inode(me).unwrap_or_default();
    use std::io::Write;
    writeln!(lock, "{me} {inode}").map_err(step("writing the namespace registry"))?;
    Ok(joined)
}

/// Where named namespaces are listed: private to the user (root's under /run).
fn registry_dir() -> std::path::PathBuf {
    if geteuid().is_root() {
        return std::path::PathBuf::from("/run/sockscope-netns");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => std::path::Path::new(&d).join("sockscope-netns"),
        None => std::path::PathBuf::from(format!("/tmp/sockscope-netns-{}", geteuid().as_raw())),
    }
}

/// Makes `dir` (mode 0700) if it is missing, then checks that it is a real folder of this
/// user that no one else may write: another user must not be able to plant a link there
/// (that would make this process overwrite a file of theirs choosing) or a member of their
/// own namespace.
fn own_dir(dir: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let m = std::fs::symlink_metadata(dir)?;
    if !m.is_dir() || m.uid() != geteuid().as_raw() || m.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a folder of this user that only this user may write",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// The network namespace of process `pid`, as `net:[4026532]`, if it can be read.
fn net_inode(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Enters the user namespace (when not root) and the network namespace of `pid`.
fn join(pid: u32) -> Result<(), NetnsError> {
    use nix::sched::setns;
    let open = |ns: &str| {
        std::fs::File::open(format!("/proc/{pid}/ns/{ns}")).map_err(|source| NetnsError::Setup {
            step: "opening the named namespace",
            source,
        })
    };
    let net = open("net")?;
    if !geteuid().is_root() {
        let user = open("user")?;
        setns(user, CloneFlags::CLONE_NEWUSER).map_err(|e| NetnsError::Setup {
            step: "joining the named namespace's user namespace",
            source: e.into(),
        })?;
    }
    setns(net, CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::Setup {
        step: "joining the named network namespace",
        source: e.into(),
    })
}

/// What to tell the user when the kernel refused: the setting that forbids it, when one of
/// `readings` (name, value) does, else the error itself.
pub fn refusal(err: io::Error, readings: &[(String, String)]) -> String {
    let forbidding = readings.iter().find(|(name, value)| {
        SETTINGS
            .iter()
            .any(|(n, _, bad)| n == name && value.trim() == *bad)
    });
    let cause = match forbidding {
        Some((name, value)) => format!("this system forbids it ({name} = {})", value.trim()),
        None => format!("the kernel refused it ({err})"),
    };
    format!("live capture needs CAP_NET_RAW, or a private user and network namespace, and {cause}")
}

/// `ifconfig lo up`: SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP added.
fn loopback_up() -> io::Result<()> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").or_else(|_| {
        // Before lo is up, binding 127.0.0.1 may fail; any AF_INET socket serves the ioctl.
        std::net::UdpSocket::bind("0.0.0.0:0")
    })?;
    use std::os::fd::AsRawFd;
    // SAFETY: `ifreq` is plain old data, zeroed is a valid value; the name fits with its NUL.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the fd is a live socket and `req` a valid ifreq for both requests.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eperm() -> io::Error {
        io::Error::from_raw_os_error(libc::EPERM)
    }

    #[test]
    fn the_forbidding_setting_is_named() {
        let r = |n: &str, v: &str| vec![(n.to_owned(), v.to_owned())];
        let msg = refusal(eperm(), &r("kernel.unprivileged_userns_clone", "0\n"));
        assert!(
            msg.ends_with("this system forbids it (kernel.unprivileged_userns_clone = 0)"),
            "{msg}"
        );
        let msg = refusal(
            eperm(),
            &r("kernel.apparmor_restrict_unprivileged_userns", "1"),
        );
        assert!(
            msg.contains("apparmor_restrict_unprivileged_userns = 1"),
            "{msg}"
        );
        let msg = refusal(eperm(), &r("user.max_user_namespaces", "0"));
        assert!(msg.contains("user.max_user_namespaces = 0"), "{msg}");
    }

    #[test]
    fn allowing_settings_are_not_blamed() {
        let readings = vec![
            ("user.max_user_namespaces".to_owned(), "96367".to_owned()),
            (
                "kernel.unprivileged_userns_clone".to_owned(),
                "1".to_owned(),
            ),
        ];
        let msg = refusal(eperm(), &readings);
        assert!(msg.contains("the kernel refused it"), "{msg}");
        assert!(!msg.contains("max_user_namespaces"), "{msg}");
    }
}
