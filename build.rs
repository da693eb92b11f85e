//! Marks a build made by an ordinary user (`--cfg sockscope_unprivileged`), so that the tests
//! that need root are counted as ignored there instead of passing without having run. The
//! tests still check at run time (a binary built as root and run as a user says SKIPPED), and
//! `tests/live.rs`'s `root_tests_are_not_skipped` fails when SOCKSCOPE_REQUIRE_ROOT_TESTS=1 and
//! the capture cannot be opened, however the build was made.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(sockscope_unprivileged)");
    println!("cargo::rerun-if-changed=build.rs");
    if effective_uid() != Some(0) {
        println!("cargo::rustc-cfg=sockscope_unprivileged");
    }
}

/// The effective uid of this build, from `/proc/self/status` (`Uid: real effective …`).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
