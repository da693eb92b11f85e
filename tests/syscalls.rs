//! Tracing programs the tests build or ship with `live::syscalls` (ptrace + seccomp-BPF): a
//! forking C server/client pair, a Python client with a server thread, exit statuses, a missing
//! command, a program killed by a signal. No privilege is needed: tracing one's own child and
//! a seccomp filter under `PR_SET_NO_NEW_PRIVS` are allowed to every user.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::RecvTimeoutError;

use sockscope::live::syscalls::{trace, Exit, Stream, Trace, TraceError, Traced};
use sockscope::live::{Event, Role};

fn argv(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// The Python interpreter itself (`sys.executable`), not whatever `python3` on PATH is: that may
/// be a shim (pyenv's is a bash script, which looks the user up over nscd's unix socket and
/// forks helpers), and its socket calls are not the ones these tests are about.
fn python3() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is installed");
        let path = String::from_utf8(out.stdout).expect("a utf-8 path");
        let path = path.trim();
        assert!(
            out.status.success() && !path.is_empty(),
            "python3 names its interpreter"
        );
        path.to_owned()
    })
}

fn python(code: &str) -> Traced {
    trace(&argv(&[python3(), "-c", code])).expect("python3 runs traced")
}

fn calls(events: &[&Event]) -> Vec<String> {
    events.iter().map(|e| e.call.clone()).collect()
}

fn of_pid(t: &Traced, pid: u32) -> Vec<&Event> {
    t.events.iter().filter(|e| e.pid == pid).collect()
}

fn one<'a>(events: &[&'a Event], call: &str) -> &'a Event {
    let found: Vec<_> = events.iter().filter(|e| e.call == call).collect();
    assert_eq!(found.len(), 1, "one {call} in {:#?}", calls(events));
    found[0]
}

/// Every recorded call is on a socket: nothing on stdin, stdout or stderr (the programs print).
fn only_sockets(t: &Traced) {
    for e in &t.events {
        assert!(
            !matches!(e.fd, Some(0..=2)),
            "a call on a standard fd was recorded: {}",
            e.line()
        );
    }
}

/// Events come in the order the calls returned, each returning after it started.
fn in_return_order(t: &Traced) {
    for e in &t.events {
        assert!(e.start <= e.end, "{}", e.line());
    }
    for w in t.events.windows(2) {
        assert!(
            w[0].end <= w[1].end,
            "{} after {}",
            w[1].line(),
            w[0].line()
        );
    }
}

fn compile(dir: &Path, name: &str) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/syscalls/{name}.c"));
    let exe = dir.join(name);
    let out = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("cc runs");
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

