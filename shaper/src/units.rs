//! Pipe parameters in dummynet's units: bandwidth and delay.
//!
//! `Bandwidth` parses what `ipfw pipe N config bw ...` accepts: a number with an
//! optional unit `bit/s`, `Kbit/s`, `Mbit/s`, `Gbit/s`, `Byte/s`, `KByte/s`,
//! `MByte/s`, `GByte/s` (case-insensitive, the plural `bits`/`bytes` too, an optional
//! space before the unit). K, M and G are powers of 1000, as in dummynet. A plain
//! number is bit/s and `0` means unlimited.
//!
//! `Delay` parses `20ms`, `1.5ms`, `250us`, `1s`, `100ns`; a plain number is
//! milliseconds (dummynet's `delay` unit).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A pipe's bandwidth in bit/s; 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Bandwidth {
    bits_per_sec: u64,
}

impl Bandwidth {
    /// No bandwidth limit.
    pub const UNLIMITED: Bandwidth = Bandwidth { bits_per_sec: 0 };

    /// A bandwidth of `bits_per_sec` bit/s; 0 means unlimited.
    pub const fn from_bits_per_sec(bits_per_sec: u64) -> Self {
        Bandwidth { bits_per_sec }
    }

    /// Bit/s; 0 means unlimited.
    pub const fn bits_per_sec(self) -> u64 {
        self.bits_per_sec
    }

    /// Whole bytes per second (rounded down); 0 means unlimited.
    pub const fn bytes_per_sec(self) -> u64 {
        self.bits_per_sec / 8
    }

    pub const fn is_unlimited(self) -> bool {
        self.bits_per_sec == 0
    }
}

impl fmt::Display for Bandwidth {
    /// The largest unit that shows the value exactly: `10Mbit/s`, `1500bit/s`, `0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.bits_per_sec;
        if b == 0 {
            return f.write_str("0");
        }
        for (unit, mult) in [
            ("Gbit/s", 1_000_000_000),
            ("Mbit/s", 1_000_000),
            ("Kbit/s", 1_000),
        ] {
            if b.is_multiple_of(mult) {
                return write!(f, "{}{unit}", b / mult);
            }
        }
        write!(f, "{b}bit/s")
    }
}

/// Why a bandwidth did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseBandwidthError {
    /// No digits where a number was expected.
    InvalidNumber,
    /// The text after the number is not a known unit.
    UnknownUnit,
    /// The value is not a whole number of bit/s (e.g. `0.1bit/s`).
    Fractional,
    /// The value does not fit in 64 bits of bit/s.
    TooLarge,
}

impl fmt::Display for ParseBandwidthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            ParseBandwidthError::InvalidNumber => "a number",
            ParseBandwidthError::UnknownUnit => {
                "a unit bit/s, Kbit/s, Mbit/s, Gbit/s, Byte/s, KByte/s or MByte/s"
            }
            ParseBandwidthError::Fractional => "a whole number of bit/s",
            ParseBandwidthError::TooLarge => "at most 18446744073709551615 bit/s",
        };
        write!(
            f,
            "expected a bandwidth like \"10Mbit/s\" (0 = unlimited): {what}"
        )
    }
}

impl std::error::Error for ParseBandwidthError {}

impl FromStr for Bandwidth {
    type Err = ParseBandwidthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (num, unit) = split_number(s.trim()).ok_or(ParseBandwidthError::InvalidNumber)?;
        let unit = unit.trim_start();
        let mult = bandwidth_multiplier(unit).ok_or(ParseBandwidthError::UnknownUnit)?;
        let bits = num.scale(mult).map_err(|e| match e {
            ScaleError::Fractional => ParseBandwidthError::Fractional,
            ScaleError::Overflow => ParseBandwidthError::TooLarge,
        })?;
        Ok(Bandwidth { bits_per_sec: bits })
    }
}

/// Bits per second per unit, for a unit text (empty = bit/s).
fn bandwidth_multiplier(unit: &str) -> Option<u64> {
    if unit.is_empty() {
        return Some(1);
    }
    let (prefix, rest) = match unit.as_bytes()[0].to_ascii_lowercase() {
        b'k' => (1_000, &unit[1..]),
        b'm' => (1_000_000, &unit[1..]),
        b'g' => (1_000_000_000, &unit[1..]),
        _ => (1, unit),
    };
    let per_unit = if eq_any(rest, &["bit/s", "bits/s"]) {
        1
    } else if eq_any(rest, &["byte/s", "bytes/s"]) {
        8
    } else {
        return None;
    };
    Some(prefix * per_unit)
}

