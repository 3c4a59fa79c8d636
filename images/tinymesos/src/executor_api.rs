//! The v1 executor HTTP API (`POST /api/v1/executor` on the agent, served
//! from 0.28), as Mesos's `docs/executor-http-api.md`,
//! `include/mesos/v1/executor/executor.proto`, `Slave::Http::executor`
//! (`src/slave/http.cpp`) and `validation::executor::call::validate`
//! (`src/slave/validation.cpp`) describe it: JSON calls, answered 200 with a
//! RecordIO event stream for SUBSCRIBE and 202 for UPDATE and MESSAGE.
//!
//! The pure parts live here, shared by the agent (request checks, call
//! decoding, events) and the executor (calls, event decoding).
//!
//! ## How tinymesos maps its executor onto the API
//!
//! A tinymesos executor is its own container (`--agent agent-N:5051`) that
//! runs the tasks of *every* framework on its agent, whereas a Mesos
//! executor belongs to one framework and is launched by the agent. So:
//!
//! * `executor_id` is the executor's `--executor_id` (`default`), as with the
//!   driver. The `framework_id` of SUBSCRIBE is [`ANY_FRAMEWORK`] (`*`, like
//!   the role `*`): the subscription is not bound to a framework. Every UPDATE
//!   carries the framework of its task, as Mesos's agent takes an update's
//!   framework from the call.
//! * A task's framework travels in its `TaskInfo.executor`
//!   (`ExecutorInfo.framework_id`, as in a Mesos TaskInfo for a custom
//!   executor): in LAUNCH, which otherwise has only `task` as in Mesos, and in
//!   SUBSCRIBE's `unacknowledged_tasks`. KILL and ACKNOWLEDGED name only the
//!   task (as in Mesos); task ids are unique across frameworks in practice
//!   (the test scheduler tags them per process).
//! * `unacknowledged_updates` entries are Mesos's `Call.Update` (only
//!   `status`): the agent finds each one's framework by its task id, among
//!   the unacknowledged tasks and then its own.
//! * The agent tells an executor process from its replacement by the run id
//!   the executor sends in the [`RUN_HEADER`] header (Mesos knows its
//!   executors' containers because it launched them; tinymesos's executors
//!   come on their own). `Libprocess-From` names the executor's pid, whose
//!   `/health` the agent polls, as for driver executors.
//! * SUBSCRIBED has `executor_info`, `framework_info` and `agent_info`
//!   (with the agent's `id` inside). No `container_id`: the 0.28/1.0 protos
//!   have none.

use crate::release::Caps;
use crate::v1;
use serde_json::{json, Value};

/// The endpoint (Mesos also serves it under `/slave(1)`).
pub const PATH: &str = "/api/v1/executor";
/// The same endpoint under the agent's process id.
pub const PROCESS_PATH: &str = "/slave(1)/api/v1/executor";
/// Header with the executor process's run id (see the module docs).
pub const RUN_HEADER: &str = "Tinymesos-Executor-Run";
/// The framework id a tinymesos executor subscribes with.
pub const ANY_FRAMEWORK: &str = "*";
pub const APPLICATION_JSON: &str = "application/json";

/// A decoded executor call. Updates are in the internal shape
/// (`{"framework_id", "task_id", "state", "message", "uuid" (text),
/// "timestamp", "executor_id", "source"}`), tasks as internal tasks
/// ([`v1::task_of`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Subscribe {
        executor_id: String,
        framework_id: String,
        tasks: Vec<Value>,
        updates: Vec<Value>,
    },
    Update {
        executor_id: String,
        framework_id: String,
        update: Value,
    },
    Message {
        executor_id: String,
        framework_id: String,
        data: Vec<u8>,
    },
}

impl Call {
    pub fn executor_id(&self) -> &str {
        match self {
            Call::Subscribe { executor_id, .. }
            | Call::Update { executor_id, .. }
            | Call::Message { executor_id, .. } => executor_id,
        }
    }
}

