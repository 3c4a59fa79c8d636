//! Scheduler calls: the v1 JSON of `/api/v1/scheduler` (Mesos's
//! `mesos.v1.scheduler.Call` in the release's dialect), and the internal
//! `mesos.scheduler.Call` message of driver frameworks, both turned into
//! one [`Call`] the master applies.
//!
//! Errors come in Mesos's two kinds, which the endpoint words as Mesos
//! does: the JSON does not fit the protobuf message (`Failed to convert
//! JSON into Call protobuf: ...`: wrong JSON types, missing required fields,
//! a `type` that is not in the release's enum, see
//! [`Caps::v1_scheduler_calls`]), or the call is not valid (`Failed to
//! validate scheduler::Call: ...`, as `master/validation.cpp` checks).
//! Unknown fields are ignored, as protobuf's JSON parser ignores them.

use crate::release::Caps;
use crate::v1;
use serde_json::Value;

/// A task to launch: an internal task description (see [`v1::task_of`]),
/// or one the master refuses with TASK_ERROR.
#[derive(Debug, Clone, PartialEq)]
pub enum Launch {
    Task(Value),
    Invalid { task_id: String, why: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Subscribe {
        /// The v1 `FrameworkInfo` as given.
        info: Value,
    },
    Teardown,
    Accept {
        offer_ids: Vec<String>,
        tasks: Vec<Launch>,
        /// `filters.refuse_seconds`, when given.
        refuse: Option<f64>,
    },
    Decline {
        offer_ids: Vec<String>,
        refuse: Option<f64>,
    },
    AcceptInverse {
        ids: Vec<String>,
        refuse: Option<f64>,
    },
    DeclineInverse {
        ids: Vec<String>,
        refuse: Option<f64>,
    },
    Revive,
    Suppress,
    Kill {
        task_id: String,
        agent_id: Option<String>,
    },
    Shutdown {
        executor_id: String,
        agent_id: String,
    },
    Acknowledge {
        agent_id: String,
        task_id: String,
        /// The status update's uuid in tinymesos's textual form.
        uuid: String,
    },
    Reconcile {
        /// (task id, agent id)
        tasks: Vec<(String, Option<String>)>,
    },
    Message {
        agent_id: String,
        executor_id: String,
        /// base64, as it came.
        data: String,
    },
    Request,
}

impl Call {
    /// The call's `Call.Type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Call::Subscribe { .. } => "SUBSCRIBE",
            Call::Teardown => "TEARDOWN",
            Call::Accept { .. } => "ACCEPT",
            Call::Decline { .. } => "DECLINE",
            Call::AcceptInverse { .. } => "ACCEPT_INVERSE_OFFERS",
            Call::DeclineInverse { .. } => "DECLINE_INVERSE_OFFERS",
            Call::Revive => "REVIVE",
            Call::Suppress => "SUPPRESS",
            Call::Kill { .. } => "KILL",
            Call::Shutdown { .. } => "SHUTDOWN",
            Call::Acknowledge { .. } => "ACKNOWLEDGE",
            Call::Reconcile { .. } => "RECONCILE",
            Call::Message { .. } => "MESSAGE",
            Call::Request => "REQUEST",
        }
    }
}

/// A parsed call and the framework id it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub framework_id: Option<String>,
    pub call: Call,
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The JSON does not fit the release's `Call` message.
    Convert(String),
    /// The call is not valid.
    Invalid(String),
}

impl CallError {
    /// The body of the `400`, as Mesos words it.
    pub fn message(&self) -> String {
        match self {
            CallError::Convert(m) => format!("Failed to convert JSON into Call protobuf: {m}"),
            CallError::Invalid(m) => format!("Failed to validate scheduler::Call: {m}"),
        }
    }
}

type R<T> = Result<T, CallError>;

fn convert<T>(m: String) -> R<T> {
    Err(CallError::Convert(m))
}

/// Reads protobuf-shaped JSON, naming fields by their path in errors.
struct Msg<'a> {
    v: &'a Value,
    path: String,
}

