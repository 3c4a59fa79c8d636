//! Maintenance primitives (0.25+, Mesos's `docs/maintenance.md` and
//! `master/maintenance.cpp`): a schedule of windows (machines and an
//! unavailability), and the machine modes it implies. A machine is UP
//! unless it is in the schedule: scheduled machines are DRAINING until the
//! operator brings them DOWN (`/machine/down`), and back UP
//! (`/machine/up`, which also takes them out of the schedule).
//!
//! This module is the bookkeeping and its validation (pure); the master
//! acts on it (rescinding offers, inverse offers, shutting agents down).
//!
//! Matching agents: Mesos recognises an agent as on a machine when both
//! its hostname and its IP equal the machine id's (an omitted field is
//! `""`). tinymesos treats an omitted field as "any": a machine id with
//! only a hostname matches every agent with that hostname (scenarios name
//! machines by container hostname and do not know container IPs).
//! Hostnames are not case-sensitive (lower-cased on input, as Mesos does).

use crate::v1;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;

/// A machine: hostname and/or IP (`MachineID`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MachineId {
    pub hostname: String,
    pub ip: String,
}

impl MachineId {
    pub fn new(hostname: &str, ip: &str) -> MachineId {
        MachineId {
            hostname: hostname.to_ascii_lowercase(),
            ip: ip.to_string(),
        }
    }

    /// The JSON of a `MachineID` (fields that are empty are left out, as
    /// protobuf's JSON leaves out unset fields).
    pub fn json(&self) -> Value {
        let mut v = json!({});
        if !self.hostname.is_empty() {
            v["hostname"] = json!(self.hostname);
        }
        if !self.ip.is_empty() {
            v["ip"] = json!(self.ip);
        }
        v
    }

    /// Whether an agent with this hostname and IP is on the machine; an
    /// empty field of the machine id matches anything (see the module doc).
    pub fn matches(&self, hostname: &str, ip: &str) -> bool {
        (self.hostname.is_empty() || self.hostname.eq_ignore_ascii_case(hostname))
            && (self.ip.is_empty() || self.ip == ip)
            && !(self.hostname.is_empty() && self.ip.is_empty())
    }

    fn parse(v: &Value, path: &str) -> Result<MachineId, String> {
        let o = v
            .as_object()
            .ok_or_else(|| format!("Expecting a JSON object for '{path}', got {v}"))?;
        let field = |k: &str| -> Result<String, String> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(format!(
                    "Not expecting a JSON {} for field '{path}.{k}'",
                    v1::json_kind(other)
                )),
            }
        };
        Ok(MachineId::new(&field("hostname")?, &field("ip")?))
    }

    /// `validation::machine`: at least one field, and a well-formed IP.
    fn validate(&self) -> Result<(), String> {
        if self.hostname.is_empty() && self.ip.is_empty() {
            return Err("Both 'hostname' and 'ip' for a machine are empty".into());
        }
        if !self.ip.is_empty() && self.ip.parse::<Ipv4Addr>().is_err() {
            return Err(format!(
                "Failed to parse IP address '{}' of machine {self}",
                self.ip
            ));
        }
        Ok(())
    }
}

impl fmt::Display for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.json())
    }
}

/// An `int64` field: a JSON number or a string of digits (protobuf's JSON
/// writes 64-bit integers either way).
fn int64(v: &Value, path: &str) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("Field '{path}' is not a 64-bit integer: {n}")),
        Value::String(s) => s
            .parse()
            .map_err(|_| format!("Field '{path}' is not a 64-bit integer: {s:?}")),
        other => Err(format!(
            "Not expecting a JSON {} for field '{path}'",
            v1::json_kind(other)
        )),
    }
}

/// When a machine may become unavailable: a start (ns since the epoch)
/// and an optional duration (ns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailability {
    pub start_ns: i64,
    pub duration_ns: Option<i64>,
}

