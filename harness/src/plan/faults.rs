//! Faults inserted in a drawn plan's mixed-version states (`[matrix.random.faults]`), as
//! CockroachDB's mixedversion mutators insert theirs: planned steps, printed with the plan, never
//! during a restart.
//!
//! **Where.** After a move that leaves at least two releases running among the roles' replicas,
//! with the chance `probability`: that is, between two moves of a hop (or of its rollback), never
//! after the move that completes a hop. A fault is started, held, and undone before anything moves
//! again, so no replica is stopped, moved or started while it is faulted:
//!
//! ```text
//! move → isolate a-0 → hold for 10s → heal every network fault → [[each_state]] checks → move …
//! ```
//!
//! **Checks after the undoing.** The state's `[[each_state]]` checks run after the fault is undone,
//! not while it holds. They are written for the whole cluster (every endpoint healthy, a leader
//! elected, the framework subscribed): under an isolation they fail by design, which says nothing
//! about the upgrade. After the undoing, with their `eventually`, they ask what matters: does the
//! mixed-version cluster recover from the fault. What meets the fault while it holds is the
//! scenario's background workloads, judged by their own bounds (`max_unavailable`,
//! `min_success`): the hold (a `hold` step, a deliberate window rather than a wait for a
//! condition) gives them the time to.
//!
//! **Whom.** `pause`, `isolate` and `partition` take replicas down for their peers. A quorum group
//! is a role's replicas, or the replicas of the roles `quorum` declares together (etcd's members
//! as roles a, b, c); while `keep_quorum` holds (the default) a fault takes down a minority of one
//! group at most: one member of three, two of five, none of a group of one or two. A partition cuts
//! that minority off from the rest of its group. `loss`, `throttle` and `delay` only degrade: they
//! go on one replica of any role `roles` allows. A role that knows its leader may have it chosen
//! when the fault starts (`replica = "leader"`) instead of an index.
//!
//! **Undoing.** An untargeted `resume` or `heal`: a leader faulted may have lost its leadership by
//! then, so the faults are not named again. That is exact because no fault is inserted while one
//! the scenario's own steps started may still be in effect.
//!
//! **Replay.** Draws come from the plan's own stream, after its moves are drawn: the same seed
//! gives the same faults, and a plan's moves are the same with faults as without (unless the longer
//! plan no longer fits `max_steps` and is drawn again). Without the table nothing is drawn, so
//! plans stay as they were. The inserted steps are ordinary steps: written into `plan.toml`, they
//! plan back into the same steps. The trial's deadline grows by the holds.

use indexmap::IndexMap;

use super::cover::Rng;
use super::PlannedStep;
use super::Trial;
use crate::model::{format_duration, FaultKind, FaultSpec, Matrix, Release};
use crate::step::{
    format_rate, take_back, Delay, Heal, Hold, Isolate, Loss, Op, OpenFault, Partition, Pause,
    ReplicaSel, Resume, Target, Throttle,
};

/// Inserts faults after the moves of `t` that leave a mixed-version state, drawn from `rng`;
/// `origin` names where they come from (the plan's seed).
pub(super) fn insert(m: &Matrix, spec: &FaultSpec, rng: &mut Rng, t: &mut Trial, origin: &str) {
    let mut releases: IndexMap<&str, Vec<&Release>> = IndexMap::new();
    for r in &m.roles {
        if let Some(at) = t.start.get(&r.name) {
            releases.insert(&r.name, vec![at; r.replicas as usize]);
        }
    }
    let steps = std::mem::take(&mut t.steps);
    // Faults the trial's own steps started that may still be in effect, as a scenario's are
    // checked (a move is not counted as ending its replica's).
    let mut open: Vec<OpenFault> = Vec::new();
    let mut out: Vec<PlannedStep> = Vec::with_capacity(steps.len());
    for s in &steps {
        open.extend(s.op.opens_fault());
        if let Some((undone, target)) = s.op.undoes_faults() {
            take_back(&mut open, undone, target);
        }
        out.push(s.clone());
        let Some((role, to)) = s.op.moves_to() else {
            continue;
        };
        // The first replica of the role not there yet: which one moves is the runner's choice,
        // which releases run is what matters.
        if let Some(slot) = releases
            .get_mut(role)
            .and_then(|v| v.iter_mut().find(|r| **r != to))
        {
            *slot = to;
        }
        let mut running: Vec<&Release> = releases.values().flatten().copied().collect();
        running.sort();
        running.dedup();
        if running.len() < 2 || !open.is_empty() || !rng.chance(spec.probability) {
            continue;
        }
        let Some(fault) = draw(m, spec, rng) else {
            continue;
        };
        t.timeout += spec.hold;
        for (op, source) in fault {
            out.push(PlannedStep {
                number: 0,
                op,
                timeout: None,
                origin: origin.to_string(),
                each_state: false,
                fault: true,
                phase: s.phase.clone(),
                source,
            });
        }
    }
    for (i, s) in out.iter_mut().enumerate() {
        s.number = i + 1;
    }
    t.steps = out;
}

