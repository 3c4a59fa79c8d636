//! Releases and their order.
//!
//! Releases are ordered by version, not by string: `0.9 < 0.10 < 1.0`. Numeric components compare as
//! numbers, other components (`rc1`) as text; ties fall back to the full text so that the order is total.

use std::cmp::Ordering;
use std::fmt;

/// A name that cannot be a release (it must be usable in an image tag).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a release name (letters, digits, `.`, `-`, `_`, `+`)")]
pub(crate) struct ReleaseError(pub String);

impl ReleaseError {
    pub(crate) fn hint(&self) -> &'static str {
        "a release is written as in an image tag, starting with a letter or digit: e.g. \"0.23\", \"7.0\", \"3.4.0-rc1\""
    }
}

/// A release name of the system under test, e.g. `0.23` or `7.0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Release(String);

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part<'a> {
    Num(u64),
    Text(&'a str),
}

impl Release {
    /// Accepts names made of ASCII letters, digits, `.`, `-`, `_` and `+`, starting with a letter or digit.
    pub(crate) fn parse(s: &str) -> Result<Release, ReleaseError> {
        let ok = !s.is_empty()
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
        if ok {
            Ok(Release(s.to_string()))
        } else {
            Err(ReleaseError(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn parts(&self) -> impl Iterator<Item = Part<'_>> {
        self.0
            .split(['.', '-', '_', '+'])
            .map(|p| match p.parse::<u64>() {
                Ok(n) => Part::Num(n),
                Err(_) => Part::Text(p),
            })
    }
}

impl Ord for Release {
    fn cmp(&self, other: &Self) -> Ordering {
        let mut a = self.parts();
        let mut b = other.parts();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return self.0.cmp(&other.0),
                (Some(x), Some(y)) => match x.cmp(&y) {
                    Ordering::Equal => continue,
                    o => return o,
                },
                // `1.0` < `1.0.1`: a longer version with the same prefix is newer.
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
            }
        }
    }
}

impl PartialOrd for Release {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Release {
        Release::parse(s).unwrap()
    }

    #[test]
    fn orders_by_version_not_by_text() {
        let mut v = [r("1.10"), r("0.9"), r("1.2"), r("0.10"), r("1.0")];
        v.sort();
        let names: Vec<_> = v.iter().map(Release::as_str).collect();
        assert_eq!(names, ["0.9", "0.10", "1.0", "1.2", "1.10"]);
    }

    #[test]
    fn longer_version_with_same_prefix_is_newer() {
        assert!(r("1.0") < r("1.0.1"));
        assert!(r("0.28") < r("1.0"));
    }

    #[test]
    fn rejects_names_that_cannot_be_tags() {
        assert!(Release::parse("").is_err());
        assert!(Release::parse("1.0 beta").is_err());
        assert!(Release::parse(".1").is_err());
    }
}