/// An HTTP answer to a refused request: status and body.
pub type Refusal = (u16, String);

/// Whether an `Accept` header allows `application/json` (no header: every
/// type is acceptable, as in Mesos).
pub fn accepts_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return true };
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|q| q.trim().parse::<f64>().ok())
            .next()
            .unwrap_or(1.0);
        q > 0.0 && matches!(media.as_str(), APPLICATION_JSON | "application/*" | "*/*")
    })
}

/// Checks a request to the endpoint and decodes its call, in the order
/// Mesos's agent does: method (405), `Content-Type` present (400) and
/// JSON (415: tinymesos speaks no protobuf), body parses (400), call
/// validates (400), and for SUBSCRIBE an `Accept` that allows JSON (406).
pub fn parse_request(
    caps: &Caps,
    method: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: &[u8],
) -> Result<Call, Refusal> {
    if method != "POST" {
        return Err((405, format!("Expecting 'POST', received '{method}'")));
    }
    let Some(ct) = content_type else {
        return Err((400, "Expecting 'Content-Type' to be present".into()));
    };
    let media = ct.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case(APPLICATION_JSON) {
        return Err((
            415,
            format!(
                "Expecting 'Content-Type' of {APPLICATION_JSON} (tinymesos speaks no protobuf)"
            ),
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| (400, format!("Failed to parse body into JSON: {e}")))?;
    let call = decode(caps, &value).map_err(|e| {
        (
            400,
            format!("Failed to convert JSON into Call protobuf: {e}"),
        )
    })?;
    let call = call.map_err(|e| (400, format!("Failed to validate Executor::Call: {e}")))?;
    if matches!(call, Call::Subscribe { .. }) && !accepts_json(accept) {
        return Err((
            406,
            format!("Expecting 'Accept' to allow '{APPLICATION_JSON}'"),
        ));
    }
    Ok(call)
}

/// An optional id field: absent is `None`, present but not `{"value": s}`
/// is a conversion error.
fn opt_id(v: &Value, field: &str) -> Result<Option<String>, String> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => v1::id_of(x)
            .map(Some)
            .ok_or_else(|| format!("'{field}' must be {{\"value\": string}}, got {x}")),
    }
}

/// A v1 `TaskStatus` sent by an executor, as an internal update. The
/// outer error is a conversion error (malformed), the inner one a
/// validation error.
fn status_of(status: &Value, framework_id: &str) -> Result<Result<Value, String>, String> {
    if !status.is_object() {
        return Err(format!("'status' must be an object, got {status}"));
    }
    let task_id = opt_id(status, "task_id")?.ok_or("Missing required fields: status.task_id")?;
    let state = status
        .get("state")
        .and_then(Value::as_str)
        .ok_or("Missing required fields: status.state")?;
    if !state.starts_with("TASK_") {
        return Err(format!("unknown TaskState '{state}'"));
    }
    let executor_id = opt_id(status, "executor_id")?;
    let uuid = match status.get("uuid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(v1::uuid_from_v1(s)?),
        Some(x) => return Err(format!("'uuid' must be a base64 string, got {x}")),
    };
    let Some(uuid) = uuid else {
        return Ok(Err("Expecting 'uuid' to be present".into()));
    };
    let source = status.get("source").and_then(Value::as_str).unwrap_or("");
    let timestamp = status.get("timestamp").and_then(Value::as_f64);
    let message = status.get("message").and_then(Value::as_str).unwrap_or("");
    Ok(Ok(json!({
        "framework_id": framework_id, "task_id": task_id, "state": state,
        "message": message, "uuid": uuid,
        "timestamp": timestamp.unwrap_or_else(crate::now_secs),
        "executor_id": executor_id, "source": source,
    })))
}

