//! Upgrade plans drawn from a seed, as CockroachDB's mixedversion draws its test plans: a start
//! release, one hop or more (skipping releases only where the support policy promises that
//! upgrade), an order of the roles per hop, how each role's replicas are split across moves
//! (`count`), and maybe a rollback part-way through a hop (the roles moved so far go back, then the
//! hop starts again). Around the drawn moves, the base scenario's own start and workloads (its
//! prefix), its per-state checks and its final checks (its tail). The same matrix and seed give
//! the same plans; a plan longer than the bound is drawn again. With `[matrix.random.faults]`,
//! faults in the mixed-version states ([`super::faults`]).

use std::borrow::Cow;
use std::fmt::Write as _;

use indexmap::IndexMap;

use super::cover::Rng;
use super::route::Piece;
use super::{trial, Trial, TrialKind};
use crate::model::{Matrix, ModelError, RandomSpec, Release};
use crate::step::{ReleaseRef, ReplicaOrder, ScenarioStep, StepSpec, Upgrade};

/// How many times a plan is drawn before the bound is declared unreachable.
const ATTEMPTS: usize = 64;

/// What a generated trial was drawn from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drawn {
    pub seed: u64,
    /// 1-based, of `of`.
    pub plan: usize,
    pub of: usize,
}

/// The plans of `[matrix.random]`, or why none fits its step bound.
pub(crate) fn trials(m: &Matrix, spec: &RandomSpec) -> Result<Vec<Trial>, Box<ModelError>> {
    let sc = m.scenario(&spec.scenario).expect("validated");
    let shape = sc.shape();
    let roles: Vec<&crate::model::Role> = m.roles.iter().collect();
    let n = m.releases.len();
    let mut out = Vec::new();
    for plan in 1..=spec.trials {
        // One stream per plan: plan k is the same whatever the number of plans.
        let mut rng = Rng::new(spec.seed ^ (plan as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut shortest = usize::MAX;
        let mut found = None;
        for _ in 0..ATTEMPTS {
            // Stops: a start (not the last release), then hops.
            let mut stops = vec![rng.below(n - 1)];
            let hops = 1 + rng.below(spec.hops);
            for _ in 0..hops {
                let c = *stops.last().expect("a start");
                if c + 1 >= n {
                    break;
                }
                let mut targets = vec![c + 1];
                targets.extend(
                    spec.skips
                        .iter()
                        .filter(|(f, t)| *f == c && *t > c + 1)
                        .map(|(_, t)| *t),
                );
                stops.push(targets[rng.below(targets.len())]);
            }
            let rel = |i: usize| m.releases[i].clone();
            let (from, to) = (rel(stops[0]), rel(*stops.last().expect("a stop")));
            let via: Vec<Release> = stops[1..stops.len() - 1].iter().map(|&i| rel(i)).collect();
            let mut route = format!("{from}-to-{to}");
            for v in &via {
                let _ = write!(route, "-via-{v}");
            }
            let origin = format!("seed {} plan {plan}", spec.seed);
            let mut drawn: Vec<Piece<'_>> = Vec::new();
            let whole = (from.clone(), to.clone());
            for i in shape.prefix.clone() {
                drawn.push(piece(&sc.steps[i], &whole, None));
            }
            let mut rolled_back = false;
            for w in stops.windows(2) {
                let hop = (rel(w[0]), rel(w[1]));
                let mut order = roles.clone();
                rng.shuffle(&mut order);
                // Each role's replicas split into moves, taken in rounds over the roles in order:
                // one master, the agent, the other two masters…
                let mut chunks: Vec<Vec<u32>> =
                    order.iter().map(|r| split(&mut rng, r.replicas)).collect();
                let mut seq: Vec<(&crate::model::Role, u32)> = Vec::new();
                while chunks.iter().any(|c| !c.is_empty()) {
                    for (role, c) in order.iter().zip(chunks.iter_mut()) {
                        if !c.is_empty() {
                            seq.push((role, c.remove(0)));
                        }
                    }
                }
                // A rollback after this many moves of the hop: the roles moved so far go back,
                // then the hop starts again.
                let rollback_after =
                    (!rolled_back && rng.chance(spec.rollback)).then(|| 1 + rng.below(seq.len()));
                let label = |what: &str| format!("{} → {} · {what}", hop.0, hop.1);
                let forward = |drawn: &mut Vec<Piece<'_>>, moves: &[(&crate::model::Role, u32)]| {
                    for (role, count) in moves {
                        let step = upgrade(role, &hop.1, Some(*count), &origin, "upgrade");
                        drawn.push(owned(step, &hop, Some(label(&role.name))));
                    }
                };
                if let Some(k) = rollback_after {
                    rolled_back = true;
                    forward(&mut drawn, &seq[..k]);
                    let mut moved: Vec<&crate::model::Role> = Vec::new();
                    for (role, _) in &seq[..k] {
                        if !moved.iter().any(|m| m.name == role.name) {
                            moved.push(role);
                        }
                    }
                    for back in moved.iter().rev() {
                        let step = upgrade(back, &hop.0, None, &origin, "downgrade");
                        drawn.push(owned(step, &hop, Some(label("rollback"))));
                    }
                }
                forward(&mut drawn, &seq);
            }
            for i in shape.tail.clone() {
                drawn.push(piece(&sc.steps[i], &whole, None));
            }
            let mut start: IndexMap<String, Release> = m
                .roles
                .iter()
                .map(|r| (r.name.clone(), from.clone()))
                .collect();
            for s in &m.services {
                if let Some(r) = &s.fixed_release {
                    start.insert(s.name.clone(), r.clone());
                }
            }
            let id = format!(
                "{}/{}/{route}/random-{}-{plan}",
                m.system, sc.name, spec.seed
            );
            let kind = TrialKind::Path {
                from,
                to,
                via,
                order: None,
            };
            let mut t = trial(m, sc, id, kind, start, drawn);
            if let Some(f) = &spec.faults {
                super::faults::insert(m, f, &mut rng, &mut t, &origin);
            }
            shortest = shortest.min(t.steps.len());
            if t.steps.len() <= spec.max_steps.value {
                t.drawn = Some(Drawn {
                    seed: spec.seed,
                    plan,
                    of: spec.trials,
                });
                found = Some(t);
                break;
            }
        }
        match found {
            Some(t) => out.push(t),
            None => {
                let e = spec
                    .max_steps
                    .error(format!(
                        "no plan of at most {} steps: the shortest of {ATTEMPTS} drawn has \
                         {shortest}",
                        spec.max_steps.value
                    ))
                    .help(if spec.faults.is_some() {
                        format!(
                            "raise `max_steps` to {shortest} or more, or lower `hops`, \
                             `rollback` or the faults' `probability`"
                        )
                    } else {
                        format!(
                            "raise `max_steps` to {shortest} or more, or lower `hops` or \
                             `rollback`"
                        )
                    });
                return Err(Box::new(e));
            }
        }
    }
    Ok(out)
}

/// A role's replicas split into the counts of its moves, in order (3 → [1, 2], [3], [1, 1, 1]…).
fn split(rng: &mut Rng, replicas: u32) -> Vec<u32> {
    let mut left = replicas;
    let mut out = Vec::new();
    while left > 0 {
        let c = 1 + rng.below(left as usize) as u32;
        out.push(c);
        left -= c;
    }
    out
}

/// An `upgrade` (or `downgrade`) of `count` replicas of `role` (all when `None`) to `to`, the
/// leader last when the role knows its leader.
fn upgrade(
    role: &crate::model::Role,
    to: &Release,
    count: Option<u32>,
    origin: &str,
    what: &str,
) -> ScenarioStep {
    let order = if role.leader.is_some() {
        ReplicaOrder::LeaderLast
    } else {
        ReplicaOrder::ByIndex
    };
    let mut source = toml::Table::new();
    source.insert("do".into(), what.into());
    source.insert("role".into(), role.name.as_str().into());
    source.insert("to".into(), to.as_str().into());
    if order == ReplicaOrder::LeaderLast {
        source.insert("order".into(), "leader-last".into());
    }
    if let Some(c) = count {
        source.insert("count".into(), i64::from(c).into());
    }
    ScenarioStep {
        spec: StepSpec::Upgrade(Upgrade {
            role: role.name.clone(),
            to: ReleaseRef::Exact(to.clone()),
            order,
            count,
            first_start: None,
            exits: None,
        }),
        when: None,
        timeout: None,
        origin: origin.to_string(),
        source,
    }
}

fn piece<'s>(
    step: &'s ScenarioStep,
    path: &(Release, Release),
    phase: Option<String>,
) -> Piece<'s> {
    Piece {
        step: Cow::Borrowed(step),
        path: Some(path.clone()),
        phase,
    }
}

