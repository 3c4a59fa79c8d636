//! crossgrade's own history format, `history.jsonl`, version 1: one JSON object per line, one
//! operation per object, in any order (the checker orders by time). Blank lines are skipped.
//!
//! ```text
//! {"client":0,"invoke":100,"complete":180,"f":"write","value":"3","outcome":"ok"}
//! {"client":1,"invoke":120,"complete":200,"f":"read","outcome":"ok","result":"3"}
//! {"client":2,"invoke":130,"complete":260,"f":"cas","value":["3","4"],"outcome":"ok","result":true}
//! {"client":3,"invoke":140,"f":"write","value":"5","outcome":"unknown"}
//! {"client":4,"invoke":150,"complete":170,"f":"append","key":"k1","value":"x","outcome":"fail"}
//! ```
//!
//! | field | |
//! |---|---|
//! | `v` | optional; the format's version, `1` |
//! | `client` | the client (process) that made the call: a whole number |
//! | `invoke` | when the call was made: a whole number, nanoseconds or any tick all clients share |
//! | `complete` | when it returned; absent or `null` if it never did (then `outcome` is `unknown`) |
//! | `f` | `read`, `write`, `cas` (register) or `get`, `put`, `append` (key-value) |
//! | `key` | optional (a register history may leave it out: one register) |
//! | `value` | write/put/append: the value; cas: `[expected, new]`; read/get: absent or `null` |
//! | `outcome` | `ok` (took effect, with `result`), `fail` (definitely did not) or `unknown` (may have, any time after `invoke`) |
//! | `result` | with `ok` only: read/get the value seen (`null`: absent), cas `true` if the compare held and the value was set, `false` if it did not; absent for the others |
//!
//! Values and keys are strings; whole numbers are accepted for them and read as their decimal
//! text. Any other field is an error (so that a misspelt one is not silently ignored).

use std::path::Path;

use serde_json::{json, Map, Value};

use super::error::ParseError;
use super::format::Format;
use super::types::{Call, History, Operation, Outcome, Return};

/// The format's version, written in every line's `v` by [`to_line`].
pub const VERSION: u64 = 1;

const FIELDS: &[&str] = &[
    "v", "client", "invoke", "complete", "f", "key", "value", "outcome", "result",
];

/// Parses a `history.jsonl` text read from `path` (named in errors with the line).
pub fn parse(path: &Path, text: &str) -> Result<History, ParseError> {
    let mut ops = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let op = parse_line(line).map_err(|message| ParseError {
            path: path.to_path_buf(),
            line: n + 1,
            message,
            format: Format::Jsonl,
        })?;
        ops.push(op);
    }
    Ok(History { ops })
}

/// One line, or what is wrong with it.
pub fn parse_line(line: &str) -> Result<Operation, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(o) = value else {
        return Err("not a JSON object".into());
    };
    if let Some(other) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown field `{other}` (the fields are {})",
            FIELDS.join(", ")
        ));
    }
    if let Some(v) = o.get("v") {
        if v.as_u64() != Some(VERSION) {
            return Err(format!(
                "`v` is {v}: this crossgrade reads history.jsonl version {VERSION}"
            ));
        }
    }
    let client = whole(&o, "client")?.ok_or("no `client`")?;
    let invoke = whole(&o, "invoke")?.ok_or("no `invoke`")?;
    let complete = whole(&o, "complete")?;
    if complete.is_some_and(|c| c < invoke) {
        return Err(format!(
            "`complete` ({}) is before `invoke` ({invoke})",
            complete.unwrap_or_default()
        ));
    }
    let key = match o.get("key") {
        None | Some(Value::Null) => None,
        Some(k) => Some(text(k).ok_or("`key` is not a string")?),
    };
    let f = o
        .get("f")
        .ok_or("no `f`")?
        .as_str()
        .ok_or("`f` is not a string")?;
    let value = o.get("value").filter(|v| !v.is_null());
    let one = |what: &str| -> Result<String, String> {
        let v = value.ok_or_else(|| format!("a {what} needs a `value`"))?;
        text(v).ok_or_else(|| format!("the `value` of a {what} is not a string"))
    };
    let call = match f {
        "read" | "get" => {
            if value.is_some() {
                return Err(format!(
                    "a {f} has no `value` (what it saw is its `result`)"
                ));
            }
            if f == "read" {
                Call::Read
            } else {
                Call::Get
            }
        }
        "write" => Call::Write(one("write")?),
        "put" => Call::Put(one("put")?),
        "append" => Call::Append(one("append")?),
        "cas" => {
            let pair = value
                .and_then(Value::as_array)
                .filter(|a| a.len() == 2)
                .ok_or("the `value` of a cas is [expected, new]")?;
            match (text(&pair[0]), text(&pair[1])) {
                (Some(expected), Some(new)) => Call::Cas { expected, new },
                _ => return Err("the `value` of a cas is [expected, new], two strings".into()),
            }
        }
        other => {
            return Err(format!(
                "`f` is {other:?}: one of read, write, cas, get, put, append"
            ))
        }
    };
    let result = o.get("result").filter(|r| !r.is_null());
    let outcome = match o.get("outcome").ok_or("no `outcome`")?.as_str() {
        Some("ok") => {
            if complete.is_none() {
                return Err("an ok operation needs `complete`".into());
            }
            Outcome::Ok(match &call {
                Call::Read | Call::Get => match o.get("result") {
                    None => return Err(format!("an ok {f} needs a `result` (null: absent)")),
                    Some(Value::Null) => Return::Value(None),
                    Some(r) => Return::Value(Some(
                        text(r).ok_or_else(|| format!("the `result` of a {f} is not a string"))?,
                    )),
                },
                Call::Cas { .. } => {
                    Return::Cas(result.and_then(Value::as_bool).ok_or(
                        "an ok cas needs a `result`: true (set) or false (compare failed)",
                    )?)
                }
                Call::Write(_) | Call::Put(_) | Call::Append(_) => {
                    if result.is_some() {
                        return Err(format!("a {f} has no `result`"));
                    }
                    Return::Done
                }
            })
        }
        Some(o @ ("fail" | "unknown")) => {
            if result.is_some() {
                return Err(format!("an operation whose outcome is {o} has no `result`"));
            }
            if o == "fail" {
                Outcome::Fail
            } else {
                Outcome::Unknown
            }
        }
        _ => return Err("`outcome` is one of \"ok\", \"fail\", \"unknown\"".into()),
    };
    Ok(Operation {
        client,
        invoke,
        complete,
        key,
        call,
        outcome,
    })
}

