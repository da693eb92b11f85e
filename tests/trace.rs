//! `sockscope trace -- CMD` as a user runs it: any program in a private network namespace, its
//! packets beside its output lines, its exit status as sockscope's. Run as an ordinary user:
//! uid 65534 when the tests run as root (a copy of the binary in a folder that user can
//! reach), else the user running them. No root needed either way.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A folder any user may enter and write, with a copy of the binary in it.
struct Place {
    dir: tempfile::TempDir,
    exe: PathBuf,
}

fn place() -> Place {
    let dir = tempfile::tempdir_in("/tmp").expect("a temporary directory in /tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let exe = dir.path().join("sockscope");
    std::fs::copy(env!("CARGO_BIN_EXE_sockscope"), &exe).expect("copy the binary");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    Place { dir, exe }
}

/// The uid the traced program runs as.
fn user() -> u32 {
    if nix::unistd::geteuid().is_root() {
        65534
    } else {
        nix::unistd::geteuid().as_raw()
    }
}

/// The command `sockscope trace --color never ARGS…` as an ordinary user (whole lines unless
/// ARGS give `--width`: no COLUMNS from the environment).
fn trace_command<S: AsRef<std::ffi::OsStr>>(p: &Place, args: &[S]) -> Command {
    let mut cmd = Command::new(&p.exe);
    cmd.args(["trace", "--color", "never"])
        .args(args)
        .current_dir(p.dir.path())
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .env_remove("COLUMNS");
    if nix::unistd::geteuid().is_root() {
        cmd.uid(65534).gid(65534);
    }
    cmd
}

/// `sockscope trace --color never ARGS…` as an ordinary user, to its end.
fn trace(p: &Place, args: &[&str]) -> Output {
    common::output_of_copy(&mut trace_command(p, args))
}

/// Starts `cmd` with its output piped (again while exec finds the copy busy, as
/// `common::output_of_copy` does).
fn start(cmd: &mut Command) -> std::process::Child {
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            r => return r.expect("start sockscope trace"),
        }
    }
}

/// `sockscope trace -- sh -c SCRIPT` as an ordinary user.
fn sh(p: &Place, script: &str) -> Output {
    trace(p, &["--", "sh", "-c", script])
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A Python client and a server thread: one connection, one request, one answer.
const ECHO: &str = r#"
import socket, threading, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
def serve():
    c, _ = srv.accept(); c.sendall(c.recv(100).upper()); c.close()
t = threading.Thread(target=serve); t.start()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"hello")
print("got", s.recv(100).decode(), flush=True)
s.close(); t.join()
"#;

