//! Sequence-space comparisons, exactly Wireshark's macros from packet-tcp.h (mod 2^32).

/// `GT_SEQ(x, y)`: x is after y.
pub fn gt_seq(x: u32, y: u32) -> bool {
    (y.wrapping_sub(x) as i32) < 0
}

/// `LT_SEQ(x, y)`: x is before y.
pub fn lt_seq(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) < 0
}

/// `LE_SEQ(x, y)`: x is before or equal to y.
pub fn le_seq(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) <= 0
}

/// `GE_SEQ(x, y)`: x is after or equal to y.
pub fn ge_seq(x: u32, y: u32) -> bool {
    (y.wrapping_sub(x) as i32) <= 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap() {
        assert!(gt_seq(5, u32::MAX - 5));
        assert!(lt_seq(u32::MAX - 5, 5));
        assert!(le_seq(7, 7) && ge_seq(7, 7));
        assert!(!gt_seq(7, 7) && !lt_seq(7, 7));
    }
}