impl<'a> Msg<'a> {
    fn root(v: &'a Value) -> R<Msg<'a>> {
        if !v.is_object() {
            return convert(format!(
                "Expecting a JSON object, got a JSON {}",
                v1::json_kind(v)
            ));
        }
        Ok(Msg {
            v,
            path: String::new(),
        })
    }

    fn name(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.path)
        }
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.v.get(field).filter(|v| !v.is_null())
    }

    fn wrong(&self, field: &str, v: &Value) -> CallError {
        CallError::Convert(format!(
            "Not expecting a JSON {} for field '{}'",
            v1::json_kind(v),
            self.name(field)
        ))
    }

    fn missing(&self, field: &str) -> CallError {
        CallError::Convert(format!("Missing required fields: {}", self.name(field)))
    }

    /// A nested message, if present.
    fn msg(&self, field: &str) -> R<Option<Msg<'a>>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) if v.is_object() => Ok(Some(Msg {
                v,
                path: self.name(field),
            })),
            Some(v) => Err(self.wrong(field, v)),
        }
    }

    fn req_msg(&self, field: &str) -> R<Msg<'a>> {
        self.msg(field)?.ok_or_else(|| self.missing(field))
    }

    fn string(&self, field: &str) -> R<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong(field, v)),
        }
    }

    fn req_string(&self, field: &str) -> R<String> {
        self.string(field)?.ok_or_else(|| self.missing(field))
    }

    /// An id message (`{"value": "..."}`), if present.
    fn id(&self, field: &str) -> R<Option<String>> {
        match self.msg(field)? {
            None => Ok(None),
            Some(m) => m.req_string("value").map(Some),
        }
    }

    fn req_id(&self, field: &str) -> R<String> {
        self.id(field)?.ok_or_else(|| self.missing(field))
    }

    /// A repeated field's elements (absent: none).
    fn list(&self, field: &str) -> R<Vec<Msg<'a>>> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let path = format!("{}[{i}]", self.name(field));
                    if v.is_object() {
                        Ok(Msg { v, path })
                    } else {
                        convert(format!(
                            "Not expecting a JSON {} for field '{path}'",
                            v1::json_kind(v)
                        ))
                    }
                })
                .collect(),
            // As stout's JSON→protobuf parser does: a lone object for a repeated message field is a
            // list of one (pymesos's launchTasks sends `"offer_ids": {"value": ...}`).
            Some(v) if v.is_object() => Ok(vec![Msg {
                v,
                path: self.name(field),
            }]),
            Some(v) => Err(self.wrong(field, v)),
        }
    }

    /// A repeated id field.
    fn ids(&self, field: &str) -> R<Vec<String>> {
        self.list(field)?
            .iter()
            .map(|m| m.req_string("value"))
            .collect()
    }

    fn number(&self, field: &str) -> R<Option<f64>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s.parse().map(Some).map_err(|_| {
                CallError::Convert(format!(
                    "Failed to parse '{s}' as a number for field '{}'",
                    self.name(field)
                ))
            }),
            Some(v) => Err(self.wrong(field, v)),
        }
    }

    /// `filters.refuse_seconds`, if given.
    fn refuse(&self) -> R<Option<f64>> {
        match self.msg("filters")? {
            None => Ok(None),
            Some(f) => f.number("refuse_seconds"),
        }
    }
}

/// The v1 `Offer.Operation.Type` names.
const OPERATIONS: &[&str] = &["LAUNCH", "RESERVE", "UNRESERVE", "CREATE", "DESTROY"];

