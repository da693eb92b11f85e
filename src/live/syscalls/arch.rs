//! Everything that depends on the machine (x86_64): the system call numbers, their names and
//! the seccomp-BPF program that stops the tracee on them.
//!
//! The filter (the technique of `strace --seccomp-bpf`) checks the architecture, refuses to
//! look at x32 calls, and returns `SECCOMP_RET_TRACE` for the calls in [`TRACED`] and
//! `SECCOMP_RET_ALLOW` for everything else, so the program runs untouched between them.
//! fork, vfork, clone, clone3 and execve are not in it: ptrace's own events report them
//! (`PTRACE_O_TRACEFORK`, …, `PTRACE_O_TRACEEXEC`).

use nix::libc;

/// `AUDIT_ARCH_X86_64` (`EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH: u32 = 0xc000_003e;
/// Calls with this bit set are the x32 ABI; they are let through untraced.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The calls the tracee stops on, by name. `read`, `write`, `readv`, `writev`, `close` and
/// the waiting calls also hit files, pipes and terminals: the tracer looks at the fd at the
/// stop and lets the call go on unrecorded when it is not a socket.
pub const TRACED: &[(i64, &str)] = &[
    (libc::SYS_socket, "socket"),
    (libc::SYS_socketpair, "socketpair"),
    (libc::SYS_bind, "bind"),
    (libc::SYS_listen, "listen"),
    (libc::SYS_accept, "accept"),
    (libc::SYS_accept4, "accept4"),
    (libc::SYS_connect, "connect"),
    (libc::SYS_sendto, "sendto"),
    (libc::SYS_sendmsg, "sendmsg"),
    (libc::SYS_sendmmsg, "sendmmsg"),
    (libc::SYS_recvfrom, "recvfrom"),
    (libc::SYS_recvmsg, "recvmsg"),
    (libc::SYS_recvmmsg, "recvmmsg"),
    (libc::SYS_shutdown, "shutdown"),
    (libc::SYS_setsockopt, "setsockopt"),
    (libc::SYS_getsockopt, "getsockopt"),
    (libc::SYS_getsockname, "getsockname"),
    (libc::SYS_getpeername, "getpeername"),
    (libc::SYS_close, "close"),
    (libc::SYS_read, "read"),
    (libc::SYS_write, "write"),
    (libc::SYS_readv, "readv"),
    (libc::SYS_writev, "writev"),
    (libc::SYS_poll, "poll"),
    (libc::SYS_ppoll, "ppoll"),
    (libc::SYS_select, "select"),
    (libc::SYS_pselect6, "pselect6"),
    (libc::SYS_epoll_wait, "epoll_wait"),
    (libc::SYS_epoll_pwait, "epoll_pwait"),
];

/// The name of a traced call.
pub fn name(nr: u64) -> Option<&'static str> {
    TRACED
        .iter()
        .find(|&&(n, _)| n as u64 == nr)
        .map(|&(_, name)| name)
}

/// `struct iovec`: base pointer, length.
pub const IOVEC_SIZE: usize = 16;
/// `struct msghdr`: name pointer at 0, its length (u32) at 8, iov pointer at 16, iov count at
/// 24; 56 bytes. `struct mmsghdr` adds `msg_len` (u32) at 56; 64 bytes.
pub const MSG_NAME: usize = 0;
pub const MSG_NAMELEN: usize = 8;
pub const MSG_IOV: usize = 16;
pub const MSG_IOVLEN: usize = 24;
pub const MSGHDR_SIZE: usize = 56;

// Classic BPF opcodes (linux/bpf_common.h).
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
const BPF_JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K: u16 = 0x05 | 0x30; // BPF_JMP | BPF_JGE | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
/// Offsets in `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter program: `TRACE` for the calls in [`TRACED`], `ALLOW` for the rest.
pub fn filter() -> Vec<libc::sock_filter> {
    let n = TRACED.len();
    // Layout: 0 ld arch; 1 jeq arch; 2 ld nr; 3 jge x32; 4..4+n jeq nr; 4+n ALLOW; 5+n TRACE.
    let allow_at = 4 + n;
    let mut p = Vec::with_capacity(n + 6);
    p.push(stmt(BPF_LD_W_ABS, DATA_ARCH));
    // A foreign architecture (a 32-bit call through int 0x80) is let through untraced.
    p.push(jump(BPF_JEQ_K, AUDIT_ARCH, 0, (allow_at - 2) as u8));
    p.push(stmt(BPF_LD_W_ABS, DATA_NR));
    p.push(jump(BPF_JGE_K, X32_SYSCALL_BIT, (allow_at - 4) as u8, 0));
    for (i, &(nr, _)) in TRACED.iter().enumerate() {
        let here = 4 + i;
        // jt jumps to TRACE (allow_at + 1), counted from the next instruction.
        p.push(jump(BPF_JEQ_K, nr as u32, (allow_at - here) as u8, 0));
    }
    p.push(stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW));
    p.push(stmt(BPF_RET_K, libc::SECCOMP_RET_TRACE));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the classic BPF subset the filter uses on `(arch, nr)`.
    fn run(p: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let mut pc = 0usize;
        let mut a = 0u32;
        loop {
            let i = p[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => a = if i.k == DATA_ARCH { arch } else { nr },
                BPF_JEQ_K | BPF_JGE_K => {
                    let hit = if i.code == BPF_JEQ_K {
                        a == i.k
                    } else {
                        a >= i.k
                    };
                    pc += if hit { i.jt } else { i.jf } as usize;
                }
                BPF_RET_K => return i.k,
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn the_filter_traces_the_socket_calls_and_allows_the_rest() {
        let p = filter();
        for &(nr, name) in TRACED {
            assert_eq!(
                run(&p, AUDIT_ARCH, nr as u32),
                libc::SECCOMP_RET_TRACE,
                "{name}"
            );
        }
        for nr in [
            libc::SYS_openat,
            libc::SYS_mmap,
            libc::SYS_execve,
            libc::SYS_clone,
            libc::SYS_exit_group,
            libc::SYS_nanosleep,
        ] {
            assert_eq!(run(&p, AUDIT_ARCH, nr as u32), libc::SECCOMP_RET_ALLOW);
        }
        // x32 and foreign-architecture calls are not looked at.
        let write = libc::SYS_write as u32;
        assert_eq!(
            run(&p, AUDIT_ARCH, write | X32_SYSCALL_BIT),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(run(&p, 0x4000_0003, write), libc::SECCOMP_RET_ALLOW);
    }

    #[test]
    fn names() {
        assert_eq!(name(libc::SYS_connect as u64), Some("connect"));
        assert_eq!(name(libc::SYS_openat as u64), None);
    }
}