#[test]
fn a_forking_c_server_and_its_client() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(dir.path(), "pair");
    let t = trace(&[exe.into_os_string()]).unwrap();
    assert_eq!(t.exit, Exit::Code(0));
    assert_eq!(t.exit.status(), 0);
    only_sockets(&t);
    in_return_order(&t);

    // Three processes: the server, the client it forked, the handler it forked per connection.
    let pids: BTreeSet<u32> = t.events.iter().map(|e| e.pid).collect();
    assert_eq!(pids.len(), 3, "{pids:?}");
    assert!(pids.contains(&t.pid));
    for e in &t.events {
        assert_eq!(e.pid, e.tid, "single-threaded: {}", e.line());
        assert!(e.who.ends_with(&format!("pair {}", e.pid)), "{}", e.who);
    }

    // The server: its calls in order, with their arguments and results.
    let server = of_pid(&t, t.pid);
    assert_eq!(
        calls(&server),
        [
            "socket",
            "setsockopt",
            "bind",
            "listen",
            "getsockname",
            "accept",
            "close",
            "close"
        ]
    );
    assert!(server.iter().all(|e| e.role == Role::Server && e.ok()));
    assert_eq!(server[0].args, "AF_INET, SOCK_STREAM, 0");
    assert_eq!(server[0].ret, Some(3));
    assert_eq!(server[1].args, "3, SOL_SOCKET, SO_REUSEADDR, 1");
    assert_eq!(server[2].args, "3, 127.0.0.1:0");
    let listen_at = server[2].local.expect("bind learns the port");
    assert_ne!(listen_at.port(), 0);
    assert_eq!(
        server[2].text.as_deref(),
        Some(format!("(port {})", listen_at.port()).as_str())
    );
    assert_eq!(server[3].args, "3, 5");
    assert_eq!(
        server[4].text.as_deref(),
        Some(format!("({listen_at})").as_str())
    );
    let accept = server[5];
    assert_eq!(accept.args, "3");
    assert_eq!(accept.ret, Some(4));
    assert_eq!(accept.local, Some(listen_at));

    // The client: first refused by a port nobody listens on, then its conversation.
    let client_pid = *pids
        .iter()
        .find(|&&p| p != t.pid && of_pid(&t, p).iter().any(|e| e.call == "connect"))
        .expect("a client process");
    let client = of_pid(&t, client_pid);
    assert_eq!(
        calls(&client),
        [
            "close",
            "socket",
            "bind",
            "getsockname",
            "close",
            "socket",
            "connect",
            "close",
            "socket",
            "connect",
            "write",
            "read",
            "shutdown",
            "close"
        ]
    );
    // Its copy of the listening socket, closed first: a call on the server's socket.
    assert_eq!(
        (client[0].args.as_str(), client[0].role),
        ("3", Role::Server)
    );
    assert_eq!(client[0].local, Some(listen_at));
    let client = &client[1..];
    let refused = client[5];
    assert_eq!(refused.ret, Some(-1));
    assert_eq!(refused.errno.as_deref(), Some("ECONNREFUSED"));
    assert_eq!(refused.line().split(" = ").nth(1), Some("-1 ECONNREFUSED"));
    let connect = client[8];
    assert!(connect.ok());
    assert_eq!(connect.ret, Some(0));
    assert_eq!(connect.addr, Some(listen_at));
    assert_eq!(connect.args, format!("3, {listen_at}"));
    let client_at = connect.local.expect("connect's local address");
    assert_eq!(accept.addr, Some(client_at), "accept returns the client");
    assert_eq!(
        accept.text.as_deref(),
        Some(format!("(from {client_at})").as_str())
    );
    let write = client[9];
    assert_eq!(write.args, "3, \"ping\", 4");
    assert_eq!(write.ret, Some(4));
    assert_eq!(write.data.as_deref(), Some(&b"ping"[..]));
    assert_eq!(
        (write.local, write.addr),
        (Some(client_at), Some(listen_at))
    );
    let read = client[10];
    assert_eq!(read.args, "3, 15");
    assert_eq!(read.data.as_deref(), Some(&b"pong"[..]));
    assert_eq!(read.text.as_deref(), Some("\"pong\""));
    assert_eq!(client[11].args, "3, SHUT_WR");
    assert!(client.iter().all(|e| e.role == Role::Client));
    assert_eq!(client[12].args, "3");

    // The handler (the server's second child) works on the accepted socket: the server's.
    let handler_pid = *pids
        .iter()
        .find(|&&p| p != t.pid && p != client_pid)
        .unwrap();
    let handler = of_pid(&t, handler_pid);
    assert_eq!(calls(&handler), ["close", "read", "write", "read", "close"]);
    assert!(handler.iter().all(|e| e.role == Role::Server));
    assert_eq!(handler[1].data.as_deref(), Some(&b"ping"[..]));
    assert_eq!(handler[2].data.as_deref(), Some(&b"pong"[..]));
    assert_eq!(handler[3].ret, Some(0));
    assert_eq!(
        handler[3].text.as_deref(),
        Some("(end of stream: the peer's FIN)")
    );
    assert_eq!(
        (handler[1].local, handler[1].addr),
        (Some(listen_at), Some(client_at))
    );

    // Causes before effects across processes.
    assert!(write.start <= handler[1].end);
    assert!(handler[2].start <= read.end);
    assert!(connect.start <= accept.end);

    // What they printed, as lines (stdout is a pipe, not a traced socket).
    let out: Vec<&str> = t.output.iter().map(|l| l.text.as_str()).collect();
    assert!(out.contains(&"client got pong"), "{out:?}");
    assert!(out.contains(&"handler got ping"));
    assert_eq!(out.last(), Some(&"done"));
    assert!(t.output.iter().all(|l| l.stream == Stream::Stdout));
    assert!(t.output.windows(2).all(|w| w[0].ts <= w[1].ts));
}

const PY_THREADS: &str = r#"
import os, signal, socket, sys, threading
signal.signal(signal.SIGUSR1, lambda *a: print("got SIGUSR1"))
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv.bind(("::1", 0))
srv.listen(1)
port = srv.getsockname()[1]
def serve():
    c, _ = srv.accept()
    d = c.recv(100)
    c.sendall(d.upper())
    c.close()
t = threading.Thread(target=serve)
t.start()
s = socket.create_connection(("::1", port))
s.sendmsg([b"hel", b"lo\x00\n"])
print("client got", s.recv(100))
s.close()
t.join()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v.sendto(b"x" * 300, u.getsockname())
print(len(u.recvfrom(1000)[0]), file=sys.stderr)
os.kill(os.getpid(), signal.SIGUSR1)
try:
    socket.socket().send(b"abc")
