//! What the master tells a framework, and how it says it: a libprocess
//! message to a driver framework's pid (internal JSON: plain-string ids,
//! resources as `{"cpus", "mem"}`), or a v1 event (`mesos.v1.scheduler.Event`
//! JSON in the release's dialect) on an HTTP framework's stream, framed
//! with RecordIO by the stream.
//!
//! Inverse offers travel per [`InverseOfferEvent`]: inside OFFERS
//! (`ResourceOffersMessage.inverse_offers`) and rescinded with RESCIND
//! before 1.0, as INVERSE_OFFERS (`InverseOffersMessage`) and
//! RESCIND_INVERSE_OFFER from 1.0. Driver frameworks get them too and
//! ignore them, as Mesos's driver does.

use super::maintenance::Unavailability;
use crate::release::{Caps, InverseOfferEvent};
use crate::v1;
use serde_json::{json, Value};

/// Where an agent is (for offers' `url`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentAt {
    pub id: String,
    /// `slave(1)@agent-0:5051`
    pub pid: String,
    pub hostname: String,
    pub ip: String,
    pub port: u16,
}

impl AgentAt {
    /// The v1 `URL` of the agent: `http://<address>/slave(1)`.
    fn url(&self) -> Value {
        let path = self.pid.split('@').next().unwrap_or("slave(1)");
        let mut address = json!({"hostname": self.hostname, "port": self.port});
        if !self.ip.is_empty() {
            address["ip"] = json!(self.ip);
        }
        json!({"scheme": "http", "address": address, "path": format!("/{path}")})
    }
}

/// An offer of an agent's free resources.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferOut {
    pub id: String,
    pub framework_id: String,
    pub agent: AgentAt,
    pub cpus: f64,
    pub mem: f64,
    /// Set when the agent's machine is scheduled for maintenance.
    pub unavailability: Option<Unavailability>,
}

/// An inverse offer: the master asks for an agent's resources back (all of
/// them: no `resources`) by the unavailability's start.
#[derive(Debug, Clone, PartialEq)]
pub struct InverseOut {
    pub id: String,
    pub framework_id: String,
    pub agent: AgentAt,
    pub unavailability: Unavailability,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Subscribed {
        framework_id: String,
        heartbeat_secs: f64,
    },
    Offers(Vec<OfferOut>),
    InverseOffers(Vec<InverseOut>),
    Rescind(String),
    RescindInverse(String),
    /// An internal status update and the pid of the agent that sent it
    /// (`""` for updates the master generates).
    Update {
        update: Value,
        agent_pid: String,
    },
    /// An agent was removed.
    Failure {
        agent_id: String,
    },
    Error(String),
    Heartbeat,
}

impl Event {
    /// The libprocess message a driver framework gets (name, body); `None`
    /// for what the driver protocol has no message for (SUBSCRIBED is the
    /// (re)registered message the master sends itself, HEARTBEAT does not
    /// exist there).
    pub fn message(&self, caps: &Caps) -> Option<(&'static str, Value)> {
        let unavailability = |u: &Option<Unavailability>| u.as_ref().map(Unavailability::json);
        Some(match self {
            Event::Subscribed { .. } | Event::Heartbeat => return None,
            Event::Offers(offers) => {
                let list: Vec<Value> = offers
                    .iter()
                    .map(|o| {
                        let mut v = json!({
                            "id": o.id, "framework_id": o.framework_id, "slave_id": o.agent.id,
                            "hostname": o.agent.hostname,
                            "resources": {"cpus": caps.scalar(o.cpus), "mem": caps.scalar(o.mem)},
                        });
                        if let Some(u) = unavailability(&o.unavailability) {
                            v["unavailability"] = u;
                        }
                        v
                    })
                    .collect();
                let pids: Vec<&str> = offers.iter().map(|o| o.agent.pid.as_str()).collect();
                (
                    "mesos.internal.ResourceOffersMessage",
                    json!({"offers": list, "pids": pids}),
                )
            }
            Event::InverseOffers(inverse) => {
                let list: Vec<Value> = inverse
                    .iter()
                    .map(|o| {
                        json!({
                            "id": o.id, "framework_id": o.framework_id, "slave_id": o.agent.id,
                            "hostname": o.agent.hostname, "unavailability": o.unavailability.json(),
                        })
                    })
                    .collect();
                let pids: Vec<&str> = inverse.iter().map(|o| o.agent.pid.as_str()).collect();
                match caps.inverse_offers {
                    InverseOfferEvent::InsideOffers => (
                        "mesos.internal.ResourceOffersMessage",
                        json!({"offers": [], "pids": pids, "inverse_offers": list}),
                    ),
                    InverseOfferEvent::Separate => (
                        "mesos.internal.InverseOffersMessage",
                        json!({"inverse_offers": list, "pids": pids}),
                    ),
                }
            }
            Event::Rescind(id) => (
                "mesos.internal.RescindResourceOfferMessage",
                json!({"offer_id": id}),
            ),
            Event::RescindInverse(id) => match caps.inverse_offers {
                InverseOfferEvent::InsideOffers => (
                    "mesos.internal.RescindResourceOfferMessage",
                    json!({"offer_id": id}),
                ),
                InverseOfferEvent::Separate => (
                    "mesos.internal.RescindInverseOfferMessage",
                    json!({"inverse_offer_id": id}),
                ),
            },
            Event::Update { update, agent_pid } => (
                "mesos.internal.StatusUpdateMessage",
                json!({"update": update, "pid": agent_pid}),
            ),
            Event::Failure { agent_id } => (
                "mesos.internal.LostSlaveMessage",
                json!({"slave_id": agent_id}),
            ),
            Event::Error(message) => (
                "mesos.internal.FrameworkErrorMessage",
                json!({"message": message}),
            ),
        })
    }

