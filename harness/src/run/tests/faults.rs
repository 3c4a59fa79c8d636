//! Fault steps in the runner: what each asks of the engine and of the network-tools helper, the
//! window each is recorded as, and undoing whatever is still in effect when a trial ends, whatever
//! its verdict. What the faults do to real traffic is `tests/faults.rs`'s, on the real engine.

use super::*;
use crate::outcome::Verdict;
use crate::runtime::scripted::Reply;

/// A step `do = KIND` on node-`replica`, with `extra` keys.
fn fault(kind: &str, replica: u32, extra: &str) -> String {
    format!("[[step]]\ndo = \"{kind}\"\nrole = \"node\"\nreplica = {replica}\n{extra}\n")
}

/// Execs in helpers: `ip -o link show` lists eth0; `tc … netem` fails as on a kernel without netem;
/// the rest succeeds quietly.
fn helper_script() -> Script {
    Script::default().on_exec(|_, argv| match argv[0].as_str() {
        "ip" => Reply::Output(
            0,
            "1: lo: <LOOPBACK,UP> mtu 65536\n2: eth0@if9: <BROADCAST,UP> mtu 1500\n".into(),
        ),
        "tc" if argv.iter().any(|a| a == "netem") => {
            Reply::Output(2, "Error: Specified qdisc kind is unknown.".into())
        }
        _ => Reply::Output(0, String::new()),
    })
}