except OSError as e:
    print("send", e.errno, file=sys.stderr)
sys.stdout.flush()
"#;

#[test]
fn a_python_client_and_its_server_thread() {
    let t = python(PY_THREADS);
    assert_eq!(t.exit, Exit::Code(0), "{:?}", t.output);
    only_sockets(&t);
    in_return_order(&t);
    assert!(t.events.iter().all(|e| e.pid == t.pid));

    let all: Vec<&Event> = t.events.iter().collect();
    // The server thread is another tid of the same process.
    let accept = one(&all, "accept4");
    assert_ne!(accept.tid, t.pid);
    assert_eq!(accept.role, Role::Server);
    let connect = all.iter().find(|e| e.call == "connect").expect("a connect");
    assert_eq!(connect.tid, t.pid);
    assert_eq!(connect.role, Role::Client);
    let server_at = connect.addr.expect("connect's address");
    assert!(server_at.is_ipv6());
    assert_eq!(accept.local, Some(server_at));
    assert_eq!(accept.addr, connect.local);
    let fd = connect.fd.expect("connect's fd");
    assert_eq!(connect.args, format!("{fd}, {server_at}"));

    // sendmsg gathers its two buffers; the preview escapes the NUL and the newline.
    let sendmsg = one(&all, "sendmsg");
    assert_eq!(sendmsg.data.as_deref(), Some(&b"hello\x00\n"[..]));
    assert_eq!(sendmsg.args, format!("{fd}, \"hello\\x00\\n\", 7, 0"));
    let recv = all
        .iter()
        .find(|e| e.call == "recvfrom" && e.tid == accept.tid)
        .expect("the server's recv");
    assert_eq!(recv.data.as_deref(), Some(&b"hello\x00\n"[..]));
    assert_eq!(recv.role, Role::Server);

    // UDP: the sender's address comes back with the datagram; 300 bytes keep DATA_MAX of them.
    let sendto = all
        .iter()
        .find(|e| e.call == "sendto" && e.args.contains("300"))
        .expect("the datagram");
    assert_eq!(sendto.ret, Some(300));
    assert_eq!(sendto.data.as_ref().map(Vec::len), Some(256));
    assert!(sendto.data_cut);
    assert_eq!(sendto.role, Role::Client);
    let from = all
        .iter()
        .rev()
        .find(|e| e.call == "recvfrom")
        .expect("recvfrom");
    assert_eq!(from.ret, Some(300));
    // The sender was bound by its first sendto, to 0.0.0.0 and a port; it sent from 127.0.0.1.
    let sender = sendto.local.expect("sendto bound the sender");
    assert!(sender.ip().is_unspecified());
    let sender = std::net::SocketAddr::from(([127, 0, 0, 1], sender.port()));
    assert_eq!(from.addr, Some(sender), "recvfrom names the sender");
    assert!(from
        .text
        .as_deref()
        .unwrap()
        .ends_with(&format!(" from {sender}")));
    assert_eq!(from.args, format!("{}, 1000, 0", from.fd.unwrap()));
    assert_eq!(from.role, Role::Server, "a datagram socket it bound");

    // A failed send: -1 and its errno, and what it tried to send.
    let failed = all
        .iter()
        .find(|e| e.call == "sendto" && e.errno.is_some())
        .expect("the failed send");
    assert_eq!(failed.ret, Some(-1));
    assert_eq!(failed.errno.as_deref(), Some("EPIPE"));
    assert_eq!(
        failed.args,
        format!("{}, \"abc\", 3, 0", failed.fd.unwrap())
    );
    assert_eq!(failed.data, None);
    assert!(failed.line().ends_with(" = -1 EPIPE"), "{}", failed.line());

    // The signal reached its handler (the tracer passes signals on), and the output lines
    // keep their streams.
    let out: Vec<(Stream, &str)> = t
        .output
        .iter()
        .map(|l| (l.stream, l.text.as_str()))
        .collect();
    assert!(
        out.contains(&(Stream::Stdout, "client got b'HELLO\\x00\\n'")),
        "{out:?}"
    );
    assert!(out.contains(&(Stream::Stderr, "300")));
    assert!(out.contains(&(Stream::Stdout, "got SIGUSR1")));
}

#[test]
fn exit_statuses_are_the_programs() {
    let t = python("import sys; print('bye'); sys.exit(3)");
    assert_eq!(t.exit, Exit::Code(3));
    assert_eq!(t.exit.status(), 3);
    assert!(t.events.is_empty(), "{:?}", t.events);
    assert_eq!(t.output.len(), 1);
    assert_eq!(t.output[0].text, "bye");
}

