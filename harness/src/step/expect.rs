//! What an action's result must show (`expect = { … }`), and judging a result against it.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::run::Invocation;

/// What an action's result must show. Every field given must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Expect {
    pub exit: Option<i64>,
    pub status: Option<u16>,
    pub contains: Option<String>,
    pub not_contains: Option<String>,
    pub matches: Option<Regex>,
    pub pointer: Option<String>,
    pub equals: Option<serde_json::Value>,
    pub compare: Vec<(NumOp, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumOp {
    Gt,
    Ge,
    Lt,
    Le,
}

impl NumOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            NumOp::Gt => ">",
            NumOp::Ge => ">=",
            NumOp::Lt => "<",
            NumOp::Le => "<=",
        }
    }

    pub(crate) fn holds(self, a: f64, b: f64) -> bool {
        match self {
            NumOp::Gt => a > b,
            NumOp::Ge => a >= b,
            NumOp::Lt => a < b,
            NumOp::Le => a <= b,
        }
    }
}

/// `expect = { … }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpect {
    pub exit: Option<i64>,
    pub status: Option<Spanned<i64>>,
    pub contains: Option<String>,
    pub not_contains: Option<String>,
    pub matches: Option<Spanned<String>>,
    pub pointer: Option<Spanned<String>>,
    pub equals: Option<toml::Value>,
    pub gt: Option<f64>,
    pub ge: Option<f64>,
    pub lt: Option<f64>,
    pub le: Option<f64>,
}

impl Expect {
    /// `{from}` and `{to}` in what it expects (`equals` strings, `contains`, `not_contains`) stand
    /// for a path's releases, e.g. "the leader runs {to}".
    pub(crate) fn on_path(
        &self,
        path: Option<(&crate::model::Release, &crate::model::Release)>,
    ) -> Expect {
        let fill = |s: &str| super::fill_path(s, path);
        let mut e = self.clone();
        if let Some(Value::String(v)) = &e.equals {
            e.equals = Some(Value::String(fill(v)));
        }
        e.contains = e.contains.as_deref().map(fill);
        e.not_contains = e.not_contains.as_deref().map(fill);
        e
    }
}

/// One line saying what an expectation requires.
pub(crate) fn describe_expect(e: &Expect) -> String {
    let mut parts = Vec::new();
    if let Some(x) = e.exit {
        parts.push(format!("exit {x}"));
    }
    if let Some(s) = e.status {
        parts.push(format!("status {s}"));
    }
    if let Some(c) = &e.contains {
        parts.push(format!("contains {c:?}"));
    }
    if let Some(c) = &e.not_contains {
        parts.push(format!("lacks {c:?}"));
    }
    if let Some(r) = &e.matches {
        parts.push(format!("matches /{}/", r.as_str()));
    }
    let p = e.pointer.as_deref().unwrap_or("");
    if let Some(v) = &e.equals {
        parts.push(format!("{p} == {v}"));
    }
    for (op, v) in &e.compare {
        parts.push(format!("{p} {} {v}", op.symbol()));
    }
    if parts.is_empty() {
        "succeeds".into()
    } else {
        parts.join(", ")
    }
}

/// The component's own words, for a failure message: the last non-empty line of what it printed.
pub(crate) fn said(output: &str) -> String {
    const MAX: usize = 200;
    match output.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
        None => String::new(),
        Some(l) if l.chars().count() > MAX => {
            format!(": {}…", l.chars().take(MAX).collect::<String>())
        }
        Some(l) => format!(": {l}"),
    }
}

/// Judges an invocation: `None` if it meets the expectation, else what is wrong. Without an explicit
/// `exit`/`status`, the action itself must have succeeded.
pub(crate) fn judge(inv: &Invocation, e: &Expect) -> Option<String> {
    let o = &inv.observation;
    let output = inv.output.as_str();
    if let Some(note) = &o.note {
        return Some(note.clone());
    }
    if let Some(want) = e.exit {
        if o.exit_code != Some(want) {
            return Some(format!(
                "exit code {} (expected {want}){}",
                o.exit_code.map_or("none".into(), |c| c.to_string()),
                said(output)
            ));
        }
    }
    if let Some(want) = e.status {
        if o.http_status != Some(want) {
            return Some(format!(
                "HTTP status {} (expected {want}){}",
                o.http_status.map_or("none".into(), |c| c.to_string()),
                said(output)
            ));
        }
    }
    if e.exit.is_none() && e.status.is_none() && !inv.succeeded {
        let what = match (o.exit_code, o.http_status) {
            (Some(c), _) => format!("exit code {c}"),
            (_, Some(s)) => format!("HTTP status {s}"),
            _ => "the action failed".into(),
        };
        return Some(format!("{what}{}", said(output)));
    }
    if let Some(c) = &e.contains {
        if !output.contains(c.as_str()) {
            return Some(format!("output does not contain {c:?}{}", said(output)));
        }
    }
    if let Some(c) = &e.not_contains {
        if output.contains(c.as_str()) {
            return Some(format!("output contains {c:?}"));
        }
    }
    if let Some(r) = &e.matches {
        if !r.is_match(output) {
            return Some(format!("output does not match /{}/", r.as_str()));
        }
    }
    if let Some(p) = &e.pointer {
        let doc: Value = match serde_json::from_str(output.trim()) {
            Ok(v) => v,
            Err(err) => return Some(format!("output is not JSON ({err})")),
        };
        let Some(v) = doc.pointer(p) else {
            return Some(format!("{p} is absent from the output"));
        };
        if let Some(want) = &e.equals {
            if !json_equal(v, want) {
                return Some(format!("{p} is {v} (expected {want})"));
            }
        }
        for (op, want) in &e.compare {
            let got = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            match got {
                None => return Some(format!("{p} is {v}, not a number")),
                Some(g) if !op.holds(g, *want) => {
                    return Some(format!("{p} is {g} (expected {} {want})", op.symbol()))
                }
                _ => {}
            }
        }
    }
    None
}

/// Numbers compare by value (1 == 1.0); everything else structurally.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Observation;

    fn inv(exit: i64, output: &str) -> Invocation {
        Invocation {
            succeeded: exit == 0,
            observation: Observation {
                what: "x".into(),
                exit_code: Some(exit),
                output: crate::run::excerpt(output),
                ..Default::default()
            },
            output: output.into(),
            stdout: output.into(),
        }
    }

    #[test]
    fn judges_output_and_json() {
        let e = Expect {
            contains: Some("leader".into()),
            pointer: Some("/n".into()),
            compare: vec![(NumOp::Ge, 3.0)],
            ..Default::default()
        };
        assert_eq!(judge(&inv(0, r#"{"leader":"a","n":3}"#), &e), None);
        assert_eq!(
            judge(&inv(0, r#"{"leader":"a","n":2}"#), &e).unwrap(),
            "/n is 2 (expected >= 3)"
        );
        assert_eq!(
            judge(&inv(1, r#"{"leader":"a","n":3}"#), &e).unwrap(),
            r#"exit code 1: {"leader":"a","n":3}"#
        );
    }

    #[test]
    fn explicit_exit_code_replaces_success() {
        let e = Expect {
            exit: Some(1),
            ..Default::default()
        };
        assert_eq!(judge(&inv(1, ""), &e), None);
        assert!(judge(&inv(0, ""), &e).is_some());
    }

    #[test]
    fn numbers_equal_by_value() {
        assert!(json_equal(&serde_json::json!(1), &serde_json::json!(1.0)));
        assert!(!json_equal(&serde_json::json!("1"), &serde_json::json!(1)));
    }
}
