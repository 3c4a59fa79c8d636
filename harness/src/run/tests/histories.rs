//! History workloads: clients call read, write and cas through the client's exec action (the
//! operation in its environment), the calls are written to `history.jsonl` and checked. The scripted
//! client is a register: a true one passes, one that serves reads from a stale copy fails with the
//! window that cannot be ordered.

use std::sync::Mutex;

use super::*;
use crate::history::{jsonl, ModelKind};
use crate::outcome::Verdict;
use crate::runtime::scripted::{Reply, Script};

/// Start, a register history from `clients` clients every 100 ms, 10 s of waiting, and its stop.
fn register(clients: u32) -> Fixture {
    cell(&format!(
        r#"
[[step]]
do = "start"
[[step]]
do = "workload"
name = "register"
every = "100ms"
history = {{ model = "register", clients = {clients}, read = "client.get", write = "client.get", cas = "client.get" }}
{WAIT}
[[step]]
do = "stop-workload"
name = "register"
"#
    ))
}

/// The value of `KEY` in an exec's leading `env KEY=value …`.
fn var<'a>(argv: &'a [String], key: &str) -> Option<&'a str> {
    argv.iter()
        .skip(1)
        .take_while(|a| a.contains('='))
        .find_map(|a| a.strip_prefix(key)?.strip_prefix('='))
}

/// A register behind the client's exec. With `stale`, a read answers the value before the last
/// write, as a follower a write has not reached yet would.
fn register_script(stale: bool) -> Script {
    let written: Arc<Mutex<Vec<String>>> = Arc::default();
    Script::default().on_exec(with_sleep(move |_, argv| {
        let Some(op) = var(argv, "CROSSGRADE_OP") else {
            return Reply::Output(0, "hello".into());
        };
        let mut w = written.lock().unwrap();
        let current = w.last().cloned();
        match op {
            "read" => {
                let seen = if stale && w.len() >= 2 {
                    w.get(w.len() - 2).cloned()
                } else {
                    current
                };
                Reply::Output(0, seen.map(|v| format!("{v}\n")).unwrap_or_default())
            }
            "write" => {
                w.push(var(argv, "CROSSGRADE_VALUE").unwrap().to_string());
                Reply::Output(0, "OK\n".into())
            }
            "cas" if current.as_deref() == var(argv, "CROSSGRADE_EXPECTED") => {
                w.push(var(argv, "CROSSGRADE_VALUE").unwrap().to_string());
                Reply::Output(0, "".into())
            }
            "cas" => Reply::Output(3, "compare failed".into()),
            other => panic!("unexpected operation {other}"),
        }
    }))
}

fn history_file(fx: &Fixture, ran: &Ran) -> PathBuf {
    let logs = fx.reports().join(&ran.outcome.logs_dir);
    logs.parent().unwrap().join("history.jsonl")
}

#[tokio::test(start_paused = true)]
async fn a_true_register_records_a_linearizable_history() {
    let fx = register(3);
    let ran = run(&fx, register_script(false)).await;
    assert_eq!(ran.outcome.verdict, Verdict::Pass, "{:#?}", ran.outcome);
    let w = &ran.outcome.workloads[0];
    let h = w.history.as_ref().expect("a history report");
    assert_eq!(h.verdict, "linearizable");
    assert_eq!(h.clients, 3);
    // Three clients, 100 ms apart, over the 10 s the trial waits.
    assert!(h.ops >= 250, "{} operations", h.ops);
    assert_eq!(h.ops, h.ok + h.failed + h.unknown);
    assert_eq!(w.attempts as usize, h.ops);
    // The file holds every operation, and reads back as the same verdict.
    let path = history_file(&fx, &ran);
    let text = std::fs::read_to_string(&path).unwrap();
    let history = jsonl::parse(&path, &text).unwrap();
    assert_eq!(history.len(), h.ops);
    let calls: std::collections::HashSet<&str> =
        history.ops.iter().map(|o| o.call.name()).collect();
    assert_eq!(
        calls.len(),
        3,
        "read, write and cas are all drawn: {calls:?}"
    );
    let again = ModelKind::Register
        .check(&history, Default::default())
        .unwrap();
    assert!(matches!(
        again.verdict,
        crate::history::Verdict::Linearizable
    ));
}