fn eq_any(s: &str, options: &[&str]) -> bool {
    options.iter().any(|o| s.eq_ignore_ascii_case(o))
}

/// A pipe's propagation delay, with nanosecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Delay {
    nanos: u64,
}

impl Delay {
    pub const ZERO: Delay = Delay { nanos: 0 };

    pub const fn from_nanos(nanos: u64) -> Self {
        Delay { nanos }
    }

    pub const fn from_millis(millis: u64) -> Self {
        Delay {
            nanos: millis.saturating_mul(1_000_000),
        }
    }

    pub const fn nanos(self) -> u64 {
        self.nanos
    }

    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    pub const fn is_zero(self) -> bool {
        self.nanos == 0
    }
}

impl fmt::Display for Delay {
    /// The largest unit that shows the value exactly: `20ms`, `250us`, `0ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n == 0 {
            return f.write_str("0ms");
        }
        for (unit, mult) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
            if n.is_multiple_of(mult) {
                return write!(f, "{}{unit}", n / mult);
            }
        }
        write!(f, "{n}ns")
    }
}

/// Why a delay did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseDelayError {
    /// No digits where a number was expected.
    InvalidNumber,
    /// The text after the number is not a known unit.
    UnknownUnit,
    /// Finer than a nanosecond (e.g. `0.5ns`).
    Fractional,
    /// Does not fit in 64 bits of nanoseconds (about 584 years).
    TooLarge,
}

impl fmt::Display for ParseDelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            ParseDelayError::InvalidNumber => "a number",
            ParseDelayError::UnknownUnit => "a unit s, ms, us or ns (no unit = ms)",
            ParseDelayError::Fractional => "a whole number of nanoseconds",
            ParseDelayError::TooLarge => "a shorter delay",
        };
        write!(
            f,
            "expected a delay like \"20ms\", \"1.5ms\" or \"250us\": {what}"
        )
    }
}

impl std::error::Error for ParseDelayError {}

impl FromStr for Delay {
    type Err = ParseDelayError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (num, unit) = split_number(s.trim()).ok_or(ParseDelayError::InvalidNumber)?;
        let mult = match unit.trim_start() {
            "" | "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "us" | "µs" => 1_000,
            "ns" => 1,
            _ => return Err(ParseDelayError::UnknownUnit),
        };
        let nanos = num.scale(mult).map_err(|e| match e {
            ScaleError::Fractional => ParseDelayError::Fractional,
            ScaleError::Overflow => ParseDelayError::TooLarge,
        })?;
        Ok(Delay { nanos })
    }
}

/// A non-negative decimal number as written: integer digits and fraction digits.
struct Decimal<'a> {
    int: &'a str,
    frac: &'a str,
}

enum ScaleError {
    Fractional,
    Overflow,
}

impl Decimal<'_> {
    /// `self * mult`, exactly, in integer arithmetic.
    fn scale(&self, mult: u64) -> Result<u64, ScaleError> {
        let mut value: u128 = 0;
        for d in self.int.bytes() {
            value = value * 10 + u128::from(d - b'0');
            if value > u128::from(u64::MAX) {
                return Err(ScaleError::Overflow);
            }
        }
        let mut value = value * u128::from(mult);
        // The fraction. Units are at most 8e9 of the base unit, so a non-zero digit past
        // the 20th can only make the result inexact; stopping there keeps it in a u128.
        let mut scale = u128::from(mult);
        let mut frac_sum: u128 = 0; // in units of mult / 10^k
        let mut denom: u128 = 1;
        for d in self.frac.bytes() {
            if denom >= 10u128.pow(20) {
                if d != b'0' {
                    return Err(ScaleError::Fractional);
                }
                continue;
            }
            frac_sum = frac_sum * 10 + u128::from(d - b'0');
            denom *= 10;
        }
        if frac_sum != 0 {
            scale *= frac_sum;
            if scale % denom != 0 {
                return Err(ScaleError::Fractional);
            }
            value += scale / denom;
        }
        u64::try_from(value).map_err(|_| ScaleError::Overflow)
    }
}