/// Decodes a call. Outer error: the JSON is not a Call (conversion);
/// inner error: the call is not valid (validation).
fn decode(caps: &Caps, v: &Value) -> Result<Result<Call, String>, String> {
    if !v.is_object() {
        return Err(format!("a Call must be a JSON object, got {v}"));
    }
    let kind = match v.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "SUBSCRIBE" | "UPDATE" | "MESSAGE" | "UNKNOWN" => Some(s.as_str()),
            other => return Err(format!("unknown Call type '{other}'")),
        },
        Some(x) => return Err(format!("'type' must be a string, got {x}")),
    };
    let executor_id = opt_id(v, "executor_id")?;
    let framework_id = opt_id(v, "framework_id")?;
    let Some(kind) = kind else {
        return Ok(Err("Expecting 'type' to be present".into()));
    };
    let Some(executor_id) = executor_id else {
        return Ok(Err("Expecting 'executor_id' to be present".into()));
    };
    let Some(framework_id) = framework_id else {
        return Ok(Err("Expecting 'framework_id' to be present".into()));
    };
    match kind {
        "SUBSCRIBE" => {
            let Some(sub) = v.get("subscribe").filter(|s| !s.is_null()) else {
                return Ok(Err("Expecting 'subscribe' to be present".into()));
            };
            let list = |field: &str| -> Result<Vec<Value>, String> {
                match sub.get(field) {
                    None | Some(Value::Null) => Ok(Vec::new()),
                    Some(Value::Array(a)) => Ok(a.clone()),
                    Some(x) => Err(format!("'subscribe.{field}' must be an array, got {x}")),
                }
            };
            let mut tasks = Vec::new();
            for info in list("unacknowledged_tasks")? {
                let mut task = v1::task_of(caps, &info)?;
                if let Some(fw) = framework_of_task(&info) {
                    task["framework_id"] = json!(fw);
                }
                tasks.push(task);
            }
            let mut updates = Vec::new();
            for u in list("unacknowledged_updates")? {
                let status = u
                    .get("status")
                    .ok_or("Missing required fields: unacknowledged_updates.status")?;
                // Its task's framework if the executor sent the task, else the
                // call's (the agent then looks the task up in its own).
                let task_id = v1::id_at(status, "task_id");
                let fw = tasks
                    .iter()
                    .find(|t| task_id.as_deref() == t["task_id"].as_str())
                    .and_then(|t| t["framework_id"].as_str())
                    .map_or_else(|| framework_id.clone(), str::to_string);
                match status_of(status, &fw)? {
                    Ok(s) => updates.push(s),
                    Err(e) => return Err(format!("unacknowledged update: {e}")),
                }
            }
            Ok(Ok(Call::Subscribe {
                executor_id,
                framework_id,
                tasks,
                updates,
            }))
        }
        "UPDATE" => {
            let Some(update) = v.get("update").filter(|s| !s.is_null()) else {
                return Ok(Err("Expecting 'update' to be present".into()));
            };
            let status = update
                .get("status")
                .ok_or("Missing required fields: update.status")?;
            let u = match status_of(status, &framework_id)? {
                Ok(u) => u,
                Err(e) => return Ok(Err(e)),
            };
            if let Some(e) = u["executor_id"].as_str() {
                if e != executor_id {
                    return Ok(Err(format!(
                        "ExecutorID in Call: {executor_id} does not match ExecutorID in TaskStatus: {e}"
                    )));
                }
            }
            if u["source"] != "SOURCE_EXECUTOR" {
                return Ok(Err(format!(
                    "Received Call from executor {executor_id} of framework {framework_id} with invalid source, expecting 'SOURCE_EXECUTOR'"
                )));
            }
            if u["state"] == "TASK_STAGING" {
                return Ok(Err(format!(
                    "Received TASK_STAGING from executor {executor_id} of framework {framework_id} which is not allowed"
                )));
            }
            let mut u = u;
            u["executor_id"] = json!(executor_id);
            Ok(Ok(Call::Update {
                executor_id,
                framework_id,
                update: u,
            }))
        }
        "MESSAGE" => {
            let Some(m) = v.get("message").filter(|s| !s.is_null()) else {
                return Ok(Err("Expecting 'message' to be present".into()));
            };
            let data = m
                .get("data")
                .and_then(Value::as_str)
                .ok_or("Missing required fields: message.data")?;
            Ok(Ok(Call::Message {
                executor_id,
                framework_id,
                data: v1::bytes_of_b64(data)?,
            }))
        }
        _ => Ok(Err(
            "Expecting 'type' to be one of SUBSCRIBE, UPDATE, MESSAGE, got UNKNOWN".into(),
        )),
    }
}

