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
    #[error("`{0}` is shorter than 1ms, the shortest duration the harness can keep")]
    TooShort(String),
    #[error("`{0}` is longer than {MAX_HOURS}h, the longest duration the harness accepts")]
    TooLong(String),
}

impl DurationError {
    /// What would be accepted.
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            DurationError::TooShort(_) | DurationError::NotPositive(_) => {
                "durations are between 1ms and 24h: a number and a unit, e.g. `250ms`, `10s`, `2m`"
            }
            DurationError::TooLong(_) => {
                "durations are between 1ms and 24h; a trial that needs longer is better split"
            }
            _ => "write a number and a unit (ms, s, m or h), e.g. `250ms`, `10s`, `1.5s`, `2m`",
        }
    }
}

/// The longest duration accepted anywhere: far above any sensible deadline, far below what would
/// overflow a clock when added to now.
const MAX_HOURS: u64 = 24;

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
    if secs.is_nan() || secs <= 0.0 {
        return Err(DurationError::NotPositive(s.to_string()));
    }
    if secs < 0.001 {
        return Err(DurationError::TooShort(s.to_string()));
    }
    if secs > (MAX_HOURS * 3600) as f64 {
        return Err(DurationError::TooLong(s.to_string()));
    }
    // Whole milliseconds: what `format_duration` prints is then what was meant.
    Ok(Duration::from_millis((secs * 1000.0).round() as u64))
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
    fn refuses_what_it_cannot_hold_and_what_rounds_to_nothing() {
        for (text, words) in [
            ("99999999999999999999s", "longer than 24h"),
            ("1e400s", "not a duration unit"),
            ("25h", "longer than 24h"),
            ("0.0000001ms", "shorter than 1ms"),
            ("0.0004s", "shorter than 1ms"),
            ("0s", "longer than zero"),
        ] {
            let e = parse_duration(text).unwrap_err();
            assert!(e.to_string().contains(words), "{text}: {e}");
            assert!(!e.hint().is_empty());
        }
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("1ms").unwrap(), Duration::from_millis(1));
    }

    #[test]
    fn formats_round_trip() {
        for s in ["200ms", "10s", "2m", "1.5s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
