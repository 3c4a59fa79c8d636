//! Importers for the two Jepsen history shapes of `shared/histories` (see its README), into the same
//! [`History`] as `history.jsonl`.
//!
//! Times are line numbers (1-based): Jepsen's logs are in real-time order, which is all that
//! linearizability asks of times. What each line means:
//!
//! - `:invoke` opens a call by its process; a process has one call open at a time.
//! - `:ok` completes it: it took effect, with the result the line gives.
//! - `:fail` completes it as not having taken effect ([`Outcome::Fail`]), except two that the etcd
//!   tests give a meaning of their own: a failed `:cas` is a compare that did not hold (it took
//!   effect, as a read that saw another value: [`Return::Cas`]`(false)`), and a `:read` failed
//!   with `:timed-out` constrains nothing ([`Outcome::Unknown`]).
//! - `:info` completes it with an unknown outcome: it may or may not have taken effect, at any time
//!   after its invocation.
//! - A call still open at the end of the file has an unknown outcome too.

use std::collections::HashMap;
use std::path::Path;

use super::error::ParseError;
use super::format::Format;
use super::types::{Call, History, Operation, Outcome, Return};

/// The type of a Jepsen line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl Type {
    fn from_keyword(k: &str) -> Option<Type> {
        match k {
            "invoke" => Some(Type::Invoke),
            "ok" => Some(Type::Ok),
            "fail" => Some(Type::Fail),
            "info" => Some(Type::Info),
            _ => None,
        }
    }
}

/// Pairs each process's invocation with its completion; the operations in invocation order.
struct Pairing {
    ops: Vec<Operation>,
    /// Process → its open call's index in `ops`.
    open: HashMap<u64, usize>,
}

impl Pairing {
    fn new() -> Pairing {
        Pairing {
            ops: Vec::new(),
            open: HashMap::new(),
        }
    }

    fn invoke(
        &mut self,
        line: u64,
        process: u64,
        key: Option<String>,
        call: Call,
    ) -> Result<(), String> {
        if let Some(&i) = self.open.get(&process) {
            return Err(format!(
                "process {process} invokes a call while its call of line {} is still open",
                self.ops[i].invoke
            ));
        }
        self.open.insert(process, self.ops.len());
        self.ops.push(Operation {
            client: process,
            invoke: line,
            complete: None,
            key,
            call,
            outcome: Outcome::Unknown,
        });
        Ok(())
    }

    /// Completes `process`'s open call, which must be an `f`; `outcome` decides what came of it.
    fn complete(
        &mut self,
        line: u64,
        process: u64,
        f: &str,
        outcome: impl FnOnce(&Call) -> Result<Outcome, String>,
    ) -> Result<(), String> {
        let i = self
            .open
            .remove(&process)
            .ok_or_else(|| format!("process {process} completes a :{f} it never invoked"))?;
        let op = &mut self.ops[i];
        if op.call.name() != f {
            return Err(format!(
                "process {process} completes a :{f}, but its open call (line {}) is a :{}",
                op.invoke,
                op.call.name()
            ));
        }
        op.outcome = outcome(&op.call)?;
        op.complete = Some(line);
        Ok(())
    }

    /// The history, calls still open left unknown and never completed.
    fn finish(self) -> History {
        History { ops: self.ops }
    }
}

fn error(path: &Path, line: usize, format: Format) -> impl Fn(String) -> ParseError + '_ {
    move |message| ParseError {
        path: path.to_path_buf(),
        line,
        message,
        format,
    }
}

/// Parses a Jepsen etcd log: the lines `INFO  jepsen.util - PROCESS :TYPE :F VALUE` (tabs or
/// spaces); other lines, and `jepsen.util` lines of no numbered process (the nemesis), are ignored.
pub fn parse_etcd(path: &Path, text: &str) -> Result<History, ParseError> {
    let mut pairing = Pairing::new();
    for (n, line) in text.lines().enumerate() {
        let Some((_, rest)) = line.split_once("jepsen.util") else {
            continue;
        };
        let mut tokens = rest.trim_start().trim_start_matches('-').split_whitespace();
        let Some(Ok(process)) = tokens.next().map(str::parse::<u64>) else {
            continue;
        };
        etcd_line(&mut pairing, (n + 1) as u64, process, tokens.collect()).map_err(error(
            path,
            n + 1,
            Format::JepsenEtcd,
        ))?;
    }
    Ok(pairing.finish())
}