/// A replica of a quorum group: its role and index.
type Member = (String, u32);

/// One fault: its steps (start, hold, undoing) and their tables as a scenario file writes them.
/// `None` when no kind can be put anywhere (the model refuses that with a chance above 0).
fn draw(m: &Matrix, spec: &FaultSpec, rng: &mut Rng) -> Option<Vec<(Op, toml::Table)>> {
    let replicas = |name: &str| m.role(name).map_or(0, |r| r.replicas as usize);
    let kinds: Vec<(FaultKind, u32)> = spec
        .weights
        .iter()
        .filter(|(k, w)| *w > 0 && spec.possible(*k, replicas))
        .copied()
        .collect();
    let total: u32 = kinds.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return None;
    }
    let mut pick = rng.below(total as usize) as u32;
    let kind = kinds
        .iter()
        .find(|(_, w)| {
            let here = pick < *w;
            pick = pick.saturating_sub(*w);
            here
        })
        .map(|(k, _)| *k)?;
    let mut steps = match kind {
        FaultKind::Pause | FaultKind::Isolate | FaultKind::Partition => {
            take_down(m, spec, kind, rng)
        }
        FaultKind::Loss | FaultKind::Throttle | FaultKind::Delay => {
            let role = &spec.roles[rng.below(spec.roles.len())];
            let target = one_replica(m, role, rng);
            let (op, key, value): (Op, &str, toml::Value) = match kind {
                FaultKind::Loss => (
                    Op::Loss(Loss {
                        target: target.clone(),
                        percent: spec.percent,
                    }),
                    "percent",
                    if spec.percent.fract() == 0.0 {
                        (spec.percent as i64).into()
                    } else {
                        spec.percent.into()
                    },
                ),
                FaultKind::Throttle => (
                    Op::Throttle(Throttle {
                        target: target.clone(),
                        rate: spec.rate,
                    }),
                    "rate",
                    format_rate(spec.rate).into(),
                ),
                _ => (
                    Op::Delay(Delay {
                        target: target.clone(),
                        delay: spec.delay,
                    }),
                    "delay",
                    format_duration(spec.delay).into(),
                ),
            };
            let mut source = targeted(kind.name(), &target);
            source.insert(key.into(), value);
            vec![(op, source)]
        }
    };
    let mut hold = table("hold");
    hold.insert("for".into(), format_duration(spec.hold).into());
    steps.push((Op::Hold(Hold { length: spec.hold }), hold));
    steps.push(match kind {
        FaultKind::Pause => (Op::Resume(Resume { target: None }), table("resume")),
        _ => (Op::Heal(Heal { target: None }), table("heal")),
    });
    Some(steps)
}

