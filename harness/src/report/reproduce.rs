//! The one-line commands that rerun exactly one trial: `crossgrade run --trial …` and the
//! `cargo nextest run …` form of the trials test binary.

use crate::outcome::Reproduce;

/// Environment variable naming the matrix the trials test binary lists (default: `matrix.toml` at the
/// workspace root).
pub const MATRIX_ENV: &str = "CROSSGRADE_MATRIX";

/// `matrix`: the matrix file as the user named it, `None` for the default `matrix.toml`. A trial
/// of a scenario file (`file`) is rerun from that file; the trials test binary lists only the
/// matrix's trials, so it has no nextest form (empty).
pub(crate) fn reproduce(matrix: Option<&str>, trial_id: &str, file: Option<&str>) -> Reproduce {
    let id = shell_quote(trial_id);
    let (flag, env) = match matrix {
        Some(m) => (
            format!(" -f {}", shell_quote(m)),
            format!("{MATRIX_ENV}={} ", shell_quote(m)),
        ),
        None => (String::new(), String::new()),
    };
    if let Some(file) = file {
        return Reproduce {
            crossgrade: format!("crossgrade run{flag} --scenario-file {}", shell_quote(file)),
            nextest: String::new(),
        };
    }
    Reproduce {
        crossgrade: format!("crossgrade run{flag} --trial {id}"),
        nextest: format!(
            "{env}cargo nextest run -p crossgrade --test trials -E {}",
            shell_quote(&format!("test(={})", filterset_escape(trial_id)))
        ),
    }
}

/// Escapes a name for a nextest filterset matcher, where `,` and `)` end the argument.
fn filterset_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | '(' | ')' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Quotes `s` for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matrix() {
        let r = reproduce(None, "fixture/basic/node=2.0,client=1.0", None);
        assert_eq!(
            r.crossgrade,
            "crossgrade run --trial fixture/basic/node=2.0,client=1.0"
        );
        assert_eq!(
            r.nextest,
            r"cargo nextest run -p crossgrade --test trials -E 'test(=fixture/basic/node=2.0\,client=1.0)'"
        );
    }

    #[test]
    fn other_matrix_and_quoting() {
        let r = reproduce(Some("my matrix.toml"), "s/x/a=1", None);
        assert_eq!(
            r.crossgrade,
            "crossgrade run -f 'my matrix.toml' --trial s/x/a=1"
        );
        assert!(r
            .nextest
            .starts_with("CROSSGRADE_MATRIX='my matrix.toml' cargo nextest run"));
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
