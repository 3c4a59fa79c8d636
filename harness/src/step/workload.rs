//! `workload`: a client in the background across the following steps, measuring what the system
//! gave it while it was upgraded. Either it repeats one of a role's actions every `every`, or it
//! records a history: several clients call read/write/cas (or get/put/append) through the role's
//! exec actions, and the calls are checked for linearizability (`run/history.rs`). Judged
//! (`min_success`, `max_unavailable`, the history's check) when a `stop-workload` step stops it or
//! the trial ends.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::expect::{describe_expect, Expect, RawExpect};
use super::load::StepCx;
use super::{ActionRef, Done, Exec, Kind, PlanCx};
use crate::history::ModelKind;
use crate::model::{format_duration, ActionKind, Release};
use crate::run::{
    Cluster, Judged, Live, OpKind, Recording, Repeating, RunningWorkload, StepError, HISTORY_FILE,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Raw {
    name: Option<Spanned<String>>,
    action: Option<Spanned<String>>,
    history: Option<Spanned<RawHistory>>,
    every: Option<Spanned<String>>,
    expect: Option<Spanned<RawExpect>>,
    min_success: Option<Spanned<f64>>,
    max_unavailable: Option<Spanned<String>>,
}

/// `history = { model = "register", clients = 3, read = "client.op", write = "client.op", … }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHistory {
    model: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    clients: Option<Spanned<i64>>,
    keys: Option<Spanned<i64>>,
    read: Option<Spanned<String>>,
    write: Option<Spanned<String>>,
    cas: Option<Spanned<String>>,
    get: Option<Spanned<String>>,
    put: Option<Spanned<String>>,
    append: Option<Spanned<String>>,
}

impl RawHistory {
    fn op(&self, kind: OpKind) -> Option<&Spanned<String>> {
        match kind {
            OpKind::Read => self.read.as_ref(),
            OpKind::Write => self.write.as_ref(),
            OpKind::Cas => self.cas.as_ref(),
            OpKind::Get => self.get.as_ref(),
            OpKind::Put => self.put.as_ref(),
            OpKind::Append => self.append.as_ref(),
        }
    }
}

/// Starts a background workload.
#[derive(Debug, Clone)]
pub(crate) struct StartWorkload {
    pub name: String,
    pub source: Source,
    pub every: Duration,
    pub min_success: Option<f64>,
    pub max_unavailable: Option<Duration>,
}

/// What the workload's client does.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Repeats one action; an attempt succeeds when the action does and shows what `expect` says
    /// (boxed: it is large and rare).
    Action {
        action: ActionRef,
        expect: Option<Box<Expect>>,
    },
    /// Records a history of operations and checks it.
    History(HistorySpec),
}

/// A history workload: its model, and either its clients and the action serving each operation,
/// or the role whose first replica makes the calls itself and prints them (`from`).
#[derive(Debug, Clone)]
pub(crate) struct HistorySpec {
    pub model: ModelKind,
    pub clients: u32,
    pub keys: u32,
    pub ops: Vec<(OpKind, ActionRef)>,
    /// The recorder: a role whose first replica prints one `history.jsonl` line per call.
    pub from: Option<String>,
}

const DEFAULT_EVERY: Duration = Duration::from_millis(500);
const DEFAULT_CLIENTS: u32 = 3;
const MAX_CLIENTS: i64 = 64;
const MAX_KEYS: i64 = 1000;

impl Kind for StartWorkload {
    const NAMES: &'static [&'static str] = &["workload"];
    type Raw = Raw;
    type Op = StartWorkload;

    fn load(raw: Raw, cx: &mut StepCx<'_, '_>) -> Option<StartWorkload> {
        let name = cx.required(raw.name.as_ref(), "name")?;
        if !cx.sc.workloads.insert(name.get_ref().clone()) {
            cx.err(
                name.span(),
                format!("workload `{}` is started twice", name.get_ref()),
                "give each workload its own `name`, or stop it first with `do = \"stop-workload\"`",
            );
        }
        let every = match &raw.every {
            Some(e) => {
                let d = cx.duration(e);
                if d.is_zero() {
                    DEFAULT_EVERY
                } else {
                    d
                }
            }
            None => DEFAULT_EVERY,
        };
        if let Some(m) = &raw.min_success {
            if !(0.0..=1.0).contains(m.get_ref()) {
                cx.err(
                    m.span(),
                    "min_success is a ratio between 0 and 1",
                    "write e.g. `min_success = 0.95`",
                );
            }
        }
        let source = match (&raw.action, &raw.history) {
            (Some(_), Some(h)) => {
                cx.err(
                    h.span(),
                    "a workload repeats an `action` or records a `history`, not both",
                    "remove `action`, or `history`, or start two workloads",
                );
                return None;
            }
            (None, Some(h)) => {
                if let Some(e) = &raw.expect {
                    cx.err(
                        e.span(),
                        "a history workload has no `expect`: the linearizability check judges what its operations returned",
                        "remove `expect`",
                    );
                }
                let spec = load_history(h, cx);
                cx.sc.history.get_or_insert_with(|| name.get_ref().clone());
                Source::History(spec?)
            }
            (action, None) => {
                let action = cx.required(action.as_ref(), "action")?;
                Source::Action {
                    action: cx.action_ref(action)?,
                    expect: raw.expect.as_ref().map(|e| Box::new(cx.expect(e))),
                }
            }
        };
        Some(StartWorkload {
            name: name.get_ref().clone(),
            source,
            every,
            min_success: raw.min_success.as_ref().map(|m| *m.get_ref()),
            max_unavailable: raw.max_unavailable.as_ref().map(|d| cx.duration(d)),
        })
    }

    fn plan(&self, cx: &PlanCx<'_>) -> Vec<StartWorkload> {
        vec![self.on_path(cx.path)]
    }
}

