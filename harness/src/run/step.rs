//! Running actions and judging their results.

use std::time::Duration;

use serde_json::Value;

use super::cluster::{Cluster, ReplicaScope, Table};
use crate::model::{Action, ActionKind, Expect, ReplicaOrder, ReplicaSel};
use crate::outcome::{Observation, StepStatus};
use crate::runtime::{Engine, EngineError};

/// Output kept per observation.
const OUTPUT_LIMIT: usize = 4096;

/// Why a step did not pass: the system misbehaved (`Fail`) or the harness/engine did (`Error`).
#[derive(Debug)]
pub(crate) struct StepError {
    pub status: StepStatus,
    pub message: String,
    pub observations: Vec<Observation>,
    /// Replicas whose exit this error already reports (the crash check does not report them again).
    pub exited: Vec<String>,
}

impl StepError {
    pub fn fail(message: impl Into<String>) -> StepError {
        StepError {
            status: StepStatus::Fail,
            message: message.into(),
            observations: vec![],
            exited: vec![],
        }
    }

    pub fn error(message: impl Into<String>) -> StepError {
        StepError {
            status: StepStatus::Error,
            message: message.into(),
            observations: vec![],
            exited: vec![],
        }
    }

    pub fn with(mut self, o: Observation) -> StepError {
        self.observations.push(o);
        self
    }

    /// Says that this error reports `replica`'s exit.
    pub fn exited(mut self, replica: &str) -> StepError {
        self.exited.push(replica.to_string());
        self
    }
}

impl From<EngineError> for StepError {
    fn from(e: EngineError) -> StepError {
        StepError::error(format!("Docker engine: {e}"))
    }
}

/// The result of one action invocation.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub observation: Observation,
    /// Whether the action itself succeeded (exit 0, or a 2xx answer).
    pub succeeded: bool,
}

fn excerpt(s: &str) -> String {
    if s.len() <= OUTPUT_LIMIT {
        return s.to_string();
    }
    let mut cut = OUTPUT_LIMIT;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes cut)", &s[..cut], s.len() - cut)
}

/// Runs `action` against replica `name`. A replica that is down or does not answer is an observation
/// (the system's doing), not an error; only an engine failure is an error.
pub(crate) async fn invoke(
    engine: &Engine,
    http: &reqwest::Client,
    table: &Table,
    action: &Action,
    name: &str,
) -> Result<Invocation, StepError> {
    let snapshot = table.lock().expect("table lock").clone();
    let rep = snapshot
        .get(name)
        .ok_or_else(|| StepError::error(format!("no replica {name}")))?;
    let what = format!("{}.{} on {name}", rep.role, action.name);
    let scope = ReplicaScope {
        name,
        table: &snapshot,
    };
    let down = |note: String| {
        Ok(Invocation {
            observation: Observation {
                what: what.clone(),
                note: Some(note),
                ..Default::default()
            },
            succeeded: false,
        })
    };
    let Some(id) = rep.container.clone().filter(|_| !rep.stopped) else {
        return down(format!("{name} is not running"));
    };
    match &action.kind {
        ActionKind::Exec(argv) => {
            let argv: Vec<String> = argv.iter().map(|t| t.render(&scope)).collect();
            match tokio::time::timeout(action.timeout, engine.exec(&id, &argv)).await {
                Err(_) => down(format!(
                    "`{}` did not finish within {}",
                    argv.join(" "),
                    crate::model::format_duration(action.timeout)
                )),
                Ok(Err(e)) if e.is_conflict() || e.is_not_found() => {
                    down(format!("{name} is not running: {e}"))
                }
                Ok(Err(e)) => Err(e.into()),
                Ok(Ok(out)) => {
                    let mut output = out.stdout;
                    if !out.stderr.is_empty() {
                        if !output.is_empty() && !output.ends_with('\n') {
                            output.push('\n');
                        }
                        output.push_str(&out.stderr);
                    }
                    Ok(Invocation {
                        succeeded: out.exit_code == Some(0),
                        observation: Observation {
                            what,
                            exit_code: out.exit_code,
                            output: excerpt(&output),
                            ..Default::default()
                        },
                    })
                }
            }
        }
        ActionKind::Http(req) => {
            let Some(ip) = rep.ip else {
                return down(format!("{name} has no address on the trial network"));
            };
            let url = format!("http://{ip}:{}{}", req.port, req.path.render(&scope));
            let method =
                reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
            let mut r = http.request(method, &url).timeout(action.timeout);
            if let Some(b) = &req.body {
                r = r.body(b.render(&scope));
            }
            match r.send().await {
                Err(e) => down(format!("{} {url}: {e}", req.method)),
                Ok(resp) => {
                    let status = resp.status();
                    let body = resp.text().await.unwrap_or_default();
                    Ok(Invocation {
                        succeeded: status.is_success(),
                        observation: Observation {
                            what,
                            http_status: Some(status.as_u16()),
                            output: excerpt(&body),
                            ..Default::default()
                        },
                    })
                }
            }
        }
    }
}

