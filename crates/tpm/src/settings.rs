//! The settings of TPM access that every build names, with or without the
//! `device` feature: the environment variables and the time-out syntax
//! (the CLI parses `--tpm-timeout` with [`parse_timeout`]).

use std::time::Duration;

use crate::TpmError;

/// `$TEE_ATTEST_TPM_TIMEOUT`: how long one TPM command (and the wait for
/// the vTPM lock) may take, in seconds (`30`, `0.5`) or with a unit
/// (`500ms`, `2s`).
pub const TPM_TIMEOUT_ENV: &str = "TEE_ATTEST_TPM_TIMEOUT";
/// `$TEE_ATTEST_VTPM_LOCK`: the lock file that serializes the processes
/// sharing a vTPM (`tee-attest mock up` exports it for its mock CVM).
pub const VTPM_LOCK_ENV: &str = "TEE_ATTEST_VTPM_LOCK";
/// The default time-out of one TPM command.
pub const DEFAULT_TPM_TIMEOUT: Duration = Duration::from_secs(30);

/// Parses a time-out: seconds (`30`, `0.5`) or with a unit (`500ms`,
/// `2s`). Code 8 for anything else, zero, or over a day.
pub fn parse_timeout(text: &str) -> Result<Duration, TpmError> {
    let t = text.trim();
    let bad = || {
        TpmError::InvalidInput(format!(
            "TPM time-out {t:?}: expected seconds (30, 0.5) or a duration (500ms, 2s), \
             more than 0 and at most a day"
        ))
    };
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t, 1.0)
    };
    let secs = number.trim().parse::<f64>().map_err(|_| bad())? * scale;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_outs_parse() {
        assert_eq!(parse_timeout("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_timeout("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_timeout("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_timeout(" 2s ").unwrap(), Duration::from_secs(2));
        for bad in ["", "0", "-1", "abc", "1e9", "NaN", "inf", "5m"] {
            assert!(parse_timeout(bad).is_err(), "{bad:?}");
        }
    }
}
