//! How replicas' ports are reached: through the engine (a relay helper on the trial network that
//! every probe, HTTP action and check goes through), or directly, where a network that does not
//! answer is the harness's error naming what to set, never the system's silence.

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Fault, Script};
use crate::runtime::{Reach, ReachChoice, LABEL_RUN, RELAY_IMAGE};

/// [`SYSTEM`] with HTTP readiness probes on the nodes and a TCP one on the client.
fn probed_system() -> String {
    let log_probe = "ready = { log = \"ready\", timeout = \"10s\" }";
    SYSTEM
        .replacen(
            log_probe,
            "ready = { http = { port = 8080, path = \"/health\" }, timeout = \"10s\" }",
            1,
        )
        .replacen(log_probe, "ready = { tcp = 7000, timeout = \"10s\" }", 1)
}

/// A cell that starts everything, checks node-1's health and asks for the leader.
fn probed_cell() -> Fixture {
    Fixture::new(
        &probed_system(),
        ONE_CELL,
        &format!(
            "kind = \"cell\"\ntimeout = \"5m\"\n{START}{}\
             [[step]]\ndo = \"check\"\naction = \"node.leader\"\nexpect = {{ status = 200 }}\n",
            health_of(1)
        ),
    )
}

fn through_the_engine() -> ReachChoice {
    ReachChoice::new(Reach::Engine, "CROSSGRADE_REACH=engine")
}

#[tokio::test(start_paused = true)]
async fn through_the_engine_every_probe_and_request_goes_through_the_trials_relay() {
    let fx = probed_cell();
    let backend = Arc::new(Scripted::new(Script::default()).with_reach(through_the_engine()));
    let ran = run_on(&fx, backend).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    // The relay starts on the trial network before any replica.
    let starts = ran.calls("start ");
    assert_eq!(
        starts.first().map(String::as_str),
        Some(format!("start relay {RELAY_IMAGE}").as_str()),
        "{starts:?}"
    );
    let relay = format!("cg-{RUN_ID}-t0-relay");
    let relayed = ran.calls("relay ");
    for want in [
        format!("relay {relay} node-0 GET :8080/health"),
        format!("relay {relay} client-0 tcp :7000"),
        format!("relay {relay} node-1 GET :8080/health"),
        format!("relay {relay} node-0 GET :8080/leader"),
    ] {
        assert!(relayed.contains(&want), "{want} in {relayed:#?}");
    }
    assert_eq!(ran.leftovers(), 0, "the relay goes with the trial");
}

#[tokio::test(start_paused = true)]
async fn a_relay_that_fails_is_the_harnesss_error_not_the_systems_failure() {
    let fx = probed_cell();
    let backend = Arc::new(Scripted::new(Script::default()).with_reach(through_the_engine()));
    backend.fail(Fault::Relay);
    let ran = run_on(&fx, backend).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error, "{:#?}", ran.outcome);
    assert!(
        ran.reason()
            .contains("the relay in helper cg-20261202-000000-test-t0-relay"),
        "{}",
        ran.reason()
    );
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_network_that_does_not_answer_directly_is_an_error_naming_what_to_set() {
    let fx = probed_cell();
    let backend = Arc::new(Scripted::new(Script::default()));
    backend.fail(Fault::Unreachable);
    let ran = run_on(&fx, backend).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error, "{:#?}", ran.outcome);
    assert_eq!(ran.outcome.failed_step, Some(1));
    let reason = ran.reason();
    for part in [
        "cannot reach node-0 at 10.0.0.",
        "no answer within 3s",
        "because the engine is scripted",
        "set CROSSGRADE_REACH=engine",
        RELAY_IMAGE,
    ] {
        assert!(reason.contains(part), "{part:?} in {reason}");
    }
    // Found once, before any probe waited out its deadline.
    assert!(ran.calls("relay ").is_empty());
    assert!(
        ran.outcome.duration_ms < 1_000,
        "{}",
        ran.outcome.duration_ms
    );
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn directly_no_relay_is_started() {
    let fx = probed_cell();
    let ran = run(&fx, Script::default()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert!(
        !ran.calls("start ").iter().any(|c| c.contains(RELAY_IMAGE)),
        "{:?}",
        ran.calls("start ")
    );
    assert!(ran.calls("relay ").is_empty());
    assert_eq!(ran.backend.leftovers(&format!("{LABEL_RUN}={RUN_ID}")), 0);
}
