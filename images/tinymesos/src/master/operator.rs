//! The operator API, `POST /api/v1` (1.0, Mesos's
//! `docs/operator-http-api.md` and `include/mesos/v1/master/master.proto`):
//! a JSON `{"type": T, ...}` call, answered `200` with `{"type": T,
//! "<t>": {...}}` in Mesos's shapes (`agent_info`, `framework_info`,
//! `registered_time` as `TimeInfo`, resources as v1 lists).
//!
//! Served: GET_HEALTH, GET_VERSION, GET_STATE, GET_AGENTS, GET_FRAMEWORKS,
//! GET_TASKS, GET_MAINTENANCE_SCHEDULE, GET_MAINTENANCE_STATUS, and
//! UPDATE_MAINTENANCE_SCHEDULE, START_MAINTENANCE, STOP_MAINTENANCE (`200`,
//! empty body, as the maintenance endpoints). The other types of the 1.0
//! enum are `501 Not Implemented`; a type outside it is `400`. Request
//! rules: [`v1_http`] (leadership, POST, JSON, `Accept`).

use super::maintenance;
use super::v1_http;
use super::{Master, State, Task};
use crate::http::Request;
use crate::process::Reply;
use crate::say;
use crate::v1;
use serde_json::{json, Value};
use std::sync::Arc;

/// The `mesos.v1.master.Call.Type` values of 1.0.
const CALL_TYPES: &[&str] = &[
    "GET_HEALTH",
    "GET_FLAGS",
    "GET_VERSION",
    "GET_METRICS",
    "GET_LOGGING_LEVEL",
    "SET_LOGGING_LEVEL",
    "LIST_FILES",
    "READ_FILE",
    "GET_STATE",
    "GET_AGENTS",
    "GET_FRAMEWORKS",
    "GET_EXECUTORS",
    "GET_TASKS",
    "GET_ROLES",
    "GET_WEIGHTS",
    "UPDATE_WEIGHTS",
    "GET_MASTER",
    "SUBSCRIBE",
    "RESERVE_RESOURCES",
    "UNRESERVE_RESOURCES",
    "CREATE_VOLUMES",
    "DESTROY_VOLUMES",
    "GET_MAINTENANCE_STATUS",
    "GET_MAINTENANCE_SCHEDULE",
    "UPDATE_MAINTENANCE_SCHEDULE",
    "START_MAINTENANCE",
    "STOP_MAINTENANCE",
    "GET_QUOTA",
    "SET_QUOTA",
    "REMOVE_QUOTA",
];

/// The sub-message a call type requires (`validation::master::call`).
fn required_field(t: &str) -> Option<&'static str> {
    Some(match t {
        "UPDATE_MAINTENANCE_SCHEDULE" => "update_maintenance_schedule",
        "START_MAINTENANCE" => "start_maintenance",
        "STOP_MAINTENANCE" => "stop_maintenance",
        "SET_LOGGING_LEVEL" => "set_logging_level",
        "LIST_FILES" => "list_files",
        "READ_FILE" => "read_file",
        "UPDATE_WEIGHTS" => "update_weights",
        "RESERVE_RESOURCES" => "reserve_resources",
        "UNRESERVE_RESOURCES" => "unreserve_resources",
        "CREATE_VOLUMES" => "create_volumes",
        "DESTROY_VOLUMES" => "destroy_volumes",
        "SET_QUOTA" => "set_quota",
        "REMOVE_QUOTA" => "remove_quota",
        _ => return None,
    })
}

/// Checks a call's type and required sub-message; `Err` is the `400` body.
pub fn validate(call: &Value) -> Result<String, String> {
    let t = match call.get("type") {
        None | Some(Value::Null) => {
            return Err(
                "Failed to validate v1::master::Call: Expecting 'type' to be present".into(),
            )
        }
        Some(Value::String(t)) => t.clone(),
        Some(other) => {
            return Err(format!(
                "Failed to convert JSON into Call protobuf: Not expecting a JSON {other} for field 'type'"
            ))
        }
    };
    if !CALL_TYPES.contains(&t.as_str()) {
        return Err(format!(
            "Failed to convert JSON into Call protobuf: Failed to find enum for '{t}'"
        ));
    }
    if let Some(field) = required_field(&t) {
        if !call.get(field).is_some_and(Value::is_object) {
            return Err(format!(
                "Failed to validate v1::master::Call: Expecting '{field}' to be present"
            ));
        }
    }
    Ok(t)
}

