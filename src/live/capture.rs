//! Live capture on `lo` with libpcap: immediate mode, nanosecond timestamps, a BPF filter on
//! the run's own ports, and a deterministic stop.
//!
//! The handle is opened first, while privileged ([`LiveCapture::open`]); the filter is set once
//! the scenario has bound its ports ([`LiveCapture::start`], which needs no privilege), and a
//! reader thread then drains the ring. To stop, a sentinel UDP datagram is sent on lo to a port
//! the filter includes, once from every CPU the process may run on (each CPU's receive backlog
//! is a FIFO, so once every sentinel is read, every packet sent before it has been captured);
//! the reader stops when it has seen them all. No fixed sleeps.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pcap::{Active, Capture, Precision};

use crate::decode::{decode, Transport};
use crate::source::Frame;

use super::LiveError;

/// Bytes kept of each packet.
pub const SNAPLEN: i32 = 262_144;
/// Kernel ring size. On lo (MTU 65536) libpcap sizes each packet slot for the MTU (64 KiB, in a
/// 128 KiB block), so its default 2 MiB holds only 31 packets and a reader starved on a loaded
/// machine drops some. 10 MiB (159 slots) holds every packet of the largest scenario (nagle,
/// about 75) even if the reader does not run at all, and opens quickly (a much larger ring
/// costs the kernel tens of ms to allocate).
pub const BUFFER: i32 = 10 << 20;
const SENTINEL: &[u8] = b"sockscope end-of-run sentinel";
/// How long the reader may take to see the sentinels before the stop is an error.
const STOP_LIMIT: Duration = Duration::from_secs(5);
/// Sentinels not seen after this are sent again.
const RESEND: Duration = Duration::from_millis(250);

/// One captured packet, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// ns since the epoch (CLOCK_REALTIME, as libpcap stamps it).
    pub ts: i128,
    /// Length on the wire.
    pub origlen: u32,
    pub data: Vec<u8>,
}

/// libpcap's counters for one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets the kernel passed to the capture socket (on lo each packet passes twice:
    /// libpcap skips the outgoing copy).
    pub received: u64,
    /// Packets dropped because the ring was full: what matters.
    pub dropped: u64,
    pub if_dropped: u64,
    /// The kernel ring's size asked of libpcap, in KiB (0: not recorded, in older saved runs).
    pub buffer_kib: u64,
}

/// An open capture on lo (or on a scenario's extra device), not yet reading.
pub struct LiveCapture {
    cap: Capture<Active>,
    linktype: u16,
    /// The ring's size, in bytes.
    buffer: i32,
    /// Where the stop sentinels go: lo, or out of the device with this address.
    route: Route,
}

/// How a capture's stop sentinels reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// To 127.0.0.1, on lo (each is seen twice: going out and coming in).
    Lo,
    /// Out of the device with this address, to [`SENTINEL_GROUP`] (no ARP is needed, and a
    /// multicast sent with IP_MULTICAST_LOOP 0 comes back to no socket): seen once, going out.
    Device(Ipv4Addr),
}

/// The group the stop sentinels of a device capture are sent to (administratively scoped).
const SENTINEL_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 77, 77);

/// A capture being read by its thread.
pub struct Running {
    thread: JoinHandle<Result<(LiveCapture, Vec<Captured>), LiveError>>,
    done: mpsc::Receiver<()>,
    expected: Arc<AtomicUsize>,
    abort: Arc<AtomicBool>,
    sentinel: UdpSocket,
    sentinel_to: SocketAddr,
    before: pcap::Stat,
    filter: String,
    /// How many times the capture sees each sentinel.
    copies: u64,
}

/// Whether a libpcap error means "not allowed" (no root, no CAP_NET_RAW).
fn is_permission(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("permitted") || m.contains("permission") || m.contains("eperm")
}

impl LiveCapture {
    /// Opens lo with the default ring ([`BUFFER`]). Needs root or CAP_NET_RAW; without it the
    /// error is [`LiveError::NeedPrivilege`].
    pub fn open() -> Result<LiveCapture, LiveError> {
        Self::open_sized(None)
    }

    /// Opens lo with a ring of `kib` KiB (`-B`), or the default.
    pub fn open_sized(kib: Option<u32>) -> Result<LiveCapture, LiveError> {
        Self::open_on("lo", Route::Lo, kib)
    }

    /// Opens a scenario's extra device (see `veth`), with a ring of `kib` KiB or the default.
    /// Its stop sentinels leave by that device.
    pub fn open_device(
        dev: &super::veth::Device,
        kib: Option<u32>,
    ) -> Result<LiveCapture, LiveError> {
        Self::open_on(dev.name, Route::Device(dev.addr), kib)
    }

