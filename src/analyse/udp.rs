//! UDP conversations, numbered as tshark numbers `udp.stream`: 0-based, in order of first
//! appearance of the unordered pair of endpoints.
//!
//! Memory is bounded by expiry: a conversation idle for [`IDLE_EXPIRY_NS`] of capture time is
//! forgotten (a later datagram on it starts a new number). Sweeps are amortised: one runs when
//! the table has doubled since the last sweep.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::TimeNs;

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
            sweep_at: 1024,
            ..Default::default()
        }
    }

    /// The stream index of a datagram.
    pub fn stream(&mut self, key: ConvKey, time: TimeNs) -> u64 {
        if let Some((idx, last)) = self.map.get_mut(&key) {
            let expired = matches!((time, *last), (Some(t), Some(l)) if t - l > IDLE_EXPIRY_NS);
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
        self.sweep_at = (self.map.len() * 2).max(1024);
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
        let step = IDLE_EXPIRY_NS;
        for i in 0..100_000u32 {
            let k = ConvKey::new(ip("10.0.0.1"), (i % 60000) as u16, ip("10.0.0.2"), 9);
            u.stream(k, Some(i as i128 * step / 1000));
        }
        assert_eq!(
            u.count(),
            100_000,
            "revisits after the idle time get new numbers"
        );
        assert!(u.live() < 5_000, "held {} conversations", u.live());
    }
}
