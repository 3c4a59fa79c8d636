//! The v1 APIs' JSON, as Mesos maps its `mesos.v1` protobufs to JSON (field
//! names as in the `.proto`, enums as their names, `bytes` as base64,
//! messages such as `TaskID` as `{"value": "..."}`), and its translation to
//! and from the simpler shapes tinymesos uses inside (libprocess messages:
//! ids as plain strings, resources as `{"cpus": .., "mem": ..}`, a task's
//! command as `{"duration": secs}`).
//!
//! The v1 word for an agent is `agent` (`agent_id`, `agent_info`) in every
//! release that has a v1 API: Mesos's `include/mesos/v1/*.proto` say so from
//! 0.24.0 on, and its master decodes `/api/v1/scheduler` JSON as
//! `v1::scheduler::Call` (`src/master/http.cpp`, 0.24.0) before devolving it
//! to the unversioned protos that say `slave`.
//!
//! Tasks run `sleep` (tinymesos has no shell): a task's `CommandInfo` is
//! `{"shell": true, "value": "sleep 2"}`, and `sleep infinity` (or `sleep
//! 0`) runs until killed; internally that is `{"duration": 2}` / `0`.

use crate::release::Caps;
use base64::Engine as _;
use serde_json::{json, Value};

/// `{"value": s}`, the JSON of `TaskID`, `FrameworkID`, `OfferID`, ...
/// A JSON value's type, as Mesos's JSON parser names it in its errors ("Expecting a JSON object, got
/// a JSON string").
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub fn id(s: &str) -> Value {
    json!({ "value": s })
}

/// The string inside an id message (`{"value": s}`); `None` when absent or
/// not of that shape.
pub fn id_of(v: &Value) -> Option<String> {
    v.get("value")?.as_str().map(str::to_string)
}

/// The string inside the id message at `field` of `v`.
pub fn id_at(v: &Value, field: &str) -> Option<String> {
    id_of(v.get(field)?)
}

/// `bytes` fields travel as base64.
pub fn bytes_b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Decodes a base64 `bytes` field.
pub fn bytes_of_b64(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("invalid base64 {s:?}: {e}"))
}

/// A status update's uuid: tinymesos uses textual UUIDs inside; the v1
/// `TaskStatus.uuid` is `bytes`, so its JSON is the base64 of that text.
pub fn uuid_to_v1(text: &str) -> String {
    bytes_b64(text.as_bytes())
}

/// The inverse of [`uuid_to_v1`].
pub fn uuid_from_v1(b64: &str) -> Result<String, String> {
    String::from_utf8(bytes_of_b64(b64)?).map_err(|_| format!("uuid {b64:?} is not ours"))
}

/// `{"cpus": c, "mem": m}` as a v1 `Resource` list (role `*`), scalars
/// rounded as `caps`'s release stores them.
pub fn resources(caps: &Caps, cpus: f64, mem: f64) -> Value {
    let scalar = |name: &str, v: f64| json!({"name": name, "type": "SCALAR", "scalar": {"value": caps.scalar(v)}, "role": "*"});
    json!([scalar("cpus", cpus), scalar("mem", mem)])
}

/// Sums the `cpus` and `mem` scalars of a v1 `Resource` list; other
/// resources are ignored. An entry that is not a well-formed scalar is an
/// error naming it.
pub fn resources_of(v: &Value) -> Result<(f64, f64), String> {
    let list = v
        .as_array()
        .ok_or_else(|| format!("resources must be an array, got {v}"))?;
    let (mut cpus, mut mem) = (0.0, 0.0);
    for r in list {
        let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
        if !matches!(name, "cpus" | "mem") {
            continue;
        }
        let value = r
            .pointer("/scalar/value")
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("resource {name} has no scalar value: {r}"))?;
        match name {
            "cpus" => cpus += value,
            _ => mem += value,
        }
    }
    Ok((cpus, mem))
}

/// A task's command (`duration` seconds, 0 = until killed) as a v1
/// `CommandInfo`.
pub fn command(duration: f64) -> Value {
    let value = if duration > 0.0 {
        format!("sleep {duration}")
    } else {
        "sleep infinity".to_string()
    };
    json!({"shell": true, "value": value})
}