    fn open_on(device: &str, route: Route, kib: Option<u32>) -> Result<LiveCapture, LiveError> {
        let buffer = kib.map_or(BUFFER, |k| {
            i32::try_from(u64::from(k) * 1024).unwrap_or(i32::MAX)
        });
        let err = |e: pcap::Error| {
            let msg = e.to_string();
            if is_permission(&msg) {
                LiveError::NeedPrivilege {
                    exe: std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "sockscope".into()),
                }
            } else {
                LiveError::Capture(msg)
            }
        };
        let cap = Capture::from_device(device)
            .map_err(err)?
            .immediate_mode(true)
            .precision(Precision::Nano)
            .snaplen(SNAPLEN)
            .buffer_size(buffer)
            .open()
            .map_err(err)?
            .setnonblock()
            .map_err(err)?;
        let linktype = cap.get_datalink().0 as u16;
        // The raw socket must not pass to a traced program (or a scenario's exec): it could
        // inject packets or change the filter. libpcap opens it without close-on-exec.
        nix::fcntl::fcntl(
            cap.as_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(|e| LiveError::Capture(format!("marking the capture close-on-exec: {e}")))?;
        Ok(LiveCapture {
            cap,
            linktype,
            buffer,
            route,
        })
    }

    /// LINKTYPE_* of lo (Ethernet on Linux).
    pub fn linktype(&self) -> u16 {
        self.linktype
    }

    /// Sets the filter to `ports` (either end, TCP or UDP) and starts reading.
    pub fn start(self, ports: &[u16]) -> Result<Running, LiveError> {
        self.start_with(Some(ports))
    }

    /// Starts reading every packet of the interface (a private namespace's `lo`, where only
    /// the traced program's traffic is), the stop sentinels excepted.
    pub fn start_all(self) -> Result<Running, LiveError> {
        self.start_with(None)
    }

    fn start_with(mut self, ports: Option<&[u16]>) -> Result<Running, LiveError> {
        let (rx, sentinel_to, sentinel) = match self.route {
            Route::Lo => {
                let rx = UdpSocket::bind("127.0.0.1:0")?;
                let to = rx.local_addr()?;
                (rx, to, UdpSocket::bind("127.0.0.1:0")?)
            }
            Route::Device(addr) => {
                // `rx` only holds the port number, so that no other socket takes it.
                let rx = UdpSocket::bind((addr, 0))?;
                let to = SocketAddr::from((SENTINEL_GROUP, rx.local_addr()?.port()));
                let s = UdpSocket::bind((addr, 0))?;
                socket2::SockRef::from(&s).set_multicast_if_v4(&addr)?;
                s.set_multicast_loop_v4(false)?;
                (rx, to, s)
            }
        };
        let mut parts: Vec<String> = ports
            .unwrap_or_default()
            .iter()
            .map(|p| format!("port {p}"))
            .collect();
        parts.sort();
        parts.dedup();
        let mine = parts.join(" or ");
        let sentinel_filter = format!("udp dst port {}", sentinel_to.port());
        let full = match (ports, mine.is_empty()) {
            // Everything: an empty expression compiles to "accept all".
            (None, _) => String::new(),
            (Some(_), true) => sentinel_filter,
            (Some(p), false) => {
                format!("({mine}) or {} or {sentinel_filter}", icmp_errors_filter(p))
            }
        };
        self.cap
            .filter(&full, true)
            .map_err(|e| LiveError::Capture(format!("setting the filter '{full}': {e}")))?;
        let before = self
            .cap
            .stats()
            .map_err(|e| LiveError::Capture(format!("reading the counters: {e}")))?;
        let expected = Arc::new(AtomicUsize::new(0));
        let abort = Arc::new(AtomicBool::new(false));
        let (tx, done) = mpsc::channel();
        let (exp, ab) = (expected.clone(), abort.clone());
        let port = sentinel_to.port();
        let own: Option<Vec<u16>> = ports.map(<[u16]>::to_vec);
        let copies = if self.route == Route::Lo { 2 } else { 1 };
        let thread = std::thread::Builder::new()
            .name("sockscope-capture".into())
            .spawn(move || {
                let r = self.read(port, own.as_deref(), &exp, &ab);
                drop(rx);
                let _ = tx.send(());
                r.map(|p| (self, p))
            })?;
        Ok(Running {
            thread,
            done,
            expected,
            abort,
            sentinel,
            sentinel_to,
            before,
            filter: mine,
            copies,
        })
    }

