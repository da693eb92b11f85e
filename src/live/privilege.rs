//! Dropping root once the capture is open.
//!
//! Under `sudo`, the capture handle is opened as root, then the process becomes the invoking
//! user (SUDO_UID/SUDO_GID): supplementary groups, then gid, then uid, in that order (after
//! setuid the others could no longer be changed), then verified, including that root cannot be
//! regained. The scenario runs, and the `--save` file is written, as that user.

use nix::unistd::{getegid, geteuid, getgid, getgroups, getuid, setgid, setgroups, setuid};
use nix::unistd::{Gid, Uid};

use super::LiveError;

/// Who the process runs as after [`drop_to_invoking_user`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// Not root: nothing to drop (CAP_NET_RAW gave the capture).
    Unprivileged,
    /// Root without SUDO_UID (e.g. CI): stays root.
    Root,
    /// Was root under sudo; now this user.
    Dropped { uid: u32, gid: u32 },
}

/// The invoking user under sudo: SUDO_UID and SUDO_GID, when both are set and numeric.
fn sudo_ids() -> Option<(u32, u32)> {
    let uid = std::env::var("SUDO_UID").ok()?.trim().parse().ok()?;
    let gid = std::env::var("SUDO_GID").ok()?.trim().parse().ok()?;
    Some((uid, gid))
}

/// Drops root to the sudo user, if there is one. Fails (and the run must stop) when a step
/// fails or cannot be verified.
pub fn drop_to_invoking_user() -> Result<Identity, LiveError> {
    if !geteuid().is_root() {
        return Ok(Identity::Unprivileged);
    }
    let Some((uid, gid)) = sudo_ids() else {
        return Ok(Identity::Root);
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
