//! tinymesos speaks the real schema (issue 17): every JSON message its components send (v1 calls and
//! events, the MasterInfo in ZooKeeper),
//! per release, built through tinymesos's own code (the functions its scheduler, master, agent and
//! executor call to make them, with that release's `Caps`), decoded against the `.proto` files of
//! the Mesos release it imitates (`apis/mesos/X.0`): no key the release does not define, no
//! required field missing, every value of its field's type.
//!
//! What each component accepts is what the others send: the scheduler reads the master's events,
//! the agent the executor's calls, and so on, so checking what is sent covers both ends.

use std::path::{Path, PathBuf};

use crossgrade::api::{self, check_message, ApiSource, Schema};
use serde_json::{json, Value};
use tinymesos::election::MasterInfo;
use tinymesos::executor_api::{self, AgentSelf};
use tinymesos::master::events::{AgentAt, Event, InverseOut, OfferOut};
use tinymesos::master::Unavailability;
use tinymesos::release::{Caps, ExecutorApi, Label, KNOWN};
use tinymesos::scheduler_v1;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Mesos's definitions of the release tinymesos `release` imitates (0.28 → 0.28.0), as the
/// matrices' `[api] definitions = "apis/mesos/{release}.0"` say.
fn mesos(release: &str) -> Schema {
    api::load(&ApiSource::dir(
        workspace().join(format!("apis/mesos/{release}.0")),
    ))
    .unwrap()
}

/// An internal task, as tinymesos's scheduler describes one.
fn task() -> Value {
    json!({"task_id": "long-1", "name": "long-1", "slave_id": "S1",
           "resources": {"cpus": 0.1, "mem": 32.0}, "command": {"duration": 2.0}})
}

/// A task as an executor keeps one: with the framework it runs for.
fn framework_task() -> Value {
    let mut t = task();
    t["framework_id"] = json!("F1");
    t
}

/// An internal status update, as an executor reports one.
fn update() -> Value {
    json!({"task_id": "long-1", "state": "TASK_RUNNING", "slave_id": "S1",
           "uuid": "0e3c5a3e-8d7e-4f55-9d1c-6f1e3c0a9b21", "message": "running",
           "timestamp": 1_700_000_000.5, "executor_id": "executor-0", "framework_id": "F1"})
}

fn agent() -> AgentAt {
    AgentAt {
        id: "S1".into(),
        pid: "slave(1)@agent-0:5051".into(),
        hostname: "agent-0".into(),
        ip: "172.18.0.5".into(),
        port: 5051,
    }
}

fn unavailability() -> Unavailability {
    Unavailability {
        start_ns: 1_700_000_000_000_000_000,
        duration_ns: Some(3_600_000_000_000),
    }
}