/// Splits `12.5Mbit/s` into the number and the rest; `None` without leading digits.
fn split_number(s: &str) -> Option<(Decimal<'_>, &str)> {
    let int_end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let (int, rest) = s.split_at(int_end);
    let (frac, rest) = match rest.strip_prefix('.') {
        Some(after) => {
            let end = after
                .bytes()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(after.len());
            after.split_at(end)
        }
        None => ("", rest),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    Some((Decimal { int, frac }, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bw(s: &str) -> Result<u64, ParseBandwidthError> {
        s.parse::<Bandwidth>().map(Bandwidth::bits_per_sec)
    }

    fn delay(s: &str) -> Result<u64, ParseDelayError> {
        s.parse::<Delay>().map(Delay::nanos)
    }

    #[test]
    fn bandwidth_units() {
        assert_eq!(bw("10Mbit/s"), Ok(10_000_000));
        assert_eq!(bw("10 Mbit/s"), Ok(10_000_000));
        assert_eq!(bw("10mbit/s"), Ok(10_000_000));
        assert_eq!(bw("64kbit/s"), Ok(64_000));
        assert_eq!(bw("64Kbits/s"), Ok(64_000));
        assert_eq!(bw("1Gbit/s"), Ok(1_000_000_000));
        assert_eq!(bw("300bit/s"), Ok(300));
        assert_eq!(bw("100Byte/s"), Ok(800));
        assert_eq!(bw("2KByte/s"), Ok(16_000));
        assert_eq!(bw("1MByte/s"), Ok(8_000_000));
        assert_eq!(bw("1.5Mbit/s"), Ok(1_500_000));
        assert_eq!(bw("1000000"), Ok(1_000_000));
        assert_eq!(bw("0"), Ok(0));
        assert!("0".parse::<Bandwidth>().unwrap().is_unlimited());
    }

    #[test]
    fn bandwidth_errors() {
        assert_eq!(bw(""), Err(ParseBandwidthError::InvalidNumber));
        assert_eq!(bw("fast"), Err(ParseBandwidthError::InvalidNumber));
        assert_eq!(bw("10Mbps"), Err(ParseBandwidthError::UnknownUnit));
        assert_eq!(bw("10 furlongs"), Err(ParseBandwidthError::UnknownUnit));
        assert_eq!(bw("0.1bit/s"), Err(ParseBandwidthError::Fractional));
        assert_eq!(
            bw("99999999999999999999"),
            Err(ParseBandwidthError::TooLarge)
        );
        assert_eq!(bw("20000000000Gbit/s"), Err(ParseBandwidthError::TooLarge));
        let msg = ParseBandwidthError::UnknownUnit.to_string();
        assert!(msg.contains("expected") && msg.contains("Mbit/s"), "{msg}");
    }

    #[test]
    fn bandwidth_display_round_trips() {
        for s in ["10Mbit/s", "1500bit/s", "0", "2Gbit/s", "64Kbit/s"] {
            let b: Bandwidth = s.parse().unwrap();
            assert_eq!(b.to_string(), s);
            assert_eq!(b.to_string().parse::<Bandwidth>(), Ok(b));
        }
    }

    #[test]
    fn delay_units() {
        assert_eq!(delay("20ms"), Ok(20_000_000));
        assert_eq!(delay("1.5ms"), Ok(1_500_000));
        assert_eq!(delay("250us"), Ok(250_000));
        assert_eq!(delay("1s"), Ok(1_000_000_000));
        assert_eq!(delay("100ns"), Ok(100));
        assert_eq!(delay("20"), Ok(20_000_000));
        assert_eq!(delay("0"), Ok(0));
        assert_eq!(delay(".5s"), Ok(500_000_000));
        assert_eq!(
            Delay::from_millis(20).as_duration(),
            Duration::from_millis(20)
        );
    }

    #[test]
    fn delay_errors() {
        assert_eq!(delay("soon"), Err(ParseDelayError::InvalidNumber));
        assert_eq!(delay("20 minutes"), Err(ParseDelayError::UnknownUnit));
        assert_eq!(delay("20MS"), Err(ParseDelayError::UnknownUnit));
        assert_eq!(delay("0.5ns"), Err(ParseDelayError::Fractional));
        assert_eq!(delay("99999999999s"), Err(ParseDelayError::TooLarge));
        assert!(ParseDelayError::UnknownUnit
            .to_string()
            .contains("\"20ms\""));
    }

    #[test]
    fn delay_display_round_trips() {
        for s in ["20ms", "250us", "1s", "7ns", "0ms"] {
            let d: Delay = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
    }
}