/// The duration a v1 `CommandInfo` asks for: `sleep N` or `sleep
/// infinity`; anything else is refused with the reason (tinymesos runs no
/// other program).
pub fn duration_of(command: &Value) -> Result<f64, String> {
    let value = command
        .get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("command has no value: {command}"))?;
    let mut words = value.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("sleep"), Some("infinity"), None) => Ok(0.0),
        (Some("sleep"), Some(n), None) => n
            .parse::<f64>()
            .ok()
            .filter(|d| d.is_finite() && *d >= 0.0)
            .ok_or_else(|| format!("cannot run {value:?}: not a number of seconds")),
        _ => Err(format!(
            "cannot run {value:?}: tinymesos tasks run `sleep N` or `sleep infinity` only"
        )),
    }
}

/// An internal task description (`{"task_id", "name", "slave_id",
/// "resources": {"cpus", "mem"}, "command": {"duration"}}`) as a v1
/// `TaskInfo` in `caps`'s dialect.
pub fn task_info(caps: &Caps, task: &Value) -> Value {
    let s = |k: &str| task.get(k).and_then(Value::as_str).unwrap_or_default();
    let f = |p: &str| task.pointer(p).and_then(Value::as_f64).unwrap_or_default();
    let mut t = json!({
        "name": s("name"),
        "task_id": id(s("task_id")),
        "resources": resources(caps, f("/resources/cpus"), f("/resources/mem")),
        "command": command(f("/command/duration")),
    });
    t["agent_id"] = id(s("slave_id"));
    t
}

/// A v1 `TaskInfo` in `caps`'s dialect as an internal task description;
/// the error says what is missing or refused.
pub fn task_of(caps: &Caps, info: &Value) -> Result<Value, String> {
    let task_id = id_at(info, "task_id").ok_or("task_info has no task_id")?;
    let agent_field = "agent_id";
    let agent =
        id_at(info, agent_field).ok_or_else(|| format!("task {task_id} has no {agent_field}"))?;
    let (cpus, mem) = resources_of(info.get("resources").unwrap_or(&json!([])))
        .map_err(|e| format!("task {task_id}: {e}"))?;
    let command = info
        .get("command")
        .ok_or_else(|| format!("task {task_id} has no command"))?;
    let duration = duration_of(command).map_err(|e| format!("task {task_id}: {e}"))?;
    Ok(json!({
        "task_id": task_id,
        "name": info.get("name").and_then(Value::as_str).unwrap_or(&task_id),
        "slave_id": agent,
        "resources": {"cpus": caps.scalar(cpus), "mem": caps.scalar(mem)},
        "command": {"duration": duration},
    }))
}

/// An internal status update (`{"task_id", "state", "slave_id", "uuid",
/// "message", "timestamp", ...}`) as a v1 `TaskStatus`.
pub fn task_status(u: &Value) -> Value {
    let s = |k: &str| u.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut st = json!({
        "task_id": id(s("task_id")),
        "state": s("state"),
        "source": if s("source").is_empty() { "SOURCE_EXECUTOR" } else { s("source") },
        "timestamp": u.get("timestamp").and_then(Value::as_f64).unwrap_or_else(crate::now_secs),
    });
    st["agent_id"] = id(s("slave_id"));
    if !s("message").is_empty() {
        st["message"] = json!(s("message"));
    }
    // An update without a uuid (e.g. one the master generated) needs no
    // acknowledgement, as in Mesos.
    if !s("uuid").is_empty() {
        st["uuid"] = json!(uuid_to_v1(s("uuid")));
    }
    if !s("executor_id").is_empty() {
        st["executor_id"] = id(s("executor_id"));
    }
    st
}

/// One v1 event (`{"type": T, "<t>": body}`), as a JSON object.
pub fn event(kind: &str, body: Option<Value>) -> Value {
    let mut e = json!({ "type": kind });
    if let Some(b) = body {
        e[kind.to_ascii_lowercase()] = b;
    }
    e
}

