//! Recording a history: a workload's clients each call one operation at a time through a role's
//! exec actions, and every call is recorded with when it was made, when it came back and what came
//! of it; then the history is written as `history.jsonl` in the trial's folder and checked for
//! linearizability (`crate::history`).
//!
//! An action serving an operation gets its arguments in its environment: `CROSSGRADE_OP` (`read`,
//! `write`, `cas`, `get`, `put`, `append`), `CROSSGRADE_KEY`, `CROSSGRADE_VALUE` (what a write, put
//! or append sets, a cas's new value) and `CROSSGRADE_EXPECTED` (what a cas compares). Its exit
//! says what came of it:
//!
//! - 0: it took effect. A read's or get's result is what it printed on stdout, without its final
//!   line break (nothing: absent); a cas's compare held and the value was set.
//! - 3: it definitely did not take effect (a cas: the compare did not hold).
//! - anything else, a timeout, a replica down: unknown, it may have taken effect.
//!
//! Values are unique numbers drawn from one counter (`7`), so that a read names the write it saw;
//! an append's ends with a comma (`7,`), so that a key's value reads as the list appended to it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::action::{invoke_with_env, Invocation};
use super::cluster::Reach;
use crate::history::{
    jsonl, Call, CheckOptions, History, ModelKind, Operation, Outcome, Return, Verdict,
};
use crate::model::Action;
use crate::outcome::{HistoryReport, HistoryViolation, WindowOp};
use crate::plan::cover::Rng;

/// The exit code that says an operation definitely did not take effect.
pub(crate) const DID_NOT_TAKE_EFFECT: i64 = 3;

/// The name of the file a trial's history is written to, in its folder.
pub(crate) const HISTORY_FILE: &str = "history.jsonl";

/// The checker's budget for a recorded history: far more than a real history of a few thousand
/// operations takes (a few steps each), and a bound on a pathological one.
const CHECK_STEPS: u64 = 50_000_000;

/// An operation a history workload's clients call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Read,
    Write,
    Cas,
    Get,
    Put,
    Append,
}