/// `sockscope trace FLAGS… -- python3 echo.py` (the ECHO script), which must succeed: its
/// standard output.
fn echo(p: &Place, flags: &[&str]) -> String {
    let script = write_script(p, "echo.py", ECHO);
    let mut args = flags.to_vec();
    args.extend_from_slice(&["--", "python3", script.to_str().expect("utf-8 path")]);
    let out = trace(p, &args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    text
}

fn write_script(p: &Place, name: &str, text: &str) -> PathBuf {
    let f = p.dir.path().join(name);
    std::fs::write(&f, text).expect("write the script");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    f
}

#[test]
fn a_python_client_and_server_are_captured_beside_their_output() {
    let p = place();
    let script = write_script(&p, "echo.py", ECHO);
    let save = p.dir.path().join("echo.pcapng");
    let out = trace(
        &p,
        &[
            "--save",
            save.to_str().expect("utf-8 path"),
            "--",
            "python3",
            script.to_str().expect("utf-8 path"),
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    let find = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
    };
    // The handshake, the request and the answer, then the program's line, in time order.
    let syn = find("[S] seq 0");
    let request = find("len 5 \"hello\"");
    let answer = find("len 5 \"HELLO\"");
    let printed = find("» got HELLO");
    // The program's own calls, joined on the same clock: the server's accept returns after
    // the handshake's last segment, the client's write comes before its data segment.
    let accepted = find("… accept4() = ");
    let sent = find("sendto(");
    let third = find("[.] seq 1 ack 1");
    assert!(
        third < accepted,
        "accept returned after the third segment:\n{text}"
    );
    assert!(
        sent < request,
        "the write is shown before its segment:\n{text}"
    );
    let exited = find("── python3 exited with status 0");
    assert!(syn < request && request < answer && answer < printed && printed < exited);
    assert!(
        text.contains("capture: lo of a private network namespace"),
        "{text}"
    );
    assert!(
        text.contains(&format!("privileges: the program ran as uid {}, ", user())),
        "{text}"
    );
    // The saved run is the user's and loads back with the same packets.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&save).expect("saved").uid(), user());
    let back = sockscope::live::pcapng::load_saved(&save)
        .expect("the saved trace loads")
        .expect("the trace is inside the file");
    assert!(back.private_netns);
    let tcp = back
        .packets
        .iter()
        .filter(|c| {
            let f = sockscope::source::Frame::bare(back.linktype, &c.data);
            matches!(
                sockscope::decode::decode(&f).transport,
                sockscope::decode::Transport::Tcp(_)
            )
        })
        .count();
    assert_eq!(tcp, back.packets.len(), "only the program's TCP is there");
    assert!(tcp >= 8, "handshake, data, teardown: {tcp} packets");
}

/// `--width 80`: every line fits, the `[python3 pid]` tags included, and the calls still
/// show in their lanes; without it a pipe gets whole lines.
#[test]
fn the_timeline_fits_the_width_asked_for() {
    use unicode_width::UnicodeWidthStr;
    let p = place();
    let narrow = echo(&p, &["--width", "80"]);
    for l in narrow.lines() {
        assert!(l.width() <= 80, "{} columns: {l}\n{narrow}", l.width());
    }
    assert!(narrow.contains("[python3 "), "{narrow}");
    // The server's calls start in the right-hand lane, where the header says `server`.
    let head = narrow
        .lines()
        .find(|l| l.contains("client"))
        .expect("a header");
    let server_col = head.find("server").expect("a server column");
    let accept = narrow
        .lines()
        .find(|l| l.contains("accept4"))
        .expect("an accept4 line");
    assert!(
        accept.find("accept4").is_some_and(|c| c >= server_col),
        "{narrow}"
    );
    let whole = echo(&p, &[]);
    assert!(whole.lines().any(|l| l.width() > 100), "{whole}");
}

/// `trace --ladder`: the connection's ladder (arrows both ways, state changes, each side's
/// calls on its lane, the program's output) instead of the timeline; refused with jsonl.
#[test]
fn ladder_draws_the_connection_instead_of_the_timeline() {
    let p = place();
    let text = echo(&p, &["--ladder"]);
    assert!(text.contains("[S] seq=0 "), "{text}");
    assert!(text.contains("─▶ │") && text.contains("│ ◀─"), "{text}");
    assert!(text.contains("CLOSED→SYN_SENT"), "{text}");
    assert!(text.contains("» got HELLO"), "{text}");
    // accept4() on the server's lane: its line ends at the right lifeline.
    let accept = text
        .lines()
        .find(|l| l.contains("accept4("))
        .expect("an accept4 line");
    assert!(accept.trim_end().ends_with("… │"), "{text}");
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("time ")),
        "{text}"
    );
    let ascii = echo(&p, &["--ladder", "--ascii"]);
    assert!(
        ascii.contains("--> |") && ascii.contains("| <--"),
        "{ascii}"
    );
    assert!(ascii.contains("CLOSED->SYN_SENT"), "{ascii}");

    let out = trace(&p, &["--ladder", "--format", "jsonl", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn the_exit_status_and_both_output_streams_are_the_programs() {
    let p = place();
    let out = sh(&p, "echo to-stdout; echo to-stderr >&2; exit 3");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}{}", stderr(&out));
    assert!(text.contains("» to-stdout"), "{text}");
    assert!(text.contains("[stderr] » to-stderr"), "{text}");
    assert!(text.contains("── sh exited with status 3"), "{text}");
    assert!(text.contains(", every packet, 0 packets,"), "{text}");
}

#[test]
fn a_killed_program_exits_128_plus_the_signal() {
    let p = place();
    let out = sh(&p, "kill -9 $$");
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert!(stdout(&out).contains("── sh was killed by SIGKILL"));
}

#[test]
fn a_command_that_does_not_exist_is_127_and_one_line() {
    let p = place();
    let out = trace(&p, &["--", "/nonexistent/program"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(127), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("/nonexistent/program") && err.contains("command not found"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_program_that_never_ends_is_stopped_by_the_timeout() {
    let p = place();
    let started = std::time::Instant::now();
    let out = trace(&p, &["--timeout", "1", "--", "sleep", "60"]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(
        started.elapsed().as_secs() < 30,
        "the timeout did not stop it"
    );
    assert!(stdout(&out).contains("── sleep killed after --timeout 1 s"));
}

/// The namespace has `lo` and no route anywhere else (read from inside, without sending
/// anything): nothing the program does can reach another host.
#[test]
fn the_namespace_has_only_loopback() {
    let p = place();
    let out = sh(
        &p,
        "echo routes $(tail -n +2 /proc/net/route | wc -l); echo links $(tail -n +3 /proc/net/dev | cut -d: -f1)",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("» routes 0"), "{text}");
    assert!(text.contains("» links lo\n"), "{text}");
}

/// Ctrl-C in a terminal reaches the whole foreground group: the program ends, sockscope
/// survives it and shows what happened until then, and the saved files are readable.
#[test]
fn ctrl_c_stops_the_program_and_keeps_the_timeline() {
    let p = place();
    let save = p.dir.path().join("int.pcapng");
    let save_arg = save.to_str().expect("utf-8 path");
    let mut cmd = trace_command(
        &p,
        &[
            "--save",
            save_arg,
            "--",
            "sh",
            "-c",
            "echo ready; exec sleep 60",
        ],
    );
    let mut child = start(cmd.process_group(0));
    // Wait until the program has started (its line is only shown at the end, so give it time).
    std::thread::sleep(std::time::Duration::from_millis(500));
    let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
    nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGINT).expect("SIGINT the group");
    let started = std::time::Instant::now();
    let out = loop {
        if let Some(_st) = child.try_wait().expect("wait") {
            break child.wait_with_output().expect("output");
        }
        assert!(
            started.elapsed().as_secs() < 20,
            "sockscope did not end after Ctrl-C"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(130), "{text}{}", stderr(&out));
    assert!(text.contains("» ready"), "{text}");
    assert!(text.contains("── sh was killed by SIGINT"), "{text}");
    assert!(text.contains("interrupted"), "{text}");
    sockscope::live::pcapng::load_saved(&save)
        .expect("the saved file is readable")
        .expect("the trace is inside the file");
}

/// `--no-syscalls`: the packets and the output, no calls.
#[test]
fn no_syscalls_shows_packets_and_output_only() {
    let p = place();
    let text = echo(&p, &["--no-syscalls"]);
    assert!(text.contains("len 5 \"hello\""), "{text}");
    assert!(text.contains("» got HELLO"), "{text}");
    assert!(
        !text.contains("connect(") && !text.contains("accept4("),
        "{text}"
    );
}

/// A program that tries to reach another host gets ENETUNREACH (the namespace has no route:
/// nothing is sent anywhere), and sockscope says once why.
#[test]
fn another_host_is_unreachable_and_sockscope_says_why() {
    let p = place();
    // The script checks there is no route before it tries (belt and braces: no packet can
    // leave a namespace without routes, and this one has none).
    let script = write_script(
        &p,
        "away.py",
        "import socket\n\
         routes = open('/proc/net/route').read().splitlines()[1:]\n\
         assert not routes, routes\n\
         try:\n    socket.create_connection(('192.0.2.1', 9), timeout=2)\n\
         except OSError as e:\n    print('errno', e.errno, flush=True)\n",
    );
    let out = trace(&p, &["--", "python3", script.to_str().expect("utf-8 path")]);
    let text = stdout(&out);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{err}");
    assert!(text.contains("» errno 101"), "{text}");
    assert!(
        text.contains("= -1 ENETUNREACH"),
        "the failed connect is shown:\n{text}"
    );
    assert_eq!(
        err.matches("tried to reach another host").count(),
        1,
        "said once: {err}"
    );
}

/// Two terminals, as the book runs its programs: a server traced with `--netns NAME` in one,
/// its client traced with the same name in another, meet on one `lo`; each shows its own
/// calls beside the packets of the connection they share.
#[test]
fn two_traces_share_a_named_namespace() {
    let p = place();
    let server = write_script(
        &p,
        "hello_server.py",
        "import socket\n\
         s = socket.socket(); s.bind(('127.0.0.1', 9190)); s.listen(5)\n\
         c, a = s.accept(); c.sendall(b'Hello World!'); c.close(); s.close()\n",
    );
    let client = write_script(
        &p,
        "hello_client.py",
        "import socket, time\n\
         for i in range(400):\n\
         \x20   try:\n\
         \x20       s = socket.create_connection(('127.0.0.1', 9190)); break\n\
         \x20   except OSError:\n\
         \x20       time.sleep(0.025)\n\
         print('Message from server:', s.recv(100).decode(), flush=True); s.close()\n",
    );
    let name = format!(
        "lab-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let traced = |script: &PathBuf| {
        trace_command(
            &p,
            &[
                "--netns",
                name.as_str(),
                "--timeout",
                "30",
                "--",
                "python3",
                script.to_str().expect("utf-8 path"),
            ],
        )
    };
    let server_run = start(&mut traced(&server));
    // The client retries its connect until the server listens (in the namespace the server's
    // sockscope made, which the client's joins).
    let client_out = common::output_of_copy(&mut traced(&client));
    let server_out = server_run.wait_with_output().expect("the server's trace");
    let (c, s) = (stdout(&client_out), stdout(&server_out));
    assert_eq!(
        client_out.status.code(),
        Some(0),
        "{c}{}",
        stderr(&client_out)
    );
    assert_eq!(
        server_out.status.code(),
        Some(0),
        "{s}{}",
        stderr(&server_out)
    );
    assert!(c.contains("» Message from server: Hello World!"), "{c}");
    for (who, text) in [("client", &c), ("server", &s)] {
        assert!(
            text.contains("len 12 \"Hello World!\""),
            "the {who}'s trace shows the server's data segment:\n{text}"
        );
        assert!(text.contains("[S] seq 0"), "{who}:\n{text}");
    }
    assert!(c.contains("connect(3, 127.0.0.1:9190)"), "{c}");
    assert!(
        !c.contains("accept4("),
        "the client's trace has only its calls:\n{c}"
    );
    assert!(s.contains("… accept4() = "), "{s}");
    assert!(
        !s.contains("connect("),
        "the server's trace has only its calls:\n{s}"
    );
}

/// A forking C server and its client (tests/syscalls/pair.c, compiled here): every process's
/// calls are joined with the packets, each on its side, in the order the wire gives them.
#[test]
fn a_forking_c_server_and_client_are_joined_with_their_packets() {
    let p = place();
    let exe = p.dir.path().join("pair");
    let cc = Command::new("cc")
        .args(["-O1", "-o"])
        .arg(&exe)
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/syscalls/pair.c"))
        .output()
        .expect("cc (gcc is on every machine this project runs on)");
    assert!(
        cc.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = trace(&p, &["--", exe.to_str().expect("utf-8 path")]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    let find = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
    };
    // A connect to a closed port: SYN, RST, then the failed return.
    let refused = find("… connect() = -1 ECONNREFUSED");
    let rst = find("[R.] seq 1 ack 1 win 0");
    assert!(rst < refused, "{text}");
    // The real connection: accept returns after the third segment, in the parent.
    let third = find("[.] seq 1 ack 1 win 65536");
    let accepted = find("… accept() = ");
    assert!(third < accepted, "{text}");
    // The handler (a forked child) reads the request the client wrote, and answers.
    let write = find("write(3, \"ping\", 4) = 4");
    let segment = find("len 4 \"ping\"");
    // Its read returns at once (one line) or, when it had to wait, on a line of its own.
    let handled = lines
        .iter()
        .position(|l| {
            (l.contains(", 15) = 4 \"ping\"") && l.contains("read("))
                || l.contains("… read() = 4 \"ping\"")
        })
        .unwrap_or_else(|| panic!("no handler read of ping in:\n{text}"));
    let answer = find("len 4 \"pong\"");
    assert!(
        write < segment && segment < handled && handled < answer,
        "{text}"
    );
    let pid_of = |line: &str| -> u32 {
        let start = line.find("[pair ").expect("a process tag") + 6;
        line[start..]
            .split(']')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a pid")
    };
    let (parent, handler) = (pid_of(lines[accepted]), pid_of(lines[handled]));
    assert_ne!(parent, handler, "the handler is a forked child:\n{text}");
    // Server calls on the right lane, client calls on the left (the client's tag starts the
    // line's call column, the server's sits far right).
    let col = |i: usize| lines[i].find("[pair ").expect("tag");
    assert!(col(handled) > col(write), "{text}");
    assert!(text.contains("» done"), "{text}");
    // The facts of each conversation: ISNs, SYN options, what each side sent.
    assert!(
        text.contains("SYN options: client <mss 65495,sackOK,TS,wscale")
            && text.contains("server (no SYN)"),
        "the refused connection had no SYN from the server:\n{text}"
    );
    assert!(
        text.contains("bytes of data\n") && text.matches(", 4 bytes of data").count() == 2,
        "ping and pong, 4 bytes each way:\n{text}"
    );
}

/// `--format jsonl`: the program's calls, its output and the packets as one JSON Lines
/// stream, each line an object with a `kind` and every key of its kind (docs/jsonl.md); the
/// `run` record says who the program ran as.
#[test]
fn jsonl_carries_calls_output_and_packets() {
    let p = place();
    let text = echo(&p, &["--format", "jsonl"]);
    let counts = common::schema::load()
        .check_stream(&text, "trace")
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(counts.get("check"), None, "a trace has no checks");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let kind = |k: &'static str| lines.iter().filter(move |l| l["kind"] == k);
    assert_eq!(kind("run").count(), 1);
    assert_eq!(kind("capture").count(), 1);
    let run = kind("run").next().expect("the run record");
    // Started as a user (or made one by the test): nothing to drop, capabilities cleared.
    assert_eq!(run["privileges"], "cleared", "{run}");
    assert_eq!(run["uid"], user(), "{run}");
    for set in [
        "cap_effective",
        "cap_permitted",
        "cap_inheritable",
        "cap_ambient",
    ] {
        assert_eq!(run[set], serde_json::json!([]), "{set}: {run}");
    }
    assert_eq!(
        kind("capture").next().expect("capture")["private_netns"],
        true
    );
    assert!(kind("event").any(|e| e["call"] == "connect" && e["ret"] == 0));
    assert!(kind("event").any(|e| e["call"] == "print" && e["text"] == "got HELLO"));
    assert!(
        lines
            .iter()
            .any(|l| l["proto"] == "tcp" && l["flags"] == 2 && l["sport"].is_number()),
        "a SYN among the packets"
    );
}

/// A C program that prints with stdio (block-buffered into a pipe): sockscope asks for
/// line-buffered output, so its line before the connection shows before the connection's
/// packets; with `--buffered` it shows only when the program's buffer is flushed at exit.
/// (A line is stamped when sockscope reads it, a moment after the write: the program pauses
/// after it so that a busy machine cannot put the read after the connection.)
#[test]
fn output_lines_show_when_they_are_written() {
    let p = place();
    let src = p.dir.path().join("lines.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <netinet/in.h>\n#include <sys/socket.h>\n#include <unistd.h>\n\
         int main(void) {\n\
           struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};\n\
           socklen_t len = sizeof a;\n\
           printf(\"before the connection\\n\");\n\
           usleep(200000);\n\
           int l = socket(AF_INET, SOCK_STREAM, 0);\n\
           bind(l, (struct sockaddr *)&a, sizeof a); listen(l, 1);\n\
           getsockname(l, (struct sockaddr *)&a, &len);\n\
           int c = socket(AF_INET, SOCK_STREAM, 0);\n\
           if (connect(c, (struct sockaddr *)&a, sizeof a) != 0) return 1;\n\
           close(c); close(l);\n\
           printf(\"after the connection\\n\");\n\
           return 0;\n\
         }\n",
    )
    .expect("write the program");
    let exe = p.dir.path().join("lines");
    let cc = Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("cc");
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let order = |extra: &[&str]| {
        let mut args = vec!["--no-syscalls"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", exe.to_str().expect("utf-8 path")]);
        let out = trace(&p, &args);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
        let at = |needle: &str| {
            text.lines()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"))
        };
        (at("» before the connection"), at("[S] seq 0"), text)
    };
    let (before, syn, text) = order(&[]);
    assert!(before < syn, "line-buffered: the line comes first:\n{text}");
    let (before, syn, text) = order(&["--buffered"]);
    assert!(
        before > syn,
        "block-buffered: the line comes at exit:\n{text}"
    );
}

/// Under sudo (SUDO_UID set), trace drops to the user and still traces the program's calls
/// (the process must be made dumpable again after setuid, or ptrace of its own child fails).
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn under_sudo_the_program_is_traced_as_the_user() {
    if !common::root::is_root_or_skip("trace under sudo", "only root can act as sudo does") {
        return;
    }
    let p = place();
    let script = write_script(&p, "echo.py", ECHO);
    let mut cmd = Command::new(&p.exe);
    cmd.args(["trace", "--color", "never", "--timeout", "30", "--"])
        .arg("python3")
        .arg(&script)
        .current_dir(p.dir.path())
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534");
    let out = common::output_of_copy(&mut cmd);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("connect(") && text.contains("accept4("),
        "{text}"
    );
    assert!(
        text.contains("privileges: the program ran as uid 65534, gid 65534, no capabilities"),
        "{text}"
    );
}

/// A process the program leaves behind (a daemon) does not keep the trace open: it ends a
/// moment after the program, with the program's output and status.
#[test]
fn a_daemon_left_behind_does_not_hold_the_trace() {
    let p = place();
    for extra in [&[][..], &["--no-syscalls"][..]] {
        let started = std::time::Instant::now();
        let mut args = extra.to_vec();
        args.extend_from_slice(&[
            "--",
            "sh",
            "-c",
            "sleep 60 & echo $! > daemon.pid; echo started it",
        ]);
        let out = trace(&p, &args);
        // Tidy up: the daemon --no-syscalls leaves running is stopped here (the traced run
        // killed its own already, and its pid must not be signalled again).
        let pid = std::fs::read_to_string(p.dir.path().join("daemon.pid"))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        if let Some(pid) = pid.filter(|_| extra.contains(&"--no-syscalls")) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
        assert!(text.contains("» started it"), "{text}");
        assert!(
            started.elapsed().as_secs() < 30,
            "the trace waited for the daemon ({extra:?})"
        );
    }
}

/// The capture's raw socket is not passed to the program: it has no socket it did not make.
#[test]
fn the_program_inherits_no_socket() {
    let p = place();
    let out = sh(&p, "echo sockets $(ls -l /proc/$$/fd | grep -c socket)");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("» sockets 0"), "{text}");
}

/// The `--netns` registry is refused when its folder is not a real folder of the user (here a
/// link another user could have planted): nothing is written through it.
#[test]
fn the_namespace_registry_follows_no_link() {
    let p = place();
    let runtime = p.dir.path().join("runtime");
    let elsewhere = p.dir.path().join("elsewhere");
    std::fs::create_dir(&runtime).expect("mkdir");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    std::os::unix::fs::symlink(&elsewhere, runtime.join("sockscope-netns")).expect("symlink");
    let mut cmd = Command::new(&p.exe);
    cmd.args(["trace", "--netns", "lab", "--", "true"])
        .current_dir(p.dir.path())
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("SUDO_UID")
        .env_remove("SUDO_GID");
    if nix::unistd::geteuid().is_root() {
        cmd.uid(65534).gid(65534);
    }
    let out = common::output_of_copy(&mut cmd);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("namespace registry"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        std::fs::read_dir(&elsewhere)
            .expect("read")
            .next()
            .is_none(),
        "nothing was written through the link"
    );
}

/// A saved trace replays as it was shown (its calls, packets, output and facts); an existing
/// file stops the next trace before its program starts, unless `--force`.
#[test]
fn a_saved_trace_replays_and_is_not_overwritten_without_force() {
    let p = place();
    let script = write_script(&p, "echo.py", ECHO);
    let save = p.dir.path().join("t.pcapng");
    let (save_s, script_s) = (
        save.to_str().expect("utf-8 path"),
        script.to_str().expect("utf-8 path"),
    );
    let out = trace(&p, &["--save", save_s, "--", "python3", script_s]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let replayed = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["replay", "--color", "never"])
        .arg(&save)
        .output()
        .expect("run sockscope replay");
    assert_eq!(replayed.status.code(), Some(0), "{}", stderr(&replayed));
    assert_eq!(stdout(&replayed), stdout(&out));
    assert!(stdout(&replayed).contains("» got HELLO"));

    let marker = p.dir.path().join("ran");
    let touch = format!("touch {}", marker.display());
    let again = trace(&p, &["--save", save_s, "--", "sh", "-c", &touch]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("the file exists: add --force"));
    assert!(!marker.exists(), "the program ran");
    let forced = trace(&p, &["--save", save_s, "--force", "--", "sh", "-c", &touch]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(marker.exists());
    let back = sockscope::live::pcapng::load_saved(&save)
        .expect("readable")
        .expect("a run inside");
    assert!(back.scenario.contains("touch"), "{}", back.scenario);
}

/// The program's output lines are shown escaped: ESC, BEL and the rest of its control bytes
/// never reach the terminal.
#[test]
fn the_programs_output_reaches_the_terminal_escaped() {
    let p = place();
    let out = sh(
        &p,
        r"printf 'a\033[2Jb\007c\n'; printf '\033]0;title\007\233m\n' >&2",
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        !out.stdout.iter().any(|&b| b < 0x20 && b != b'\n'),
        "no control byte: {text:?}"
    );
    assert!(!text.contains('\u{9b}'), "no CSI: {text:?}");
    assert!(text.contains("» a\\x1b[2Jb\\x07c"), "{text}");
    assert!(text.contains("[stderr] » \\x1b]0;title\\x07"), "{text}");
}
