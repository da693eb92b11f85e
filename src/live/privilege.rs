//! The privileged code, all of it: what the capture needs, given up once the capture is open.
//!
//! Under `sudo`, the capture handle is opened as root, then the process becomes the invoking
//! user (SUDO_UID/SUDO_GID): supplementary groups, then gid, then uid, in that order (after
//! setuid the others could no longer be changed), then verified, including that root cannot be
//! regained. Started by a user from a binary given `cap_net_raw,cap_net_admin+eip` (setcap),
//! there is no uid to drop, so the capabilities themselves are cleared. Either way the
//! effective, permitted, inheritable and ambient sets end empty, checked by reading them back:
//! the scenario, its forked children and the `--save` file have no privilege left. Root started
//! without SUDO_UID (CI, a root shell) has no one to become and stays root; the report says so.
//!
//! Capabilities belong to a thread: [`drop_privileges`] must run before the process starts a
//! second thread, so that no thread keeps them.

use nix::unistd::{getegid, geteuid, getgid, getgroups, getuid, setgid, setgroups, setuid};
use nix::unistd::{Gid, Uid};

use super::LiveError;

/// Who the process runs as after [`drop_privileges`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Not root: the capabilities that gave the capture (setcap) are cleared.
    Unprivileged,
    /// Root without SUDO_UID (e.g. CI): stays root.
    Root,
    /// Was root under sudo; now this user.
    Dropped { uid: u32, gid: u32 },
}

/// The invoking user under sudo: SUDO_UID and SUDO_GID. None when SUDO_UID is not set; an
/// error when it is set but it, or SUDO_GID, is missing or not a number (a half-set pair must
/// not leave the program running as root).
fn sudo_ids() -> Result<Option<(u32, u32)>, String> {
    let Some(uid) = std::env::var_os("SUDO_UID") else {
        return Ok(None);
    };
    let number = |name: &str, v: Option<std::ffi::OsString>| -> Result<u32, String> {
        let v = v.ok_or_else(|| format!("{name} is not set"))?;
        v.to_str()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("{name} is {v:?}, not a number"))
    };
    let uid = number("SUDO_UID", Some(uid))?;
    let gid = number("SUDO_GID", std::env::var_os("SUDO_GID"))?;
    Ok(Some((uid, gid)))
}

/// Drops root to the sudo user, if there is one, and clears every capability. Fails (and the
/// run must stop) when a step fails or cannot be verified.
pub fn drop_privileges() -> Result<Identity, LiveError> {
    if !geteuid().is_root() {
        let uid = getuid().as_raw();
        let gid = getgid().as_raw();
        clear_capabilities().map_err(|what| LiveError::Privilege { uid, gid, what })?;
        return Ok(Identity::Unprivileged);
    }
    let ids = sudo_ids().map_err(LiveError::SudoUser)?;
    // Under sudo, the user who ran it; else, for a set-user-ID-root binary, the real user; a
    // root shell (real uid 0, no SUDO_UID) has no one to become.
    let (uid, gid) = match ids {
        Some(ids) => ids,
        None if !getuid().is_root() => (getuid().as_raw(), getgid().as_raw()),
        None => return Ok(Identity::Root),
    };
    if uid == 0 {
        return Ok(Identity::Root);
    }
    let fail = |what: String| LiveError::Privilege { uid, gid, what };
    let (u, g) = (Uid::from_raw(uid), Gid::from_raw(gid));
    setgroups(&[g]).map_err(|e| fail(format!("setgroups: {e}")))?;
    setgid(g).map_err(|e| fail(format!("setgid: {e}")))?;
    setuid(u).map_err(|e| fail(format!("setuid: {e}")))?;
    verify(u, g).map_err(fail)?;
    clear_capabilities().map_err(fail)?;
    // setuid left the process undumpable, which also forbids ptrace of its own children
    // (`trace`): it is the user's process now, so let the user's tools in again.
    nix::sys::prctl::set_dumpable(true).map_err(|e| fail(format!("PR_SET_DUMPABLE: {e}")))?;
    Ok(Identity::Dropped { uid, gid })
}

fn verify(u: Uid, g: Gid) -> Result<(), String> {
    if getuid() != u || geteuid() != u {
        return Err(format!("uid is {}/{} after setuid", getuid(), geteuid()));
    }
    if getgid() != g || getegid() != g {
        return Err(format!("gid is {}/{} after setgid", getgid(), getegid()));
    }
    match getgroups() {
        Ok(gs) if gs.iter().all(|&x| x == g) => {}
        Ok(gs) => return Err(format!("supplementary groups still {gs:?}")),
        Err(e) => return Err(format!("getgroups: {e}")),
    }
    if setuid(Uid::from_raw(0)).is_ok() {
        return Err("setuid(0) succeeded after the drop: root could be regained".into());
    }
    Ok(())
}