/// The calls that act on faults (and helpers), in order, without container ids.
fn fault_calls(ran: &Ran) -> Vec<String> {
    ran.backend
        .calls()
        .into_iter()
        .filter(|c| {
            ["pause ", "unpause ", "disconnect ", "connect ", "stop "]
                .iter()
                .any(|p| c.starts_with(p))
                || c.starts_with("start crossgrade/net-tools")
                || (c.starts_with("exec ") && c.contains("-net "))
        })
        .map(|c| match c.split_once("-net ") {
            // `exec cg-…-node-0-1-net iptables …` → `helper iptables …`
            Some((_, rest)) if c.starts_with("exec ") => format!("helper {rest}"),
            _ => c,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn faults_in_effect_when_a_check_fails_are_undone_at_the_end_latest_first() {
    let steps = [
        START,
        &fault("pause", 1, ""),
        &fault("isolate", 2, ""),
        &fault("loss", 0, "percent = 50"),
        &health_of(1),
    ]
    .concat();
    let ran = run(&cell(&steps), helper_script()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail, "{:#?}", ran.outcome);
    assert_eq!(ran.outcome.failed_step, Some(5));
    let loss = |verb: &str, chain: &str, iface: &str| {
        format!(
            "helper iptables -w {verb} {chain} ! {iface} lo -m statistic --mode random \
             --probability 0.5000 -j DROP"
        )
    };
    assert_eq!(
        fault_calls(&ran),
        [
            "pause node-1".to_string(),
            "disconnect node-2".into(),
            "start crossgrade/net-tools:bookworm in node-0 with NET_ADMIN".into(),
            loss("-I", "INPUT", "-i"),
            loss("-I", "OUTPUT", "-o"),
            // The end of the trial, the latest first.
            loss("-D", "INPUT", "-i"),
            loss("-D", "OUTPUT", "-o"),
            "connect node-2 as node-2".into(),
            "unpause node-1".into(),
        ]
    );
    let windows: Vec<(&str, usize, Option<usize>, &str)> = ran
        .outcome
        .faults
        .iter()
        .map(|w| {
            (
                w.description.as_str(),
                w.from_step,
                w.until_step,
                w.ended_by.as_str(),
            )
        })
        .collect();
    assert_eq!(
        windows,
        [
            ("pause node-1", 2, None, "the end of the trial"),
            ("isolate node-2", 3, None, "the end of the trial"),
            ("loss 50% on node-0", 4, None, "the end of the trial"),
        ]
    );
    assert_eq!(ran.leftovers(), 0, "the helper went with the trial");
}

/// The window an inserted fault is planned as: started, held (all of its time, nothing waited
/// for), undone, then the state checked.
#[tokio::test(start_paused = true)]
async fn a_hold_keeps_a_fault_in_effect_for_its_time() {
    let steps = [
        START,
        &fault("isolate", 1, ""),
        "[[step]]\ndo = \"hold\"\nfor = \"10s\"\n",
        "[[step]]\ndo = \"heal\"\n",
        &health_of(1),
    ]
    .concat();
    let ran = run(&cell(&steps), helper_script()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.step(3).description, "hold for 10s");
    assert_eq!(ran.step(3).duration_ms, 10_000);
    let w = &ran.outcome.faults[0];
    assert_eq!((w.from_step, w.until_step), (2, Some(4)));
}

#[tokio::test(start_paused = true)]
async fn resume_and_heal_end_their_windows_at_their_steps() {
    let steps = [
        START,
        &fault("pause", 1, ""),
        "[[step]]\ndo = \"partition\"\ngroups = [[\"node-0\"], [\"node-1\", \"node-2\"]]\n",
        &fault("throttle", 2, "rate = \"1mbit\""),
        "[[step]]\ndo = \"resume\"\n",
        "[[step]]\ndo = \"heal\"\nrole = \"node\"\nreplica = 2\n",
        &health_of(1),
    ]
    .concat();
    let ran = run(&cell(&steps), helper_script()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    assert_eq!(ran.step(5).description, "resume every paused replica");
    assert_eq!(
        ran.step(6).observations[0].note.as_deref(),
        Some("healed: throttle to 1mbit on node-2; partition node-0 | node-1, node-2",),
        "a heal of node-2 ends every fault that involves it, the latest first"
    );
    let ends: Vec<(String, Option<usize>)> = ran
        .outcome
        .faults
        .iter()
        .map(|w| (w.kind.clone(), w.until_step))
        .collect();
    assert_eq!(
        ends,
        [
            ("pause".to_string(), Some(5)),
            ("partition".into(), Some(6)),
            ("throttle".into(), Some(6)),
        ]
    );
    // One helper per replica container, each rule taken back by its own delete.
    let calls = fault_calls(&ran);
    let helpers = calls.iter().filter(|c| c.starts_with("start ")).count();
    assert_eq!(helpers, 3, "{calls:#?}");
    let added = calls.iter().filter(|c| c.contains(" -I ")).count();
    let deleted = calls.iter().filter(|c| c.contains(" -D ")).count();
    assert_eq!((added, deleted), (8, 8), "{calls:#?}");
    assert!(calls.contains(
        &"helper tc qdisc add dev eth0 root tbf rate 1000000bit burst 3000 latency 400ms".into()
    ));
    assert!(calls.contains(&"helper tc qdisc del dev eth0 root".into()));
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_paused_replica_that_is_stopped_is_thawed_first_and_its_pause_ends_there() {
    let steps = [START, &fault("pause", 1, ""), STOP_NODE_1, &health_of(0)].concat();
    let ran = run(&cell(&steps), Script::default()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    let calls = fault_calls(&ran);
    let unpause = calls.iter().position(|c| c == "unpause node-1");
    let stop = calls.iter().position(|c| c.starts_with("stop "));
    assert!(unpause.is_some() && unpause < stop, "{calls:#?}");
    let w = &ran.outcome.faults[0];
    assert_eq!(w.until_step, Some(3));
    assert_eq!(w.ended_by, "step 3, which stopped or replaced node-1");
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("unpause ")).count(),
        1,
        "not thawed again at the end: {calls:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn delay_on_a_kernel_without_netem_is_an_error_with_what_tc_said() {
    let steps = [
        START,
        &fault("delay", 1, "delay = \"100ms\""),
        &health_of(1),
    ]
    .concat();
    let ran = run(&cell(&steps), helper_script()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Error, "{:#?}", ran.outcome);
    assert_eq!(
        ran.message(2),
        "the kernel lacks netem (sch_netem), so packets cannot be delayed here: `tc qdisc add \
         dev eth0 root netem delay 100ms` in the network helper of node-1 exited with code 2: \
         Error: Specified qdisc kind is unknown."
    );
    assert!(ran.outcome.faults.is_empty());
    assert_eq!(ran.leftovers(), 0);
}

#[tokio::test(start_paused = true)]
async fn pausing_a_replica_that_is_not_running_fails_without_reaching_the_engine() {
    let steps = [START, STOP_NODE_1, &fault("pause", 1, "")].concat();
    let ran = run(&cell(&steps), Script::default()).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail);
    assert_eq!(ran.message(3), "cannot pause node-1: it is not running");
    assert!(ran.calls("pause ").is_empty());
}

#[test]
fn a_matrix_whose_steps_shape_traffic_builds_and_needs_the_helper_and_one_without_does_not() {
    let with = cell(&[START, &fault("loss", 0, "percent = 100")].concat());
    let trial = with.trial();
    let images = plan::images(&with.matrix, [&trial]);
    assert!(
        images.contains(&crate::step::NET_TOOLS_IMAGE.to_string()),
        "{images:?}"
    );
    let defined = crate::runtime::defined_images(&with.matrix);
    assert!(
        defined.contains(&crate::step::NET_TOOLS_IMAGE.to_string()),
        "{defined:?}"
    );

    // The engine's own pause and disconnect need no helper.
    let without = cell(&[START, &fault("pause", 0, ""), &fault("isolate", 1, "")].concat());
    let trial = without.trial();
    assert!(!plan::images(&without.matrix, [&trial])
        .contains(&crate::step::NET_TOOLS_IMAGE.to_string()));
    assert!(crate::runtime::defined_images(&without.matrix).is_empty());
}