impl Unavailability {
    pub fn json(&self) -> Value {
        let mut v = json!({ "start": { "nanoseconds": self.start_ns } });
        if let Some(d) = self.duration_ns {
            v["duration"] = json!({ "nanoseconds": d });
        }
        v
    }

    fn parse(v: &Value, path: &str) -> Result<Unavailability, String> {
        let nanos = |field: &str| -> Result<Option<i64>, String> {
            match v.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(t) => match t.get("nanoseconds") {
                    Some(n) => int64(n, &format!("{path}.{field}.nanoseconds")).map(Some),
                    None => Err(format!(
                        "Missing required fields: {path}.{field}.nanoseconds"
                    )),
                },
            }
        };
        if !v.is_object() {
            return Err(format!(
                "Not expecting a JSON {} for field '{path}'",
                v1::json_kind(v)
            ));
        }
        let start =
            nanos("start")?.ok_or_else(|| format!("Missing required fields: {path}.start"))?;
        Ok(Unavailability {
            start_ns: start,
            duration_ns: nanos("duration")?,
        })
    }
}

/// A maintenance window: machines and their unavailability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub machines: Vec<MachineId>,
    pub unavailability: Unavailability,
}

/// The mode of a machine in the schedule (machines not in it are UP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Draining,
    Down,
}

/// The schedule and the DOWN machines.
#[derive(Debug, Default)]
pub struct Maintenance {
    windows: Vec<Window>,
    down: BTreeSet<MachineId>,
}

/// Converts a schedule's JSON (`{"windows": [{"machine_ids": [...],
/// "unavailability": {...}}]}`) into windows; errors say what does not
/// fit the `maintenance::Schedule` message.
pub fn parse_schedule(v: &Value) -> Result<Vec<Window>, String> {
    let o = v
        .as_object()
        .ok_or_else(|| format!("Expecting a JSON object for the schedule, got {v}"))?;
    let windows = match o.get("windows") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(format!(
                "Not expecting a JSON {} for field 'windows'",
                v1::json_kind(other)
            ))
        }
    };
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let path = format!("windows[{i}]");
            let machines = match w.get("machine_ids") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .enumerate()
                    .map(|(j, m)| MachineId::parse(m, &format!("{path}.machine_ids[{j}]")))
                    .collect::<Result<_, _>>()?,
                Some(other) => {
                    return Err(format!(
                        "Not expecting a JSON {} for field '{path}.machine_ids'",
                        v1::json_kind(other)
                    ))
                }
            };
            let unavailability = match w.get("unavailability") {
                None | Some(Value::Null) => {
                    return Err(format!("Missing required fields: {path}.unavailability"))
                }
                Some(u) => Unavailability::parse(u, &format!("{path}.unavailability"))?,
            };
            Ok(Window {
                machines,
                unavailability,
            })
        })
        .collect()
}

/// Converts and validates a list of machine ids (the body of
/// `/machine/down` and `/machine/up`; `validation::machines`).
pub fn parse_machines(v: &Value) -> Result<Vec<MachineId>, String> {
    let list = v
        .as_array()
        .ok_or_else(|| format!("Expecting a JSON array of machine ids, got {v}"))?;
    let ids: Vec<MachineId> = list
        .iter()
        .enumerate()
        .map(|(i, m)| MachineId::parse(m, &format!("[{i}]")))
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err("List of machines is empty".into());
    }
    let mut seen = BTreeSet::new();
    for id in &ids {
        id.validate()?;
        if !seen.insert(id.clone()) {
            return Err(format!(
                "Machine '{id}' appears more than once in the schedule"
            ));
        }
    }
    Ok(ids)
}

