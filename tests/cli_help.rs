//! The command line's own help: examples, completion scripts, man pages, scenario names.

use assert_cmd::Command;

fn sockscope(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(args)
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .expect("run sockscope")
}

fn ok_stdout(args: &[&str]) -> String {
    let out = sockscope(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn each_subcommand_help_ends_with_examples() {
    for sub in [
        "replay",
        "list",
        "run",
        "trace",
        "compare",
        "completions",
        "man",
    ] {
        let help = ok_stdout(&[sub, "--help"]);
        let examples = help
            .split_once("\nExamples:\n")
            .unwrap_or_else(|| panic!("{sub} --help has no examples:\n{help}"))
            .1;
        assert!(
            examples.lines().all(|l| l.starts_with("  sockscope ")
                || l.starts_with("  sudo sockscope ")
                || l.starts_with("  tcpdump ")
                || l.starts_with("  cat ")),
            "{sub}: {examples}"
        );
    }
}

#[test]
fn completion_scripts_for_each_shell() {
    let bash = ok_stdout(&["completions", "bash"]);
    assert!(bash.contains("complete -F _sockscope"), "{bash}");
    let zsh = ok_stdout(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef sockscope"), "{zsh}");
    let fish = ok_stdout(&["completions", "fish"]);
    assert!(fish.contains("complete -c sockscope"), "{fish}");
    for script in [&bash, &zsh, &fish] {
        assert!(script.contains("netns") && script.contains("stream"));
    }
    let bad = sockscope(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_pages() {
    let page = ok_stdout(&["man"]);
    assert!(page.contains(".TH sockscope 1"), "{page}");
    for sub in ["replay", "run", "trace"] {
        // The top page lists each subcommand's own page.
        assert!(page.contains(&format!("sockscope\\-{sub}(1)")), "{page}");
    }
    let run = ok_stdout(&["man", "run"]);
    assert!(run.contains(".TH sockscope-run 1"), "{run}");
    let bad = sockscope(&["man", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no subcommand 'nope'"), "{err}");
}

#[test]
fn a_mistyped_scenario_gets_the_closest_name() {
    // The name is checked before any capture is opened: no root is needed.
    let out = sockscope(&["run", "handshak"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean 'handshake'?"), "{err}");
    let out = sockscope(&["run", "qqqq"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("choose one of hello, handshake"), "{err}");
}