    /// Reads until `expected` sentinels have been seen (or `abort`).
    fn read(
        &mut self,
        sentinel_port: u16,
        ports: Option<&[u16]>,
        expected: &AtomicUsize,
        abort: &AtomicBool,
    ) -> Result<Vec<Captured>, LiveError> {
        let mut out = Vec::new();
        let mut seen = 0usize;
        loop {
            loop {
                match self.cap.next_packet() {
                    Ok(p) => {
                        let ts = p.header.ts.tv_sec as i128 * 1_000_000_000
                            + p.header.ts.tv_usec as i128;
                        match classify(self.linktype, p.data, sentinel_port, ports) {
                            Kind::Sentinel => seen += 1,
                            Kind::Mine => out.push(Captured {
                                ts,
                                origlen: p.header.len,
                                data: p.data.to_vec(),
                            }),
                            Kind::Other => {}
                        }
                    }
                    Err(pcap::Error::TimeoutExpired) => break,
                    Err(e) => return Err(LiveError::Capture(format!("reading packets: {e}"))),
                }
            }
            let want = expected.load(Ordering::SeqCst);
            if want > 0 && seen >= want {
                return Ok(out);
            }
            if abort.load(Ordering::SeqCst) {
                return Err(LiveError::Capture(format!(
                    "the end-of-run marker was not captured within {} s ({seen} of {want} seen)",
                    STOP_LIMIT.as_secs()
                )));
            }
            // Wakes for packets; the timeout only bounds how late an abort is noticed.
            let fd = self.cap.as_fd();
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(50u16)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(LiveError::Capture(format!("poll: {e}"))),
            }
        }
    }
}

/// The BPF expression for ICMP errors (destination unreachable, time exceeded, parameter
/// problem) that quote a datagram or segment to or from one of `ports`: the quoted IP header's
/// length is read from its first byte, the ports follow it. A datagram to a closed port brings
/// back such an error, which names no port of its own.
fn icmp_errors_filter(ports: &[u16]) -> String {
    const AT: &str = "((icmp[8] & 0xf) << 2)";
    let mut quoted: Vec<String> = ports
        .iter()
        .map(|p| format!("icmp[8 + {AT}:2] = {p} or icmp[10 + {AT}:2] = {p}"))
        .collect();
    quoted.sort();
    quoted.dedup();
    format!(
        "(icmp and (icmp[0] = 3 or icmp[0] = 11 or icmp[0] = 12) and ({}))",
        quoted.join(" or ")
    )
}

/// The ports of the datagram or segment an ICMP error quotes.
fn quoted_ports(quoted: &[u8]) -> Option<(u16, u16)> {
    let frame = Frame::bare(crate::decode::linktype::RAW, quoted);
    match decode(&frame).transport {
        Transport::Udp(u) => Some((u.sport, u.dport)),
        Transport::Tcp(t) => Some((t.sport, t.dport)),
        _ => None,
    }
}

enum Kind {
    Sentinel,
    Mine,
    Other,
}

/// Sorts a packet: the stop sentinel, one of the run's (a port matches, or for an ICMP error a
/// port of what it quotes: belt and braces after the BPF filter, which packets already in the
/// ring may predate; any packet when `ports` is None), or another.
fn classify(linktype: u16, data: &[u8], sentinel_port: u16, ports: Option<&[u16]>) -> Kind {
    let frame = Frame::bare(linktype, data);
    let p = decode(&frame);
    let (sport, dport) = match p.transport {
        Transport::Udp(u) if u.payload.starts_with(SENTINEL) => {
            // Another sockscope's sentinel (two of them may share a named namespace) is no
            // packet of this run either.
            return if u.dport == sentinel_port {
                Kind::Sentinel
            } else {
                Kind::Other
            };
        }
        _ if ports.is_none() => return Kind::Mine,
        Transport::Udp(u) => (u.sport, u.dport),
        Transport::Tcp(t) => (t.sport, t.dport),
        Transport::Icmp(i) => match i.quoted.and_then(quoted_ports) {
            Some(q) => q,
            None => return Kind::Other,
        },
        _ => return Kind::Other,
    };
    let ports = ports.unwrap_or_default();
    if ports.contains(&sport) || ports.contains(&dport) {
        Kind::Mine
    } else {
        Kind::Other
    }
}

