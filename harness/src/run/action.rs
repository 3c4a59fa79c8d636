//! Acting on replicas: running a role's action against one of them, finding a role's leader,
//! choosing the replicas a step names, and waiting for a condition with a deadline.

use std::time::Duration;

use serde_json::Value;

use super::cluster::{Cluster, Reach, ReplicaScope};
use super::error::StepError;
use crate::model::{format_duration, Action, ActionKind};
use crate::outcome::Observation;
use crate::runtime::HttpCall;
use crate::step::{ReplicaOrder, ReplicaSel};

/// Output kept per observation: its first KiB and its last three (a Python or Java error puts its
/// cause at the end).
const EXCERPT_HEAD: usize = 1024;
const EXCERPT_TAIL: usize = 3072;

/// The result of one action invocation.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    /// What is recorded and shown, with the output cut to an excerpt.
    pub observation: Observation,
    /// Everything the action printed or answered: what expectations are checked against.
    pub output: String,
    /// What it printed on stdout alone (an exec), or its answer's body: what a history operation
    /// reads its result from, without an exec's warnings on stderr.
    pub stdout: String,
    /// Whether the action itself succeeded (exit 0, or a 2xx answer).
    pub succeeded: bool,
}

impl Invocation {
    /// What an unsuccessful answer said: its note (a replica down, a timeout), or its exit code or
    /// HTTP status and its output. What a workload keeps as its last error.
    pub(crate) fn said(&self) -> String {
        let o = &self.observation;
        o.note.clone().unwrap_or_else(|| {
            format!(
                "{}{}",
                o.exit_code
                    .map(|c| format!("exit {c}: "))
                    .or(o.http_status.map(|s| format!("HTTP {s}: ")))
                    .unwrap_or_default(),
                o.output.trim()
            )
        })
    }
}

/// `s` if it is short, else its head and its tail around a note of what was cut.
pub(crate) fn excerpt(s: &str) -> String {
    if s.len() <= EXCERPT_HEAD + EXCERPT_TAIL {
        return s.to_string();
    }
    let mut head = EXCERPT_HEAD;
    while !s.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = s.len() - EXCERPT_TAIL;
    while !s.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n… ({} bytes cut) …\n{}",
        &s[..head],
        tail - head,
        &s[tail..]
    )
}

/// Runs `action` against replica `name`. A replica that is down or does not answer is an observation
/// (the system's doing), not an error; only an engine failure is an error.
pub(crate) async fn invoke(
    reach: &Reach,
    action: &Action,
    name: &str,
) -> Result<Invocation, StepError> {
    invoke_with_env(reach, action, name, &[]).await
}

/// [`invoke`], with `env` (`KEY=value` each) added to an exec action's environment (an HTTP
/// action has none: callers refuse one where they need it).
pub(crate) async fn invoke_with_env(
    reach: &Reach,
    action: &Action,
    name: &str,
    env: &[String],
) -> Result<Invocation, StepError> {
    let snapshot = reach.snapshot();
    let rep = snapshot
        .get(name)
        .ok_or_else(|| StepError::harness(format!("no replica {name}")))?;
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
            output: String::new(),
            stdout: String::new(),
            succeeded: false,
        })
    };
    let Some(id) = rep.container.clone().filter(|_| !rep.stopped) else {
        return down(format!("{name} is not running"));
    };
    match &action.kind {
        ActionKind::Exec(argv) => {
            let argv: Vec<String> = argv.iter().map(|t| t.render(&scope)).collect();
            match tokio::time::timeout(action.timeout, reach.backend.exec(&id, &argv, env)).await {
                Err(_) => down(format!(
                    "`{}` did not finish within {}",
                    argv.join(" "),
                    format_duration(action.timeout)
                )),
                Ok(Err(e)) if e.is_conflict() || e.is_not_found() => {
                    down(format!("{name} is not running: {e}"))
                }
                Ok(Err(e)) => Err(e.into()),
                Ok(Ok(out)) => {
                    let stdout = out.stdout.clone();
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
                        output,
                        stdout,
                    })
                }
            }
        }
        ActionKind::Http(req) => {
            let Some(ip) = rep.ip else {
                return down(format!("{name} has no address on the trial network"));
            };
            let call = HttpCall {
                method: req.method.clone(),
                port: req.port,
                path: req.path.render(&scope),
                body: req.body.as_ref().map(|b| b.render(&scope)),
                timeout: action.timeout,
            };
            let to = reach.endpoint(id, ip);
            match reach.backend.http(&to, &call).await? {
                Err(e) => down(format!(
                    "{} http://{ip}:{}{}: {e}",
                    call.method, call.port, call.path
                )),
                Ok(answer) => Ok(Invocation {
                    succeeded: (200..300).contains(&answer.status),
                    observation: Observation {
                        what,
                        http_status: Some(answer.status),
                        output: excerpt(&answer.body),
                        ..Default::default()
                    },
                    stdout: answer.body.clone(),
                    output: answer.body,
                }),
            }
        }
    }
}

