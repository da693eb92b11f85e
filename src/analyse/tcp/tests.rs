//! Hand-built segments for each rule, plus option parsing, expiry and robustness.

pub(super) mod synthetic;

use std::net::{IpAddr, Ipv4Addr};

use super::{parse_options, TcpAnalyser, FINISHED_KEEP};
use crate::analyse::flags::{ACK, FIN, PSH, RST, SYN};
use crate::analyse::{Findings, TcpSegment, TcpVerdict};

const MS: i128 = 1_000_000;
const T0: i128 = 1_600_000_000 * 1_000_000_000;

const CLIENT: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(192, 168, 0, 2)), 51_000);
const SERVER: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)), 80);

/// Drives an analyser with a running frame number and clock.
struct Run {
    a: TcpAnalyser,
    frame: u64,
    now: i128,
}

impl Run {
    fn new() -> Self {
        Run {
            a: TcpAnalyser::new(),
            frame: 0,
            now: T0,
        }
    }

    /// Sends after `gap_ms` milliseconds.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        gap_ms: i128,
        from: (IpAddr, u16),
        to: (IpAddr, u16),
        seq: u32,
        ack: u32,
        flags: u16,
        win: u16,
        len: u32,
        opts: &[u8],
    ) -> TcpVerdict {
        self.frame += 1;
        self.now += gap_ms * MS;
        let seg = TcpSegment {
            frame: self.frame,
            time: Some(self.now),
            src: from.0,
            dst: to.0,
            sport: from.1,
            dport: to.1,
            seq,
            ack,
            flags,
            win,
            len,
            options: opts,
        };
        self.a.observe(&seg)
    }

    fn c(
        &mut self,
        gap_ms: i128,
        seq: u32,
        ack: u32,
        flags: u16,
        win: u16,
        len: u32,
    ) -> TcpVerdict {
        self.send(gap_ms, CLIENT, SERVER, seq, ack, flags, win, len, &[])
    }

    fn s(
        &mut self,
        gap_ms: i128,
        seq: u32,
        ack: u32,
        flags: u16,
        win: u16,
        len: u32,
    ) -> TcpVerdict {
        self.send(gap_ms, SERVER, CLIENT, seq, ack, flags, win, len, &[])
    }
}

const WS7: &[u8] = &[2, 4, 5, 180, 1, 3, 3, 7];
const WS8: &[u8] = &[2, 4, 5, 180, 1, 3, 3, 8];
const C_ISN: u32 = 1000;
const S_ISN: u32 = 5000;

/// SYN (WS 7), SYN/ACK (WS 8), ACK.
fn handshake(r: &mut Run) -> [TcpVerdict; 3] {
    [
        r.send(0, CLIENT, SERVER, C_ISN, 0, SYN, 64_240, 0, WS7),
        r.send(
            1,
            SERVER,
            CLIENT,
            S_ISN,
            C_ISN + 1,
            SYN | ACK,
            65_160,
            0,
            WS8,
        ),
        r.c(1, C_ISN + 1, S_ISN + 1, ACK, 502, 0),
    ]
}

fn only(v: &TcpVerdict, bits: u32) {
    assert_eq!(v.findings, Findings(bits), "findings of {v:?}");
}

#[test]
fn handshake_and_data() {
    let mut r = Run::new();
    let [syn, synack, ack] = handshake(&mut r);
    assert_eq!(
        (syn.stream, syn.rel_seq, syn.rel_ack, syn.rel_next_seq),
        (0, 0, 0, 1)
    );
    assert_eq!((synack.rel_seq, synack.rel_ack), (0, 1));
    assert_eq!((ack.rel_seq, ack.rel_ack), (1, 1));
    assert_eq!(
        (syn.win_shift, syn.win_scaled),
        (Some(0), Some(64_240)),
        "SYNs are never scaled"
    );
    assert_eq!((ack.win_shift, ack.win_scaled), (Some(7), Some(502 << 7)));
    let data = r.c(1, C_ISN + 1, S_ISN + 1, ACK | PSH, 502, 100);
    assert_eq!(
        (data.rel_seq, data.rel_next_seq, data.bytes_in_flight),
        (1, 101, Some(100))
    );
    only(&data, 0);
    let reply = r.s(1, S_ISN + 1, C_ISN + 101, ACK, 509, 0);
    assert_eq!(
        (
            reply.rel_seq,
            reply.rel_ack,
            reply.win_shift,
            reply.win_scaled
        ),
        (1, 101, Some(8), Some(509 << 8))
    );
    only(&reply, 0);
    assert_eq!(r.a.stream_count(), 1);
}