/// Empties the ambient, effective, inheritable and permitted sets of this thread (in an order
/// the kernel accepts: effective must stay within permitted), then reads them back.
fn clear_capabilities() -> Result<(), String> {
    use caps::CapSet;
    for set in [
        CapSet::Ambient,
        CapSet::Effective,
        CapSet::Inheritable,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(|e| format!("clearing the {set:?} capabilities: {e}"))?;
    }
    let held = Credentials::of_this_thread().map_err(|e| format!("reading them back: {e}"))?;
    if held.has_capabilities() {
        return Err(format!("capabilities still held after clearing: {held}"));
    }
    Ok(())
}

/// The credentials of a thread, as `/proc/thread-self/status` gives them (kept in saved runs:
/// `uid` and `gid` as `[real, effective]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// Real and effective uid.
    pub uid: (u32, u32),
    pub gid: (u32, u32),
    /// CapInh, CapPrm, CapEff, CapAmb bit masks.
    pub inheritable: u64,
    pub permitted: u64,
    pub effective: u64,
    pub ambient: u64,
}

impl Credentials {
    /// Reads the calling thread's credentials.
    pub fn of_this_thread() -> std::io::Result<Credentials> {
        let text = std::fs::read_to_string("/proc/thread-self/status")?;
        Credentials::parse(&text).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "no Uid/Gid/Cap lines in /proc/thread-self/status",
            )
        })
    }

    /// Parses the `Uid:`, `Gid:` and `Cap…:` lines of a `/proc/…/status` file.
    pub fn parse(status: &str) -> Option<Credentials> {
        let mut c = Credentials::default();
        let mut seen = 0u8;
        for line in status.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let mut words = v.split_whitespace();
            let mut pair = || -> Option<(u32, u32)> {
                Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
            };
            let hex = |v: &str| u64::from_str_radix(v.trim(), 16).ok();
            match k {
                "Uid" => c.uid = pair()?,
                "Gid" => c.gid = pair()?,
                "CapInh" => c.inheritable = hex(v)?,
                "CapPrm" => c.permitted = hex(v)?,
                "CapEff" => c.effective = hex(v)?,
                "CapAmb" => c.ambient = hex(v)?,
                _ => continue,
            }
            seen += 1;
        }
        (seen == 6).then_some(c)
    }

    /// Whether any of the four sets is not empty.
    pub fn has_capabilities(&self) -> bool {
        (self.inheritable | self.permitted | self.effective | self.ambient) != 0
    }
}

impl std::fmt::Display for Credentials {
    /// `uid 1000, gid 1000, no capabilities` or `uid 0, gid 0, capabilities eff 0x… prm 0x… …`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "uid {}, gid {}", self.uid.1, self.gid.1)?;
        if self.has_capabilities() {
            write!(
                f,
                ", capabilities eff {:#x} prm {:#x} inh {:#x} amb {:#x}",
                self.effective, self.permitted, self.inheritable, self.ambient
            )
        } else {
            write!(f, ", no capabilities")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tsockscope\nUmask:\t0022\nState:\tR (running)\n\
        Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t1000\n\
        CapInh:\t0000000000000000\nCapPrm:\t0000000000003000\nCapEff:\t0000000000002000\n\
        CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n";

    #[test]
    fn parses_status() {
        let c = Credentials::parse(STATUS).expect("parsed");
        assert_eq!(c.uid, (1000, 1000));
        assert_eq!(c.gid, (1000, 1000));
        assert_eq!(c.permitted, 0x3000);
        assert_eq!(c.effective, 0x2000);
        assert!(c.has_capabilities());
        assert_eq!(
            c.to_string(),
            "uid 1000, gid 1000, capabilities eff 0x2000 prm 0x3000 inh 0x0 amb 0x0"
        );
        let none = STATUS
            .replace("0000000000003000", "0000000000000000")
            .replace("0000000000002000", "0000000000000000");
        let c = Credentials::parse(&none).expect("parsed");
        assert!(!c.has_capabilities());
        assert_eq!(c.to_string(), "uid 1000, gid 1000, no capabilities");
    }

    #[test]
    fn incomplete_status_is_refused() {
        let cut = STATUS.replace("CapAmb:\t0000000000000000\n", "");
        assert_eq!(Credentials::parse(&cut), None);
        assert_eq!(Credentials::parse("Uid:\tx\t1\n"), None);
    }

    #[test]
    fn this_thread_can_be_read() {
        let c = Credentials::of_this_thread().expect("/proc/thread-self/status");
        assert_eq!(c.uid.1, nix::unistd::geteuid().as_raw());
    }
}