/// A `history` table: its model, and an exec action of a role for each operation it names.
fn load_history(h: &Spanned<RawHistory>, cx: &mut StepCx<'_, '_>) -> Option<HistorySpec> {
    if let Some(first) = cx.sc.history.clone() {
        cx.err(
            h.span(),
            format!("a scenario records one history, and workload `{first}` already records it"),
            "check several keys with one workload (`keys = N`) instead of two workloads",
        );
    }
    let raw = h.get_ref();
    let Some(model) = raw.model.as_ref() else {
        cx.err(
            h.span(),
            "a history needs a `model`",
            "write `model = \"register\"` (read, write, cas) or `model = \"kv\"` (get, put, append)",
        );
        return None;
    };
    let model = match model.get_ref().as_str() {
        "register" => ModelKind::Register,
        "kv" => ModelKind::Kv,
        other => {
            cx.err(
                model.span(),
                format!("no history model `{other}`"),
                "the models are `register` (read, write, cas) and `kv` (get, put, append)",
            );
            return None;
        }
    };
    if let Some(from) = &raw.from {
        let role = cx.role(from)?.name.clone();
        let given = OpKind::ALL
            .iter()
            .filter_map(|k| raw.op(*k).map(|a| (k.name(), a.span())))
            .chain(raw.clients.as_ref().map(|c| ("clients", c.span())))
            .chain(raw.keys.as_ref().map(|k| ("keys", k.span())));
        let mut ok = true;
        for (key, span) in given.collect::<Vec<_>>() {
            cx.err(
                span,
                format!("a history printed by `{role}` takes no `{key}`: the recorder makes its own calls"),
                "remove it, or remove `from` to have the harness's clients call actions",
            );
            ok = false;
        }
        return ok.then(|| HistorySpec {
            model,
            clients: 0,
            keys: 0,
            ops: vec![],
            from: Some(role),
        });
    }
    let mut ops = Vec::new();
    let mut ok = true;
    for kind in OpKind::ALL {
        let Some(a) = raw.op(kind) else { continue };
        if kind.model() != model {
            let theirs: Vec<&str> = OpKind::ALL
                .iter()
                .filter(|k| k.model() == model)
                .map(|k| k.name())
                .collect();
            cx.err(
                a.span(),
                format!("the {} model has no `{kind}` operation", model.name()),
                format!("its operations are {}", theirs.join(", ")),
            );
            ok = false;
            continue;
        }
        let Some(r) = cx.action_ref(a) else {
            ok = false;
            continue;
        };
        let is_exec = cx
            .sc
            .roles
            .iter()
            .find(|role| role.name == r.role)
            .and_then(|role| role.actions.get(&r.action))
            .is_some_and(|act| matches!(act.kind, ActionKind::Exec(_)));
        if !is_exec {
            cx.err(
                a.span(),
                format!("`{}` is not an exec action: a history operation gets its arguments in its environment", a.get_ref()),
                "serve the operation with an `exec` action (an HTTP call can be made with curl in it)",
            );
            ok = false;
            continue;
        }
        ops.push((kind, r));
    }
    if ok && (!ops.iter().any(|(k, _)| k.reads()) || ops.iter().all(|(k, _)| k.reads())) {
        cx.err(
            h.span(),
            format!(
                "a {} history needs an operation that reads and one that changes the value",
                model.name()
            ),
            match model {
                ModelKind::Register => "name actions for `read` and for `write` or `cas`",
                ModelKind::Kv => "name actions for `get` and for `put` or `append`",
            },
        );
        ok = false;
    }
    let bounded =
        |cx: &mut StepCx<'_, '_>, v: &Option<Spanned<i64>>, key: &str, max: i64, default: u32| {
            match v {
                None => Some(default),
                Some(n) if (1..=max).contains(n.get_ref()) => Some(*n.get_ref() as u32),
                Some(n) => {
                    cx.err(
                        n.span(),
                        format!("`{key}` is {}: it is between 1 and {max}", n.get_ref()),
                        format!("write e.g. `{key} = {default}`"),
                    );
                    None
                }
            }
        };
    let clients = bounded(cx, &raw.clients, "clients", MAX_CLIENTS, DEFAULT_CLIENTS);
    let keys = bounded(cx, &raw.keys, "keys", MAX_KEYS, 1);
    (ok && clients.is_some() && keys.is_some()).then(|| HistorySpec {
        model,
        clients: clients.unwrap_or(DEFAULT_CLIENTS),
        keys: keys.unwrap_or(1),
        ops,
        from: None,
    })
}