// ---- events (agent → executor) -----------------------------------------

/// What an agent says about itself in SUBSCRIBED.
pub struct AgentSelf<'a> {
    pub id: Option<&'a str>,
    pub hostname: &'a str,
    pub port: u16,
    pub cpus: f64,
    pub mem: f64,
}

/// The SUBSCRIBED event.
pub fn subscribed(caps: &Caps, executor_id: &str, framework_id: &str, agent: &AgentSelf) -> Value {
    let mut info = json!({
        "hostname": agent.hostname, "port": agent.port,
        "resources": v1::resources(caps, agent.cpus, agent.mem),
    });
    if let Some(id) = agent.id {
        info["id"] = v1::id(id);
    }
    let mut body = json!({
        "executor_info": executor_info(executor_id, framework_id),
        "framework_info": {
            "id": v1::id(framework_id), "user": "root",
            "name": "(every framework on this agent)",
        },
    });
    body["agent_info"] = info;
    v1::event("SUBSCRIBED", Some(body))
}

/// The executor as Mesos's `ExecutorInfo` describes it, for `framework_id`.
fn executor_info(executor_id: &str, framework_id: &str) -> Value {
    json!({
        "executor_id": v1::id(executor_id),
        "framework_id": v1::id(framework_id),
        "command": {"shell": false, "value": "/tinymesos-executor"},
        "name": "tinymesos executor (runs the tasks of every framework on its agent)",
    })
}

/// An internal task (with its `framework_id`) as a `TaskInfo` whose
/// `executor` names that framework.
fn task_info(caps: &Caps, executor_id: &str, task: &Value) -> Value {
    let mut info = v1::task_info(caps, task);
    if let Some(fw) = task["framework_id"].as_str() {
        info["executor"] = executor_info(executor_id, fw);
    }
    info
}

/// The framework a `TaskInfo` runs for (its `executor.framework_id`).
fn framework_of_task(info: &Value) -> Option<String> {
    info.get("executor")
        .and_then(|e| v1::id_at(e, "framework_id"))
}

/// The LAUNCH event for an internal task of framework `framework_id`.
pub fn launch(caps: &Caps, executor_id: &str, framework_id: &str, task: &Value) -> Value {
    let mut task = task.clone();
    task["framework_id"] = json!(framework_id);
    v1::event(
        "LAUNCH",
        Some(json!({ "task": task_info(caps, executor_id, &task) })),
    )
}

pub fn kill(task_id: &str) -> Value {
    v1::event("KILL", Some(json!({ "task_id": v1::id(task_id) })))
}

/// ACKNOWLEDGED for an update with (textual) uuid `uuid`.
pub fn acknowledged(task_id: &str, uuid: &str) -> Value {
    v1::event(
        "ACKNOWLEDGED",
        Some(json!({ "task_id": v1::id(task_id), "uuid": v1::uuid_to_v1(uuid) })),
    )
}

pub fn shutdown() -> Value {
    v1::event("SHUTDOWN", None)
}

pub fn error(message: &str) -> Value {
    v1::event("ERROR", Some(json!({ "message": message })))
}

/// One event as a RecordIO record.
pub fn frame(event: &Value) -> Vec<u8> {
    crate::recordio::encode(event.to_string().as_bytes())
}

// ---- calls (executor → agent) ------------------------------------------

