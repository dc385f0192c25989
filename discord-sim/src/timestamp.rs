//! Timestamps in Discord's exact wire form, `2015-04-26T06:26:56.936000+00:00`.
//!
//! twilight-model rejects RFC 3339 strings shorter than 25 characters (a bare `Z`), so every
//! timestamp the simulator emits goes through [`format_unix_micros`].

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats microseconds since the Unix epoch (UTC) as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`.
pub fn format_unix_micros(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:06}+00:00",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// The current time in Discord's form.
pub(crate) fn now() -> String {
    format_unix_micros(now_micros())
}

/// Microseconds since the Unix epoch; a clock before 1970 reads as the epoch.
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// `now + after`, saturating at a year from now so a huge configured duration cannot overflow.
pub(crate) fn instant_after(after: std::time::Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    let cap = std::time::Duration::from_secs(86_400 * 365);
    now + after.min(cap)
}

/// Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01 (no dates before it).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::format_unix_micros;

    #[test]
    fn matches_discords_example() {
        // 2015-04-26T06:26:56.936000+00:00 from Discord's docs.
        assert_eq!(
            format_unix_micros(1_430_029_616_936_000),
            "2015-04-26T06:26:56.936000+00:00"
        );
        assert_eq!(format_unix_micros(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            format_unix_micros(1_709_164_800_000_000),
            "2024-02-29T00:00:00.000000+00:00"
        );
    }
}
