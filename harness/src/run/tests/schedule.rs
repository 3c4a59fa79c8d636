//! The order trials start in: longest expected first, by the last run's durations or, for trials
//! never seen, by their length in steps; outcomes stay in plan order.

use super::*;
use crate::outcome::Verdict;
use crate::run::schedule::longest_first;
use crate::run::Durations;

/// Four cells (node and client at 1.0 or 2.0) of a one-step scenario `short` and a four-step one
/// `long`: eight trials.
fn two_lengths() -> Fixture {
    let long = [START, GET, GET, GET].concat();
    Fixture::with_scenarios(
        SYSTEM,
        "[matrix]\nreleases = [\"1.0\", \"2.0\"]\nscenarios = [\"short\", \"long\"]\n",
        &[
            ("short", &format!("kind = \"cell\"\n{START}")),
            ("long", &format!("kind = \"cell\"\n{long}")),
        ],
    )
}

fn ids(trials: &[Trial], order: &[usize]) -> Vec<String> {
    order.iter().map(|&i| trials[i].id.clone()).collect()
}

#[test]
fn without_records_the_longer_plans_start_first_in_plan_order() {
    let trials = plan::expand(&two_lengths().matrix).trials;
    let order = longest_first(&trials, &Durations::default());
    let scenarios: Vec<&str> = order.iter().map(|&i| trials[i].scenario.as_str()).collect();
    assert_eq!(
        scenarios,
        ["long", "long", "long", "long", "short", "short", "short", "short"]
    );
    // Plan order among equals.
    let mut longs: Vec<usize> = order[..4].to_vec();
    longs.sort();
    assert_eq!(order[..4], longs[..]);
}

#[test]
fn what_a_trial_took_last_time_orders_it_and_sets_the_pace_of_the_unseen() {
    let trials = plan::expand(&two_lengths().matrix).trials;
    let short: Vec<&Trial> = trials.iter().filter(|t| t.scenario == "short").collect();
    let long: Vec<&Trial> = trials.iter().filter(|t| t.scenario == "long").collect();
    // A short trial that waited out a deadline last time (a known failure) is the longest; the
    // other seen trials run at 1 s a step, so an unseen long one (four steps) is expected to take
    // 4 s and an unseen short one 1 s.
    let took = Durations::from_pairs([
        (short[1].id.clone(), Duration::from_secs(27)),
        (short[0].id.clone(), Duration::from_secs(1)),
        (long[0].id.clone(), Duration::from_secs(4)),
        (long[1].id.clone(), Duration::from_secs(4)),
        (short[2].id.clone(), Duration::from_millis(900)),
    ]);
    let order = ids(&trials, &longest_first(&trials, &took));
    assert_eq!(order[0], short[1].id);
    assert_eq!(
        order[1..5],
        [&long[0].id, &long[1].id, &long[2].id, &long[3].id].map(String::clone)
    );
    assert_eq!(
        order[5..],
        [&short[0].id, &short[3].id, &short[2].id].map(String::clone)
    );
}

/// Runs every trial of `fx` on a backend following `script`, at `-j jobs`, at most `bring_up`
/// bringing their cluster up at once: the outcomes, and the events in order.
async fn run_all(
    fx: &Fixture,
    script: Script,
    took: Durations,
    jobs: usize,
    bring_up: usize,
) -> (Vec<TrialOutcome>, Vec<Event>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let backend = Arc::new(Scripted::new(script));
    let opts = RunOptions {
        run_id: RUN_ID.into(),
        report_dir: fx.reports(),
        jobs,
        keep: false,
        reproduce: Arc::new(|t| crate::report::reproduce(None, &t.id, None)),
        reach: backend.reach().await.unwrap(),
        took,
        bring_up,
    };
    let outcomes = run_trials(
        backend.clone() as Arc<dyn Backend>,
        fx.matrix.clone(),
        plan::expand(&fx.matrix).trials,
        opts,
        Events::new(tx),
        CancellationToken::new(),
    )
    .await;
    let mut events = vec![];
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (outcomes, events)
}

#[tokio::test(start_paused = true)]
async fn trials_start_longest_first_and_are_reported_in_plan_order() {
    let fx = two_lengths();
    let trials = plan::expand(&fx.matrix).trials;
    let took = Durations::from_pairs(
        trials
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), Duration::from_secs(i as u64 + 1))),
    );
    let (outcomes, events) = run_all(&fx, Script::default(), took, 1, 1).await;
    let started: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::TrialStarted { id } => Some(id.clone()),
            _ => None,
        })
        .collect();
    let plan_order: Vec<String> = trials.iter().map(|t| t.id.clone()).collect();
    let mut reversed = plan_order.clone();
    reversed.reverse();
    assert_eq!(started, reversed, "the last took longest: it starts first");
    let reported: Vec<String> = outcomes.iter().map(|o| o.id.clone()).collect();
    assert_eq!(reported, plan_order);
    assert!(outcomes.iter().all(|o| o.verdict == Verdict::Pass));
}

/// Whether each trial but the first started only after the one started before it had finished
/// its first step.
fn one_bringing_up_at_a_time(events: &[Event]) -> bool {
    let mut bringing_up: Option<&str> = None;
    for e in events {
        match e {
            Event::TrialStarted { id } => {
                if bringing_up.is_some() {
                    return false;
                }
                bringing_up = Some(id);
            }
            Event::StepFinished { trial, outcome }
                if outcome.number == 1 && bringing_up == Some(trial.as_str()) =>
            {
                bringing_up = None;
            }
            _ => {}
        }
    }
    true
}

#[tokio::test(start_paused = true)]
async fn with_room_for_one_bring_up_a_trial_starts_when_the_last_finished_its_first_step() {
    let fx = two_lengths();
    // Every replica takes a second to be ready, so that trials bringing their clusters up overlap
    // when they may.
    let slow = || {
        Script::default().on_start(|_| Boot::default().then_log(Duration::from_secs(1), "ready"))
    };
    let (outcomes, events) = run_all(&fx, slow(), Durations::default(), 4, 1).await;
    assert!(outcomes.iter().all(|o| o.verdict == Verdict::Pass));
    assert!(one_bringing_up_at_a_time(&events), "{events:#?}");
    // With room for two, two trials start together: the check above can tell.
    let (_, events) = run_all(&fx, slow(), Durations::default(), 4, 2).await;
    assert!(!one_bringing_up_at_a_time(&events), "{events:#?}");
}