/// SUBSCRIBE with the executor's unacknowledged tasks (internal tasks, each
/// with its `framework_id`) and updates (internal updates).
pub fn subscribe_call(caps: &Caps, executor_id: &str, tasks: &[Value], updates: &[Value]) -> Value {
    json!({
        "type": "SUBSCRIBE",
        "executor_id": v1::id(executor_id),
        "framework_id": v1::id(ANY_FRAMEWORK),
        "subscribe": {
            "unacknowledged_tasks": tasks.iter().map(|t| task_info(caps, executor_id, t)).collect::<Vec<_>>(),
            "unacknowledged_updates": updates.iter().map(|u| json!({
                "status": v1::task_status(u),
            })).collect::<Vec<_>>(),
        },
    })
}

/// UPDATE for an internal update (its `framework_id` is the call's).
pub fn update_call(executor_id: &str, update: &Value) -> Value {
    let mut status = v1::task_status(update);
    status["source"] = json!("SOURCE_EXECUTOR");
    json!({
        "type": "UPDATE",
        "executor_id": v1::id(executor_id),
        "framework_id": v1::id(update["framework_id"].as_str().unwrap_or_default()),
        "update": { "status": status },
    })
}

/// A decoded event (executor side).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Subscribed {
        agent_id: Option<String>,
        agent_hostname: String,
    },
    /// `task` is the internal task, or why it cannot run.
    Launch {
        framework_id: String,
        task_id: String,
        task: Result<Value, String>,
    },
    Kill {
        task_id: String,
    },
    Acknowledged {
        task_id: String,
        uuid: String,
    },
    Message {
        data: Vec<u8>,
    },
    Shutdown,
    Error {
        message: String,
    },
    /// A type this release does not know (enums are optional: MESOS-4997).
    Unknown(String),
}

