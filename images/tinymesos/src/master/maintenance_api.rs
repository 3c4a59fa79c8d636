//! The maintenance endpoints (0.25+; also under `/master/...`) and what the
//! master does when the schedule or a machine's mode changes, per Mesos's
//! `master/http.cpp` and `Master::updateUnavailability`:
//!
//! * `GET /maintenance/schedule`: the schedule; `POST` (JSON schedule):
//!   validate (400 with the reason), replace. Agents of every machine
//!   entering, changing or leaving the schedule have their offers and
//!   inverse offers rescinded (offers come back with `unavailability`;
//!   inverse offers are re-sent by the allocator) and their frameworks'
//!   inverse offer answers forgotten.
//! * `GET /maintenance/status`: `draining_machines` (with the frameworks'
//!   latest inverse offer answers, `statuses`) and `down_machines`.
//! * `POST /machine/down` (JSON list of machine ids; only DRAINING ones):
//!   each agent on those machines gets `mesos.internal.ShutdownMessage`
//!   (`Operator initiated 'Machine DOWN'`) and is removed (its tasks are
//!   TASK_LOST to their frameworks). Agents on DOWN machines that try to
//!   (re)register are told to shut down (`Machine is \`DOWN\``).
//! * `POST /machine/up` (only DOWN ones): out of DOWN and out of the
//!   schedule; their agents may register again.
//!
//! Successful POSTs answer `200` with an empty body. A master that does not
//! lead answers as the v1 APIs do ([`v1_http::non_leader`]). Empty lists are
//! written as `[]` (Mesos's protobuf JSON leaves them out).

use super::maintenance::{self, MachineId, Mode, Window};
use super::v1_http;
use super::{Master, State};
use crate::http::Request;
use crate::process::Reply;
use crate::say;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn handle(m: &Arc<Master>, path: &str, req: &Request) -> Reply {
    let mut st = m.state.lock().unwrap();
    if let Some(r) = m.not_leading(&st, req) {
        return r;
    }
    let allowed: &[&str] = match path {
        "/maintenance/schedule" => &["GET", "POST"],
        "/maintenance/status" => &["GET"],
        _ => &["POST"],
    };
    if let Err(r) = v1_http::method(req, allowed) {
        return r;
    }
    if req.method == "GET" {
        return Reply::json(&match path {
            "/maintenance/schedule" => st.maintenance.schedule_json(),
            _ => m.maintenance_status(&st),
        });
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return Reply::text(400, &format!("Failed to parse JSON: {e}")),
    };
    let result = match path {
        "/maintenance/schedule" => {
            maintenance::parse_schedule(&body).and_then(|w| m.update_schedule(&mut st, w))
        }
        "/machine/down" => {
            maintenance::parse_machines(&body).and_then(|ids| m.machines_down(&mut st, &ids))
        }
        _ => maintenance::parse_machines(&body).and_then(|ids| m.machines_up(&mut st, &ids)),
    };
    match result {
        Ok(()) => Reply::text(200, ""),
        Err(e) => {
            say!("Refused POST {}: {e}", req.path);
            Reply::text(400, &e)
        }
    }
}

impl Master {
    /// Agents (ids) on any of `machines`.
    fn agents_on(st: &State, machines: &[MachineId]) -> Vec<String> {
        st.agents
            .values()
            .filter(|a| machines.iter().any(|m| m.matches(&a.hostname, &a.ip)))
            .map(|a| a.id.clone())
            .collect()
    }

    /// Validates and installs a new schedule.
    pub(super) fn update_schedule(
        &self,
        st: &mut State,
        windows: Vec<Window>,
    ) -> Result<(), String> {
        st.maintenance.validate(&windows)?;
        let n = windows.iter().map(|w| w.machines.len()).sum::<usize>();
        let w = windows.len();
        let touched = st.maintenance.set_schedule(windows);
        st.count("maintenance_schedule_updates");
        say!("Updated the maintenance schedule: {n} machines in {w} windows");
        for agent in Self::agents_on(st, &touched) {
            let unavailability = st
                .agents
                .get(&agent)
                .and_then(|a| st.machine_of(a))
                .map(|(_, _, u)| u);
            match &unavailability {
                Some(u) => say!(
                    "Updating unavailability of agent {agent}, starting at {} ns",
                    u.start_ns
                ),
                None => say!("Removing unavailability of agent {agent}"),
            }
            // Rescind so that frameworks hear of the change at once.
            for o in st.offer_ids_where(|o| o.agent_id == agent) {
                self.rescind(st, &o);
            }
            for o in st.inverse_ids_where(|o| o.agent_id == agent) {
                self.rescind_inverse(st, &o);
            }
            st.inverse_statuses.retain(|(a, _), _| *a != agent);
            st.inverse_filters.retain(|(a, _), _| *a != agent);
        }
        Ok(())
    }

    /// Starts maintenance: DRAINING machines go DOWN, their agents are
    /// shut down and removed.
    pub(super) fn machines_down(&self, st: &mut State, ids: &[MachineId]) -> Result<(), String> {
        st.maintenance.check_down(ids)?;
        let why = "Operator initiated 'Machine DOWN'";
        for agent in Self::agents_on(st, ids) {
            if let Some(a) = st.agents.get(&agent) {
                say!(
                    "Shutting down agent {agent} at {} ({}): {why}",
                    a.pid,
                    a.hostname
                );
                self.send(
                    &a.pid,
                    "mesos.internal.ShutdownMessage",
                    json!({ "message": why }),
                );
            }
            self.remove_agent(st, &agent, why);
        }
        st.maintenance.down(ids);
        say!(
            "Machines DOWN: {}",
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    }

    /// Stops maintenance: DOWN machines come back UP and leave the schedule.
    pub(super) fn machines_up(&self, st: &mut State, ids: &[MachineId]) -> Result<(), String> {
        st.maintenance.check_up(ids)?;
        st.maintenance.up(ids);
        say!(
            "Machines UP: {}",
            ids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    }

    /// `maintenance::ClusterStatus`.
    pub(super) fn maintenance_status(&self, st: &State) -> Value {
        let mut draining = Vec::new();
        let mut down = Vec::new();
        for (id, mode) in st.maintenance.machines() {
            match mode {
                Mode::Down => down.push(id.json()),
                Mode::Draining => {
                    let agents = Self::agents_on(st, std::slice::from_ref(&id));
                    let statuses: Vec<Value> = st
                        .inverse_statuses
                        .iter()
                        .filter(|((agent, _), _)| agents.contains(agent))
                        .map(|((_, fw), s)| {
                            json!({
                                "status": s.status,
                                "framework_id": {"value": fw},
                                "timestamp": {"nanoseconds": (s.timestamp * 1e9).round() as i64},
                            })
                        })
                        .collect();
                    draining.push(json!({"id": id.json(), "statuses": statuses}));
                }
            }
        }
        json!({"draining_machines": draining, "down_machines": down})
    }
}
