//! Durations as written in matrix and scenario files: `250ms`, `10s`, `1.5s`, `2m`.

use std::time::Duration;

/// Why a duration as written is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DurationError {
    #[error("`{0}` has no unit (write e.g. `500ms`, `10s`, `2m`)")]
    NoUnit(String),
    #[error("`{0}` does not start with a number")]
    NotANumber(String),
    #[error("`{0}` is not a duration unit (use ms, s, m or h)")]
    UnknownUnit(String),
    #[error("`{0}` must be longer than zero")]
    NotPositive(String),
}

/// Parses a human duration. A bare number is rejected so that `timeout = "10"` is not silently ten
/// seconds or ten milliseconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| DurationError::NoUnit(s.to_string()))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| DurationError::NotANumber(s.to_string()))?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(DurationError::UnknownUnit(other.to_string())),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(DurationError::NotPositive(s.to_string()));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats a duration the way it would be written in a file (`1.5s`, `200ms`).
pub(crate) fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    }

    #[test]
    fn rejects_missing_unit_unknown_unit_and_zero() {
        assert!(parse_duration("10")
            .unwrap_err()
            .to_string()
            .contains("no unit"));
        assert!(parse_duration("10 parsecs")
            .unwrap_err()
            .to_string()
            .contains("not a duration unit"));
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for s in ["200ms", "10s", "2m", "1.5s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