/// Decodes one event record in `caps`'s dialect; an error says what is
/// missing (a protobuf parser would refuse the whole event).
pub fn parse_event(caps: &Caps, record: &[u8]) -> Result<Event, String> {
    let v: Value = serde_json::from_slice(record).map_err(|e| format!("event is not JSON: {e}"))?;
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("UNKNOWN");
    let body = |name: &str| -> Result<&Value, String> {
        v.get(name)
            .filter(|b| b.is_object())
            .ok_or_else(|| format!("{kind} event has no '{name}'"))
    };
    Ok(match kind {
        "SUBSCRIBED" => {
            let b = body("subscribed")?;
            let field = "agent_info";
            let info = b
                .get(field)
                .filter(|i| i.is_object())
                .ok_or_else(|| format!("SUBSCRIBED event has no '{field}'"))?;
            if b.get("executor_info").is_none() {
                return Err("SUBSCRIBED event has no 'executor_info'".into());
            }
            Event::Subscribed {
                agent_id: v1::id_at(info, "id"),
                agent_hostname: info
                    .get("hostname")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            }
        }
        "LAUNCH" => {
            let b = body("launch")?;
            let info = b.get("task").ok_or("LAUNCH event has no 'task'")?;
            let task_id = v1::id_at(info, "task_id").ok_or("LAUNCH event's task has no task_id")?;
            let framework_id = framework_of_task(info);
            let task = match &framework_id {
                Some(_) => v1::task_of(caps, info),
                None => Err(format!(
                    "task {task_id}: its TaskInfo has no executor.framework_id (tinymesos executors run tasks of any framework)"
                )),
            };
            Event::Launch {
                framework_id: framework_id.unwrap_or_default(),
                task_id,
                task,
            }
        }
        "KILL" => Event::Kill {
            task_id: v1::id_at(body("kill")?, "task_id").ok_or("KILL event has no task_id")?,
        },
        "ACKNOWLEDGED" => {
            let b = body("acknowledged")?;
            Event::Acknowledged {
                task_id: v1::id_at(b, "task_id").ok_or("ACKNOWLEDGED event has no task_id")?,
                uuid: v1::uuid_from_v1(
                    b.get("uuid")
                        .and_then(Value::as_str)
                        .ok_or("ACKNOWLEDGED event has no uuid")?,
                )?,
            }
        }
        "MESSAGE" => Event::Message {
            data: v1::bytes_of_b64(
                body("message")?
                    .get("data")
                    .and_then(Value::as_str)
                    .ok_or("MESSAGE event has no data")?,
            )?,
        },
        "SHUTDOWN" => Event::Shutdown,
        "ERROR" => Event::Error {
            message: body("error")?
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        },
        other => Event::Unknown(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(r: &str) -> Caps {
        Caps::of(r).unwrap()
    }

    fn post(c: &Caps, body: &Value) -> Result<Call, Refusal> {
        parse_request(
            c,
            "POST",
            Some("application/json"),
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    }

    fn internal_task() -> Value {
        json!({
            "task_id": "long-1", "name": "t", "slave_id": "S1",
            "resources": {"cpus": 0.25, "mem": 16.0}, "command": {"duration": 0.0},
        })
    }

    fn update(state: &str) -> Value {
        json!({
            "framework_id": "F1", "task_id": "long-1", "state": state, "message": "",
            "uuid": "3f0c-uuid", "timestamp": 2.5, "executor_id": "default",
            "slave_id": "S1",
        })
    }

    #[test]
    fn request_checks_in_mesos_order() {
        let c = caps("0.28");
        let sub = subscribe_call(&c, "default", &[], &[]);
        let body = sub.to_string();
        let r = |m, ct, acc| parse_request(&c, m, ct, acc, body.as_bytes()).map(|_| ());
        assert_eq!(r("GET", None, None).unwrap_err().0, 405);
        let e = r("POST", None, None).unwrap_err();
        assert_eq!(e, (400, "Expecting 'Content-Type' to be present".into()));
        assert_eq!(
            r("POST", Some("application/x-protobuf"), None)
                .unwrap_err()
                .0,
            415
        );
        assert_eq!(r("POST", Some("text/plain"), None).unwrap_err().0, 415);
        assert_eq!(
            r(
                "POST",
                Some("application/json"),
                Some("application/x-protobuf")
            )
            .unwrap_err()
            .0,
            406
        );
        assert!(r("POST", Some("application/json; charset=utf-8"), None).is_ok());
        assert!(r("POST", Some("application/json"), Some("*/*")).is_ok());
        let e = parse_request(&c, "POST", Some("application/json"), None, b"{nope").unwrap_err();
        assert_eq!(e.0, 400);
        assert!(e.1.starts_with("Failed to parse body into JSON"), "{}", e.1);
    }

    #[test]
    fn accept_header() {
        assert!(accepts_json(None));
        assert!(accepts_json(Some("application/json")));
        assert!(accepts_json(Some("text/html, application/*;q=0.5")));
        assert!(accepts_json(Some("*/*")));
        assert!(!accepts_json(Some("application/x-protobuf")));
        assert!(!accepts_json(Some("application/json;q=0")));
    }

    #[test]
    fn validation_reasons() {
        let c = caps("1.0");
        let refuse = |v: Value| post(&c, &v).unwrap_err();
        let e = refuse(json!({"executor_id": {"value": "e"}, "framework_id": {"value": "f"}}));
        assert_eq!(
            e,
            (
                400,
                "Failed to validate Executor::Call: Expecting 'type' to be present".into()
            )
        );
        let e =
            refuse(json!({"type": "SUBSCRIBE", "framework_id": {"value": "f"}, "subscribe": {}}));
        assert!(
            e.1.ends_with("Expecting 'executor_id' to be present"),
            "{}",
            e.1
        );
        let e =
            refuse(json!({"type": "SUBSCRIBE", "executor_id": {"value": "e"}, "subscribe": {}}));
        assert!(
            e.1.ends_with("Expecting 'framework_id' to be present"),
            "{}",
            e.1
        );
        let e = refuse(
            json!({"type": "SUBSCRIBE", "executor_id": {"value": "e"}, "framework_id": {"value": "f"}}),
        );
        assert!(
            e.1.ends_with("Expecting 'subscribe' to be present"),
            "{}",
            e.1
        );
        let e = refuse(
            json!({"type": "LAUNCH", "executor_id": {"value": "e"}, "framework_id": {"value": "f"}}),
        );
        assert!(
            e.1.starts_with(
                "Failed to convert JSON into Call protobuf: unknown Call type 'LAUNCH'"
            ),
            "{}",
            e.1
        );
        let e =
            refuse(json!({"type": "UPDATE", "executor_id": "e", "framework_id": {"value": "f"}}));
        assert!(e.1.contains("'executor_id' must be"), "{}", e.1);

        // UPDATE: uuid, source, state, executor id.
        let mut up = update_call("default", &update("TASK_RUNNING"));
        assert!(post(&c, &up).is_ok());
        up["update"]["status"]["uuid"] = Value::Null;
        assert!(post(&c, &up)
            .unwrap_err()
            .1
            .ends_with("Expecting 'uuid' to be present"));
        let mut up = update_call("default", &update("TASK_STAGING"));
        assert!(post(&c, &up).unwrap_err().1.contains("TASK_STAGING"));
        up = update_call("default", &update("TASK_RUNNING"));
        up["update"]["status"]["source"] = json!("SOURCE_MASTER");
        assert!(post(&c, &up).unwrap_err().1.contains("invalid source"));
        up = update_call("other", &update("TASK_RUNNING"));
        assert!(post(&c, &up)
            .unwrap_err()
            .1
            .contains("does not match ExecutorID"));
        up = update_call("default", &update("TASK_RUNNING"));
        up["update"]["status"]["uuid"] = json!("not base64!");
        assert!(post(&c, &up)
            .unwrap_err()
            .1
            .starts_with("Failed to convert"));
    }

    #[test]
    fn calls_round_trip() {
        let c = caps("0.28");
        let up = post(&c, &update_call("default", &update("TASK_FINISHED"))).unwrap();
        let Call::Update {
            executor_id,
            framework_id,
            update: u,
        } = up
        else {
            panic!("{up:?}")
        };
        assert_eq!(
            (executor_id.as_str(), framework_id.as_str()),
            ("default", "F1")
        );
        assert_eq!(u["uuid"], "3f0c-uuid");
        assert_eq!(u["state"], "TASK_FINISHED");
        assert_eq!(u["framework_id"], "F1");
        assert_eq!(u["timestamp"], 2.5);

        // The executor's unacknowledged task names its framework (in its
        // executor info); its update takes the framework from it.
        let mut task = internal_task();
        task["framework_id"] = json!("F1");
        let sub = subscribe_call(&c, "default", &[task.clone()], &[update("TASK_RUNNING")]);
        assert_eq!(sub["framework_id"]["value"], ANY_FRAMEWORK);
        let sent = &sub["subscribe"]["unacknowledged_tasks"][0]["executor"];
        assert_eq!(sent["framework_id"]["value"], "F1");
        assert!(sub["subscribe"]["unacknowledged_updates"][0]
            .get("framework_id")
            .is_none());
        let Call::Subscribe { tasks, updates, .. } = post(&c, &sub).unwrap() else {
            panic!()
        };
        assert_eq!(tasks, vec![task]);
        assert_eq!(updates[0]["framework_id"], "F1");
        assert_eq!(updates[0]["uuid"], "3f0c-uuid");
        // An update without its task names the call's framework (`*`): the
        // agent looks the task up.
        let sub = subscribe_call(&c, "default", &[], &[update("TASK_RUNNING")]);
        let Call::Subscribe { updates, .. } = post(&c, &sub).unwrap() else {
            panic!()
        };
        assert_eq!(updates[0]["framework_id"], ANY_FRAMEWORK);

        let m = json!({"type": "MESSAGE", "executor_id": {"value": "e"}, "framework_id": {"value": "f"},
                       "message": {"data": v1::bytes_b64(b"hi")}});
        assert!(matches!(post(&c, &m).unwrap(), Call::Message { data, .. } if data == b"hi"));
    }

    #[test]
    fn events() {
        for r in ["0.28", "1.0"] {
            let word = "agent_info";
            let c = caps(r);
            let me = AgentSelf {
                id: Some("S1"),
                hostname: "agent-0",
                port: 5051,
                cpus: 1.23456,
                mem: 64.0,
            };
            let s = subscribed(&c, "default", ANY_FRAMEWORK, &me);
            assert_eq!(s["type"], "SUBSCRIBED");
            assert_eq!(s["subscribed"][word]["id"]["value"], "S1");
            assert_eq!(
                s["subscribed"][word]["resources"][0]["scalar"]["value"],
                1.235
            );
            assert_eq!(
                s["subscribed"]["executor_info"]["executor_id"]["value"],
                "default"
            );
            assert_eq!(
                parse_event(&c, s.to_string().as_bytes()).unwrap(),
                Event::Subscribed {
                    agent_id: Some("S1".into()),
                    agent_hostname: "agent-0".into()
                }
            );
            let l = launch(&c, "default", "F1", &internal_task());
            assert_eq!(
                l["launch"]["task"]["executor"]["framework_id"]["value"],
                "F1"
            );
            assert!(l["launch"].get("framework_info").is_none());
            assert_eq!(
                parse_event(&c, l.to_string().as_bytes()).unwrap(),
                Event::Launch {
                    framework_id: "F1".into(),
                    task_id: "long-1".into(),
                    task: Ok(internal_task())
                }
            );
        }
        // A LAUNCH whose task names no framework cannot be run.
        let mut l = launch(&caps("1.0"), "default", "F1", &internal_task());
        l["launch"]["task"]
            .as_object_mut()
            .unwrap()
            .remove("executor");
        let Event::Launch { task, .. } =
            parse_event(&caps("1.0"), l.to_string().as_bytes()).unwrap()
        else {
            panic!()
        };
        assert!(task.unwrap_err().contains("no executor.framework_id"));
        // A LAUNCH with a command tinymesos cannot run.
        let mut l = launch(&caps("1.0"), "default", "F1", &internal_task());
        l["launch"]["task"]["command"]["value"] = json!("echo hi");
        let Event::Launch { task, task_id, .. } =
            parse_event(&caps("1.0"), l.to_string().as_bytes()).unwrap()
        else {
            panic!()
        };
        assert_eq!(task_id, "long-1");
        assert!(task.unwrap_err().contains("sleep N"));

        let c = caps("1.0");
        let rt = |ev: Value| parse_event(&c, ev.to_string().as_bytes()).unwrap();
        assert_eq!(
            rt(kill("t1")),
            Event::Kill {
                task_id: "t1".into()
            }
        );
        assert_eq!(
            rt(acknowledged("t1", "u-1")),
            Event::Acknowledged {
                task_id: "t1".into(),
                uuid: "u-1".into()
            }
        );
        assert_eq!(
            acknowledged("t1", "u-1")["acknowledged"]["uuid"],
            v1::uuid_to_v1("u-1")
        );
        assert_eq!(rt(shutdown()), Event::Shutdown);
        assert_eq!(shutdown(), json!({"type": "SHUTDOWN"}));
        assert_eq!(
            rt(error("bad")),
            Event::Error {
                message: "bad".into()
            }
        );
        assert_eq!(
            rt(json!({"type": "HEARTBEAT"})),
            Event::Unknown("HEARTBEAT".into())
        );
        // Framing.
        let f = frame(&shutdown());
        let mut r = crate::recordio::Reader::new(&f[..]);
        assert_eq!(
            parse_event(&c, &r.next_record().unwrap().unwrap()).unwrap(),
            Event::Shutdown
        );
    }
}
