//! Capture timestamps at the file's own precision.

use std::fmt;

/// A point in time as stored in a capture: whole seconds since the Unix epoch plus a
/// nanosecond part, and how many fractional digits the file's clock has (6 for µs, 9 for ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    pub secs: i64,
    /// Always < 1e9.
    pub nanos: u32,
    /// Fractional digits to print (0..=9).
    pub digits: u8,
    /// The file stored an out-of-range fraction (e.g. a nanosecond field ≥ 1e9); `secs`/`nanos`
    /// hold the normalised value (the excess carried into the seconds).
    pub invalid: bool,
}

impl Timestamp {
    /// From seconds and a fraction counted in `units_per_sec` (10^6 for µs pcap, 10^9 for ns pcap,
    /// the interface's `if_tsresol` for pcapng). A fraction ≥ one second is carried and marked.
    #[inline]
    pub fn from_parts(secs: i64, frac: u64, units_per_sec: u64) -> Timestamp {
        // The two common clocks get constant divisors (no division instruction per packet).
        match units_per_sec {
            1_000_000 => Self::decimal::<1_000_000, 6>(secs, frac),
            1_000_000_000 => Self::decimal::<1_000_000_000, 9>(secs, frac),
            units => Self::any_units(secs, frac, units),
        }
    }

    /// From a tick count since the epoch in `units_per_sec` (a pcapng timestamp), shifted by
    /// `offset_secs` (the interface's `if_tsoffset`).
    #[inline]
    pub fn from_ticks(ticks: u64, units_per_sec: u64, offset_secs: i64) -> Timestamp {
        fn split<const U: u64>(ticks: u64) -> (i64, u64) {
            ((ticks / U) as i64, ticks % U)
        }
        let units = units_per_sec.max(1);
        let (secs, frac) = match units {
            1_000_000 => split::<1_000_000>(ticks),
            1_000_000_000 => split::<1_000_000_000>(ticks),
            _ => ((ticks / units) as i64, ticks % units),
        };
        Self::from_parts(secs.saturating_add(offset_secs), frac, units)
    }

    #[inline(always)]
    fn decimal<const UNITS: u64, const DIGITS: u8>(secs: i64, frac: u64) -> Timestamp {
        if frac >= UNITS {
            return Self::any_units(secs, frac, UNITS);
        }
        Timestamp {
            secs,
            nanos: (frac * (1_000_000_000 / UNITS)) as u32,
            digits: DIGITS,
            invalid: false,
        }
    }

    fn any_units(secs: i64, frac: u64, units_per_sec: u64) -> Timestamp {
        let units = units_per_sec.max(1);
        let invalid = frac >= units;
        let secs = secs.saturating_add((frac / units) as i64);
        let frac = frac % units;
        let nanos = ((frac as u128 * 1_000_000_000) / units as u128) as u32;
        Timestamp {
            secs,
            nanos,
            digits: digits_for(units),
            invalid,
        }
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(&self) -> i128 {
        self.secs as i128 * 1_000_000_000 + self.nanos as i128
    }

    /// From nanoseconds since the epoch, printed with `digits` fractional digits.
    pub fn from_nanos(ns: i128, digits: u8) -> Timestamp {
        Timestamp {
            secs: ns.div_euclid(1_000_000_000) as i64,
            nanos: ns.rem_euclid(1_000_000_000) as u32,
            digits,
            invalid: false,
        }
    }
}

/// Fractional digits of a clock with `units` ticks per second: n for 10^n (capped at 9), and 9
/// for any other resolution (pcapng's binary `if_tsresol`), which is converted to ns.
fn digits_for(units: u64) -> u8 {
    let mut d = 0u8;
    let mut p = 1u64;
    while p < units && d < 9 {
        p = p.saturating_mul(10);
        d += 1;
    }
    if p == units {
        d
    } else {
        9
    }
}

/// Writes `secs.fraction` with the timestamp's digits, e.g. `1418145369.999999999`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_secs_frac(f, self.secs, self.nanos, self.digits)
    }
}

/// `secs.frac` of a (possibly negative) duration or epoch time in ns, `digits` fractional digits.
pub fn write_secs_frac(f: &mut impl fmt::Write, secs: i64, nanos: u32, digits: u8) -> fmt::Result {
    if digits == 0 {
        return write!(f, "{secs}");
    }
    let div = 10u32.pow(9 - digits.min(9) as u32);
    write!(f, "{secs}.{:0width$}", nanos / div, width = digits as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_print_six_digits() {
        let t = Timestamp::from_parts(1_491_516_383, 915_793, 1_000_000);
        assert_eq!(t.to_string(), "1491516383.915793");
        assert!(!t.invalid);
    }

    #[test]
    fn nanoseconds_print_nine_digits() {
        let t = Timestamp::from_parts(1_418_145_369, 999_999_999, 1_000_000_000);
        assert_eq!(t.to_string(), "1418145369.999999999");
    }

    #[test]
    fn out_of_range_fraction_is_carried_and_marked() {
        let t = Timestamp::from_parts(1_418_145_370, 1_000_000_000, 1_000_000_000);
        assert_eq!(t.to_string(), "1418145371.000000000");
        assert!(t.invalid);
    }

    #[test]
    fn binary_resolution_converts_to_ns() {
        // 2^-10 s ticks: 512 ticks = 0.5 s
        let t = Timestamp::from_parts(10, 512, 1024);
        assert_eq!(t.nanos, 500_000_000);
        assert_eq!(t.digits, 9);
    }

    #[test]
    fn fast_paths_agree_with_the_general_conversion() {
        for units in [1_000_000u64, 1_000_000_000] {
            for frac in [
                0,
                1,
                999,
                units - 1,
                units,
                units + 7,
                5 * units + 3,
                u32::MAX as u64,
            ] {
                assert_eq!(
                    Timestamp::from_parts(1_700_000_000, frac, units),
                    Timestamp::any_units(1_700_000_000, frac, units),
                    "{frac} in {units}"
                );
            }
            for ticks in [0u64, units - 1, 1_700_000_000 * units + 123, u64::MAX] {
                let t = Timestamp::from_ticks(ticks, units, -5);
                let want = Timestamp::any_units((ticks / units) as i64 - 5, ticks % units, units);
                assert_eq!(t, want, "{ticks} ticks of 1/{units} s");
            }
        }
        let t = Timestamp::from_ticks(3 * 1024 + 512, 1024, 0);
        assert_eq!((t.secs, t.nanos, t.digits), (3, 500_000_000, 9));
    }

    #[test]
    fn from_nanos_handles_negative() {
        let t = Timestamp::from_nanos(-1, 9);
        assert_eq!((t.secs, t.nanos), (-1, 999_999_999));
    }
}