#[test]
fn scaling_needs_both_syns() {
    let mut r = Run::new();
    r.send(0, CLIENT, SERVER, C_ISN, 0, SYN, 64_240, 0, WS7);
    r.s(1, S_ISN, C_ISN + 1, SYN | ACK, 65_160, 0);
    let ack = r.c(1, C_ISN + 1, S_ISN + 1, ACK, 502, 0);
    assert_eq!((ack.win_shift, ack.win_scaled), (Some(0), Some(502)));
}

#[test]
fn midstream_start_counts_from_one() {
    let mut r = Run::new();
    let first = r.c(0, 777_777, 123_456, ACK | PSH, 300, 10);
    assert_eq!(
        (
            first.rel_seq,
            first.rel_ack,
            first.win_shift,
            first.win_scaled
        ),
        (1, 1, None, None)
    );
    let back = r.s(1, 123_456, 777_787, ACK, 300, 0);
    assert_eq!((back.rel_seq, back.rel_ack), (1, 11));
}

#[test]
fn sequence_wrap() {
    let mut r = Run::new();
    let isn = u32::MAX - 150;
    r.c(0, isn, 0, SYN, 1000, 0);
    r.s(1, S_ISN, isn.wrapping_add(1), SYN | ACK, 1000, 0);
    r.c(1, isn.wrapping_add(1), S_ISN + 1, ACK, 1000, 0);
    let mut seq = isn.wrapping_add(1);
    for i in 0..4u32 {
        let v = r.c(1, seq, S_ISN + 1, ACK, 1000, 100);
        assert_eq!(v.rel_seq, 1 + 100 * i);
        only(&v, 0);
        seq = seq.wrapping_add(100);
        let a = r.s(1, S_ISN + 1, seq, ACK, 1000, 0);
        assert_eq!(a.rel_ack, 101 + 100 * i);
        only(&a, 0);
    }
    assert!(seq < isn, "the test must cross 2^32");
}

#[test]
fn duplicate_acks_and_fast_retransmission() {
    let mut r = Run::new();
    handshake(&mut r);
    let mut seq = C_ISN + 1;
    for _ in 0..4 {
        r.c(1, seq, S_ISN + 1, ACK, 502, 1000);
        seq += 1000;
    }
    // The server acks the first segment, then dup-acks it three times.
    let hole = C_ISN + 1001;
    let first = r.s(1, S_ISN + 1, hole, ACK, 509, 0);
    only(&first, 0);
    for n in 1..=3 {
        let d = r.s(1, S_ISN + 1, hole, ACK, 509, 0);
        only(&d, Findings::DUPLICATE_ACK);
        // The original ACK is n frames before the n-th duplicate.
        assert_eq!((d.dup_ack_num, d.dup_ack_of), (n, r.frame - u64::from(n)));
    }
    let fast = r.c(2, hole, S_ISN + 1, ACK, 502, 1000);
    only(&fast, Findings::FAST_RETRANSMISSION);
}

#[test]
fn retransmission_versus_out_of_order() {
    let mut r = Run::new();
    handshake(&mut r);
    r.c(1, C_ISN + 1, S_ISN + 1, ACK, 502, 100);
    r.c(1, C_ISN + 101, S_ISN + 1, ACK, 502, 100);
    // Within the handshake RTT (SYN to third ACK: 2 ms) of the highest segment: out-of-order.
    let ooo = r.c(1, C_ISN + 51, S_ISN + 1, ACK, 502, 10);
    only(&ooo, Findings::OUT_OF_ORDER);
    let late = r.c(500, C_ISN + 1, S_ISN + 1, ACK, 502, 100);
    only(&late, Findings::RETRANSMISSION);
    r.s(1, S_ISN + 1, C_ISN + 201, ACK, 509, 0);
    let spurious = r.c(1, C_ISN + 101, S_ISN + 1, ACK, 502, 100);
    only(&spurious, Findings::SPURIOUS_RETRANSMISSION);
}

#[test]
fn lost_segment_and_acked_unseen() {
    let mut r = Run::new();
    handshake(&mut r);
    r.c(1, C_ISN + 1, S_ISN + 1, ACK, 502, 100);
    let gap = r.c(1, C_ISN + 201, S_ISN + 1, ACK, 502, 100);
    only(&gap, Findings::LOST_SEGMENT);
    let server_gap = r.s(1, S_ISN + 501, C_ISN + 301, ACK, 509, 10);
    assert!(server_gap.findings.has(Findings::LOST_SEGMENT));
    let unseen = r.c(1, C_ISN + 301, S_ISN + 900, ACK, 502, 0);
    assert!(
        unseen.findings.has(Findings::ACK_LOST_SEGMENT),
        "{unseen:?}"
    );
}