impl StartWorkload {
    /// On a path, `{from}` and `{to}` in what it expects are the path's releases.
    pub(crate) fn on_path(&self, path: Option<(&Release, &Release)>) -> StartWorkload {
        let source = match &self.source {
            Source::Action { action, expect } => Source::Action {
                action: action.clone(),
                expect: expect.as_ref().map(|e| Box::new(e.on_path(path))),
            },
            history => history.clone(),
        };
        StartWorkload {
            source,
            ..self.clone()
        }
    }
}

impl fmt::Display for StartWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "workload {}: ", self.name)?;
        match &self.source {
            Source::Action { action, expect } => {
                write!(f, "{action} every {}", format_duration(self.every))?;
                if let Some(e) = expect {
                    write!(f, " expecting {}", describe_expect(e))?;
                }
            }
            Source::History(HistorySpec {
                model,
                from: Some(role),
                ..
            }) => {
                write!(
                    f,
                    "{} history printed by {role}-0 (a line per call), checked for linearizability",
                    model.name()
                )?;
            }
            Source::History(h) => {
                let ops: Vec<String> = h.ops.iter().map(|(k, a)| format!("{k} {a}")).collect();
                write!(
                    f,
                    "{} history from {} client{} on {} key{} ({}), each every {}, checked for linearizability",
                    h.model.name(),
                    h.clients,
                    if h.clients == 1 { "" } else { "s" },
                    h.keys,
                    if h.keys == 1 { "" } else { "s" },
                    ops.join(", "),
                    format_duration(self.every)
                )?;
            }
        }
        if let Some(m) = self.min_success {
            write!(f, ", success >= {:.0}%", m * 100.0)?;
        }
        if let Some(d) = self.max_unavailable {
            write!(f, ", unavailable <= {}", format_duration(d))?;
        }
        Ok(())
    }
}

impl Exec for StartWorkload {
    fn deadline(&self, _: &Cluster) -> Duration {
        Duration::from_secs(10)
    }

    async fn exec(&self, live: &mut Live) -> Result<Done, StepError> {
        let c = &live.cluster;
        let judged = Judged {
            name: self.name.clone(),
            min_success: self.min_success,
            max_unavailable: self.max_unavailable,
        };
        let w = match &self.source {
            Source::Action { action, expect } => RunningWorkload::start(
                c.reach(),
                Repeating {
                    judged,
                    action_label: action.to_string(),
                    action: c.action(action).clone(),
                    replica: format!("{}-0", action.role),
                    every: self.every,
                    expect: expect.as_deref().cloned(),
                },
            ),
            Source::History(HistorySpec {
                model,
                from: Some(role),
                ..
            }) => RunningWorkload::collect(
                c.reach(),
                judged,
                *model,
                format!("{role}-0"),
                c.logs_dir
                    .parent()
                    .unwrap_or(&c.logs_dir)
                    .join(HISTORY_FILE),
            ),
            Source::History(h) => {
                let trial_dir = c.logs_dir.parent().unwrap_or(&c.logs_dir);
                RunningWorkload::record(
                    c.reach(),
                    judged,
                    Recording {
                        model: h.model,
                        clients: h.clients,
                        keys: h.keys,
                        ops: h
                            .ops
                            .iter()
                            .map(|(k, a)| (*k, c.action(a).clone(), format!("{}-0", a.role)))
                            .collect(),
                        every: self.every,
                        seed: seed_of(&self.name),
                        file: trial_dir.join(HISTORY_FILE),
                    },
                )
            }
        };
        live.workloads.insert(self.name.clone(), w);
        Ok(Done::nothing())
    }
}

/// A seed from a workload's name (FNV-1a): the same workload draws the same calls in every run.
fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