fn whole(o: &Map<String, Value>, field: &str) -> Result<Option<u64>, String> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`{field}` is {v}, not a whole number")),
    }
}

/// A string, or a whole number as its decimal text.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// The operation as one `history.jsonl` line (without its newline).
pub fn to_line(op: &Operation) -> String {
    let mut o = Map::new();
    o.insert("v".into(), json!(VERSION));
    o.insert("client".into(), json!(op.client));
    o.insert("invoke".into(), json!(op.invoke));
    if let Some(c) = op.complete {
        o.insert("complete".into(), json!(c));
    }
    o.insert("f".into(), json!(op.call.name()));
    if let Some(k) = &op.key {
        o.insert("key".into(), json!(k));
    }
    match &op.call {
        Call::Read | Call::Get => {}
        Call::Write(v) | Call::Put(v) | Call::Append(v) => {
            o.insert("value".into(), json!(v));
        }
        Call::Cas { expected, new } => {
            o.insert("value".into(), json!([expected, new]));
        }
    }
    let outcome = match &op.outcome {
        Outcome::Ok(ret) => {
            match ret {
                Return::Done => {}
                Return::Value(v) => {
                    o.insert("result".into(), json!(v));
                }
                Return::Cas(held) => {
                    o.insert("result".into(), json!(held));
                }
            }
            "ok"
        }
        Outcome::Fail => "fail",
        Outcome::Unknown => "unknown",
    };
    o.insert("outcome".into(), json!(outcome));
    Value::Object(o).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_line_reads_and_writes_back() {
        let text = r#"{"client":0,"invoke":100,"complete":180,"f":"write","value":"3","outcome":"ok"}
{"client":1,"invoke":120,"complete":200,"f":"read","outcome":"ok","result":"3"}

{"client":1,"invoke":220,"complete":230,"f":"read","outcome":"ok","result":null}
{"client":2,"invoke":130,"complete":260,"f":"cas","value":["3",4],"outcome":"ok","result":true}
{"client":3,"invoke":140,"f":"write","value":"5","outcome":"unknown"}
{"client":4,"invoke":150,"complete":170,"f":"append","key":"k1","value":"x","outcome":"fail","v":1}
"#;
        let h = parse(Path::new("h.jsonl"), text).unwrap();
        assert_eq!(h.len(), 6);
        assert_eq!(h.ops[2].outcome, Outcome::Ok(Return::Value(None)));
        assert_eq!(
            h.ops[3].call,
            Call::Cas {
                expected: "3".into(),
                new: "4".into()
            }
        );
        assert_eq!(h.ops[4].complete, None);
        assert_eq!(h.ops[5].key.as_deref(), Some("k1"));
        for op in &h.ops {
            assert_eq!(parse_line(&to_line(op)).as_ref(), Ok(op));
        }
    }

    #[test]
    fn a_bad_line_is_named_with_what_is_wrong() {
        let cases = [
            ("{\"client\":0", "not JSON"),
            ("[1]", "not a JSON object"),
            (
                r#"{"client":0,"invoke":1,"complete":2,"f":"read","outcome":"ok"}"#,
                "needs a `result`",
            ),
            (
                r#"{"client":0,"invoke":1,"complete":2,"f":"frob","outcome":"ok"}"#,
                "`f` is \"frob\"",
            ),
            (
                r#"{"client":-1,"invoke":1,"f":"read","outcome":"unknown"}"#,
                "`client` is -1",
            ),
            (
                r#"{"client":0,"invoke":5,"complete":2,"f":"write","value":"1","outcome":"ok"}"#,
                "before `invoke`",
            ),
            (
                r#"{"client":0,"invoke":1,"f":"write","value":"1","outcome":"ok"}"#,
                "needs `complete`",
            ),
            (
                r#"{"client":0,"invoke":1,"f":"write","value":"1","outcome":"ok","complete":2,"colour":1}"#,
                "unknown field `colour`",
            ),
            (
                r#"{"client":0,"invoke":1,"complete":2,"f":"cas","value":["1"],"outcome":"ok","result":true}"#,
                "[expected, new]",
            ),
            (
                r#"{"client":0,"invoke":1,"complete":2,"f":"write","value":"1","outcome":"maybe"}"#,
                "`outcome` is one of",
            ),
            (
                r#"{"v":2,"client":0,"invoke":1,"complete":2,"f":"write","value":"1","outcome":"ok"}"#,
                "version 1",
            ),
        ];
        for (line, want) in cases {
            let text = format!("\n{line}\n");
            let e = parse(Path::new("h.jsonl"), &text).unwrap_err();
            assert_eq!(e.line, 2, "{line}");
            assert!(e.message.contains(want), "{line}: {}", e.message);
            assert!(e.to_string().starts_with("h.jsonl:2: "), "{e}");
        }
    }
}