#[test]
fn zero_window_probe_is_not_keep_alive() {
    let mut r = Run::new();
    handshake(&mut r);
    r.c(1, C_ISN + 1, S_ISN + 1, ACK, 502, 100);
    let zw = r.s(1, S_ISN + 1, C_ISN + 101, ACK, 0, 0);
    only(&zw, Findings::ZERO_WINDOW);
    let probe = r.c(200, C_ISN + 101, S_ISN + 1, ACK, 502, 1);
    only(&probe, Findings::ZERO_WINDOW_PROBE);
    let probe_ack = r.s(1, S_ISN + 1, C_ISN + 101, ACK, 0, 0);
    only(
        &probe_ack,
        Findings::ZERO_WINDOW | Findings::ZERO_WINDOW_PROBE_ACK,
    );
    // The probe did not advance nextseq: a second probe is a probe again, not a keep-alive.
    let again = r.c(400, C_ISN + 101, S_ISN + 1, ACK, 502, 1);
    only(&again, Findings::ZERO_WINDOW_PROBE);
    let update = r.s(1, S_ISN + 1, C_ISN + 101, ACK, 100, 0);
    only(&update, Findings::WINDOW_UPDATE);
}

#[test]
fn keep_alive_and_its_ack() {
    let mut r = Run::new();
    handshake(&mut r);
    r.c(1, C_ISN + 1, S_ISN + 1, ACK, 502, 100);
    r.s(1, S_ISN + 1, C_ISN + 101, ACK, 509, 0);
    for len in [0, 1] {
        let ka = r.c(45_000, C_ISN + 100, S_ISN + 1, ACK, 502, len);
        only(&ka, Findings::KEEP_ALIVE);
        let ka_ack = r.s(1, S_ISN + 1, C_ISN + 101, ACK, 509, 0);
        only(&ka_ack, Findings::KEEP_ALIVE_ACK);
    }
}

#[test]
fn window_full() {
    let mut r = Run::new();
    handshake(&mut r);
    // The server allows 2 << 8 = 512 bytes beyond its ACK.
    r.s(1, S_ISN + 1, C_ISN + 1, ACK, 2, 0);
    let full = r.c(1, C_ISN + 1, S_ISN + 1, ACK, 502, 512);
    only(&full, Findings::WINDOW_FULL);
}

#[test]
fn reused_ports() {
    let mut r = Run::new();
    handshake(&mut r);
    r.c(1, C_ISN + 1, S_ISN + 1, FIN | ACK, 502, 0);
    r.s(1, S_ISN + 1, C_ISN + 2, FIN | ACK, 509, 0);
    r.c(1, C_ISN + 2, S_ISN + 2, ACK, 502, 0);
    // Same ISN: a retransmitted SYN, same stream.
    let same = r.send(1000, CLIENT, SERVER, C_ISN, 0, SYN, 64_240, 0, WS7);
    assert_eq!(same.stream, 0);
    only(&same, Findings::RETRANSMISSION);
    // New ISN: a new stream, "TCP port numbers reused".
    let new = r.send(1000, CLIENT, SERVER, 90_000, 0, SYN, 64_240, 0, WS7);
    assert_eq!((new.stream, new.rel_seq), (1, 0));
    only(&new, Findings::REUSED_PORTS);
    let synack = r.send(1, SERVER, CLIENT, 70_000, 90_001, SYN | ACK, 65_160, 0, WS8);
    assert_eq!((synack.stream, synack.rel_seq, synack.rel_ack), (1, 0, 1));
    only(&synack, 0);
    assert_eq!(r.a.stream_count(), 2);
}

#[test]
fn fragment_gets_a_stream_only() {
    let mut r = Run::new();
    r.c(0, 10, 20, ACK, 100, 5);
    let other = (IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9)), 4444);
    let frag = TcpSegment {
        frame: 99,
        time: None,
        src: other.0,
        dst: SERVER.0,
        sport: other.1,
        dport: SERVER.1,
        seq: 1,
        ack: 2,
        flags: ACK | PSH,
        win: 100,
        len: 0,
        options: &[],
    };
    assert_eq!(r.a.stream_for_fragment(&frag), 1);
    let next = r.send(1, other, SERVER, 1, 2, ACK, 100, 10, &[]);
    assert_eq!((next.stream, next.rel_seq), (1, 1));
}

