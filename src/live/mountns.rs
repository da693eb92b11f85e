//! A private mount namespace for a scenario that needs the system's files to say something else
//! (the resolver's `/etc/resolv.conf`): files of the scenario's own, bind-mounted over the
//! host's paths where only this process sees them, and the lowest port an unprivileged process
//! may bind lowered in the private network namespace, so that a server on a well-known port
//! (DNS's 53) needs no privilege once privileges are dropped.
//!
//! Made by the privileged start of the process, after it entered its private network namespace
//! (and user namespace, for a user without privilege: root there may make a mount namespace and
//! bind-mount), before any thread starts (`unshare(CLONE_NEWNS)` refuses a process whose
//! threads share its filesystem context). The host's mounts and files are not changed: `/` is
//! made private (MS_REC | MS_PRIVATE) first, so no mount propagates back, and the files are
//! written in a folder of their own under /tmp that is removed once they are mounted (a bind
//! mount keeps its file).

use std::io;
use std::path::{Path, PathBuf};

use std::os::unix::fs::PermissionsExt;

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

use super::netns::NetnsError;

/// What a scenario needs made in its private namespaces besides lo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mounts {
    /// (path, content): each path is covered by a file with that content.
    pub files: &'static [(&'static str, &'static str)],
    /// `net.ipv4.ip_unprivileged_port_start` in the private network namespace.
    pub port_start: u16,
}

/// The sysctl that `port_start` sets, per network namespace.
const PORT_START: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";

/// Environment variables that override resolv.conf (resolv.conf(5)); left out so that the
/// mounted file is what the resolver reads.
const RESOLVER_ENV: [&str; 2] = ["LOCALDOMAIN", "RES_OPTIONS"];

/// Makes `m` in this (single-threaded) process, which must already be in a private network
/// namespace (`in_private` says so): the port setting, then a new mount namespace with the
/// files over their paths.
pub fn enter(m: &Mounts, in_private: bool) -> Result<(), NetnsError> {
    let step = |step: &'static str| move |source: io::Error| NetnsError::Setup { step, source };
    if !in_private {
        return Err(NetnsError::Setup {
            step: "lowering ip_unprivileged_port_start",
            source: io::Error::new(
                io::ErrorKind::PermissionDenied,
                "only in a private network namespace, never the host's",
            ),
        });
    }
    std::fs::write(PORT_START, format!("{}\n", m.port_start))
        .map_err(step("net.ipv4.ip_unprivileged_port_start"))?;
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| NetnsError::Setup {
        step: "unshare(CLONE_NEWNS)",
        source: e.into(),
    })?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| NetnsError::Setup {
        step: "making / private (MS_REC | MS_PRIVATE)",
        source: e.into(),
    })?;
    let dir = Folder::new().map_err(step("a folder for the mounted files"))?;
    for (i, (path, content)) in m.files.iter().enumerate() {
        let file = dir.0.join(i.to_string());
        std::fs::write(&file, content).map_err(step("writing a file to mount"))?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
            .map_err(step("writing a file to mount"))?;
        bind(&file, Path::new(path)).map_err(|source| NetnsError::Setup {
            step: "bind-mounting a file (MS_BIND)",
            source: io::Error::new(source.kind(), format!("over {path}: {source}")),
        })?;
    }
    // Single-threaded still: the environment may change.
    for v in RESOLVER_ENV {
        std::env::remove_var(v);
    }
    Ok(())
}

fn bind(file: &Path, over: &Path) -> io::Result<()> {
    mount(
        Some(file),
        over,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(io::Error::from)
}

/// A new folder under /tmp, readable by all (the files are read after privileges drop),
/// removed with what it holds when dropped.
struct Folder(PathBuf);

impl Folder {
    fn new() -> io::Result<Folder> {
        let path = nix::unistd::mkdtemp("/tmp/sockscope-mounts-XXXXXX").map_err(io::Error::from)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(Folder(path))
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_in_the_hosts_namespace() {
        let m = Mounts {
            files: &[("/etc/resolv.conf", "nameserver 127.0.0.1\n")],
            port_start: 53,
        };
        assert!(enter(&m, false).is_err());
    }
}
