//! Time for verification: one injectable [`Clock`] for the workspace, so
//! that old evidence and tokens can be verified "at" their own time, and a
//! small RFC 3339 reader for command lines.
//!
//! Reading the system clock is the one thing here that touches the
//! platform; everything that checks a validity window takes a `Clock`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Tells the time, in seconds since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, in Unix seconds (0 for a time before the epoch).
    fn now(&self) -> u64;

    /// Now, in Unix seconds, signed (as JWT `exp`/`nbf`/`iat` are).
    fn now_unix(&self) -> i64 {
        i64::try_from(self.now()).unwrap_or(i64::MAX)
    }
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u64 {}
    impl Sealed for i64 {}
}

/// Unix seconds as [`FixedClock`] holds them: `u64` (evidence and
/// collateral times) or `i64` (JWT times).
pub trait UnixSeconds: sealed::Sealed + Copy + Send + Sync + fmt::Debug {
    /// As unsigned seconds (0 before the epoch).
    fn unsigned(self) -> u64;
    /// As signed seconds.
    fn signed(self) -> i64;
}

impl UnixSeconds for u64 {
    fn unsigned(self) -> u64 {
        self
    }
    fn signed(self) -> i64 {
        i64::try_from(self).unwrap_or(i64::MAX)
    }
}

impl UnixSeconds for i64 {
    fn unsigned(self) -> u64 {
        u64::try_from(self).unwrap_or(0)
    }
    fn signed(self) -> i64 {
        self
    }
}

/// A clock stopped at one time, in Unix seconds: `FixedClock(t)` with `t`
/// a `u64` or an `i64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock<T: UnixSeconds = u64>(pub T);

impl<T: UnixSeconds> Clock for FixedClock<T> {
    fn now(&self) -> u64 {
        self.0.unsigned()
    }
    fn now_unix(&self) -> i64 {
        self.0.signed()
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads an RFC 3339 date-time (`2024-06-01T12:00:00Z`, fractions and
/// `±HH:MM` offsets accepted; a bare date means midnight UTC) as Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    if b.len() > 10 {
        if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        secs += h * 3600 + mi * 60 + se;
        let mut rest = &s[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            rest = &frac[n..];
        }
        match rest {
            "Z" | "z" => {}
            _ => {
                let sign = match rest.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let off = &rest[1..];
                if off.len() != 5 || off.as_bytes()[2] != b':' {
                    return None;
                }
                let oh: i64 = off[0..2].parse().ok()?;
                let om: i64 = off[3..5].parse().ok()?;
                secs -= sign * (oh * 3600 + om * 60);
            }
        }
    }
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2025-01-01T00:00:00Z"), Some(1_735_689_600));
        assert_eq!(parse_rfc3339("2025-01-01"), Some(1_735_689_600));
        assert_eq!(
            parse_rfc3339("2025-01-01T01:00:00.5+01:00"),
            Some(1_735_689_600)
        );
        assert_eq!(parse_rfc3339("2025-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2025-01-01T00:00:00"), None);
        assert!(SystemClock.now() > 1_700_000_000);
        assert_eq!(FixedClock(5_u64).now(), 5);
        assert_eq!(FixedClock(-5_i64).now(), 0);
        assert_eq!(FixedClock(-5_i64).now_unix(), -5);
        assert_eq!(FixedClock(7_u64).now_unix(), 7);
        assert!(SystemClock.now_unix() > 1_700_000_000);
    }
}