/// Opens `n` filler conversations (one segment each) and returns their client endpoints.
fn fillers(r: &mut Run, n: u32) -> Vec<(IpAddr, u16)> {
    (0..n)
        .map(|i| {
            let client = (IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i)), 2000);
            r.send(0, client, SERVER, i, 1, ACK, 100, 0, &[]);
            client
        })
        .collect()
}

/// Opens and resets `n` conversations from clients never seen before; returns them.
fn reset_streams(r: &mut Run, n: u32) -> Vec<(IpAddr, u16)> {
    (0..n)
        .map(|i| {
            let fresh = 0x0c00_0000 + r.frame as u32;
            let client = (IpAddr::V4(Ipv4Addr::from(fresh)), 3000);
            r.send(0, client, SERVER, i, 0, SYN, 1000, 0, &[]);
            r.send(0, client, SERVER, i.wrapping_add(1), 0, RST, 0, 0, &[]);
            client
        })
        .collect()
}

#[test]
fn nothing_expires_below_the_thresholds() {
    let mut r = Run::new();
    handshake(&mut r);
    r.c(1, C_ISN + 1, S_ISN + 1, RST, 0, 0);
    reset_streams(&mut r, FINISHED_KEEP as u32 - 1);
    let late = r.c(3 * 3_600_000, C_ISN + 1, S_ISN + 1, ACK, 502, 0);
    assert_eq!(late.stream, 0, "tshark never forgets a conversation");
    assert_eq!(r.a.live_streams(), FINISHED_KEEP);
}

#[test]
fn finished_streams_are_forgotten_oldest_first() {
    let mut r = Run::new();
    handshake(&mut r);
    let open = r.a.live_streams();
    r.c(1, C_ISN + 1, S_ISN + 1, RST, 0, 0);
    let others = reset_streams(&mut r, FINISHED_KEEP as u32 - 1);
    assert_eq!(r.a.live_streams(), open + FINISHED_KEEP - 1);
    // A late segment on the first one does not move it in the finishing order.
    assert_eq!(r.c(1, C_ISN + 1, S_ISN + 1, ACK, 502, 0).stream, 0);

    reset_streams(&mut r, 1);
    assert_eq!(
        r.a.live_streams(),
        FINISHED_KEEP,
        "one more finished: the one that finished first went"
    );
    let next = r.a.stream_count();
    let again = r.c(1, C_ISN + 1, S_ISN + 1, ACK, 502, 0);
    assert_eq!(
        (again.stream, again.rel_seq, again.findings),
        (next, 1, Findings::default()),
        "a stray segment of a forgotten conversation starts a new stream"
    );
    let second = r.send(1, others[0], SERVER, 1, 0, ACK, 100, 0, &[]);
    assert_eq!(second.stream, 1, "the second to finish is still held");
}

#[test]
fn a_reopened_endpoint_pair_keeps_its_new_stream_until_that_one_is_oldest() {
    let mut r = Run::new();
    handshake(&mut r);
    r.c(1, C_ISN + 1, S_ISN + 1, RST, 0, 0);
    // Port reuse: a new SYN with another ISN starts stream 1 on the same endpoint pair.
    let reopened = r.c(1, C_ISN + 5000, 0, SYN, 1000, 0);
    assert_eq!(reopened.stream, 1);
    assert!(reopened.findings.has(Findings::REUSED_PORTS));
    r.c(1, C_ISN + 5001, 0, RST, 0, 0);
    // Stream 0's place in the finishing order comes up first: it must not take stream 1.
    reset_streams(&mut r, FINISHED_KEEP as u32 - 1);
    let later = r.c(1, C_ISN + 5001, 0, ACK, 1000, 0);
    assert_eq!(
        later.stream, 1,
        "stream 1 finished after stream 0 and is held"
    );
    reset_streams(&mut r, 1);
    let last = r.c(1, C_ISN + 5001, 0, ACK, 1000, 0);
    assert_eq!(last.stream, r.a.stream_count() - 1, "now stream 1 went too");
}