fn owned<'s>(step: ScenarioStep, path: &(Release, Release), phase: Option<String>) -> Piece<'s> {
    Piece {
        step: Cow::Owned(step),
        path: Some(path.clone()),
        phase,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FaultKind;
    use crate::step::Op;

    fn nightly() -> Matrix {
        crate::model::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../nightly.toml"
        )))
        .expect("nightly.toml")
    }

    fn drawn(m: &Matrix) -> Vec<String> {
        trials(m, m.random.as_ref().expect("[matrix.random]"))
            .expect("plans")
            .iter()
            .map(|t| t.to_string())
            .collect()
    }

    #[test]
    fn the_same_seed_draws_the_same_plans_and_another_seed_others() {
        let mut m = nightly();
        let first = drawn(&m);
        assert_eq!(first, drawn(&m));
        assert_eq!(first.len(), 3);
        assert!(first[0].contains("drawn: plan 1 of 3 from seed 2026"));
        // Plan k does not depend on how many are drawn.
        m.random.as_mut().unwrap().trials = 1;
        assert_eq!(drawn(&m)[0].replace("plan 1 of 1", "plan 1 of 3"), first[0]);
        m.random.as_mut().unwrap().seed = 2027;
        assert_ne!(drawn(&m)[0], first[0]);
    }

    fn etcd() -> Matrix {
        crate::model::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../etcd.toml"
        )))
        .expect("etcd.toml")
    }

    /// The fault windows of a plan: per inserted fault, its steps (0-based positions), with the
    /// releases running after the move before it.
    fn windows(m: &Matrix, t: &Trial) -> Vec<(Vec<usize>, usize)> {
        let mut at: IndexMap<String, Vec<Release>> = m
            .roles
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    vec![t.start[&r.name].clone(); r.replicas as usize],
                )
            })
            .collect();
        let mut out: Vec<(Vec<usize>, usize)> = Vec::new();
        let mut running = 1;
        for (i, s) in t.steps.iter().enumerate() {
            if let Some((role, to)) = s.op.moves_to() {
                let v = at.get_mut(role).unwrap();
                if let Some(slot) = v.iter_mut().find(|r| *r != to) {
                    *slot = to.clone();
                }
                let mut all: Vec<&Release> = at.values().flatten().collect();
                all.sort();
                all.dedup();
                running = all.len();
            }
            if s.fault {
                match out.last_mut() {
                    Some((w, _)) if w.last() == Some(&(i - 1)) => w.push(i),
                    _ => out.push((vec![i], running)),
                }
            }
        }
        out
    }

    #[test]
    fn without_the_faults_table_nothing_is_drawn_and_with_it_the_moves_stay() {
        let mut m = nightly();
        m.random.as_mut().unwrap().faults = None;
        let plain = drawn(&m);
        assert!(!plain.iter().any(|p| p.contains("[inserted fault]")));
        // A chance of 0 draws nothing either: the same plans.
        let mut zero = nightly();
        zero.random
            .as_mut()
            .unwrap()
            .faults
            .as_mut()
            .unwrap()
            .probability = 0.0;
        assert_eq!(drawn(&zero), plain);
        // With faults, the same moves and checks: the faults are drawn after them.
        let faulted = trials(&nightly(), nightly().random.as_ref().unwrap()).unwrap();
        let without = trials(&m, m.random.as_ref().unwrap()).unwrap();
        assert!(faulted.iter().any(|t| t.steps.iter().any(|s| s.fault)));
        for (f, w) in faulted.iter().zip(&without) {
            let kept: Vec<String> = f
                .steps
                .iter()
                .filter(|s| !s.fault)
                .map(|s| s.describe())
                .collect();
            let plain: Vec<String> = w.steps.iter().map(|s| s.describe()).collect();
            assert_eq!(kept, plain, "{}", f.id);
        }
    }

    #[test]
    fn a_matrix_whose_drawn_faults_shape_traffic_builds_and_needs_the_helper() {
        let helper = crate::step::NET_TOOLS_IMAGE.to_string();
        let m = etcd();
        let plans = trials(&m, m.random.as_ref().unwrap()).unwrap();
        assert!(plans
            .iter()
            .any(|t| t.steps.iter().any(|s| s.fault && s.op.needs_net_tools())));
        assert!(super::super::images(&m, &plans).contains(&helper));
        assert!(crate::runtime::defined_images(&m).contains(&helper));
        // Faults that only pause and isolate need none.
        let mut m = etcd();
        m.random.as_mut().unwrap().faults.as_mut().unwrap().weights =
            vec![(FaultKind::Pause, 1), (FaultKind::Isolate, 1)];
        let plans = trials(&m, m.random.as_ref().unwrap()).unwrap();
        assert!(!super::super::images(&m, &plans).contains(&helper));
    }

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let m = etcd();
        let first = drawn(&m);
        assert_eq!(first, drawn(&m));
        assert!(
            first.iter().any(|p| p.contains("[inserted fault]")),
            "{first:?}"
        );
        let mut other = etcd();
        other.random.as_mut().unwrap().seed = 7;
        assert_ne!(drawn(&other), first);
    }

    #[test]
    fn faults_start_after_a_move_into_a_mixed_state_and_end_before_anything_moves() {
        for mut m in [nightly(), etcd()] {
            let spec = m.random.as_mut().unwrap();
            spec.trials = 30;
            spec.faults.as_mut().unwrap().probability = 0.8;
            let spec = spec.clone();
            let mut seen = 0;
            for t in trials(&m, &spec).unwrap() {
                for (w, running) in windows(&m, &t) {
                    seen += 1;
                    let before = &t.steps[w[0] - 1];
                    assert!(before.is_move(), "{t}");
                    assert!(running >= 2, "a fault in a state of one release:\n{t}");
                    assert!(w.iter().all(|&i| !t.steps[i].is_move()), "{t}");
                    let kinds: Vec<&str> = w.iter().map(|&i| t.steps[i].op.kind()).collect();
                    assert_eq!(kinds[kinds.len() - 2], "Hold", "{t}");
                    let undo = kinds[kinds.len() - 1];
                    assert!(undo == "Heal" || undo == "Resume", "{t}");
                    assert_eq!(undo == "Resume", kinds[0] == "Pause", "{t}");
                    // The state's checks follow the undoing, before the next move.
                    let after = &t.steps[w[w.len() - 1] + 1..];
                    let next = after
                        .iter()
                        .position(|s| s.is_move())
                        .unwrap_or(after.len());
                    assert!(after[..next].iter().all(|s| !s.fault), "{t}");
                    assert!(after.first().is_some_and(|s| s.each_state), "{t}");
                }
            }
            assert!(seen >= 10, "only {seen} faults in 30 plans of {}", m.system);
        }
    }

    #[test]
    fn faults_keep_a_quorum_unless_told_not_to() {
        // etcd: members a, b, c form one group; one of three may go down.
        let mut m = etcd();
        let spec = m.random.as_mut().unwrap();
        spec.trials = 30;
        spec.faults.as_mut().unwrap().probability = 1.0;
        let spec = spec.clone();
        let down = |t: &Trial, w: &[usize]| -> Vec<String> {
            w.iter()
                .flat_map(|&i| match &t.steps[i].op {
                    Op::Pause(p) => vec![p.target.to_string()],
                    Op::Isolate(p) => vec![p.target.to_string()],
                    Op::Partition(p) => p.groups[0].iter().map(|t| t.to_string()).collect(),
                    _ => vec![],
                })
                .collect()
        };
        let mut most = 0;
        for t in trials(&m, &spec).unwrap() {
            for (w, _) in windows(&m, &t) {
                let d = down(&t, &w);
                assert!(d.len() <= 1, "{d:?} in\n{t}");
                assert!(!d.iter().any(|r| r.contains("client")), "{t}");
                most = most.max(d.len());
            }
        }
        assert_eq!(most, 1);
        // tinymesos: only a master of three may go down; the single replicas only degrade.
        let mut m = nightly();
        let spec = m.random.as_mut().unwrap();
        spec.trials = 30;
        spec.faults.as_mut().unwrap().probability = 1.0;
        let spec = spec.clone();
        for t in trials(&m, &spec).unwrap() {
            for (w, _) in windows(&m, &t) {
                let d = down(&t, &w);
                assert!(d.len() <= 1, "{d:?} in\n{t}");
                assert!(d.iter().all(|r| r.contains("master")), "{d:?} in\n{t}");
            }
        }
        // Told not to: a majority of etcd's members may go down.
        let mut m = etcd();
        let spec = m.random.as_mut().unwrap();
        spec.trials = 30;
        let f = spec.faults.as_mut().unwrap();
        f.probability = 1.0;
        f.keep_quorum = false;
        let spec = spec.clone();
        let most = trials(&m, &spec)
            .unwrap()
            .iter()
            .flat_map(|t| windows(&m, t).into_iter().map(|(w, _)| down(t, &w).len()))
            .max();
        assert!(most >= Some(2), "{most:?}");
    }

    #[test]
    fn plans_hop_to_the_next_release_or_skip_where_the_policy_promises_and_respect_the_bound() {
        let mut m = nightly();
        let spec = m.random.as_mut().unwrap();
        spec.trials = 40;
        spec.hops = 3;
        spec.rollback = 1.0;
        // As if the policy promised 0.22 → 0.25.
        spec.skips = vec![(0, 3)];
        let spec = spec.clone();
        let plans = trials(&m, &spec).expect("plans");
        let pos = |r: &Release| m.releases.iter().position(|x| x == r).unwrap();
        let mut skipped = false;
        for t in &plans {
            assert!(t.steps.len() <= spec.max_steps.value, "{}", t.id);
            let TrialKind::Path { from, to, via, .. } = &t.kind else {
                panic!("a path")
            };
            let stops: Vec<usize> = std::iter::once(from)
                .chain(via)
                .chain(std::iter::once(to))
                .map(pos)
                .collect();
            for w in stops.windows(2) {
                assert!(w[1] == w[0] + 1 || (w[0], w[1]) == (0, 3), "{}", t.id);
                skipped |= (w[0], w[1]) == (0, 3);
            }
            // Every plan rolls back once (rollback = 1).
            assert!(t.to_string().contains("· rollback"), "{t}");
            assert!(t.id.ends_with(&format!(
                "random-{}-{}",
                spec.seed,
                t.drawn.as_ref().unwrap().plan
            )));
        }
        assert!(skipped, "40 plans and not one took the promised skip");
    }
}