impl Running {
    /// The filter's port part, e.g. `port 40123 or port 51234`.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Sends the sentinels, waits for the reader to see them, and returns the handle (for
    /// another run), the packets in capture order, and the counters for this run.
    pub fn stop(self) -> Result<(LiveCapture, Vec<Captured>, CaptureStats), LiveError> {
        // The reader must know how many to wait for before the first one can arrive.
        let cpus = allowed_cpus();
        self.expected.store(cpus.len().max(1), Ordering::SeqCst);
        let n = send_sentinels(&self.sentinel, self.sentinel_to, cpus.clone());
        self.expected.store(n.max(1), Ordering::SeqCst);
        let mut sent_total = n;
        let started = std::time::Instant::now();
        loop {
            match self.done.recv_timeout(RESEND) {
                Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < STOP_LIMIT => {
                    // Lost (the ring overflowed) or not sent: send again.
                    sent_total += send_sentinels(&self.sentinel, self.sentinel_to, cpus.clone());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.abort.store(true, Ordering::SeqCst);
                    break;
                }
                _ => break,
            }
        }
        let (mut cap, packets) = match self.thread.join() {
            Ok(r) => r?,
            Err(_) => return Err(LiveError::Capture("the capture thread panicked".into())),
        };
        let after = cap
            .cap
            .stats()
            .map_err(|e| LiveError::Capture(format!("reading the counters: {e}")))?;
        let d = |a: u32, b: u32| a.wrapping_sub(b) as u64;
        let stats = CaptureStats {
            // The sentinels are counted too (twice each on lo, once on a device).
            received: d(after.received, self.before.received)
                .saturating_sub(self.copies * sent_total as u64),
            dropped: d(after.dropped, self.before.dropped),
            if_dropped: d(after.if_dropped, self.before.if_dropped),
            buffer_kib: cap.buffer as u64 / 1024,
        };
        Ok((cap, packets, stats))
    }
}

/// The CPUs this process may run on (empty if the kernel will not say).
fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    match sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Sends one sentinel from each of `cpus` (from a helper thread pinned to each in turn, so
/// each goes through that CPU's receive backlog); returns how many were sent.
fn send_sentinels(sock: &UdpSocket, to: SocketAddr, cpus: Vec<usize>) -> usize {
    let sock = match sock.try_clone() {
        Ok(s) => s,
        Err(_) => return 0,
    };
    let pinned = std::thread::Builder::new()
        .name("sockscope-sentinel".into())
        .spawn(move || {
            use nix::sched::{sched_setaffinity, CpuSet};
            let mut sent = 0;
            for cpu in cpus {
                let mut one = CpuSet::new();
                if one.set(cpu).is_err()
                    || sched_setaffinity(nix::unistd::Pid::from_raw(0), &one).is_err()
                {
                    continue;
                }
                if sock.send_to(SENTINEL, to).is_ok() {
                    sent += 1;
                }
            }
            if sent == 0 && sock.send_to(SENTINEL, to).is_ok() {
                sent = 1;
            }
            sent
        });
    match pinned.map(|h| h.join()) {
        Ok(Ok(n)) => n,
        _ => 0,
    }
}

impl AsRawFd for LiveCapture {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.cap.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_are_recognised() {
        assert!(is_permission(
            "socket: Operation not permitted (are you root?)"
        ));
        assert!(is_permission("You don't have permission to capture"));
        assert!(!is_permission("no such device"));
    }

    /// Ethernet + IPv4 + ICMP port unreachable 10.0.0.2 → 10.0.0.1, quoting UDP 40001 → 9999.
    #[rustfmt::skip]
    const PORT_UNREACH: [u8; 70] = [
        0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x00,
        0x45, 0xc0, 0x00, 0x38, 0x00, 0x05, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00,
        10, 0, 0, 2, 10, 0, 0, 1,
        0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x45, 0x00, 0x00, 0x1d, 0x00, 0x06, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00,
        10, 0, 0, 1, 10, 0, 0, 2,
        0x9c, 0x41, 0x27, 0x0f, 0x00, 0x09, 0x00, 0x00,
    ];

    #[test]
    fn an_icmp_error_is_the_runs_when_what_it_quotes_is() {
        let sort = |ports: &[u16]| classify(1, &PORT_UNREACH, 1, Some(ports));
        assert!(matches!(sort(&[9999]), Kind::Mine));
        assert!(matches!(sort(&[40001]), Kind::Mine));
        assert!(matches!(sort(&[53]), Kind::Other));
        // A quote cut before the ports names none.
        assert!(matches!(
            classify(1, &PORT_UNREACH[..60], 1, Some(&[9999])),
            Kind::Other
        ));
    }

    #[test]
    fn the_icmp_filter_compiles_and_matches_the_quoted_ports() {
        let Ok(dead) = Capture::dead(pcap::Linktype::ETHERNET) else {
            return;
        };
        let prog = |ports: &[u16]| {
            let f = icmp_errors_filter(ports);
            dead.compile(&f, true)
                .unwrap_or_else(|e| panic!("{f}: {e}"))
        };
        assert!(prog(&[9999]).filter(&PORT_UNREACH));
        assert!(prog(&[5, 40001]).filter(&PORT_UNREACH));
        assert!(!prog(&[53]).filter(&PORT_UNREACH));
    }
}