/// Lone SYNs from `n` clients never seen before (a scan); returns them.
fn lone_syns(r: &mut Run, n: u32) -> Vec<(IpAddr, u16)> {
    (0..n)
        .map(|i| {
            let client = (
                IpAddr::V4(Ipv4Addr::from(0x0d00_0000 + r.frame as u32)),
                4000,
            );
            r.send(0, client, SERVER, i, 0, SYN, 1024, 0, &[]);
            client
        })
        .collect()
}

#[test]
fn a_full_table_forgets_half_open_conversations_first_and_counts_them() {
    let mut r = Run {
        a: TcpAnalyser::with_limit(1000),
        frame: 0,
        now: T0,
    };
    handshake(&mut r);
    let idle = fillers(&mut r, 10);
    let syns = lone_syns(&mut r, 5000);
    assert!(r.a.live_streams() <= 1000, "held {}", r.a.live_streams());
    let held = r.a.live_streams() as u64;
    assert_eq!(
        r.a.evicted(),
        r.a.stream_count() - held,
        "every conversation forgotten was open, and is counted"
    );
    let v = r.c(1, C_ISN + 1, S_ISN + 1, ACK, 502, 0);
    assert_eq!(
        (v.stream, v.rel_seq),
        (0, 1),
        "the established conversation outlives a scan"
    );
    // Fillers saw one segment each without SYN: half-open too, older than the scan.
    let next = r.a.stream_count();
    let back = r.send(1, idle[0], SERVER, 1, 1, ACK, 100, 0, &[]);
    assert_eq!(
        back.stream, next,
        "an evicted conversation comes back as a new stream"
    );
    let recent = syns[syns.len() - 1];
    let answer = r.send(1, SERVER, recent, 77, 4999 + 1, SYN | ACK, 100, 0, &[]);
    assert_eq!(answer.stream, next - 1, "the most recent SYN is held");
}

/// A capture that misses the ACKs of bulk transfers: the unacked lists grow until the budget
/// empties the largest; numbering and findings do not change, and the count stays exact.
#[test]
fn unacked_lists_stay_within_their_budget() {
    let mut r = Run {
        a: TcpAnalyser::with_limit(100),
        frame: 0,
        now: T0,
    };
    let budget = 100 * super::UNACKED_PER_CONVERSATION;
    let clients: Vec<(IpAddr, u16)> = (0..5u32)
        .map(|i| (IpAddr::V4(Ipv4Addr::from(0x0e00_0000 + i)), 5000))
        .collect();
    let mut full = TcpAnalyser::with_limit(usize::MAX);
    for k in 0..3000u32 {
        for (i, &c) in clients.iter().enumerate() {
            let seq = 1 + k * 100;
            let v = r.send(0, c, SERVER, seq, 1, ACK, 100, 100, &[]);
            let seg = TcpSegment {
                frame: r.frame,
                time: Some(r.now),
                src: c.0,
                dst: SERVER.0,
                sport: c.1,
                dport: SERVER.1,
                seq,
                ack: 1,
                flags: ACK,
                win: 100,
                len: 100,
                options: &[],
            };
            let w = full.observe(&seg);
            assert_eq!(v.stream, i as u64);
            assert_eq!(
                (v.rel_seq, v.findings),
                (w.rel_seq, w.findings),
                "frame {}",
                r.frame
            );
            assert!(
                r.a.unacked_entries() <= budget,
                "{} held",
                r.a.unacked_entries()
            );
        }
    }
    assert!(r.a.unacked_released() > 0, "the budget was reached");
    assert!(
        full.unacked_entries() > budget,
        "unbounded, the lists grow past it"
    );
    assert_eq!(r.a.evicted(), 0, "no conversation was forgotten");
    let counted: usize = r.a.convs.values().map(|h| h.unacked_capacity()).sum();
    assert_eq!(r.a.unacked_entries(), counted, "the running count is exact");
}

#[test]
fn a_lone_segment_is_held_in_a_few_dozen_bytes() {
    let size = std::mem::size_of::<super::held::Held>();
    assert!(
        size <= 64,
        "a held conversation takes {size} bytes in the table"
    );
    let full = std::mem::size_of::<super::conv::Conv>();
    assert!(
        full > 2 * size,
        "the full state ({full} bytes) is what is saved"
    );
}

