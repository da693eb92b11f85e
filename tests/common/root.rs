//! Tests that need root (or CAP_NET_RAW, for live capture). Without it they print a loud
//! `SKIPPED (needs root): …` line and return; with `SOCKSCOPE_REQUIRE_ROOT_TESTS=1` set (CI sets
//! it: CI runs as root) they fail instead, so a CI that lost its privileges cannot pass silently.

use sockscope::live::{LiveCapture, LiveError};

/// The variable that turns a skip for lack of root into a failure.
pub const REQUIRE: &str = "SOCKSCOPE_REQUIRE_ROOT_TESTS";

/// Whether `SOCKSCOPE_REQUIRE_ROOT_TESTS=1` is set.
pub fn required() -> bool {
    std::env::var(REQUIRE).as_deref() == Ok("1")
}

/// A test cannot run for lack of root: fails when root tests are required, else says so loudly.
/// `why` names what is missing ("live capture needs root or CAP_NET_RAW", …).
pub fn lacking(what: &str, why: &str) {
    assert!(
        !required(),
        "{REQUIRE}=1 but {what} cannot run: {why} (this process is uid {})",
        nix::unistd::geteuid()
    );
    use std::io::Write;
    let line = format!(
        "SKIPPED (needs root): {what}: {why}; run the tests as root (CI does; set {REQUIRE}=1 to make this an error)\n"
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Whether live capture is possible here (opening lo succeeds). Other errors fail the test.
pub fn can_capture() -> bool {
    match LiveCapture::open() {
        Ok(_) => true,
        Err(LiveError::NeedPrivilege { .. }) => false,
        Err(e) => panic!("opening the capture on lo failed: {e}"),
    }
}

/// Opens the live capture for `what`; None (after [`lacking`]) without the privilege.
pub fn capture_or_skip(what: &str) -> Option<LiveCapture> {
    match LiveCapture::open() {
        Ok(c) => Some(c),
        Err(LiveError::NeedPrivilege { .. }) => {
            lacking(what, "live capture needs root or CAP_NET_RAW");
            None
        }
        Err(e) => panic!("opening the capture on lo failed: {e}"),
    }
}

/// True when live capture is possible; otherwise [`lacking`] and false.
pub fn capture_allowed(what: &str) -> bool {
    capture_or_skip(what).is_some()
}

/// True when this process is root; otherwise [`lacking`] and false.
pub fn is_root_or_skip(what: &str, why: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    lacking(what, why);
    false
}