/// Parses a v1 scheduler call in `caps`'s dialect.
pub fn parse(caps: &Caps, v: &Value) -> Result<Parsed, CallError> {
    let root = Msg::root(v)?;
    let invalid = |m: &str| Err(CallError::Invalid(m.to_string()));
    let framework_id = root.id("framework_id")?;
    let Some(t) = root.string("type")? else {
        return invalid("Expecting 'type' to be present");
    };
    if !caps.v1_scheduler_calls.contains(&t.as_str()) {
        return convert(format!("Failed to find enum for '{t}'"));
    }
    let agent_field = "agent_id";
    let sub = |field: &str| -> R<Msg<'_>> {
        root.msg(field)?
            .ok_or_else(|| CallError::Invalid(format!("Expecting '{field}' to be present")))
    };
    if t == "SUBSCRIBE" {
        let s = sub("subscribe")?;
        let info = s.req_msg("framework_info")?;
        info.req_string("user")?;
        info.req_string("name")?;
        info.number("failover_timeout")?;
        let info_id = info.id("id")?;
        if info_id != framework_id {
            return invalid("'framework_id' differs from 'subscribe.framework_info.id'");
        }
        return Ok(Parsed {
            framework_id,
            call: Call::Subscribe {
                info: info.v.clone(),
            },
        });
    }
    if framework_id.is_none() {
        return invalid("Expecting 'framework_id' to be present");
    }
    let call = match t.as_str() {
        "TEARDOWN" => Call::Teardown,
        "ACCEPT" => {
            let a = sub("accept")?;
            let offer_ids = a.ids("offer_ids")?;
            let mut tasks = Vec::new();
            for op in a.list("operations")? {
                let ty = op.req_string("type")?;
                if !OPERATIONS.contains(&ty.as_str()) {
                    return convert(format!("Failed to find enum for '{ty}'"));
                }
                if ty != "LAUNCH" {
                    // tinymesos has no reservations or volumes: ignored.
                    continue;
                }
                let Some(launch) = op.msg("launch")? else {
                    continue;
                };
                for info in launch.list("task_infos")? {
                    info.req_string("name")?;
                    let task_id = info.req_id("task_id")?;
                    info.req_id(agent_field)?;
                    for r in info.list("resources")? {
                        r.req_string("name")?;
                        r.req_string("type")?;
                    }
                    tasks.push(match v1::task_of(caps, info.v) {
                        Ok(t) => Launch::Task(t),
                        Err(why) => Launch::Invalid { task_id, why },
                    });
                }
            }
            Call::Accept {
                offer_ids,
                tasks,
                refuse: a.refuse()?,
            }
        }
        "DECLINE" => {
            let d = sub("decline")?;
            Call::Decline {
                offer_ids: d.ids("offer_ids")?,
                refuse: d.refuse()?,
            }
        }
        "ACCEPT_INVERSE_OFFERS" | "DECLINE_INVERSE_OFFERS" => {
            let field = t.to_ascii_lowercase();
            let m = sub(&field)?;
            let (ids, refuse) = (m.ids("inverse_offer_ids")?, m.refuse()?);
            if t == "ACCEPT_INVERSE_OFFERS" {
                Call::AcceptInverse { ids, refuse }
            } else {
                Call::DeclineInverse { ids, refuse }
            }
        }
        "REVIVE" => Call::Revive,
        "SUPPRESS" => Call::Suppress,
        "KILL" => {
            let k = sub("kill")?;
            Call::Kill {
                task_id: k.req_id("task_id")?,
                agent_id: k.id(agent_field)?,
            }
        }
        "SHUTDOWN" => {
            let s = sub("shutdown")?;
            Call::Shutdown {
                executor_id: s.req_id("executor_id")?,
                agent_id: s.req_id(agent_field)?,
            }
        }
        "ACKNOWLEDGE" => {
            let a = sub("acknowledge")?;
            let agent_id = a.req_id(agent_field)?;
            let task_id = a.req_id("task_id")?;
            let uuid = a.req_string("uuid")?;
            let uuid = v1::uuid_from_v1(&uuid).map_err(CallError::Invalid)?;
            Call::Acknowledge {
                agent_id,
                task_id,
                uuid,
            }
        }
        "RECONCILE" => {
            let r = sub("reconcile")?;
            let tasks = r
                .list("tasks")?
                .iter()
                .map(|t| Ok((t.req_id("task_id")?, t.id(agent_field)?)))
                .collect::<R<Vec<_>>>()?;
            Call::Reconcile { tasks }
        }
        "MESSAGE" => {
            let m = sub("message")?;
            let agent_id = m.req_id(agent_field)?;
            let executor_id = m.req_id("executor_id")?;
            let data = m.req_string("data")?;
            v1::bytes_of_b64(&data).map_err(CallError::Convert)?;
            Call::Message {
                agent_id,
                executor_id,
                data,
            }
        }
        "REQUEST" => {
            sub("request")?.list("requests")?;
            Call::Request
        }
        other => unreachable!("{other} is in the release's call types but not handled"),
    };
    Ok(Parsed { framework_id, call })
}

