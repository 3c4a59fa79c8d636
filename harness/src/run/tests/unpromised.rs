//! Negative trials: an upgrade the support policy does not promise passes when it goes through or
//! when a component refuses it cleanly, and fails when it goes wrong without a refusal.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Boot, Reply, Script, Scripted};

/// Upgrades the nodes, then reads through the client.
const UPGRADE_THEN_GET: &str =
    "[[step]]\ndo = \"start\"\n[[step]]\ndo = \"upgrade\"\nrole = \"node\"\n\
                                [[step]]\ndo = \"check\"\naction = \"client.get\"\n\
                                expect = { contains = \"hello\" }\n";

async fn run_unpromised(script: Script) -> Ran {
    let fx = path(UPGRADE_THEN_GET);
    let mut trial = fx.trial();
    trial.unpromised = true;
    run_trial(
        &fx,
        trial,
        Arc::new(Scripted::new(script)),
        CancellationToken::new(),
        false,
    )
    .await
}

/// The client reads `hello` until a node has started at 2.0, then `answer` (exit `code`); a node
/// at 2.0 boots as `boot` says.
fn after_upgrade(code: i64, answer: &'static str, boot: Boot) -> Script {
    let upgraded = Arc::new(AtomicBool::new(false));
    let seen = upgraded.clone();
    Script::default()
        .on_start(move |v| {
            if v.release == "2.0" {
                upgraded.store(true, Ordering::SeqCst);
                boot.clone()
            } else {
                Boot::logs("ready")
            }
        })
        .on_exec(move |_, _| {
            if seen.load(Ordering::SeqCst) {
                Reply::Output(code, answer.into())
            } else {
                Reply::Output(0, "hello".into())
            }
        })
}

#[tokio::test(start_paused = true)]
async fn an_unpromised_upgrade_that_goes_through_passes_and_says_so() {
    let ran = run_unpromised(after_upgrade(0, "hello", Boot::logs("ready"))).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{}", ran.reason());
    assert_eq!(
        ran.reason(),
        "went through, though the support policy does not promise this upgrade"
    );
}

#[tokio::test(start_paused = true)]
async fn a_component_that_refuses_it_by_exiting_is_a_clean_refusal() {
    let boot = Boot::logs("FATAL: data written by 1.0 is not supported; upgrade to 1.5 first")
        .exits(secs(1), 1);
    let script = after_upgrade(0, "hello", boot);
    let ran = run_unpromised(script).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{}", ran.reason());
    assert!(
        ran.reason().starts_with(
            "refused cleanly, as an upgrade the support policy does not promise may be: step 2"
        ),
        "{}",
        ran.reason()
    );
    assert!(
        ran.reason().contains("upgrade to 1.5 first"),
        "{}",
        ran.reason()
    );
    assert!(ran.step(2).refusal);
}

#[tokio::test(start_paused = true)]
async fn data_that_goes_wrong_without_a_refusal_fails() {
    let ran = run_unpromised(after_upgrade(0, "", Boot::logs("ready"))).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert!(
        ran.reason()
            .starts_with("went wrong without a refusal (an upgrade the support policy"),
        "{}",
        ran.reason()
    );
    assert!(!ran.outcome.steps.iter().any(|s| s.refusal));
}

#[tokio::test(start_paused = true)]
async fn an_action_answered_with_an_error_is_a_refusal() {
    let ran = run_unpromised(after_upgrade(
        1,
        "error: the cluster's data is from an unsupported release",
        Boot::logs("ready"),
    ))
    .await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{}", ran.reason());
    assert!(
        ran.reason().contains("unsupported release"),
        "{}",
        ran.reason()
    );
}