#[test]
fn memory_stays_bounded_over_many_short_streams() {
    let mut r = Run::new();
    const STREAMS: u32 = 200_000;
    let mut peak = 0;
    for i in 0..STREAMS {
        let client = (
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            1024 + (i % 60_000) as u16,
        );
        r.send(5, client, SERVER, i, 0, SYN, 1000, 0, &[]);
        r.send(
            0,
            SERVER,
            client,
            !i,
            i.wrapping_add(1),
            SYN | ACK,
            1000,
            0,
            &[],
        );
        r.send(
            0,
            client,
            SERVER,
            i.wrapping_add(1),
            (!i).wrapping_add(1),
            RST,
            0,
            0,
            &[],
        );
        peak = peak.max(r.a.live_streams());
    }
    assert_eq!(r.a.stream_count(), u64::from(STREAMS));
    assert!(
        peak <= FINISHED_KEEP + 1,
        "peak live streams {peak}: finished ones beyond {FINISHED_KEEP} are forgotten"
    );
}

#[test]
fn options_are_parsed() {
    let syn = [
        2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    let o = parse_options(&syn);
    assert_eq!(
        (o.mss, o.wscale, o.sack_perm, o.timestamps),
        (Some(1460), Some(7), true, Some((1, 0)))
    );
    assert!(!o.truncated && !o.malformed);

    let mut sack = vec![1, 1, 5, 34];
    for i in 0..4u32 {
        sack.extend_from_slice(&(i * 10).to_be_bytes());
        sack.extend_from_slice(&(i * 10 + 5).to_be_bytes());
    }
    let o = parse_options(&sack);
    assert_eq!(o.sack_blocks(), &[(0, 5), (10, 15), (20, 25), (30, 35)]);

    let o = parse_options(&[2, 4, 5]);
    assert!(o.truncated && o.mss.is_none());
    let o = parse_options(&[3]);
    assert!(o.truncated);
    let o = parse_options(&[99, 1, 2, 4, 5, 180]);
    assert!(o.malformed && o.mss.is_none());
    let o = parse_options(&[2, 3, 5, 3, 3, 200]);
    assert!(o.malformed && o.mss.is_none());
    assert_eq!((o.wscale, o.window_shift()), (Some(200), Some(14)));
    // Non-zero bytes after EOL end the walk.
    let o = parse_options(&[0, 0, 2, 4, 5, 180]);
    assert_eq!(o.mss, None);
    let o = parse_options(&[
        30, 12, 0x01, 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 34, 2, 200, 4, 1, 2, 30, 4, 0x20, 0,
    ]);
    let subtypes: Vec<u8> = o.mptcp_options().iter().map(|m| m.subtype).collect();
    assert_eq!(subtypes, [0, 2]);
    assert_eq!(
        (o.tfo_cookie_len, o.unknown_kinds()),
        (Some(0), &[200u8][..])
    );
}

#[test]
fn arbitrary_input_does_not_panic_and_compact_state_changes_nothing() {
    let mut x: u64 = 0x0123_4567_89ab_cdef;
    let mut next = move || {
        x ^= x << 7;
        x ^= x >> 9;
        x
    };
    let mut a = TcpAnalyser::new();
    let mut full = TcpAnalyser::without_compaction();
    for frame in 1..200_000u64 {
        let v = next();
        let mut opts = [0u8; 40];
        for b in opts.iter_mut() {
            *b = (next() % 40) as u8;
        }
        let n = (v % 41) as usize;
        let pick = |k: u64| [0u32, 1, 2, u32::MAX, u32::MAX - 1, 1 << 31][(k % 6) as usize];
        let seg = TcpSegment {
            frame,
            time: if v % 17 == 0 {
                None
            } else {
                Some((next() % 1000) as i128 * MS - 10 * MS)
            },
            src: IpAddr::V4(Ipv4Addr::from((v >> 8) as u32 % 3)),
            dst: IpAddr::V4(Ipv4Addr::from((v >> 16) as u32 % 3)),
            sport: (v >> 24) as u16 % 3,
            dport: (v >> 32) as u16 % 3,
            seq: if v % 3 == 0 {
                next() as u32
            } else {
                pick(next())
            },
            ack: if v % 5 == 0 {
                next() as u32
            } else {
                pick(next())
            },
            flags: (next() % 0x1000) as u16,
            win: [0u16, 1, u16::MAX][(next() % 3) as usize],
            len: [0u32, 1, 1460, u32::MAX][(next() % 4) as usize],
            options: &opts[..n],
        };
        if v % 11 == 0 {
            assert_eq!(a.stream_for_fragment(&seg), full.stream_for_fragment(&seg));
        } else {
            assert_eq!(
                a.observe(&seg),
                full.observe(&seg),
                "frame {frame}: a conversation held as its first segment is analysed alike"
            );
        }
        parse_options(&opts[..n]);
    }
}