/// A `pause`, `isolate` or `partition` of at most as many replicas of one quorum group as
/// [`FaultSpec::most_down`] allows, chosen among the roles `roles` allows.
fn take_down(
    m: &Matrix,
    spec: &FaultSpec,
    kind: FaultKind,
    rng: &mut Rng,
) -> Vec<(Op, toml::Table)> {
    let replicas = |name: &str| m.role(name).map_or(0, |r| r.replicas);
    let groups: Vec<Vec<Member>> = spec
        .groups()
        .into_iter()
        .map(|g| {
            g.iter()
                .flat_map(|r| (0..replicas(r)).map(|i| (r.to_string(), i)))
                .collect::<Vec<Member>>()
        })
        .filter(|g| spec.most_down(kind, g.len()) >= 1)
        .collect();
    let group = &groups[rng.below(groups.len())];
    let mut faultable: Vec<Member> = group
        .iter()
        .filter(|(r, _)| spec.roles.contains(r))
        .cloned()
        .collect();
    let most = spec.most_down(kind, group.len()).min(faultable.len());
    let k = 1 + rng.below(most);
    rng.shuffle(&mut faultable);
    let mut down: Vec<Member> = faultable[..k].to_vec();
    let position = |m: &Member| group.iter().position(|x| x == m);
    down.sort_by_key(position);
    if kind == FaultKind::Partition {
        let rest: Vec<Member> = group
            .iter()
            .filter(|x| !down.contains(x))
            .cloned()
            .collect();
        let sides = [side(&down, &replicas), side(&rest, &replicas)];
        let groups: Vec<Vec<Target>> = sides
            .iter()
            .map(|s| s.iter().map(|(t, _)| t.clone()).collect())
            .collect();
        let names: Vec<toml::Value> = sides
            .iter()
            .map(|s| {
                s.iter()
                    .map(|(_, n)| toml::Value::from(n.as_str()))
                    .collect::<Vec<_>>()
                    .into()
            })
            .collect();
        let mut source = table("partition");
        source.insert("groups".into(), names.into());
        return vec![(Op::Partition(Partition { groups }), source)];
    }
    let leader = |rng: &mut Rng, role: &str| {
        k == 1
            && m.role(role)
                .is_some_and(|r| r.leader.is_some() && r.replicas > 1)
            && rng.chance(0.5)
    };
    down.iter()
        .map(|(role, i)| {
            let target = Target {
                role: role.clone(),
                replica: if leader(rng, role) {
                    ReplicaSel::Leader
                } else {
                    ReplicaSel::Index(*i)
                },
            };
            let source = targeted(kind.name(), &target);
            let op = match kind {
                FaultKind::Pause => Op::Pause(Pause { target }),
                _ => Op::Isolate(Isolate { target }),
            };
            (op, source)
        })
        .collect()
}

/// One side of a partition as its targets and the names a scenario file writes: a role whose
/// replicas are all on it by its name, others as `role-index`.
fn side(members: &[Member], replicas: &impl Fn(&str) -> u32) -> Vec<(Target, String)> {
    let mut out: Vec<(Target, String)> = Vec::new();
    for (role, i) in members {
        let whole = members.iter().filter(|(r, _)| r == role).count() as u32 == replicas(role);
        if whole {
            if !out.iter().any(|(t, _)| &t.role == role) {
                let t = Target {
                    role: role.clone(),
                    replica: ReplicaSel::All,
                };
                out.push((t, role.clone()));
            }
        } else {
            let t = Target {
                role: role.clone(),
                replica: ReplicaSel::Index(*i),
            };
            out.push((t, format!("{role}-{i}")));
        }
    }
    out
}

/// One replica of `role`: an index, or (half the time, when the role knows its leader and has
/// more than one replica) whichever leads when the fault starts.
fn one_replica(m: &Matrix, role: &str, rng: &mut Rng) -> Target {
    let (n, leads) = m
        .role(role)
        .map_or((1, false), |r| (r.replicas, r.leader.is_some()));
    let i = rng.below(n.max(1) as usize) as u32;
    let replica = if leads && n > 1 && rng.chance(0.5) {
        ReplicaSel::Leader
    } else {
        ReplicaSel::Index(i)
    };
    Target {
        role: role.to_string(),
        replica,
    }
}

/// `{ do = "…" }`.
fn table(what: &str) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("do".into(), what.into());
    t
}

/// `{ do = "…", role = "…", replica = … }`.
fn targeted(what: &str, target: &Target) -> toml::Table {
    let mut t = table(what);
    t.insert("role".into(), target.role.as_str().into());
    let replica: toml::Value = match target.replica {
        ReplicaSel::Index(i) => i64::from(i).into(),
        ReplicaSel::Leader => "leader".into(),
        ReplicaSel::All => "all".into(),
    };
    t.insert("replica".into(), replica);
    t
}