/// The internal `mesos.scheduler.Call` of driver frameworks (ids as plain
/// strings, tasks in the internal shape); `None` for a type the master
/// does not act on.
pub fn parse_driver(b: &Value) -> Option<Call> {
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let refuse = |v: &Value| v.pointer("/filters/refuse_seconds").and_then(Value::as_f64);
    let ty = b.get("type").and_then(Value::as_str).unwrap_or_default();
    Some(match ty {
        "ACCEPT" => {
            let a = &b["accept"];
            let mut tasks = Vec::new();
            for op in a["operations"].as_array().into_iter().flatten() {
                if op.get("type").and_then(Value::as_str) == Some("LAUNCH") {
                    tasks.extend(
                        op.pointer("/launch/task_infos")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .cloned()
                            .map(Launch::Task),
                    );
                }
            }
            Call::Accept {
                offer_ids: strs(&a["offer_ids"]),
                tasks,
                refuse: refuse(a),
            }
        }
        "DECLINE" => Call::Decline {
            offer_ids: strs(&b["decline"]["offer_ids"]),
            refuse: refuse(&b["decline"]),
        },
        "ACKNOWLEDGE" => {
            let a = &b["acknowledge"];
            Call::Acknowledge {
                agent_id: s(a, "slave_id"),
                task_id: s(a, "task_id"),
                uuid: s(a, "uuid"),
            }
        }
        "TEARDOWN" => Call::Teardown,
        "REVIVE" => Call::Revive,
        "SUPPRESS" => Call::Suppress,
        "KILL" => Call::Kill {
            task_id: s(&b["kill"], "task_id"),
            agent_id: Some(s(&b["kill"], "slave_id")).filter(|a| !a.is_empty()),
        },
        "RECONCILE" => Call::Reconcile {
            tasks: b["reconcile"]["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    (
                        s(t, "task_id"),
                        Some(s(t, "slave_id")).filter(|a| !a.is_empty()),
                    )
                })
                .collect(),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn caps(r: &str) -> Caps {
        Caps::of(r).unwrap()
    }

    fn err(r: &str, v: Value) -> String {
        parse(&caps(r), &v).unwrap_err().message()
    }

    #[test]
    fn subscribe() {
        let v = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}});
        let p = parse(&caps("1.0"), &v).unwrap();
        assert_eq!(p.framework_id, None);
        assert!(matches!(p.call, Call::Subscribe { .. }));
        let v = json!({"type": "SUBSCRIBE", "framework_id": {"value": "F1"},
                       "subscribe": {"framework_info": {"user": "u", "name": "n", "id": {"value": "F1"}, "failover_timeout": 100}}});
        assert_eq!(
            parse(&caps("0.24").clone(), &v)
                .unwrap()
                .framework_id
                .as_deref(),
            Some("F1")
        );
        let e = err(
            "1.0",
            json!({"type": "SUBSCRIBE", "framework_id": {"value": "F2"},
            "subscribe": {"framework_info": {"user": "u", "name": "n", "id": {"value": "F1"}}}}),
        );
        assert_eq!(e, "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'");
        let e = err(
            "1.0",
            json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "n"}}}),
        );
        assert_eq!(e, "Failed to convert JSON into Call protobuf: Missing required fields: subscribe.framework_info.user");
        assert_eq!(
            err("1.0", json!({"type": "SUBSCRIBE"})),
            "Failed to validate scheduler::Call: Expecting 'subscribe' to be present"
        );
    }

    #[test]
    fn a_lone_object_for_a_repeated_field_is_a_list_of_one() {
        let v = json!({"type": "DECLINE", "framework_id": {"value": "F"},
                       "decline": {"offer_ids": {"value": "O1"}}});
        match parse(&caps("1.0"), &v).unwrap().call {
            Call::Decline { offer_ids, .. } => assert_eq!(offer_ids, ["O1"]),
            other => panic!("{other:?}"),
        }
        let v = json!({"type": "DECLINE", "framework_id": {"value": "F"},
                       "decline": {"offer_ids": "O1"}});
        assert!(parse(&caps("1.0"), &v).is_err());
    }

    #[test]
    fn types_per_release() {
        assert_eq!(
            err("1.0", json!({})),
            "Failed to validate scheduler::Call: Expecting 'type' to be present"
        );
        assert_eq!(
            err(
                "1.0",
                json!({"type": "FOO", "framework_id": {"value": "F"}})
            ),
            "Failed to convert JSON into Call protobuf: Failed to find enum for 'FOO'"
        );
        let suppress = json!({"type": "SUPPRESS", "framework_id": {"value": "F"}});
        assert!(err("0.24", suppress.clone()).contains("Failed to find enum for 'SUPPRESS'"));
        assert_eq!(
            parse(&caps("0.25"), &suppress).unwrap().call,
            Call::Suppress
        );
        let inv = json!({"type": "ACCEPT_INVERSE_OFFERS", "framework_id": {"value": "F"},
                         "accept_inverse_offers": {"inverse_offer_ids": [{"value": "O1"}]}});
        assert!(err("0.28", inv.clone()).contains("Failed to find enum"));
        assert_eq!(
            parse(&caps("1.0"), &inv).unwrap().call,
            Call::AcceptInverse {
                ids: vec!["O1".into()],
                refuse: None
            }
        );
        assert_eq!(
            err("1.0", json!({"type": "REVIVE"})),
            "Failed to validate scheduler::Call: Expecting 'framework_id' to be present"
        );
        assert!(err("1.0", json!("x")).contains("Expecting a JSON object"));
        assert!(err("1.0", json!({"type": "REVIVE", "framework_id": "F"}))
            .contains("Not expecting a JSON string for field 'framework_id'"));
        assert!(err(
            "1.0",
            json!({"type": "KILL", "framework_id": {"value": "F"}})
        )
        .contains("Expecting 'kill' to be present"));
    }

    #[test]
    fn accept_with_launches_in_each_dialect() {
        let internal = json!({"task_id": "t1", "name": "t1", "slave_id": "S1",
            "resources": {"cpus": 0.5, "mem": 32.0}, "command": {"duration": 2.0}});
        for r in ["0.28", "1.0"] {
            let c = caps(r);
            let info = v1::task_info(&c, &internal);
            let mut bad = info.clone();
            bad["command"] = json!({"shell": true, "value": "echo hi"});
            bad["task_id"] = v1::id("t2");
            let v = json!({"type": "ACCEPT", "framework_id": {"value": "F"},
                "accept": {"offer_ids": [{"value": "O1"}], "filters": {"refuse_seconds": 7},
                           "operations": [{"type": "LAUNCH", "launch": {"task_infos": [info, bad]}},
                                          {"type": "RESERVE", "reserve": {}}]}});
            let p = parse(&c, &v).unwrap();
            let Call::Accept {
                offer_ids,
                tasks,
                refuse,
            } = p.call
            else {
                panic!("not an accept")
            };
            assert_eq!(offer_ids, ["O1"]);
            assert_eq!(refuse, Some(7.0));
            assert_eq!(tasks[0], Launch::Task(internal.clone()));
            assert!(
                matches!(&tasks[1], Launch::Invalid { task_id, why } if task_id == "t2" && why.contains("sleep"))
            );
        }
        // A TaskInfo without its agent lacks the required agent_id.
        let mut info = v1::task_info(&caps("1.0"), &internal);
        info.as_object_mut().unwrap().remove("agent_id");
        let e = err(
            "0.28",
            json!({"type": "ACCEPT", "framework_id": {"value": "F"},
            "accept": {"offer_ids": [], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [info]}}]}}),
        );
        assert!(
            e.contains(
                "Missing required fields: accept.operations[0].launch.task_infos[0].agent_id"
            ),
            "{e}"
        );
        let e = err(
            "1.0",
            json!({"type": "ACCEPT", "framework_id": {"value": "F"},
            "accept": {"operations": [{"type": "FLY"}]}}),
        );
        assert!(e.contains("Failed to find enum for 'FLY'"), "{e}");
    }

    #[test]
    fn acknowledge_kill_reconcile_message() {
        let uuid = crate::uuid();
        let v = json!({"type": "ACKNOWLEDGE", "framework_id": {"value": "F"},
            "acknowledge": {"agent_id": {"value": "S1"}, "task_id": {"value": "t"}, "uuid": v1::uuid_to_v1(&uuid)}});
        assert_eq!(
            parse(&caps("1.0"), &v).unwrap().call,
            Call::Acknowledge {
                agent_id: "S1".into(),
                task_id: "t".into(),
                uuid
            }
        );
        // Every release with a v1 API names the agent agent_id.
        assert_eq!(
            parse(&caps("0.28"), &v).unwrap().call,
            parse(&caps("1.0"), &v).unwrap().call
        );
        let mut no_agent = v.clone();
        no_agent["acknowledge"]
            .as_object_mut()
            .unwrap()
            .remove("agent_id");
        assert!(err("0.28", no_agent).contains("acknowledge.agent_id"));
        let mut bad = v.clone();
        bad["acknowledge"]["uuid"] = json!("!!");
        assert!(err("1.0", bad).starts_with("Failed to validate scheduler::Call: invalid base64"));
        let v = json!({"type": "KILL", "framework_id": {"value": "F"}, "kill": {"task_id": {"value": "t"}}});
        assert_eq!(
            parse(&caps("0.28"), &v).unwrap().call,
            Call::Kill {
                task_id: "t".into(),
                agent_id: None
            }
        );
        let v = json!({"type": "RECONCILE", "framework_id": {"value": "F"},
            "reconcile": {"tasks": [{"task_id": {"value": "a"}, "agent_id": {"value": "S"}}, {"task_id": {"value": "b"}}]}});
        assert_eq!(
            parse(&caps("0.28"), &v).unwrap().call,
            Call::Reconcile {
                tasks: vec![("a".into(), Some("S".into())), ("b".into(), None)]
            }
        );
        let v = json!({"type": "MESSAGE", "framework_id": {"value": "F"},
            "message": {"agent_id": {"value": "S"}, "executor_id": {"value": "default"}, "data": "aGk="}});
        assert!(matches!(
            parse(&caps("1.0"), &v).unwrap().call,
            Call::Message { .. }
        ));
    }

    #[test]
    fn driver_calls() {
        let b = json!({"type": "ACCEPT", "framework_id": "F", "accept": {"offer_ids": ["O1"],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{"task_id": "t"}]}}]}});
        let Some(Call::Accept {
            offer_ids,
            tasks,
            refuse,
        }) = parse_driver(&b)
        else {
            panic!()
        };
        assert_eq!((offer_ids.len(), tasks.len(), refuse), (1, 1, None));
        let b = json!({"type": "ACKNOWLEDGE", "acknowledge": {"slave_id": "S", "task_id": "t", "uuid": "u"}});
        assert_eq!(
            parse_driver(&b),
            Some(Call::Acknowledge {
                agent_id: "S".into(),
                task_id: "t".into(),
                uuid: "u".into()
            })
        );
        assert_eq!(parse_driver(&json!({"type": "WHATEVER"})), None);
    }
}