/// `TimeInfo` / `DurationInfo`: `{"nanoseconds": n}`.
pub fn nanos(secs: f64) -> Value {
    json!({ "nanoseconds": (secs * 1e9).round() as i64 })
}

/// The seconds in a `TimeInfo` / `DurationInfo`.
pub fn secs_of(v: &Value) -> Option<f64> {
    v.get("nanoseconds")
        .and_then(|n| n.as_i64().or_else(|| n.as_str()?.parse().ok()))
        .map(|n| n as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(r: &str) -> Caps {
        Caps::of(r).unwrap()
    }

    #[test]
    fn ids_and_bytes() {
        assert_eq!(id("t1"), json!({"value": "t1"}));
        assert_eq!(
            id_at(&json!({"task_id": {"value": "t1"}}), "task_id").as_deref(),
            Some("t1")
        );
        assert_eq!(id_at(&json!({"task_id": "t1"}), "task_id"), None);
        let u = crate::uuid();
        assert_eq!(uuid_from_v1(&uuid_to_v1(&u)).unwrap(), u);
        assert!(uuid_from_v1("not base64!").is_err());
    }

    #[test]
    fn tasks_round_trip() {
        let internal = json!({
            "task_id": "long-1", "name": "t long-1", "slave_id": "S0",
            "resources": {"cpus": 0.1, "mem": 32.0}, "command": {"duration": 0.0},
        });
        for r in ["0.28", "1.0"] {
            let info = task_info(&caps(r), &internal);
            assert_eq!(task_of(&caps(r), &info).unwrap(), internal, "{r}");
        }
        // Every release with a v1 API names the agent `agent`.
        let info = task_info(&caps("0.28"), &internal);
        assert_eq!(info["agent_id"], json!({"value": "S0"}));
        assert_eq!(info["command"]["value"], "sleep infinity");
        let mut without = info.clone();
        without.as_object_mut().unwrap().remove("agent_id");
        let e = task_of(&caps("0.28"), &without).unwrap_err();
        assert!(e.contains("has no agent_id"), "{e}");
    }

    #[test]
    fn commands() {
        assert_eq!(duration_of(&command(2.0)).unwrap(), 2.0);
        assert_eq!(duration_of(&json!({"value": "sleep 0.5"})).unwrap(), 0.5);
        assert_eq!(
            duration_of(&json!({"value": "sleep infinity"})).unwrap(),
            0.0
        );
        assert!(duration_of(&json!({"value": "echo hi"}))
            .unwrap_err()
            .contains("sleep N"));
        assert!(duration_of(&json!({"value": "sleep -1"})).is_err());
        assert!(duration_of(&json!({})).is_err());
    }

    #[test]
    fn resources_are_rounded_by_release() {
        let r = resources(&caps("0.28"), 0.12345, 10.0);
        assert_eq!(r[0]["scalar"]["value"], json!(0.123));
        assert_eq!(resources_of(&r).unwrap(), (0.123, 10.0));
        let r = resources(&caps("0.25"), 0.12345, 10.0);
        assert_eq!(r[0]["scalar"]["value"], json!(0.12345));
        assert!(resources_of(&json!([{"name": "cpus"}])).is_err());
        assert!(resources_of(&json!({"cpus": 1})).is_err());
    }

    #[test]
    fn statuses_and_events() {
        let u = json!({"task_id": "t", "state": "TASK_RUNNING", "slave_id": "S1", "uuid": "abc", "timestamp": 1.5});
        let s = task_status(&u);
        assert_eq!(s["agent_id"]["value"], "S1");
        assert_eq!(uuid_from_v1(s["uuid"].as_str().unwrap()).unwrap(), "abc");
        assert_eq!(task_status(&u)["agent_id"]["value"], "S1");
        assert_eq!(event("HEARTBEAT", None), json!({"type": "HEARTBEAT"}));
        assert_eq!(
            event("SUBSCRIBED", Some(json!({"x": 1}))),
            json!({"type": "SUBSCRIBED", "subscribed": {"x": 1}})
        );
        assert_eq!(secs_of(&nanos(1.5)), Some(1.5));
        assert_eq!(secs_of(&json!({"nanoseconds": "2000000000"})), Some(2.0));
    }
}