fn etcd_line(
    pairing: &mut Pairing,
    line: u64,
    process: u64,
    tokens: Vec<&str>,
) -> Result<(), String> {
    let [ty, f, value @ ..] = tokens.as_slice() else {
        return Err("expected `:TYPE :F VALUE` after the process".into());
    };
    let ty = ty
        .strip_prefix(':')
        .and_then(Type::from_keyword)
        .ok_or_else(|| format!("`{ty}` is not :invoke, :ok, :fail or :info"))?;
    let f = match *f {
        ":read" => "read",
        ":write" => "write",
        ":cas" => "cas",
        other => return Err(format!("`{other}` is not :read, :write or :cas")),
    };
    let value = value.join(" ");
    match ty {
        Type::Invoke => {
            let call = match f {
                "read" => Call::Read,
                "write" => Call::Write(etcd_value(&value)?),
                _ => {
                    let pair = value
                        .strip_prefix('[')
                        .and_then(|v| v.strip_suffix(']'))
                        .map(|v| v.split_whitespace().collect::<Vec<_>>());
                    match pair.as_deref() {
                        Some([expected, new]) => Call::Cas {
                            expected: etcd_value(expected)?,
                            new: etcd_value(new)?,
                        },
                        _ => return Err(format!("a :cas takes [FROM TO], not `{value}`")),
                    }
                }
            };
            pairing.invoke(line, process, None, call)
        }
        Type::Ok => pairing.complete(line, process, f, |call| {
            Ok(Outcome::Ok(match call {
                Call::Read if value == "nil" => Return::Value(None),
                Call::Read => Return::Value(Some(etcd_value(&value)?)),
                Call::Cas { .. } => Return::Cas(true),
                _ => Return::Done,
            }))
        }),
        Type::Fail => pairing.complete(line, process, f, |call| {
            Ok(match call {
                Call::Cas { .. } => Outcome::Ok(Return::Cas(false)),
                Call::Read if value == ":timed-out" => Outcome::Unknown,
                _ => Outcome::Fail,
            })
        }),
        Type::Info => pairing.complete(line, process, f, |_| Ok(Outcome::Unknown)),
    }
}

/// A register value: a plain token (the etcd tests write numbers).
fn etcd_value(v: &str) -> Result<String, String> {
    if v.is_empty() || v.contains(char::is_whitespace) || v.starts_with(['[', ':', '"']) {
        return Err(format!("`{v}` is not a value (a number)"));
    }
    Ok(v.to_string())
}

/// Parses a Jepsen key-value history: one EDN map per non-blank line, `{:process P, :type :T, :f :F,
/// :key "K", :value V}`; maps of no numbered process (the nemesis) are ignored.
pub fn parse_kv(path: &Path, text: &str) -> Result<History, ParseError> {
    let mut pairing = Pairing::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        kv_line(&mut pairing, (n + 1) as u64, line).map_err(error(
            path,
            n + 1,
            Format::JepsenKv,
        ))?;
    }
    Ok(pairing.finish())
}

fn kv_line(pairing: &mut Pairing, line: u64, text: &str) -> Result<(), String> {
    let map = edn::parse_map(text)?;
    let get = |k: &str| map.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let process = match get("process") {
        Some(edn::Value::Int(p)) => {
            u64::try_from(*p).map_err(|_| format!(":process {p} is negative"))?
        }
        Some(_) => return Ok(()),
        None => return Err("no :process".into()),
    };
    let ty = match get("type") {
        Some(edn::Value::Keyword(t)) => Type::from_keyword(t)
            .ok_or_else(|| format!(":type :{t} is not :invoke, :ok, :fail or :info"))?,
        _ => return Err(":type is not a keyword".into()),
    };
    let f = match get("f") {
        Some(edn::Value::Keyword(f)) if ["get", "put", "append"].contains(&f.as_str()) => {
            f.as_str()
        }
        Some(edn::Value::Keyword(f)) => {
            return Err(format!(":f :{f} is not :get, :put or :append"))
        }
        _ => return Err(":f is not a keyword".into()),
    };
    let value = match get("value") {
        None | Some(edn::Value::Nil) => None,
        Some(v) => Some(v.text().ok_or(":value is not a string")?),
    };
    match ty {
        Type::Invoke => {
            let key = match get("key") {
                Some(k) => k.text().ok_or(":key is not a string")?,
                None => return Err("no :key".into()),
            };
            let value = |f: &str| {
                value
                    .clone()
                    .ok_or_else(|| format!("a :{f} needs a :value"))
            };
            let call = match f {
                "get" => Call::Get,
                "put" => Call::Put(value(f)?),
                _ => Call::Append(value(f)?),
            };
            pairing.invoke(line, process, Some(key), call)
        }
        Type::Ok => pairing.complete(line, process, f, |call| {
            Ok(Outcome::Ok(match call {
                Call::Get => Return::Value(value),
                _ => Return::Done,
            }))
        }),
        Type::Fail => pairing.complete(line, process, f, |_| Ok(Outcome::Fail)),
        Type::Info => pairing.complete(line, process, f, |_| Ok(Outcome::Unknown)),
    }
}

