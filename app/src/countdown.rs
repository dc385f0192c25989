//! Time left until an instant, in words a player reads at a glance.

/// Now, in unix milliseconds (the browser's clock in the browser).
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "milliseconds since 1970 fit in i64"
        )]
        let now = web_sys::js_sys::Date::now() as i64;
        now
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
    }
}

/// "23 h 59 min", "5 min", "less than a minute", or "expired" for what is left of `remaining_ms`.
pub fn remaining(remaining_ms: i64) -> String {
    if remaining_ms <= 0 {
        return "expired".to_owned();
    }
    let minutes = remaining_ms / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, 0) => "less than a minute".to_owned(),
        (0, minutes) => format!("{minutes} min"),
        (hours, minutes) => format!("{hours} h {minutes} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::remaining;

    #[test]
    fn remaining_time_reads_naturally() {
        assert_eq!(remaining(24 * 3_600_000), "24 h 0 min");
        assert_eq!(remaining(24 * 3_600_000 - 60_000), "23 h 59 min");
        assert_eq!(remaining(5 * 60_000 + 59_999), "5 min");
        assert_eq!(remaining(59_999), "less than a minute");
        assert_eq!(remaining(0), "expired");
        assert_eq!(remaining(-5), "expired");
    }
}