    /// The v1 event (`{"type": T, "<t>": {...}}`) in `caps`'s dialect.
    /// Empty repeated fields are left out, as protobuf's JSON leaves them
    /// out (an OFFERS event with only inverse offers has no `offers`).
    pub fn v1(&self, caps: &Caps) -> Value {
        let agent_field = "agent_id";
        let offer = |o: &OfferOut| {
            let mut v = json!({
                "id": v1::id(&o.id),
                "framework_id": v1::id(&o.framework_id),
                "hostname": o.agent.hostname,
                "url": o.agent.url(),
                "resources": v1::resources(caps, o.cpus, o.mem),
            });
            v[&agent_field] = v1::id(&o.agent.id);
            if let Some(u) = &o.unavailability {
                v["unavailability"] = u.json();
            }
            v
        };
        let inverse = |o: &InverseOut| {
            let mut v = json!({
                "id": v1::id(&o.id),
                "url": o.agent.url(),
                "framework_id": v1::id(&o.framework_id),
                "unavailability": o.unavailability.json(),
            });
            v[&agent_field] = v1::id(&o.agent.id);
            v
        };
        match self {
            Event::Subscribed {
                framework_id,
                heartbeat_secs,
            } => v1::event(
                "SUBSCRIBED",
                Some(json!({
                    "framework_id": v1::id(framework_id),
                    "heartbeat_interval_seconds": heartbeat_secs,
                })),
            ),
            Event::Offers(offers) => v1::event(
                "OFFERS",
                Some(json!({"offers": offers.iter().map(offer).collect::<Vec<_>>()})),
            ),
            Event::InverseOffers(list) => {
                let list: Vec<Value> = list.iter().map(inverse).collect();
                match caps.inverse_offers {
                    InverseOfferEvent::InsideOffers => {
                        v1::event("OFFERS", Some(json!({ "inverse_offers": list })))
                    }
                    InverseOfferEvent::Separate => {
                        v1::event("INVERSE_OFFERS", Some(json!({ "inverse_offers": list })))
                    }
                }
            }
            Event::Rescind(id) => v1::event("RESCIND", Some(json!({"offer_id": v1::id(id)}))),
            Event::RescindInverse(id) => match caps.inverse_offers {
                InverseOfferEvent::InsideOffers => {
                    v1::event("RESCIND", Some(json!({"offer_id": v1::id(id)})))
                }
                InverseOfferEvent::Separate => v1::event(
                    "RESCIND_INVERSE_OFFER",
                    Some(json!({"inverse_offer_id": v1::id(id)})),
                ),
            },
            Event::Update { update, .. } => {
                v1::event("UPDATE", Some(json!({"status": v1::task_status(update)})))
            }
            Event::Failure { agent_id } => {
                let mut f = json!({});
                f[&agent_field] = v1::id(agent_id);
                v1::event("FAILURE", Some(f))
            }
            Event::Error(message) => v1::event("ERROR", Some(json!({"message": message}))),
            Event::Heartbeat => v1::event("HEARTBEAT", None),
        }
    }