/// Every JSON message tinymesos `caps.release` sends: (sender, message type, JSON). The v1 HTTP
/// APIs' calls and events, and the leading master's `MasterInfo` that the other masters read as
/// JSON from ZooKeeper (`json.info_`, from 0.24).
fn sent(caps: &Caps) -> Vec<(&'static str, &'static str, Value)> {
    let mut out = Vec::new();
    if caps.writes.contains(&Label::JsonInfo) {
        let info = MasterInfo {
            id: "20260101-000000-1-5050-1".into(),
            ip: MasterInfo::ip_from_octets([172, 18, 0, 2]),
            port: 5050,
            pid: "master@172.18.0.2:5050".into(),
            hostname: "master-0".into(),
            version: caps.version(),
        };
        out.push(("master", "mesos.MasterInfo", info.to_json()));
    }
    if caps.v1_scheduler_api {
        let call = "mesos.v1.scheduler.Call";
        let fw = "F1";
        for c in [
            scheduler_v1::subscribe_call("tinymesos-test", "scheduler-0", None),
            scheduler_v1::subscribe_call("tinymesos-test", "scheduler-0", Some(fw)),
            scheduler_v1::launch_call(caps, fw, "O1", &[task()]),
            scheduler_v1::decline_call(fw, "O1"),
            scheduler_v1::acknowledge_call(fw, "S1", "long-1", &tinymesos::v1::uuid_to_v1("u-1")),
            scheduler_v1::kill_call(fw, "long-1", "S1"),
        ] {
            out.push(("scheduler", call, c));
        }
        if caps.maintenance {
            out.push((
                "scheduler",
                call,
                scheduler_v1::accept_inverse_call(caps, fw, "I1"),
            ));
        }
        let offer = |unavailability: Option<Unavailability>| OfferOut {
            id: "O1".into(),
            framework_id: fw.into(),
            agent: agent(),
            cpus: 1.0,
            mem: 512.0,
            unavailability,
        };
        let mut events = vec![
            Event::Subscribed {
                framework_id: fw.into(),
                heartbeat_secs: 15.0,
            },
            Event::Offers(vec![offer(None)]),
            Event::Rescind("O1".into()),
            Event::Update {
                update: update(),
                agent_pid: "slave(1)@agent-0:5051".into(),
            },
            Event::Failure {
                agent_id: "S1".into(),
            },
            Event::Error("Framework failed over".into()),
            Event::Heartbeat,
        ];
        if caps.maintenance {
            events.push(Event::Offers(vec![offer(Some(unavailability()))]));
            events.push(Event::InverseOffers(vec![InverseOut {
                id: "I1".into(),
                framework_id: fw.into(),
                agent: agent(),
                unavailability: unavailability(),
            }]));
            events.push(Event::RescindInverse("I1".into()));
        }
        for e in events {
            out.push(("master", "mesos.v1.scheduler.Event", e.v1(caps)));
        }
    }
    if caps.executor_api == ExecutorApi::V1Http {
        let agent = AgentSelf {
            id: Some("S1"),
            hostname: "agent-0",
            port: 5051,
            cpus: 1.0,
            mem: 512.0,
        };
        for e in [
            executor_api::subscribed(caps, "executor-0", "F1", &agent),
            executor_api::launch(caps, "executor-0", "F1", &task()),
            executor_api::kill("long-1"),
            executor_api::acknowledged("long-1", "u-1"),
            executor_api::shutdown(),
            executor_api::error("agent failed over"),
        ] {
            out.push(("agent", "mesos.v1.executor.Event", e));
        }
        for c in [
            executor_api::subscribe_call(caps, "executor-0", &[framework_task()], &[update()]),
            executor_api::subscribe_call(caps, "executor-0", &[], &[]),
            executor_api::update_call("executor-0", &update()),
        ] {
            out.push(("executor", "mesos.v1.executor.Call", c));
        }
    }
    out
}

/// What every release's messages came to: what did not conform, and what used something the
/// release marks deprecated, each line naming the release, the sender and the message.
#[derive(Default)]
struct Conformance {
    nonconforming: Vec<String>,
    deprecated: Vec<String>,
}

/// Checks every release.
fn conformance() -> Conformance {
    let mut out = Conformance::default();
    let mut checked = 0;
    for release in KNOWN {
        let caps = Caps::of(release).unwrap();
        let messages = sent(&caps);
        if messages.is_empty() {
            continue;
        }
        let schema = mesos(release);
        for (sender, message, json) in messages {
            checked += 1;
            let check = check_message(&schema, message, &json);
            let what = match json["type"].as_str() {
                Some(kind) => format!("{message} {kind}"),
                None => message.to_string(),
            };
            for e in check.errors {
                out.nonconforming
                    .push(format!("{release}: {sender}'s {what}: {e}\n    {json}"));
            }
            for d in check.deprecated {
                // Paths in the schema's folder, not this machine's.
                let d = d.replace(&format!("{}/", workspace().display()), "");
                out.deprecated
                    .push(format!("{release}: {sender}'s {what}: {d}"));
            }
        }
    }
    assert!(checked > 50, "only {checked} messages checked");
    out
}

/// Every message conforms: where tinymesos did not (0.24–0.28 naming the agent `slave` in v1 JSON,
/// the executor's LAUNCH and unacknowledged updates naming a framework where Mesos's protos have no
/// field for it), tinymesos was fixed rather than the difference listed.
#[test]
fn every_json_message_tinymesos_sends_decodes_against_its_mesos_release() {
    let bad = conformance().nonconforming;
    assert!(
        bad.is_empty(),
        "{} do not conform:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Where tinymesos still uses what its Mesos release marks deprecated (a field set, an enum value
/// named, a message type), found in the messages it sends: a change that starts or stops using one
/// shows up in this snapshot for review.
#[test]
fn deprecated_parts_of_the_api_tinymesos_still_uses_are_reviewed() {
    insta::assert_snapshot!(conformance().deprecated.join("\n"));
}

/// The releases the conformance test covers, so that one that gains a v1 API is not skipped.
#[test]
fn the_releases_with_a_v1_api_are_checked() {
    let with_v1: Vec<&str> = KNOWN
        .iter()
        .copied()
        .filter(|r| !sent(&Caps::of(r).unwrap()).is_empty())
        .collect();
    assert_eq!(with_v1, ["0.24", "0.25", "0.28", "1.0"]);
}