/// How long a role may be without a known leader (an election under way) before "the leader" fails.
pub(crate) const LEADER_WAIT: Duration = Duration::from_secs(15);

/// Asks a role which replica leads, through its `leader` action, on each running replica in turn, until
/// one names a replica: during a failover a replica may not know the leader for a moment. Fails after
/// [`LEADER_WAIT`] with the last answer.
pub(crate) async fn find_leader(cluster: &Cluster, role: &str) -> Result<String, StepError> {
    let r = cluster.role(role);
    let spec = r
        .leader
        .as_ref()
        .ok_or_else(|| StepError::harness(format!("role {role} has no leader action")))?;
    let action = &r.actions[&spec.action];
    let names = cluster.replicas_of(role);
    let reach = cluster.reach();
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
            let inv = invoke(&reach, action, asked).await?;
            if !inv.succeeded {
                last = Some(
                    StepError::fail(format!("could not learn the {role} leader from {asked}"))
                        .with(inv.observation),
                );
                continue;
            }
            let out = inv.output.trim();
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
pub async fn select(
    cluster: &Cluster,
    role: &str,
    sel: &ReplicaSel,
) -> Result<Vec<String>, StepError> {
    Ok(match sel {
        ReplicaSel::All => cluster.replicas_of(role),
        ReplicaSel::Index(i) => vec![format!("{role}-{i}")],
        ReplicaSel::Leader => vec![find_leader(cluster, role).await?],
    })
}

/// The next replica of `role` to move to `to`, in `order`.
pub(crate) async fn next_to_move(
    cluster: &Cluster,
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
        .ok_or_else(|| StepError::harness(format!("every {role} replica is already at {to}")))?;
    if order == ReplicaOrder::ByIndex || pending.len() == 1 {
        return Ok(first);
    }
    let leader = find_leader(cluster, role).await?;
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
            Err(last) => {
                if tokio::time::Instant::now() + every > deadline {
                    return Err(last.not_true_within(within));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_keeps_the_head_and_the_tail_where_the_cause_is() {
        assert_eq!(excerpt("short"), "short");
        let long = format!(
            "{}\nTraceback (most recent call last):\n{}\nValueError: the cause",
            "start ".repeat(300),
            "  frame\n".repeat(800)
        );
        let e = excerpt(&long);
        assert!(e.starts_with("start start"), "{e}");
        assert!(e.ends_with("ValueError: the cause"), "{e}");
        assert!(e.len() <= EXCERPT_HEAD + EXCERPT_TAIL + 40);
        let cut: usize = e
            .split("… (")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(cut + EXCERPT_HEAD + EXCERPT_TAIL, long.len());
        // Multi-byte characters at both cuts.
        let wide = "é".repeat(5_000);
        assert!(excerpt(&wide).contains("bytes cut"));
    }
}
