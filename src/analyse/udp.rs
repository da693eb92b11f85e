//! UDP conversations, numbered as tshark numbers `udp.stream`: 0-based, in order of first
//! appearance of the unordered pair of endpoints.
//!
//! Memory is bounded: at most [`MAX_CONVERSATIONS`] conversations are held; a new one at a
//! full table makes the least recently seen quarter go (see [`super::bound`]), and each one
//! forgotten is counted ([`UdpStreams::evicted`]): a later datagram on it starts a new number,
//! where tshark, which never forgets, would give the old one. Below the bound numbering is
//! exactly tshark's.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::bound::{self, MAX_CONVERSATIONS};

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

/// One held conversation: its stream and when it was last seen (datagram count).
#[derive(Debug, Clone, Copy)]
struct Held {
    stream: u64,
    touch: u64,
}

#[derive(Debug)]
pub struct UdpStreams {
    map: FxHashMap<ConvKey, Held>,
    next: u64,
    /// Datagrams seen: the recency stamp.
    clock: u64,
    limit: usize,
    evicted: u64,
    scratch: Vec<u64>,
}

impl Default for UdpStreams {
    fn default() -> Self {
        Self::with_limit(MAX_CONVERSATIONS)
    }
}

impl UdpStreams {
    pub fn new() -> Self {
        Self::default()
    }

    /// Holding at most `limit` conversations (at least 1) instead of [`MAX_CONVERSATIONS`].
    pub fn with_limit(limit: usize) -> Self {
        UdpStreams {
            map: FxHashMap::default(),
            next: 0,
            clock: 0,
            limit: limit.max(1),
            evicted: 0,
            scratch: Vec::new(),
        }
    }

    /// The stream index of a datagram.
    pub fn stream(&mut self, key: ConvKey) -> u64 {
        self.clock += 1;
        if self.map.len() >= self.limit && !self.map.contains_key(&key) {
            self.evicted += bound::evict(
                &mut self.map,
                &mut self.scratch,
                |h| bound::rank(1, h.touch),
                |_| true,
            );
        }
        let h = self.map.entry(key).or_insert_with(|| {
            let stream = self.next;
            self.next += 1;
            Held { stream, touch: 0 }
        });
        h.touch = self.clock;
        h.stream
    }

    /// Streams numbered so far.
    pub fn count(&self) -> u64 {
        self.next
    }

    /// Conversations currently remembered.
    pub fn live(&self) -> usize {
        self.map.len()
    }

    /// Conversations forgotten because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
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
        assert_eq!(u.stream(k1), 0);
        assert_eq!(u.stream(k2), 1);
        assert_eq!(u.stream(k1r), 0);
        assert_eq!(u.count(), 2);
    }

    #[test]
    fn a_flood_stays_within_the_bound_and_is_counted() {
        let mut u = UdpStreams::with_limit(1000);
        let home = ConvKey::new(ip("10.0.0.1"), 53, ip("10.0.0.2"), 4000);
        assert_eq!(u.stream(home), 0);
        for i in 0..20_000u32 {
            let k = ConvKey::new(ip("10.1.0.1"), (i % 60000) as u16, ip("10.0.0.2"), 53);
            u.stream(k);
            if i % 100 == 0 {
                assert_eq!(u.stream(home), 0, "a conversation seen often is kept");
            }
            assert!(u.live() <= 1000, "held {}", u.live());
        }
        assert_eq!(
            u.count(),
            20_001,
            "every flood datagram is a new conversation"
        );
        assert_eq!(
            u.evicted(),
            u.count() - u.live() as u64,
            "every one forgotten is counted"
        );
        let k0 = ConvKey::new(ip("10.1.0.1"), 0, ip("10.0.0.2"), 53);
        assert_eq!(
            u.stream(k0),
            20_001,
            "an evicted conversation comes back as a new stream"
        );
    }

    #[test]
    fn below_the_bound_nothing_is_forgotten() {
        let mut u = UdpStreams::with_limit(100);
        for i in 0..100u16 {
            u.stream(ConvKey::new(ip("10.0.0.1"), i, ip("10.0.0.2"), 2));
        }
        let k = ConvKey::new(ip("10.0.0.1"), 0, ip("10.0.0.2"), 2);
        assert_eq!(u.stream(k), 0, "same stream, however long ago");
        assert_eq!(u.evicted(), 0);
    }
}