    /// The v1 event as one RecordIO record.
    pub fn record(&self, caps: &Caps) -> Vec<u8> {
        crate::recordio::encode(self.v1(caps).to_string().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(r: &str) -> Caps {
        Caps::of(r).unwrap()
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
            start_ns: 1_000_000_000,
            duration_ns: Some(5),
        }
    }

    #[test]
    fn subscribed_and_heartbeat() {
        let e = Event::Subscribed {
            framework_id: "F1".into(),
            heartbeat_secs: 15.0,
        };
        assert_eq!(
            e.v1(&caps("1.0")),
            json!({"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": "F1"}, "heartbeat_interval_seconds": 15.0}})
        );
        assert!(e.message(&caps("1.0")).is_none());
        assert_eq!(
            Event::Heartbeat.record(&caps("0.28")),
            b"20\n{\"type\":\"HEARTBEAT\"}".to_vec()
        );
    }

    #[test]
    fn offers_per_release() {
        let o = OfferOut {
            id: "O1".into(),
            framework_id: "F1".into(),
            agent: agent(),
            cpus: 0.12345,
            mem: 64.0,
            unavailability: Some(unavailability()),
        };
        let e = Event::Offers(vec![o.clone()]);
        let v = e.v1(&caps("0.28"));
        let offer = &v["offers"]["offers"][0];
        assert_eq!(v["type"], "OFFERS");
        assert_eq!(offer["agent_id"]["value"], "S1");
        assert!(offer.get("slave_id").is_none());
        assert_eq!(offer["resources"][0]["scalar"]["value"], json!(0.123));
        assert_eq!(
            offer["unavailability"]["start"]["nanoseconds"],
            1_000_000_000
        );
        assert_eq!(offer["url"]["address"]["ip"], "172.18.0.5");
        assert_eq!(offer["url"]["path"], "/slave(1)");
        let v = e.v1(&caps("1.0"));
        assert_eq!(v["offers"]["offers"][0]["agent_id"]["value"], "S1");
        let (name, body) = e.message(&caps("0.25")).unwrap();
        assert_eq!(name, "mesos.internal.ResourceOffersMessage");
        assert_eq!(body["offers"][0]["resources"]["cpus"], json!(0.12345));
        assert_eq!(body["pids"][0], "slave(1)@agent-0:5051");
        let mut plain = o;
        plain.unavailability = None;
        assert!(
            Event::Offers(vec![plain]).v1(&caps("1.0"))["offers"]["offers"][0]
                .get("unavailability")
                .is_none()
        );
    }

    #[test]
    fn inverse_offers_per_release() {
        let i = InverseOut {
            id: "O7".into(),
            framework_id: "F1".into(),
            agent: agent(),
            unavailability: unavailability(),
        };
        let e = Event::InverseOffers(vec![i]);
        let v = e.v1(&caps("0.28"));
        assert_eq!(v["type"], "OFFERS");
        assert!(v["offers"].get("offers").is_none());
        assert_eq!(v["offers"]["inverse_offers"][0]["agent_id"]["value"], "S1");
        let v = e.v1(&caps("1.0"));
        assert_eq!(v["type"], "INVERSE_OFFERS");
        assert_eq!(
            v["inverse_offers"]["inverse_offers"][0]["agent_id"]["value"],
            "S1"
        );
        assert_eq!(
            e.message(&caps("0.25")).unwrap().0,
            "mesos.internal.ResourceOffersMessage"
        );
        assert_eq!(
            e.message(&caps("1.0")).unwrap().0,
            "mesos.internal.InverseOffersMessage"
        );
        let r = Event::RescindInverse("O7".into());
        assert_eq!(
            r.v1(&caps("0.28")),
            json!({"type": "RESCIND", "rescind": {"offer_id": {"value": "O7"}}})
        );
        assert_eq!(
            r.v1(&caps("1.0")),
            json!({"type": "RESCIND_INVERSE_OFFER", "rescind_inverse_offer": {"inverse_offer_id": {"value": "O7"}}})
        );
        assert_eq!(
            r.message(&caps("1.0")).unwrap().0,
            "mesos.internal.RescindInverseOfferMessage"
        );
    }

    #[test]
    fn updates_failures_errors() {
        let u = json!({"task_id": "t", "state": "TASK_LOST", "slave_id": "S1", "uuid": "", "message": "gone", "timestamp": 2.0});
        let e = Event::Update {
            update: u.clone(),
            agent_pid: String::new(),
        };
        let v = e.v1(&caps("1.0"));
        assert_eq!(v["update"]["status"]["state"], "TASK_LOST");
        assert_eq!(v["update"]["status"]["agent_id"]["value"], "S1");
        assert!(v["update"]["status"].get("uuid").is_none());
        assert_eq!(
            e.message(&caps("1.0")).unwrap().1,
            json!({"update": u, "pid": ""})
        );
        let f = Event::Failure {
            agent_id: "S1".into(),
        };
        assert_eq!(
            f.v1(&caps("0.28")),
            json!({"type": "FAILURE", "failure": {"agent_id": {"value": "S1"}}})
        );
        assert_eq!(
            Event::Error("Framework failed over".into()).v1(&caps("1.0")),
            json!({"type": "ERROR", "error": {"message": "Framework failed over"}})
        );
    }
}