/// `{"type": T, "<t>": body}`
fn response(t: &str, body: Value) -> Reply {
    Reply::json(&v1::event(t, Some(body)))
}

pub fn handle(m: &Arc<Master>, req: &Request) -> Reply {
    let reply = answer(m, req);
    let mut st = m.state.lock().unwrap();
    if (400..500).contains(&reply.status) {
        st.count("invalid_operator_calls");
        say!(
            "Refused operator call: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    } else {
        st.count("operator_calls");
    }
    reply
}

fn answer(m: &Arc<Master>, req: &Request) -> Reply {
    let call = match m.v1_call_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = match validate(&call) {
        Ok(t) => t,
        Err(e) => return Reply::text(400, &e),
    };
    if let Err(r) = v1_http::accept_json(req) {
        return r;
    }
    let mut st = m.state.lock().unwrap();
    let body = match t.as_str() {
        "GET_HEALTH" => json!({"healthy": true}),
        "GET_VERSION" => json!({"version_info": m.version_json(false)}),
        "GET_STATE" => json!({
            "get_tasks": get_tasks(m, &st),
            "get_executors": {"executors": []},
            "get_frameworks": get_frameworks(m, &st),
            "get_agents": get_agents(m, &st),
        }),
        "GET_AGENTS" => get_agents(m, &st),
        "GET_FRAMEWORKS" => get_frameworks(m, &st),
        "GET_TASKS" => get_tasks(m, &st),
        "GET_MAINTENANCE_SCHEDULE" => json!({"schedule": st.maintenance.schedule_json()}),
        "GET_MAINTENANCE_STATUS" => json!({"status": m.maintenance_status(&st)}),
        "UPDATE_MAINTENANCE_SCHEDULE" => {
            let r = call
                .pointer("/update_maintenance_schedule/schedule")
                .ok_or_else(|| {
                    "Failed to convert JSON into Call protobuf: Missing required fields: \
                     update_maintenance_schedule.schedule"
                        .to_string()
                })
                .and_then(maintenance::parse_schedule)
                .and_then(|w| m.update_schedule(&mut st, w));
            return done(r);
        }
        "START_MAINTENANCE" | "STOP_MAINTENANCE" => {
            let field = t.to_ascii_lowercase();
            let machines = call[&field].get("machines").cloned().unwrap_or(json!([]));
            let r = maintenance::parse_machines(&machines).and_then(|ids| {
                if t == "START_MAINTENANCE" {
                    m.machines_down(&mut st, &ids)
                } else {
                    m.machines_up(&mut st, &ids)
                }
            });
            return done(r);
        }
        other => {
            return Reply::text(
                501,
                &format!("tinymesos does not implement the operator call {other}"),
            )
        }
    };
    response(&t, body)
}

fn done(r: Result<(), String>) -> Reply {
    match r {
        Ok(()) => Reply::text(200, ""),
        Err(e) => Reply::text(400, &e),
    }
}

fn time_info(secs: f64) -> Value {
    v1::nanos(secs)
}

fn v1_task(m: &Master, t: &Task) -> Value {
    let mut v = json!({
        "name": t.name,
        "task_id": v1::id(&t.id),
        "framework_id": v1::id(&t.framework_id),
        "state": t.state,
        "resources": v1::resources(&m.caps, t.cpus, t.mem),
        "statuses": [],
    });
    v["agent_id"] = v1::id(&t.agent_id);
    v
}

fn get_tasks(m: &Master, st: &State) -> Value {
    let tasks: Vec<Value> = st.tasks.values().map(|t| v1_task(m, t)).collect();
    let completed: Vec<Value> = st.completed.iter().map(|t| v1_task(m, t)).collect();
    let orphans: Vec<Value> = st
        .tasks
        .values()
        .filter(|t| !st.frameworks.contains_key(&t.framework_id))
        .map(|t| v1_task(m, t))
        .collect();
    json!({"pending_tasks": [], "tasks": tasks, "completed_tasks": completed, "orphan_tasks": orphans})
}

fn get_agents(m: &Master, st: &State) -> Value {
    let res = |c: f64, mem: f64| v1::resources(&m.caps, c, mem);
    let agents: Vec<Value> = st
        .agents
        .values()
        .map(|a| {
            let (uc, um) = st.used(&a.id);
            let (oc, om) = st.offered(&a.id);
            let mut v = json!({
                "agent_info": {
                    "hostname": a.hostname,
                    "port": a.pid.port,
                    "resources": res(a.cpus, a.mem),
                    "attributes": [],
                    "id": v1::id(&a.id),
                },
                "active": a.active,
                "version": a.version,
                "pid": a.pid.to_string(),
                "registered_time": time_info(a.registered_time),
                "total_resources": res(a.cpus, a.mem),
                "allocated_resources": res(uc, um),
                "offered_resources": res(oc, om),
            });
            if a.reregistered {
                v["reregistered_time"] = time_info(a.registered_time);
            }
            v
        })
        .collect();
    json!({"agents": agents, "recovered_agents": []})
}

fn get_frameworks(m: &Master, st: &State) -> Value {
    let res = |c: f64, mem: f64| v1::resources(&m.caps, c, mem);
    let frameworks: Vec<Value> = st
        .frameworks
        .values()
        .map(|f| {
            let (mut uc, mut um) = (0.0, 0.0);
            for t in st.tasks.values().filter(|t| t.framework_id == f.id) {
                uc += t.cpus;
                um += t.mem;
            }
            let (mut oc, mut om) = (0.0, 0.0);
            let mut offers = Vec::new();
            for o in st.offers.values().filter(|o| o.framework_id == f.id) {
                oc += o.cpus;
                om += o.mem;
                let mut v = json!({
                    "id": v1::id(&o.id),
                    "framework_id": v1::id(&o.framework_id),
                    "resources": res(o.cpus, o.mem),
                });
                v["agent_id"] = v1::id(&o.agent_id);
                if let Some(a) = st.agents.get(&o.agent_id) {
                    v["hostname"] = json!(a.hostname);
                }
                offers.push(v);
            }
            let inverse: Vec<Value> = st
                .inverse_offers
                .values()
                .filter(|o| o.framework_id == f.id)
                .map(|o| {
                    let mut v =
                        json!({"id": v1::id(&o.id), "framework_id": v1::id(&o.framework_id)});
                    v["agent_id"] = v1::id(&o.agent_id);
                    v
                })
                .collect();
            let mut v = json!({
                "framework_info": f.info,
                "active": f.active,
                "connected": f.active,
                "registered_time": time_info(f.registered_time),
                "offers": offers,
                "inverse_offers": inverse,
                "allocated_resources": res(uc, um),
                "offered_resources": res(oc, om),
            });
            if let Some(t) = f.reregistered_time {
                v["reregistered_time"] = time_info(t);
            }
            v
        })
        .collect();
    let completed: Vec<Value> = st
        .removed_frameworks
        .values()
        .map(|info| json!({"framework_info": info, "active": false, "connected": false}))
        .collect();
    json!({"frameworks": frameworks, "completed_frameworks": completed, "recovered_frameworks": []})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_calls() {
        assert_eq!(
            validate(&json!({"type": "GET_HEALTH"})).unwrap(),
            "GET_HEALTH"
        );
        assert!(validate(&json!({}))
            .unwrap_err()
            .contains("Expecting 'type' to be present"));
        assert!(validate(&json!({"type": "GET_MOON"}))
            .unwrap_err()
            .contains("Failed to find enum for 'GET_MOON'"));
        assert!(validate(&json!({"type": "START_MAINTENANCE"}))
            .unwrap_err()
            .contains("Expecting 'start_maintenance' to be present"));
        assert!(validate(
            &json!({"type": "START_MAINTENANCE", "start_maintenance": {"machines": []}})
        )
        .is_ok());
    }

    #[test]
    fn responses_name_their_type() {
        let r = response("GET_HEALTH", json!({"healthy": true}));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})
        );
        assert_eq!(r.content_type, "application/json");
    }
}