#[test]
fn a_missing_command_is_a_clear_error() {
    match trace(&argv(&["sockscope-no-such-program", "x"])) {
        Err(e @ TraceError::NotFound { .. }) => {
            assert_eq!(
                e.to_string(),
                "sockscope-no-such-program: command not found"
            )
        }
        other => panic!("{other:?}"),
    }
    match trace(&argv(&["/nonexistent/dir/prog"])) {
        Err(TraceError::NotFound { program }) => assert_eq!(program, "/nonexistent/dir/prog"),
        other => panic!("{other:?}"),
    }
    // There but not executable: a shell's 126, not 127.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "not a program").unwrap();
    match trace(&[file.into_os_string()]) {
        Err(TraceError::Exec { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied)
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(trace(&[]), Err(TraceError::Empty)));
}

#[test]
fn a_program_killed_by_a_signal() {
    // Killed while its accept waits: the status is a shell's 128 + 9, and the call is kept as
    // unfinished.
    let t = python(
        "import os, signal, socket, threading\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n\
         threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()\n\
         s.accept()",
    );
    assert_eq!(t.exit, Exit::Signal(9));
    assert_eq!(t.exit.status(), 137);
    let accept = t.events.last().expect("events");
    assert_eq!(accept.call, "accept4");
    assert_eq!(accept.ret, None);
    assert_eq!(
        accept.text.as_deref(),
        Some("(unfinished: the thread was killed by signal 9)")
    );
    assert_eq!(accept.role, Role::Server);

    let t = trace(&argv(&["sh", "-c", "kill -TERM $$"])).unwrap();
    assert_eq!(t.exit, Exit::Signal(15));
    assert_eq!(t.exit.status(), 143);
}

#[test]
fn the_hook_runs_in_the_child_before_exec() {
    // SAFETY: setsid is async-signal-safe.
    let ok = unsafe {
        Trace::new(&argv(&[
            python3(),
            "-c",
            "import os; print(os.getsid(0) == os.getpid())",
        ]))
        .pre_exec(|| nix::unistd::setsid().map(drop).map_err(Into::into))
    }
    .null_stdin()
    .run()
    .unwrap();
    assert_eq!(ok.output[0].text, "True");
    // SAFETY: the hook makes no call at all.
    let failed = unsafe {
        Trace::new(&argv(&["true"]))
            .pre_exec(|| Err(std::io::Error::from_raw_os_error(nix::libc::EPERM)))
    }
    .run();
    match failed {
        Err(TraceError::Hook(e)) => assert_eq!(e.raw_os_error(), Some(nix::libc::EPERM)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_shell_that_forks_and_execs_the_program() {
    // The shell forks, its child execs python3: the calls are the child's, under its new name,
    // and the status is the shell's.
    let script = format!(
        "{} -c 'import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536); print(s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) > 0); s.close()'; exit 5",
        python3()
    );
    let t = trace(&argv(&["sh", "-c", &script])).unwrap();
    let name = Path::new(python3()).file_name().unwrap().to_str().unwrap();
    assert_eq!(t.exit, Exit::Code(5));
    only_sockets(&t);
    let all: Vec<&Event> = t.events.iter().collect();
    assert_eq!(calls(&all), ["socket", "setsockopt", "getsockopt", "close"]);
    for e in &all {
        assert_ne!(e.pid, t.pid, "the shell makes no socket call");
        assert_eq!(e.who, format!("{name} {}", e.pid));
    }
    assert_eq!(all[0].args, "AF_INET6, SOCK_DGRAM|SOCK_CLOEXEC, 0");
    assert_eq!(
        all[1].args,
        format!("{}, SOL_SOCKET, SO_SNDBUF, 65536", all[0].ret.unwrap())
    );
    let value = all[2].text.as_deref().unwrap();
    assert!(
        value.starts_with("(value ") && value != "(value 0)",
        "{value}"
    );
    assert_eq!(t.output[0].text, "True");
}

#[test]
fn stops_signals_vfork_and_unix_sockets() {
    // A child stops itself (a group-stop: its parent sees it stopped and continues it), then
    // a vforked (subprocess) program talks over a socketpair. Killed after 30 s if it hangs.
    let code = r#"
import os, signal, subprocess, sys
pid = os.fork()
if pid == 0:
    os.kill(os.getpid(), signal.SIGSTOP)
    print("child resumed", flush=True)
    os._exit(0)
_, st = os.waitpid(pid, os.WUNTRACED)
print("stopped", os.WIFSTOPPED(st), flush=True)
os.kill(pid, signal.SIGCONT)
os.waitpid(pid, 0)
r = subprocess.run([sys.executable, "-c", "import socket; a, b = socket.socketpair(); a.send(b'hi'); print(b.recv(9))"], capture_output=True)
print(r.stdout.decode().strip(), flush=True)
"#;
    // The watchdog kills only while the run lasts: dropping `done` (right after) disarms it.
    let (done, disarmed) = std::sync::mpsc::channel::<()>();
    let t = Trace::new(&argv(&[python3(), "-c", code]))
        .on_start(move |pid| {
            std::thread::spawn(move || {
                let limit = std::time::Duration::from_secs(30);
                if disarmed.recv_timeout(limit) == Err(RecvTimeoutError::Timeout) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            });
        })
        .run()
        .unwrap();
    drop(done);
    assert_eq!(t.exit, Exit::Code(0));
    let out: Vec<&str> = t.output.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(out, ["stopped True", "child resumed", "b'hi'"]);
    let all: Vec<&Event> = t.events.iter().collect();
    let pair = one(&all, "socketpair");
    assert_ne!(pair.pid, t.pid, "the subprocess's call");
    assert_eq!(pair.args, "AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0, [3, 4]");
    let send = one(&all, "sendto");
    assert_eq!((send.args.as_str(), send.ret), ("3, \"hi\", 2, 0", Some(2)));
    let recv = one(&all, "recvfrom");
    assert_eq!(recv.text.as_deref(), Some("\"hi\""));
    assert_eq!(
        (recv.local, recv.addr),
        (None, None),
        "unix sockets have no IP address"
    );
}

#[test]
fn vectors_messages_and_waits_on_sockets_but_not_on_pipes() {
    let t = python(
        r#"
import os, select, socket
a, b = socket.socketpair()
r, w = os.pipe()
select.select([r], [], [], 0)
p = select.poll(); p.register(r, select.POLLIN); p.poll(0)
os.writev(a.fileno(), [b"ab", b"cd"])
p = select.poll(); p.register(b, select.POLLIN); p.poll(1000)
select.select([b], [], [], 1)
e = select.epoll(); e.register(b.fileno(), select.EPOLLIN); e.poll(1)
os.readv(b.fileno(), [bytearray(1), bytearray(10)])
a.sendmsg([b"xyz"]); b.recvmsg(100)
os.write(w, b"pipe"); os.read(r, 4)
"#,
    );
    assert_eq!(t.exit, Exit::Code(0));
    let all: Vec<&Event> = t.events.iter().collect();
    let waits: Vec<(&str, &str, Option<i64>)> = all
        .iter()
        .filter(|e| {
            e.call.contains("poll") || e.call.contains("select") || e.call.contains("epoll")
        })
        .map(|e| (e.call.as_str(), e.args.as_str(), e.ret))
        .collect();
    // The waits on the pipe alone are not recorded; those on the socket are.
    assert_eq!(waits.len(), 3, "{waits:?}");
    assert_eq!(waits[0], ("poll", "[4 POLLIN], 1, 1000", Some(1)));
    assert_eq!(
        all.iter()
            .find(|e| e.call == "poll")
            .unwrap()
            .text
            .as_deref(),
        Some("([4 POLLIN])")
    );
    assert!(
        waits[1].0.contains("select") && waits[1].1.ends_with("sockets [4]"),
        "{waits:?}"
    );
    assert!(
        waits[2].0.starts_with("epoll") && waits[2].1.ends_with("sockets [4]"),
        "{waits:?}"
    );
    let writev = one(&all, "writev");
    assert_eq!(
        (writev.args.as_str(), writev.ret),
        ("3, \"abcd\", 4", Some(4))
    );
    let readv = one(&all, "readv");
    assert_eq!((readv.args.as_str(), readv.ret), ("4, 11", Some(4)));
    assert_eq!(readv.data.as_deref(), Some(&b"abcd"[..]));
    let sendmsg = one(&all, "sendmsg");
    assert_eq!(sendmsg.args, "3, \"xyz\", 3, 0");
    let recvmsg = one(&all, "recvmsg");
    assert_eq!(
        (recvmsg.args.as_str(), recvmsg.text.as_deref()),
        ("4, 100, 0", Some("\"xyz\""))
    );
    // Nothing on the pipe: no read or write of "pipe".
    assert!(
        !all.iter().any(|e| e.call == "read" || e.call == "write"),
        "{:#?}",
        calls(&all)
    );
}