#[tokio::test(start_paused = true)]
async fn stale_reads_fail_the_trial_with_the_window_that_cannot_be_ordered() {
    let fx = register(1);
    let ran = run(&fx, register_script(true)).await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail, "{:#?}", ran.outcome);
    assert_eq!(ran.outcome.failed_step, Some(4));
    // The reason is what a baseline keeps: nothing in it varies from run to run.
    assert_eq!(
        ran.reason(),
        "step 4 (stop workload register and judge it): workload register: its register history is \
         not linearizable at key 0 (the operations no order fits are drawn in the report)"
    );
    // What varies is in the step's observation.
    let note = ran.step(4).observations[0].note.clone().unwrap_or_default();
    assert!(
        note.contains("no order of the") && note.contains("client 0's read"),
        "{note}"
    );
    let h = ran.outcome.workloads[0].history.as_ref().unwrap();
    assert_eq!(h.verdict, "not linearizable");
    let v = h.violation.as_ref().unwrap();
    // The stuck operation is a read that saw an overwritten value, and it is in the window.
    let stuck: Vec<_> = v.window.iter().filter(|o| o.stuck).collect();
    assert_eq!(stuck.len(), 1, "{v:#?}");
    assert_eq!(stuck[0].call, "read");
    assert!(v.window.iter().any(|o| !o.placed), "{v:#?}");
    assert!(history_file(&fx, &ran).exists());
}

/// Start, a register history printed by the client, 10 s of waiting, and its stop.
fn printed() -> Fixture {
    cell(&format!(
        r#"
[[step]]
do = "start"
[[step]]
do = "workload"
name = "register"
history = {{ model = "register", from = "client" }}
{WAIT}
[[step]]
do = "stop-workload"
name = "register"
"#
    ))
}

/// A client that logs `ready`, then these lines a second apart.
fn printing(lines: &'static [&'static str]) -> Script {
    Script::default()
        .on_start(move |v| {
            let mut boot = Boot::logs("ready");
            if v.name == "client-0" {
                for line in lines {
                    boot = boot.then_log(secs(1), line);
                }
            }
            boot
        })
        .on_exec(with_sleep(|_, _| Reply::Output(0, String::new())))
}

const WRITE_1: &str =
    r#"{"client":0,"invoke":10,"complete":20,"f":"write","value":"1","outcome":"ok"}"#;
const WRITE_2: &str =
    r#"{"client":0,"invoke":30,"complete":40,"f":"write","value":"2","outcome":"ok"}"#;

#[tokio::test(start_paused = true)]
async fn a_recorder_s_printed_history_is_checked_and_it_is_stopped_first() {
    const STALE: &str =
        r#"{"client":1,"invoke":50,"complete":60,"f":"read","outcome":"ok","result":"1"}"#;
    let fx = printed();
    let ran = run(
        &fx,
        printing(&[WRITE_1, "connected to node-2", WRITE_2, STALE]),
    )
    .await;
    assert_eq!(ran.outcome.verdict, Verdict::Fail, "{:#?}", ran.outcome);
    let h = ran.outcome.workloads[0].history.as_ref().unwrap();
    assert_eq!((h.ops, h.clients), (3, 2));
    assert_eq!(h.verdict, "not linearizable");
    assert_eq!(
        ran.outcome.workloads[0].action,
        "register history printed by client-0"
    );
    // The recorder (the only replica stopped) was stopped gracefully before its output was read.
    assert_eq!(ran.calls("stop").len(), 1, "{:?}", ran.calls("stop"));
    assert_eq!(ran.calls("kill"), Vec::<String>::new());
    let text = std::fs::read_to_string(history_file(&fx, &ran)).unwrap();
    assert_eq!(text.lines().count(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_line_that_is_no_operation_is_an_error_that_names_it() {
    let fx = printed();
    let ran = run(
        &fx,
        printing(&[WRITE_1, r#"{"client":0,"invoke":30,"f":"write"}"#]),
    )
    .await;
    assert_eq!(ran.outcome.verdict, Verdict::Error, "{:#?}", ran.outcome);
    let reason = ran.reason();
    assert!(
        reason.contains(
            "line 3 of client-0's output is not an operation of history.jsonl: a write needs a `value`"
        ),
        "{reason}"
    );
}