/// Judges an invocation: `None` if it meets the expectation, else what is wrong. Without an explicit
/// `exit`/`status`, the action itself must have succeeded.
/// The component's own words, for a failure message: the last non-empty line of what it printed.
fn said(o: &Observation) -> String {
    const MAX: usize = 200;
    match o
        .output
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
    {
        None => String::new(),
        Some(l) if l.chars().count() > MAX => {
            format!(": {}…", l.chars().take(MAX).collect::<String>())
        }
        Some(l) => format!(": {l}"),
    }
}

pub(crate) fn judge(inv: &Invocation, e: &Expect) -> Option<String> {
    let o = &inv.observation;
    if let Some(note) = &o.note {
        return Some(note.clone());
    }
    if let Some(want) = e.exit {
        if o.exit_code != Some(want) {
            return Some(format!(
                "exit code {} (expected {want}){}",
                o.exit_code.map_or("none".into(), |c| c.to_string()),
                said(o)
            ));
        }
    }
    if let Some(want) = e.status {
        if o.http_status != Some(want) {
            return Some(format!(
                "HTTP status {} (expected {want}){}",
                o.http_status.map_or("none".into(), |c| c.to_string()),
                said(o)
            ));
        }
    }
    if e.exit.is_none() && e.status.is_none() && !inv.succeeded {
        let what = match (o.exit_code, o.http_status) {
            (Some(c), _) => format!("exit code {c}"),
            (_, Some(s)) => format!("HTTP status {s}"),
            _ => "the action failed".into(),
        };
        return Some(format!("{what}{}", said(o)));
    }
    if let Some(c) = &e.contains {
        if !o.output.contains(c.as_str()) {
            return Some(format!("output does not contain {c:?}{}", said(o)));
        }
    }
    if let Some(c) = &e.not_contains {
        if o.output.contains(c.as_str()) {
            return Some(format!("output contains {c:?}"));
        }
    }
    if let Some(r) = &e.matches {
        if !r.is_match(&o.output) {
            return Some(format!("output does not match /{}/", r.as_str()));
        }
    }
    if let Some(p) = &e.pointer {
        let doc: Value = match serde_json::from_str(o.output.trim()) {
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

/// How long a role may be without a known leader (an election under way) before "the leader" fails.
const LEADER_WAIT: Duration = Duration::from_secs(15);

/// Asks a role which replica leads, through its `leader` action, on each running replica in turn, until
/// one names a replica: during a failover a replica may not know the leader for a moment. Fails after
/// [`LEADER_WAIT`] with the last answer.
pub(crate) async fn find_leader(
    cluster: &Cluster,
    http: &reqwest::Client,
    role: &str,
) -> Result<String, StepError> {
    let r = cluster.role(role);
    let spec = r
        .leader
        .as_ref()
        .ok_or_else(|| StepError::error(format!("role {role} has no leader action")))?;
    let action = &r.actions[&spec.action];
    let names = cluster.replicas_of(role);
    eventually(LEADER_WAIT, Duration::from_millis(200), || async {
        let snapshot = cluster.snapshot();
        let running: Vec<&String> = names
            .iter()
            .filter(|n| snapshot[*n].container.is_some() && !snapshot[*n].stopped)
            .collect();
        if running.is_empty() {
            return Ok(Err(StepError::fail(format!(
                "no {role} replica is running to ask for the leader"
            ))));
        }
        let mut last = None;
        for asked in running {
            let inv = invoke(&cluster.engine, http, &cluster.table, action, asked).await?;
            if !inv.succeeded {
                last = Some(
                    StepError::fail(format!("could not learn the {role} leader from {asked}"))
                        .with(inv.observation),
                );
                continue;
            }
            let out = inv.observation.output.trim();
            let leader = match &spec.pointer {
                None => out.to_string(),
                Some(p) => serde_json::from_str::<Value>(out)
                    .ok()
                    .and_then(|v| v.pointer(p).cloned())
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            };
            if names.contains(&leader) {
                return Ok(Ok(leader));
            }
            last = Some(
                StepError::fail(format!(
                    "the {role} leader action on {asked} answered {leader:?}, which is no {role} replica"
                ))
                .with(inv.observation),
            );
        }
        Ok(Err(last.expect("at least one replica was asked")))
    })
    .await
}

/// The replicas a selection names.
pub(crate) async fn select(
    cluster: &Cluster,
    http: &reqwest::Client,
    role: &str,
    sel: &ReplicaSel,
) -> Result<Vec<String>, StepError> {
    Ok(match sel {
        ReplicaSel::All => cluster.replicas_of(role),
        ReplicaSel::Index(i) => vec![format!("{role}-{i}")],
        ReplicaSel::Leader => vec![find_leader(cluster, http, role).await?],
    })
}

/// The next replica of `role` to move to `to`, in `order`.
pub(crate) async fn next_to_move(
    cluster: &Cluster,
    http: &reqwest::Client,
    role: &str,
    to: &crate::model::Release,
    order: ReplicaOrder,
) -> Result<String, StepError> {
    let snapshot = cluster.snapshot();
    let pending: Vec<String> = cluster
        .replicas_of(role)
        .into_iter()
        .filter(|n| &snapshot[n].release != to)
        .collect();
    let first = pending
        .first()
        .cloned()
        .ok_or_else(|| StepError::error(format!("every {role} replica is already at {to}")))?;
    if order == ReplicaOrder::ByIndex || pending.len() == 1 {
        return Ok(first);
    }
    let leader = find_leader(cluster, http, role).await?;
    Ok(match order {
        ReplicaOrder::LeaderFirst if pending.contains(&leader) => leader,
        ReplicaOrder::LeaderLast => pending
            .iter()
            .find(|n| **n != leader)
            .cloned()
            .unwrap_or(first),
        _ => first,
    })
}

/// Repeats `f` every `every` until it yields `Ok(value)` or `within` passes; then the last failure,
/// saying how long it was given.
pub(crate) async fn eventually<T, F, Fut>(
    within: Duration,
    every: Duration,
    mut f: F,
) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Result<T, StepError>, StepError>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match f().await? {
            Ok(v) => return Ok(v),
            Err(mut last) => {
                if tokio::time::Instant::now() + every > deadline {
                    last.message = format!(
                        "not true within {}: {}",
                        crate::model::format_duration(within),
                        last.message
                    );
                    return Err(last);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(exit: i64, output: &str) -> Invocation {
        Invocation {
            succeeded: exit == 0,
            observation: Observation {
                what: "x".into(),
                exit_code: Some(exit),
                output: output.into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn judges_output_and_json() {
        let e = Expect {
            contains: Some("leader".into()),
            pointer: Some("/n".into()),
            compare: vec![(crate::model::NumOp::Ge, 3.0)],
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
