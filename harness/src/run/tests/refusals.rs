//! Expected refusals: an upgrade whose moved replica must refuse its new release (`exits` on
//! `upgrade`), as PostgreSQL refuses a new major on an old data directory. A refusal passes and is
//! no crash afterwards; a replica that starts instead, or exits otherwise, fails the move.

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::{Boot, Script};

/// node-0 moves to 2.0 expecting a refusal (exit 1), its log is checked, and it goes back to 1.0.
fn refused_then_back() -> Fixture {
    path(
        "[[step]]\ndo = \"start\"\n\
         [[step]]\ndo = \"upgrade\"\nrole = \"node\"\ncount = 1\nexits = { code = 1 }\n\
         [[step]]\ndo = \"log\"\nrole = \"node\"\nreplica = 0\n\
         contains = \"FATAL:  database files are incompatible\"\n\
         [[step]]\ndo = \"downgrade\"\nrole = \"node\"\n",
    )
}

/// A node at 2.0 boots as `boot` says; at 1.0 it logs `ready`.
fn at_2_0(boot: Boot) -> Script {
    Script::default().on_start(move |v| {
        if v.release == "2.0" {
            boot.clone()
        } else {
            Boot::logs("ready")
        }
    })
}

fn refusing(code: i64) -> Boot {
    Boot::logs("FATAL:  database files are incompatible with server").exits(secs(1), code)
}

#[tokio::test(start_paused = true)]
async fn a_move_that_is_refused_as_expected_passes_and_the_replica_can_go_back() {
    let fx = refused_then_back();
    let ran = run(&fx, at_2_0(refusing(1))).await;
    assert_eq!(
        ran.outcome.verdict,
        Verdict::Pass,
        "{:#?}",
        ran.outcome.steps
    );
    assert_eq!(
        ran.step(2).description,
        "move node replica 1/3 to 2.0; it must refuse 2.0 and exit with code 1"
    );
    let refusal = &ran.step(2).observations[0];
    assert_eq!(refusal.exit_code, Some(1));
    assert_eq!(
        refusal.note.as_deref(),
        Some(
            "node-0 refused 2.0 as expected: it exited with code 1; it logged: \
             FATAL:  database files are incompatible with server"
        )
    );
    assert_eq!(ran.step(3).status, StepStatus::Pass);
    assert_eq!(ran.step(4).status, StepStatus::Pass);
    assert_eq!(ran.step(4).releases["node-0"], "1.0");
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_move_expected_to_be_refused_that_starts_fails() {
    let fx = refused_then_back();
    let ran = run(&fx, Script::default()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(2),
        "node-0 (sim/node:2.0) was still running 30s after it started at 2.0; the step expects it \
         to refuse that release and exit"
    );
    assert_eq!(
        ran.statuses(),
        [
            StepStatus::Pass,
            StepStatus::Fail,
            StepStatus::Skipped,
            StepStatus::Skipped
        ]
    );
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_with_another_code_fails_with_its_words() {
    let fx = refused_then_back();
    let ran = run(&fx, at_2_0(refusing(2))).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(
        ran.message(2),
        "node-0 (sim/node:2.0) exited with code 2, expected 1; it logged: \
         FATAL:  database files are incompatible with server"
    );
}