impl Maintenance {
    /// `validation::schedule`: every window has machines, no negative
    /// duration, each machine valid and scheduled once, and no DOWN
    /// machine left out (this endpoint does not bring machines up).
    pub fn validate(&self, windows: &[Window]) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for w in windows {
            if w.machines.is_empty() {
                return Err("List of machines in the maintenance window is empty".into());
            }
            if w.unavailability.duration_ns.is_some_and(|d| d < 0) {
                return Err("Unavailability 'duration' is negative".into());
            }
            for id in &w.machines {
                id.validate()?;
                if !seen.insert(id.clone()) {
                    return Err(format!(
                        "Machine '{id}' appears more than once in the schedule"
                    ));
                }
            }
        }
        if let Some(id) = self.down.iter().find(|id| !seen.contains(*id)) {
            return Err(format!(
                "Machine '{id}' is deactivated and cannot be removed from the schedule"
            ));
        }
        Ok(())
    }

    /// Replaces the schedule (validate first). Returns every machine whose
    /// unavailability may have changed: those of the old and the new
    /// schedule.
    pub fn set_schedule(&mut self, windows: Vec<Window>) -> Vec<MachineId> {
        let mut touched: BTreeSet<MachineId> = self.scheduled().into_iter().collect();
        touched.extend(windows.iter().flat_map(|w| w.machines.iter().cloned()));
        self.windows = windows;
        touched.into_iter().collect()
    }

    /// Every scheduled machine, in schedule order.
    pub fn scheduled(&self) -> Vec<MachineId> {
        self.windows
            .iter()
            .flat_map(|w| w.machines.iter().cloned())
            .collect()
    }

    /// A scheduled machine's mode and unavailability.
    pub fn get(&self, id: &MachineId) -> Option<(Mode, &Unavailability)> {
        self.windows
            .iter()
            .find(|w| w.machines.contains(id))
            .map(|w| (self.mode_of(id), &w.unavailability))
    }

    fn mode_of(&self, id: &MachineId) -> Mode {
        if self.down.contains(id) {
            Mode::Down
        } else {
            Mode::Draining
        }
    }

    /// The scheduled machine an agent (hostname, IP) is on, if any.
    pub fn machine_of(
        &self,
        hostname: &str,
        ip: &str,
    ) -> Option<(MachineId, Mode, Unavailability)> {
        self.windows.iter().find_map(|w| {
            w.machines
                .iter()
                .find(|m| m.matches(hostname, ip))
                .map(|m| (m.clone(), self.mode_of(m), w.unavailability.clone()))
        })
    }

    /// Machines in the schedule with their modes.
    pub fn machines(&self) -> Vec<(MachineId, Mode)> {
        self.scheduled()
            .into_iter()
            .map(|m| {
                let mode = self.mode_of(&m);
                (m, mode)
            })
            .collect()
    }

    pub fn count(&self, mode: Mode) -> usize {
        self.machines().iter().filter(|(_, m)| *m == mode).count()
    }

    /// `/machine/down`'s checks: every machine scheduled and DRAINING.
    pub fn check_down(&self, ids: &[MachineId]) -> Result<(), String> {
        for id in ids {
            match self.get(id) {
                None => {
                    return Err(format!(
                        "Machine '{id}' is not part of a maintenance schedule"
                    ))
                }
                Some((Mode::Down, _)) => {
                    return Err(format!(
                        "Machine '{id}' is not in DRAINING mode and cannot be brought down"
                    ))
                }
                Some((Mode::Draining, _)) => {}
            }
        }
        Ok(())
    }

    pub fn down(&mut self, ids: &[MachineId]) {
        self.down.extend(ids.iter().cloned());
    }

    /// `/machine/up`'s checks: every machine scheduled and DOWN.
    pub fn check_up(&self, ids: &[MachineId]) -> Result<(), String> {
        for id in ids {
            match self.get(id) {
                None => {
                    return Err(format!(
                        "Machine '{id}' is not part of a maintenance schedule"
                    ))
                }
                Some((Mode::Draining, _)) => {
                    return Err(format!(
                        "Machine '{id}' is not in DOWN mode and cannot be brought up"
                    ))
                }
                Some((Mode::Down, _)) => {}
            }
        }
        Ok(())
    }

    /// Brings machines UP: out of DOWN and out of the schedule (windows
    /// left empty go).
    pub fn up(&mut self, ids: &[MachineId]) {
        for id in ids {
            self.down.remove(id);
        }
        for w in &mut self.windows {
            w.machines.retain(|m| !ids.contains(m));
        }
        self.windows.retain(|w| !w.machines.is_empty());
    }

    /// The schedule's JSON (`maintenance::Schedule`).
    pub fn schedule_json(&self) -> Value {
        let windows: Vec<Value> = self
            .windows
            .iter()
            .map(|w| {
                json!({
                    "machine_ids": w.machines.iter().map(MachineId::json).collect::<Vec<_>>(),
                    "unavailability": w.unavailability.json(),
                })
            })
            .collect();
        json!({ "windows": windows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(v: Value) -> Vec<Window> {
        parse_schedule(&v).unwrap()
    }

    fn one(host: &str, start: i64) -> Value {
        json!({"machine_ids": [{"hostname": host}],
               "unavailability": {"start": {"nanoseconds": start}, "duration": {"nanoseconds": 3600000000000i64}}})
    }

    #[test]
    fn parses_the_documented_schedule() {
        let w = schedule(json!({"windows": [
            {"machine_ids": [{"hostname": "Machine1", "ip": "10.0.0.1"}, {"hostname": "machine2", "ip": "10.0.0.2"}],
             "unavailability": {"start": {"nanoseconds": 1443830400000000000i64}, "duration": {"nanoseconds": 3600000000000i64}}},
            {"machine_ids": [{"hostname": "machine3", "ip": "10.0.0.3"}],
             "unavailability": {"start": {"nanoseconds": "1443834000000000000"}}},
        ]}));
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].machines[0], MachineId::new("machine1", "10.0.0.1"));
        assert_eq!(w[1].unavailability.start_ns, 1443834000000000000);
        assert_eq!(w[1].unavailability.duration_ns, None);
        let mut m = Maintenance::default();
        m.validate(&w).unwrap();
        m.set_schedule(w);
        assert_eq!(m.count(Mode::Draining), 3);
        let back = m.schedule_json();
        assert_eq!(back["windows"][0]["machine_ids"][0]["hostname"], "machine1");
        assert_eq!(
            back["windows"][0]["unavailability"]["duration"]["nanoseconds"],
            3600000000000i64
        );
        assert_eq!(schedule(back), m.windows);
        assert!(schedule(json!({})).is_empty());
    }

    #[test]
    fn rejects_malformed_schedules() {
        for (bad, want) in [
            (json!([]), "Expecting a JSON object"),
            (json!({"windows": {}}), "Not expecting a JSON object"),
            (
                json!({"windows": [{"machine_ids": [{"hostname": "a"}]}]}),
                "Missing required fields: windows[0].unavailability",
            ),
            (
                json!({"windows": [{"machine_ids": [{"hostname": "a"}], "unavailability": {}}]}),
                "Missing required fields: windows[0].unavailability.start",
            ),
            (
                json!({"windows": [{"machine_ids": [{"hostname": 1}], "unavailability": {"start": {"nanoseconds": 0}}}]}),
                "windows[0].machine_ids[0].hostname",
            ),
        ] {
            let e = parse_schedule(&bad).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn validates_schedules() {
        let m = Maintenance::default();
        let check = |v: Value| m.validate(&schedule(v));
        assert!(check(json!({"windows": [{"machine_ids": [], "unavailability": {"start": {"nanoseconds": 0}}}]}))
            .unwrap_err()
            .contains("is empty"));
        assert!(check(json!({"windows": [{"machine_ids": [{}], "unavailability": {"start": {"nanoseconds": 0}}}]}))
            .unwrap_err()
            .contains("Both 'hostname' and 'ip'"));
        assert!(check(json!({"windows": [{"machine_ids": [{"ip": "10.0.0"}], "unavailability": {"start": {"nanoseconds": 0}}}]}))
            .unwrap_err()
            .contains("IP"));
        assert!(check(json!({"windows": [one("a", 0), one("A", 5)]}))
            .unwrap_err()
            .contains("appears more than once"));
        let neg = json!({"windows": [{"machine_ids": [{"hostname": "a"}],
            "unavailability": {"start": {"nanoseconds": 0}, "duration": {"nanoseconds": -1}}}]});
        assert!(check(neg).unwrap_err().contains("negative"));
    }

    #[test]
    fn modes_down_and_up() {
        let mut m = Maintenance::default();
        let w = schedule(json!({"windows": [one("agent-0", 0), one("agent-1", 0)]}));
        m.set_schedule(w);
        let a0 = MachineId::new("agent-0", "");
        let nobody = MachineId::new("agent-9", "");
        assert!(m
            .check_up(std::slice::from_ref(&a0))
            .unwrap_err()
            .contains("not in DOWN mode"));
        assert!(m
            .check_down(&[nobody])
            .unwrap_err()
            .contains("not part of a maintenance schedule"));
        m.check_down(std::slice::from_ref(&a0)).unwrap();
        m.down(std::slice::from_ref(&a0));
        assert_eq!(m.get(&a0).unwrap().0, Mode::Down);
        assert!(m
            .check_down(std::slice::from_ref(&a0))
            .unwrap_err()
            .contains("not in DRAINING mode"));
        assert_eq!((m.count(Mode::Down), m.count(Mode::Draining)), (1, 1));
        // A DOWN machine cannot leave the schedule through a new schedule.
        let only_a1 = schedule(json!({"windows": [one("agent-1", 0)]}));
        assert!(m.validate(&only_a1).unwrap_err().contains("deactivated"));
        m.check_up(std::slice::from_ref(&a0)).unwrap();
        m.up(std::slice::from_ref(&a0));
        assert!(m.get(&a0).is_none());
        assert_eq!(m.schedule_json()["windows"].as_array().unwrap().len(), 1);
        m.validate(&only_a1).unwrap();
    }

    #[test]
    fn agents_match_machines_by_hostname_and_or_ip() {
        let mut m = Maintenance::default();
        m.set_schedule(schedule(json!({"windows": [
            {"machine_ids": [{"hostname": "agent-0"}, {"ip": "10.0.0.7"}, {"hostname": "agent-2", "ip": "10.0.0.2"}],
             "unavailability": {"start": {"nanoseconds": 5}}}]})));
        assert_eq!(
            m.machine_of("AGENT-0", "172.18.0.5").unwrap().0.hostname,
            "agent-0"
        );
        assert_eq!(
            m.machine_of("agent-7", "10.0.0.7").unwrap().0.ip,
            "10.0.0.7"
        );
        assert!(m.machine_of("agent-2", "10.0.0.3").is_none());
        assert!(m.machine_of("agent-2", "10.0.0.2").is_some());
        assert!(m.machine_of("agent-1", "").is_none());
        assert_eq!(m.machine_of("agent-0", "").unwrap().2.start_ns, 5);
    }

    #[test]
    fn machine_lists() {
        let ids = parse_machines(&json!([{"hostname": "a"}, {"hostname": "b", "ip": "10.0.0.1"}]))
            .unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[1].to_string(), r#"{"hostname":"b","ip":"10.0.0.1"}"#);
        assert!(parse_machines(&json!([])).unwrap_err().contains("empty"));
        assert!(parse_machines(&json!({})).is_err());
        assert!(
            parse_machines(&json!([{"hostname": "a"}, {"hostname": "A"}]))
                .unwrap_err()
                .contains("more than once")
        );
    }
}