/// Just enough EDN for a Jepsen history line: a map of keyword keys to nil, booleans, integers,
/// strings, keywords and vectors of those.
mod edn {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Value {
        Nil,
        Bool(bool),
        Int(i64),
        Str(String),
        Keyword(String),
        Vector(Vec<Value>),
    }

    impl Value {
        /// A string, or an integer as its decimal text.
        pub fn text(&self) -> Option<String> {
            match self {
                Value::Str(s) => Some(s.clone()),
                Value::Int(i) => Some(i.to_string()),
                _ => None,
            }
        }
    }

    struct Reader<'a> {
        s: &'a str,
        at: usize,
    }

    /// `{:k v, ...}` (commas are whitespace), keys as keyword names in the order written.
    pub fn parse_map(s: &str) -> Result<Vec<(String, Value)>, String> {
        let mut r = Reader { s, at: 0 };
        r.skip();
        if !r.eat('{') {
            return Err("not an EDN map (`{:process ...}`)".into());
        }
        let mut map = Vec::new();
        loop {
            r.skip();
            if r.eat('}') {
                break;
            }
            let key = match r.value()? {
                Value::Keyword(k) => k,
                other => return Err(format!("a map key is {other:?}, not a keyword")),
            };
            r.skip();
            let value = r.value()?;
            map.push((key, value));
        }
        r.skip();
        if r.at < s.len() {
            return Err(format!("text after the map at column {}", r.at + 1));
        }
        Ok(map)
    }

    impl<'a> Reader<'a> {
        fn peek(&self) -> Option<char> {
            self.s[self.at..].chars().next()
        }

        fn eat(&mut self, c: char) -> bool {
            if self.peek() == Some(c) {
                self.at += c.len_utf8();
                true
            } else {
                false
            }
        }

        fn skip(&mut self) {
            while let Some(c) = self.peek() {
                if c.is_whitespace() || c == ',' {
                    self.at += c.len_utf8();
                } else {
                    break;
                }
            }
        }

        /// A symbol-like token: up to whitespace, a comma or a closing bracket.
        fn token(&mut self) -> &'a str {
            let s: &'a str = self.s;
            let start = self.at;
            while let Some(c) = self.peek() {
                if c.is_whitespace() || matches!(c, ',' | '}' | ']' | '{' | '[' | '"') {
                    break;
                }
                self.at += c.len_utf8();
            }
            &s[start..self.at]
        }

        fn value(&mut self) -> Result<Value, String> {
            let column = self.at + 1;
            match self.peek() {
                None => Err("the map is not closed (no `}`)".into()),
                Some('"') => {
                    self.at += 1;
                    let mut out = String::new();
                    loop {
                        let c = self.peek().ok_or("a string is not closed (no `\"`)")?;
                        self.at += c.len_utf8();
                        match c {
                            '"' => return Ok(Value::Str(out)),
                            '\\' => {
                                let e = self.peek().ok_or("a string is not closed (no `\"`)")?;
                                self.at += e.len_utf8();
                                out.push(match e {
                                    'n' => '\n',
                                    't' => '\t',
                                    'r' => '\r',
                                    other => other,
                                });
                            }
                            c => out.push(c),
                        }
                    }
                }
                Some('[') => {
                    self.at += 1;
                    let mut items = Vec::new();
                    loop {
                        self.skip();
                        if self.eat(']') {
                            return Ok(Value::Vector(items));
                        }
                        items.push(self.value()?);
                    }
                }
                Some(':') => {
                    self.at += 1;
                    let name = self.token();
                    if name.is_empty() {
                        return Err(format!("an empty keyword at column {column}"));
                    }
                    Ok(Value::Keyword(name.to_string()))
                }
                Some(_) => match self.token() {
                    "nil" => Ok(Value::Nil),
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    t => t.parse().map(Value::Int).map_err(|_| {
                        if t.is_empty() {
                            format!(
                                "unexpected `{}` at column {column}",
                                self.peek().unwrap_or(' ')
                            )
                        } else {
                            format!(
                                "`{t}` at column {column} is not an EDN value this reader knows"
                            )
                        }
                    }),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_lines_pair_by_process_with_the_readme_meanings() {
        let log = "\
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:invoke\t:cas\t[1 4]
some other line
INFO  jepsen.util - 2   :invoke :write  4
INFO  jepsen.util - :nemesis\t:info\t:start\tnil
INFO  jepsen.util - 0\t:ok\t:read\tnil
INFO  jepsen.util - 1\t:fail\t:cas\t[1 4]
INFO  jepsen.util - 2\t:info\t:write\t:timed-out
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 0\t:fail\t:read\t:timed-out
INFO  jepsen.util - 3\t:invoke\t:write\t1
";
        let h = parse_etcd(Path::new("e.log"), log).unwrap();
        let outcomes: Vec<_> = h
            .ops
            .iter()
            .map(|o| (o.client, o.outcome.clone(), o.complete))
            .collect();
        assert_eq!(
            outcomes,
            [
                (0, Outcome::Ok(Return::Value(None)), Some(6)),
                (1, Outcome::Ok(Return::Cas(false)), Some(7)),
                (2, Outcome::Unknown, Some(8)),
                (0, Outcome::Unknown, Some(10)),
                (3, Outcome::Unknown, None),
            ]
        );
    }

    #[test]
    fn a_bad_etcd_line_is_named() {
        let log =
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t3\n";
        let e = parse_etcd(Path::new("e.log"), log).unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "process 1 completes a :read it never invoked")
        );
        let e = parse_etcd(
            Path::new("e.log"),
            "INFO jepsen.util - 1 :invoke :cas [1]\n",
        )
        .unwrap_err();
        assert!(e.message.contains("[FROM TO]"), "{e}");
    }

    #[test]
    fn kv_maps_parse_and_pair() {
        let text = r#"{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "4", :value nil}
{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}
{:process :nemesis, :type :info, :f :start, :value nil}
{:process 1, :type :ok, :f :get, :key "4", :value "a \"q\" b"}
{:process 2, :type :invoke, :f :put, :key 7, :value "z"}
{:process 2, :type :fail, :f :put, :key 7, :value "z"}
"#;
        let h = parse_kv(Path::new("k.txt"), text).unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(h.ops[0].call, Call::Append("x 0 0 y".into()));
        assert_eq!(h.ops[0].complete, Some(3));
        assert_eq!(
            h.ops[1].outcome,
            Outcome::Ok(Return::Value(Some("a \"q\" b".into())))
        );
        assert_eq!(
            (h.ops[2].key.as_deref(), &h.ops[2].outcome),
            (Some("7"), &Outcome::Fail)
        );
    }

    #[test]
    fn a_bad_kv_line_is_named() {
        for (line, want) in [
            (
                "{:process 0, :type :invoke, :f :get, :key \"4\"",
                "not closed",
            ),
            (
                "{:process 0, :type :invoke, :f :get, :key \"4}",
                "string is not closed",
            ),
            ("(:process 0)", "not an EDN map"),
            (
                "{:process 0, :type :invoke, :f :cas, :key \"4\"}",
                ":f :cas",
            ),
            (
                "{:process 0, :type :invoke, :f :put, :key \"4\", :value nil}",
                "needs a :value",
            ),
            (
                "{:process 0, :type :go, :f :put, :key \"4\", :value nil}",
                ":type :go",
            ),
            (
                "{:process 0, :type :invoke, :f :get, :key \"4\"} x",
                "text after the map",
            ),
            (
                "{:process 0, :type :invoke, :f :get, :key #{1}}",
                "not an EDN value",
            ),
        ] {
            let e = parse_kv(Path::new("k.txt"), &format!("\n{line}\n")).unwrap_err();
            assert_eq!(e.line, 2, "{line}");
            assert!(e.message.contains(want), "{line}: {}", e.message);
        }
    }
}
