//! UDP conversations, numbered as tshark numbers `udp.stream`: 0-based, in order of first
//! appearance of the unordered pair of endpoints.
//!
//! Memory is bounded by expiry: once more than [`EXPIRY_MIN_LIVE`] conversations are held, a
//! conversation idle for [`IDLE_EXPIRY_NS`] of capture time is forgotten (a later datagram on
//! it starts a new number). Below that, numbering is exactly tshark's. Sweeps are amortised:
//! one runs when the table has doubled since the last sweep.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::TimeNs;

/// Expiry only runs while more conversations than this are held (as for TCP).
pub const EXPIRY_MIN_LIVE: usize = 16_384;

/// Capture time after which an idle UDP conversation is forgotten.
pub const IDLE_EXPIRY_NS: i128 = 600 * 1_000_000_000;

/// Endpoints in a canonical order, so both directions map to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvKey {
    a: (IpAddr, u16),
    b: (IpAddr, u16),
}

impl ConvKey {
    pub fn new(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> ConvKey {
        let (x, y) = ((src, sport), (dst, dport));
        if x <= y {
            ConvKey { a: x, b: y }
        } else {
            ConvKey { a: y, b: x }
        }
    }
}

#[derive(Debug, Default)]
pub struct UdpStreams {
    map: FxHashMap<ConvKey, (u64, TimeNs)>,
    next: u64,
    sweep_at: usize,
}

impl UdpStreams {
    pub fn new() -> Self {
        UdpStreams {
            sweep_at: EXPIRY_MIN_LIVE,
            ..Default::default()
        }
    }

    /// The stream index of a datagram.
    pub fn stream(&mut self, key: ConvKey, time: TimeNs) -> u64 {
        let crowded = self.map.len() > EXPIRY_MIN_LIVE;
        if let Some((idx, last)) = self.map.get_mut(&key) {
            let expired =
                crowded && matches!((time, *last), (Some(t), Some(l)) if t - l > IDLE_EXPIRY_NS);
            if !expired {
                *last = time.or(*last);
                return *idx;
            }
        }
        let idx = self.next;
        self.next += 1;
        self.map.insert(key, (idx, time));
        if self.map.len() >= self.sweep_at {
            self.sweep(time);
        }
        idx
    }

    /// Streams numbered so far.
    pub fn count(&self) -> u64 {
        self.next
    }

    /// Conversations currently remembered.
    pub fn live(&self) -> usize {
        self.map.len()
    }

    fn sweep(&mut self, now: TimeNs) {
        if let Some(now) = now {
            self.map
                .retain(|_, (_, last)| last.is_none_or(|l| now - l <= IDLE_EXPIRY_NS));
        }
        self.sweep_at = (self.map.len() * 2).max(EXPIRY_MIN_LIVE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn both_directions_share_a_stream_and_numbers_follow_first_appearance() {
        let mut u = UdpStreams::new();
        let k1 = ConvKey::new(ip("10.0.0.1"), 53, ip("10.0.0.2"), 4000);
        let k1r = ConvKey::new(ip("10.0.0.2"), 4000, ip("10.0.0.1"), 53);
        let k2 = ConvKey::new(ip("::1"), 1, ip("::1"), 2);
        assert_eq!(u.stream(k1, Some(0)), 0);
        assert_eq!(u.stream(k2, Some(1)), 1);
        assert_eq!(u.stream(k1r, Some(2)), 0);
        assert_eq!(u.count(), 2);
    }

    #[test]
    fn idle_conversations_expire_and_memory_stays_bounded() {
        let mut u = UdpStreams::new();
        // 1000 new conversations per idle period, 200 000 in all
        let step = IDLE_EXPIRY_NS / 1000;
        for i in 0..200_000u32 {
            let k = ConvKey::new(
                ip("10.0.0.1"),
                (i % 60000) as u16,
                ip("10.0.0.2"),
                (i / 60000) as u16,
            );
            u.stream(k, Some(i as i128 * step));
        }
        assert_eq!(u.count(), 200_000, "every conversation is new");
        assert!(
            u.live() <= 2 * EXPIRY_MIN_LIVE,
            "held {} conversations",
            u.live()
        );
    }

    #[test]
    fn below_the_threshold_nothing_expires() {
        let mut u = UdpStreams::new();
        let k = ConvKey::new(ip("10.0.0.1"), 1, ip("10.0.0.2"), 2);
        assert_eq!(u.stream(k, Some(0)), 0);
        assert_eq!(
            u.stream(k, Some(3 * IDLE_EXPIRY_NS)),
            0,
            "same stream after a long gap"
        );
    }
}
