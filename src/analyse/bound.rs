//! The hard bound on held conversation state, shared by the TCP and UDP tables.
//!
//! Each table holds at most [`MAX_CONVERSATIONS`] conversations. When a new one arrives at a
//! full table, the table forgets its lowest-ranked quarter ([`EVICT_DIVISOR`]) at once (one pass over
//! the table, so the cost per new conversation is a few steps, amortised). A conversation's
//! rank is its class (see each table) above its recency: a counter stamped on every packet, so
//! within a class the least recently seen go first. Recency is packet order, not capture
//! time, so a bogus timestamp cannot age anything.

use std::hash::Hash;

use rustc_hash::FxHashMap;

/// The most conversations each table (TCP, UDP) holds at once. The corpus and ordinary
/// captures hold at most a few thousand at a time: they never reach it.
pub const MAX_CONVERSATIONS: usize = 1 << 16;

/// A full table forgets this fraction (1/4) of its conversations at once: a pass over the
/// table then comes once per 16,384 new conversations.
pub const EVICT_DIVISOR: usize = 4;

/// Bits of a rank below the class.
const CLASS_SHIFT: u32 = 62;

/// A rank: `class` (0..=3, lower goes first) above the recency stamp `touch`.
pub fn rank(class: u8, touch: u64) -> u64 {
    (u64::from(class) << CLASS_SHIFT) | (touch & ((1 << CLASS_SHIFT) - 1))
}

/// Forgets the lowest-ranked `1/EVICT_DIVISOR` of `map` (at least one entry). `ranks` is
/// scratch space kept between calls. Returns how many of those forgotten `counts`.
pub fn evict<K: Eq + Hash, V>(
    map: &mut FxHashMap<K, V>,
    ranks: &mut Vec<u64>,
    rank: impl Fn(&V) -> u64,
    counts: impl Fn(&V) -> bool,
) -> u64 {
    if map.is_empty() {
        return 0;
    }
    ranks.clear();
    ranks.extend(map.values().map(&rank));
    let k = (ranks.len() / EVICT_DIVISOR).max(1);
    let (_, &mut cut, _) = ranks.select_nth_unstable(k - 1);
    let mut counted = 0;
    map.retain(|_, v| {
        let keep = rank(v) > cut;
        if !keep && counts(v) {
            counted += 1;
        }
        keep
    });
    counted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_class_goes_first_then_the_least_recent() {
        let mut m: FxHashMap<u32, (u8, u64)> = FxHashMap::default();
        for i in 0..64u32 {
            // Class 1 for the first half (older), class 0 for the second (newer).
            let class = u8::from(i < 32);
            m.insert(i, (class, u64::from(i)));
        }
        let mut scratch = Vec::new();
        let n = evict(&mut m, &mut scratch, |&(c, t)| rank(c, t), |&(c, _)| c == 1);
        assert_eq!(n, 0, "only class 0 went, and it does not count");
        assert_eq!(m.len(), 64 - 64 / EVICT_DIVISOR);
        for i in 32..32 + 64 / EVICT_DIVISOR as u32 {
            assert!(!m.contains_key(&i), "{i}: the oldest of class 0 went");
        }
        assert!(m.contains_key(&0), "class 1 stays while class 0 is there");
    }

    #[test]
    fn a_small_table_forgets_one() {
        let mut m: FxHashMap<u32, u64> = FxHashMap::default();
        m.insert(1, 5);
        m.insert(2, 3);
        let n = evict(&mut m, &mut Vec::new(), |&t| rank(1, t), |_| true);
        assert_eq!((n, m.keys().copied().collect::<Vec<_>>()), (1, vec![1]));
        assert_eq!(
            evict(
                &mut FxHashMap::<u32, u64>::default(),
                &mut Vec::new(),
                |&t| t,
                |_| true
            ),
            0
        );
    }
}