impl OpKind {
    pub(crate) const ALL: [OpKind; 6] = [
        OpKind::Read,
        OpKind::Write,
        OpKind::Cas,
        OpKind::Get,
        OpKind::Put,
        OpKind::Append,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Cas => "cas",
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::Append => "append",
        }
    }

    /// The model whose operation this is.
    pub(crate) fn model(self) -> ModelKind {
        match self {
            OpKind::Read | OpKind::Write | OpKind::Cas => ModelKind::Register,
            OpKind::Get | OpKind::Put | OpKind::Append => ModelKind::Kv,
        }
    }

    /// Whether it only observes (a history needs one, or nothing it records can be wrong).
    pub(crate) fn reads(self) -> bool {
        matches!(self, OpKind::Read | OpKind::Get)
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a history workload's clients do.
pub(crate) struct Recording {
    pub model: ModelKind,
    pub clients: u32,
    pub keys: u32,
    /// The operations, each with the action that serves it and the replica it runs on; a client
    /// draws one at a time.
    pub ops: Vec<(OpKind, Action, String)>,
    /// Each client's pause between calls.
    pub every: Duration,
    /// What the clients' draws start from (the same workload draws the same calls).
    pub seed: u64,
    /// Where the history is written.
    pub file: PathBuf,
}

/// The calls the clients made, and the engine failure that stopped them, if one did.
pub(crate) struct Recorded {
    pub ops: Vec<Operation>,
    pub broken: Option<String>,
    /// The last answer that was not a success, in a line.
    pub last_error: Option<String>,
}

/// Runs the clients until `stop` turns true; a call under way when it does is let finish.
pub(crate) async fn record(
    reach: Reach,
    rec: Arc<Recording>,
    stop: watch::Receiver<bool>,
) -> Recorded {
    let base = Instant::now();
    let values = Arc::new(AtomicU64::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..rec.clients {
        let (reach, rec, values, mut stop) =
            (reach.clone(), rec.clone(), values.clone(), stop.clone());
        clients.spawn(async move {
            let mut rng =
                Rng::new(rec.seed ^ (u64::from(client) + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
            let mut tick = tokio::time::interval(rec.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ops = Vec::new();
            let mut last_error = None;
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    _ = tick.tick() => {}
                }
                let (kind, action, replica) = &rec.ops[rng.below(rec.ops.len())];
                let key = rng.below(rec.keys as usize).to_string();
                let call = draw(*kind, &values);
                let env = environment(*kind, &key, &call);
                let invoke = nanos(base);
                let inv = match invoke_with_env(&reach, action, replica, &env).await {
                    Ok(inv) => inv,
                    Err(e) => return (ops, Some(e.message()), last_error),
                };
                let complete = nanos(base);
                let outcome = outcome_of(&call, &inv);
                if !matches!(outcome, Outcome::Ok(_)) {
                    last_error = Some(inv.said());
                }
                ops.push(Operation {
                    client: u64::from(client),
                    invoke,
                    complete: Some(complete),
                    key: Some(key),
                    call,
                    outcome,
                });
            }
            (ops, None, last_error)
        });
    }
    let mut out = Recorded {
        ops: Vec::new(),
        broken: None,
        last_error: None,
    };
    while let Some(done) = clients.join_next().await {
        match done {
            Ok((ops, broken, last_error)) => {
                out.ops.extend(ops);
                out.broken = out.broken.or(broken);
                out.last_error = last_error.or(out.last_error);
            }
            Err(e) => out.broken = Some(format!("a client of the workload failed: {e}")),
        }
    }
    out.ops.sort_by_key(|o| (o.invoke, o.client));
    out
}

fn nanos(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

/// The next call of `kind`, with a fresh value where it sets one. A cas expects the latest value
/// drawn before it, so that it holds as often as the system lets it.
fn draw(kind: OpKind, values: &AtomicU64) -> Call {
    let fresh = || (values.fetch_add(1, Ordering::Relaxed) + 1).to_string();
    match kind {
        OpKind::Read => Call::Read,
        OpKind::Get => Call::Get,
        OpKind::Write => Call::Write(fresh()),
        OpKind::Put => Call::Put(fresh()),
        OpKind::Append => Call::Append(format!("{},", fresh())),
        OpKind::Cas => {
            // `0` before any write: never a value, so the compare fails as it should.
            let expected = values.load(Ordering::Relaxed).to_string();
            Call::Cas {
                expected,
                new: fresh(),
            }
        }
    }
}

/// The environment an action serving `call` runs with.
fn environment(kind: OpKind, key: &str, call: &Call) -> Vec<String> {
    let mut env = vec![
        format!("CROSSGRADE_OP={kind}"),
        format!("CROSSGRADE_KEY={key}"),
    ];
    match call {
        Call::Write(v) | Call::Put(v) | Call::Append(v) => {
            env.push(format!("CROSSGRADE_VALUE={v}"))
        }
        Call::Cas { expected, new } => {
            env.push(format!("CROSSGRADE_VALUE={new}"));
            env.push(format!("CROSSGRADE_EXPECTED={expected}"));
        }
        Call::Read | Call::Get => {}
    }
    env
}

/// What came of a call, by the action's exit (see the module's documentation).
fn outcome_of(call: &Call, inv: &Invocation) -> Outcome {
    let code = inv.observation.exit_code;
    if inv.succeeded {
        return Outcome::Ok(match call {
            Call::Read | Call::Get => {
                let s = inv.stdout.strip_suffix('\n').unwrap_or(&inv.stdout);
                let s = s.strip_suffix('\r').unwrap_or(s);
                Return::Value((!s.is_empty()).then(|| s.to_string()))
            }
            Call::Cas { .. } => Return::Cas(true),
            Call::Write(_) | Call::Put(_) | Call::Append(_) => Return::Done,
        });
    }
    match (call, code) {
        (Call::Cas { .. }, Some(DID_NOT_TAKE_EFFECT)) => Outcome::Ok(Return::Cas(false)),
        (_, Some(DID_NOT_TAKE_EFFECT)) => Outcome::Fail,
        _ => Outcome::Unknown,
    }
}

/// Where a history goes and what it is checked against.
pub(crate) struct Judging<'a> {
    pub model: ModelKind,
    pub file: &'a Path,
}

/// The history a recorder printed: every line of its output that starts with `{` is one operation
/// in `history.jsonl`'s format (any other line is its own log); a line that does not parse is named
/// with its number. The operations come back sorted by invoke.
pub(crate) fn printed_history(replica: &str, output: &str) -> Result<Vec<Operation>, String> {
    let mut ops = Vec::new();
    for (n, line) in output.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if !line.trim_start().starts_with('{') {
            continue;
        }
        let op = jsonl::parse_line(line.trim()).map_err(|why| {
            let shown: String = line.chars().take(200).collect();
            format!(
                "line {} of {replica}'s output is not an operation of history.jsonl: {why}: {shown}",
                n + 1
            )
        })?;
        ops.push(op);
    }
    ops.sort_by_key(|o| (o.invoke, o.client));
    Ok(ops)
}

/// Writes the history to its file and checks it against the model. An error is the harness's
/// (the file could not be written, or the check could not decide within its budget).
pub(crate) async fn write_and_check(
    to: Judging<'_>,
    ops: Vec<Operation>,
) -> Result<HistoryReport, String> {
    let mut text = String::with_capacity(ops.len() * 96);
    for op in &ops {
        text.push_str(&jsonl::to_line(op));
        text.push('\n');
    }
    crate::atomic::write_atomic(to.file, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", to.file.display()))?;
    let count = |f: fn(&Outcome) -> bool| ops.iter().filter(|o| f(&o.outcome)).count();
    let (ok, failed, unknown) = (
        count(|o| matches!(o, Outcome::Ok(_))),
        count(|o| matches!(o, Outcome::Fail)),
        count(|o| matches!(o, Outcome::Unknown)),
    );
    let model = to.model;
    let mut clients: Vec<u64> = ops.iter().map(|o| o.client).collect();
    clients.sort_unstable();
    clients.dedup();
    let history = History::from(ops);
    let started = std::time::Instant::now();
    let checked = tokio::task::spawn_blocking(move || {
        model.check(
            &history,
            CheckOptions {
                max_steps: Some(CHECK_STEPS),
            },
        )
    })
    .await
    .map_err(|e| format!("the linearizability check panicked: {e}"))?
    .map_err(|e| format!("the history does not fit the {} model: {e}", model.name()))?;
    let check_ms = started.elapsed().as_millis() as u64;
    let (verdict, violation) = match checked.verdict {
        Verdict::Linearizable => ("linearizable", None),
        Verdict::NotLinearizable(v) => ("not linearizable", Some(v)),
        Verdict::Unknown(e) => {
            return Err(format!(
                "the linearizability check of {} operations ran out of its budget of {} steps{}",
                checked.ops,
                e.max_steps,
                e.key.map(|k| format!(" at key {k}")).unwrap_or_default()
            ))
        }
    };
    let ms = |ns: u64| ns as f64 / 1e6;
    let violation = violation.map(|v| HistoryViolation {
        key: v.key.clone(),
        linearized: v.linearized,
        ops_in_key: v.ops_in_key,
        state: v.state.clone(),
        window: v
            .window
            .iter()
            .zip(&v.placed)
            .map(|(op, placed)| WindowOp {
                client: op.client,
                call: op.call.to_string(),
                outcome: op.outcome.to_string(),
                invoke_ms: ms(op.invoke),
                complete_ms: op.complete.map(ms),
                placed: *placed,
                stuck: *op == v.stuck,
            })
            .collect(),
    });
    Ok(HistoryReport {
        model: model.name().to_string(),
        file: HISTORY_FILE.to_string(),
        clients: clients.len() as u32,
        ops: ok + failed + unknown,
        ok,
        failed,
        unknown,
        verdict: verdict.to_string(),
        check_steps: checked.steps,
        check_ms,
        violation,
    })
}

/// The longest span in which no call succeeded: from the invoke of the first call that did not,
/// to the invoke of the next one that did (or the end).
pub(crate) fn longest_unavailable(ops: &[Operation], end: u64) -> Duration {
    let mut down_since = None;
    let mut longest = 0;
    for op in ops {
        match (&op.outcome, down_since) {
            (Outcome::Ok(_), Some(since)) => {
                longest = longest.max(op.invoke.saturating_sub(since));
                down_since = None;
            }
            (Outcome::Ok(_), None) => {}
            (_, None) => down_since = Some(op.invoke),
            (_, Some(_)) => {}
        }
    }
    if let Some(since) = down_since {
        longest = longest.max(end.saturating_sub(since));
    }
    Duration::from_nanos(longest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Observation;

    fn inv(exit: Option<i64>, stdout: &str) -> Invocation {
        Invocation {
            succeeded: exit == Some(0),
            observation: Observation {
                exit_code: exit,
                ..Default::default()
            },
            output: stdout.into(),
            stdout: stdout.into(),
        }
    }

    #[test]
    fn an_exit_says_what_came_of_a_call() {
        let read = Call::Read;
        assert_eq!(
            outcome_of(&read, &inv(Some(0), "7\n")),
            Outcome::Ok(Return::Value(Some("7".into())))
        );
        // Only the final line break goes: a value's own spaces are the value's.
        assert_eq!(
            outcome_of(&Call::Get, &inv(Some(0), "1, 2,\r\n")),
            Outcome::Ok(Return::Value(Some("1, 2,".into())))
        );
        assert_eq!(
            outcome_of(&read, &inv(Some(0), "")),
            Outcome::Ok(Return::Value(None))
        );
        let cas = Call::Cas {
            expected: "1".into(),
            new: "2".into(),
        };
        assert_eq!(
            outcome_of(&cas, &inv(Some(0), "")),
            Outcome::Ok(Return::Cas(true))
        );
        assert_eq!(
            outcome_of(&cas, &inv(Some(3), "")),
            Outcome::Ok(Return::Cas(false))
        );
        let write = Call::Write("4".into());
        assert_eq!(
            outcome_of(&write, &inv(Some(0), "OK")),
            Outcome::Ok(Return::Done)
        );
        assert_eq!(outcome_of(&write, &inv(Some(3), "")), Outcome::Fail);
        // Anything else may have taken effect.
        assert_eq!(outcome_of(&write, &inv(Some(1), "")), Outcome::Unknown);
        assert_eq!(outcome_of(&write, &inv(None, "")), Outcome::Unknown);
        assert_eq!(outcome_of(&read, &inv(Some(2), "7")), Outcome::Unknown);
    }

    #[test]
    fn values_are_fresh_and_a_cas_expects_the_latest() {
        let values = AtomicU64::new(0);
        assert_eq!(draw(OpKind::Write, &values), Call::Write("1".into()));
        assert_eq!(draw(OpKind::Append, &values), Call::Append("2,".into()));
        assert_eq!(
            draw(OpKind::Cas, &values),
            Call::Cas {
                expected: "2".into(),
                new: "3".into()
            }
        );
        let env = environment(
            OpKind::Cas,
            "0",
            &Call::Cas {
                expected: "2".into(),
                new: "3".into(),
            },
        );
        assert_eq!(
            env,
            [
                "CROSSGRADE_OP=cas",
                "CROSSGRADE_KEY=0",
                "CROSSGRADE_VALUE=3",
                "CROSSGRADE_EXPECTED=2"
            ]
        );
    }

    #[test]
    fn a_recorder_s_history_lines_are_read_and_its_other_lines_left() {
        let out = "client ready\n\
                   {\"client\":1,\"invoke\":20,\"complete\":30,\"f\":\"read\",\"outcome\":\"ok\",\"result\":null}\n\
                   connecting to node-2\n\
                   {\"client\":0,\"invoke\":10,\"complete\":40,\"f\":\"write\",\"value\":\"1\",\"outcome\":\"ok\"}\r\n";
        let ops = printed_history("recorder-0", out).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!((ops[0].client, ops[0].invoke), (0, 10), "sorted by invoke");
        let bad = "client ready\n{\"client\":0,\"invoke\":10,\"f\":\"write\"}\n";
        let e = printed_history("recorder-0", bad).unwrap_err();
        assert!(
            e.starts_with("line 2 of recorder-0's output is not an operation of history.jsonl: a write needs a `value`"),
            "{e}"
        );
    }

    #[test]
    fn unavailability_runs_from_the_first_miss_to_the_next_success() {
        let op = |invoke: u64, ok: bool| Operation {
            client: 0,
            invoke,
            complete: Some(invoke + 1),
            key: None,
            call: Call::Read,
            outcome: if ok {
                Outcome::Ok(Return::Value(None))
            } else {
                Outcome::Unknown
            },
        };
        let ops = [
            op(0, true),
            op(10, false),
            op(20, false),
            op(50, true),
            op(60, false),
        ];
        assert_eq!(longest_unavailable(&ops, 70), Duration::from_nanos(40));
        assert_eq!(longest_unavailable(&ops, 200), Duration::from_nanos(140));
    }
}
