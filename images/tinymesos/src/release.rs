//! The release a binary *is*, and everything that depends on it.
//!
//! The release is fixed at compile time (`TINYMESOS_RELEASE`, see
//! `build.rs`). Every behavioural difference between releases is decided
//! by the capability table in this module, from the binary's own release:
//! no component ever looks at a peer's version to decide what to do, so
//! every incompatibility comes from the protocol difference itself (an
//! unreadable znode label, a message without a handler, an endpoint that is
//! not served).
//!
//! | release | master writes (ZK) | detector reads          | scheduler launches with          | scheduler acks with                     | master endpoints |
//! |---------|--------------------|-------------------------|----------------------------------|-----------------------------------------|------------------|
//! | 0.22    | `info_` (binary)   | `info_` only            | `LaunchTasksMessage`             | `StatusUpdateAcknowledgementMessage` → agent | `stats.json`, `state.json`, `shutdown`, `redirect` |
//! | 0.23    | `info_` (binary)   | `json.info_`, `info_`   | `mesos.scheduler.Call` ACCEPT    | `mesos.scheduler.Call` ACKNOWLEDGE → master | `state.json`, `shutdown`, `teardown`, `redirect` |
//! | 0.24    | `json.info_`       | `json.info_`, `info_`   | `mesos.scheduler.Call` ACCEPT    | `mesos.scheduler.Call` ACKNOWLEDGE → master | `state.json`, `teardown`, `redirect` |
//!
//! The v1 HTTP APIs (JSON per the protobuf mapping, event streams framed
//! with RecordIO, see [`crate::recordio`]):
//!
//! | release | `/api/v1/scheduler` (master) | non-leader answers | `Mesos-Stream-Id` | scheduler speaks | `/api/v1/executor` (agent), executor speaks | maintenance, inverse offers | scalars | other |
//! |---------|------------------------------|--------------------|-------------------|------------------|-----------------------------------|------------------------------|---------|-------|
//! | 0.22–0.23 | —                          | —                  | —                 | driver (libprocess) | — , libprocess                 | —                            | as given | |
//! | 0.24    | served                       | 503                | —                 | driver           | — , libprocess                    | —                            | as given | |
//! | 0.25    | served                       | 503                | —                 | driver           | — , libprocess                    | `/maintenance/*`, `/machine/*`; inside OFFERS | as given | `/master/state` |
//! | 0.28    | served                       | 307 → leader       | required          | v1 HTTP          | served, v1 HTTP                   | inside OFFERS                | 3 decimals | `/version` |
//! | 1.0     | served                       | 307 → leader       | required          | v1 HTTP          | served, v1 HTTP                   | INVERSE_OFFERS events        | 3 decimals | operator `POST /api/v1` |
//!
//! Driver-based (libprocess) schedulers of every release ignore inverse
//! offers, as Mesos's scheduler driver does. v1 scheduler call types per
//! release: [`Caps::v1_scheduler_calls`] (SUPPRESS from 0.25, the inverse
//! offer calls from 1.0; before 1.0 inverse offers are answered with
//! ACCEPT / DECLINE, see [`InverseOfferEvent`]).

use std::cmp::Ordering;
use std::fmt;

/// The release this binary was built as.
pub const BUILT: &str = env!("TINYMESOS_RELEASE");

/// The releases this crate can be built as, oldest first.
pub const KNOWN: &[&str] = &["0.22", "0.23", "0.24", "0.25", "0.28", "1.0"];

/// A znode label under the ZooKeeper path: `info_0000000003` has label
/// `info`, `json.info_0000000004` has label `json.info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// `info_`: MasterInfo in the binary (protobuf wire) encoding.
    Info,
    /// `json.info_`: MasterInfo as JSON.
    JsonInfo,
}

impl Label {
    pub fn prefix(self) -> &'static str {
        match self {
            Label::Info => "info",
            Label::JsonInfo => "json.info",
        }
    }

    pub fn from_prefix(p: &str) -> Option<Label> {
        match p {
            "info" => Some(Label::Info),
            "json.info" => Some(Label::JsonInfo),
            _ => None,
        }
    }
}

/// How a scheduler launches tasks on offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchProtocol {
    /// `mesos.internal.LaunchTasksMessage` (declines are launches of no task).
    LaunchTasksMessage,
    /// `mesos.scheduler.Call` of type ACCEPT with LAUNCH operations (and
    /// DECLINE calls).
    AcceptCall,
}

/// How a scheduler acknowledges status updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckProtocol {
    /// `mesos.internal.StatusUpdateAcknowledgementMessage` sent straight to
    /// the agent that sent the update.
    AckMessageToAgent,
    /// `mesos.scheduler.Call` of type ACKNOWLEDGE sent to the master, which
    /// forwards it to the agent.
    AcknowledgeCall,
}

/// How a non-leading master answers a v1 API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonLeader {
    /// `503 Service Unavailable` (0.24–0.26): the client finds the leader
    /// itself.
    Unavailable,
    /// `307 Temporary Redirect` with `Location: //<leader host>:<port>/...`
    /// (0.27+).
    Redirect,
}

/// The API a scheduler (framework) of this release is written against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerApi {
    /// The scheduler driver: libprocess messages ([`LaunchProtocol`],
    /// [`AckProtocol`] say which ones).
    Driver,
    /// `POST /api/v1/scheduler` with JSON and a RecordIO event stream.
    V1Http,
}

/// The API an executor of this release is written against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorApi {
    /// The executor driver: libprocess messages to and from the agent.
    Driver,
    /// `POST /api/v1/executor` on the agent.
    V1Http,
}

/// Where inverse offers travel to v1 HTTP frameworks, and how they are
/// answered and rescinded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InverseOfferEvent {
    /// In the `inverse_offers` field of the OFFERS event (0.25–0.28; to
    /// driver frameworks in `ResourceOffersMessage.inverse_offers`). The
    /// framework answers with ACCEPT / DECLINE naming the inverse offer's id
    /// among its `offer_ids`; a rescinded one is a RESCIND
    /// (`RescindResourceOfferMessage`).
    InsideOffers,
    /// As their own INVERSE_OFFERS event (1.0; `InverseOffersMessage` to
    /// driver frameworks), answered with ACCEPT_INVERSE_OFFERS /
    /// DECLINE_INVERSE_OFFERS and rescinded with RESCIND_INVERSE_OFFER
    /// (`RescindInverseOfferMessage`).
    Separate,
}

/// What one release speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caps {
    pub release: &'static str,
    /// Labels a master writes its MasterInfo under when it contends.
    pub writes: &'static [Label],
    /// Labels a detector (agent, scheduler, non-leading master) can read,
    /// in order of preference.
    pub reads: &'static [Label],
    pub launch: LaunchProtocol,
    pub ack: AckProtocol,
    /// The master installs a handler for `mesos.scheduler.Call`.
    pub master_handles_calls: bool,
    /// HTTP endpoints the master serves (besides message delivery).
    pub master_endpoints: &'static [&'static str],
    /// HTTP endpoints the agent serves (besides message delivery).
    pub agent_endpoints: &'static [&'static str],
    /// The master serves `/api/v1/scheduler`.
    pub v1_scheduler_api: bool,
    /// How a non-leading master answers v1 calls.
    pub non_leader: NonLeader,
    /// The master returns `Mesos-Stream-Id` on SUBSCRIBE and requires it on
    /// every other call (400 otherwise).
    pub stream_id: bool,
    /// What this release's scheduler speaks.
    pub scheduler_api: SchedulerApi,
    /// What this release's executor speaks (the agent serves
    /// `/api/v1/executor` from the same release on).
    pub executor_api: ExecutorApi,
    /// Maintenance primitives: schedules, DRAINING/DOWN machines, inverse
    /// offers.
    pub maintenance: bool,
    /// How v1 frameworks get inverse offers.
    pub inverse_offers: InverseOfferEvent,
    /// Decimal places scalar resources are rounded to (0.28: fixed point
    /// with three decimals); `None` keeps them as given.
    pub scalar_decimals: Option<u32>,
    /// The `Call.Type` values of the release's v1 scheduler API (what
    /// `/api/v1/scheduler` accepts): SUPPRESS from 0.25,
    /// ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS from 1.0. Any other
    /// type is not in the release's enum (400). Empty without the API.
    pub v1_scheduler_calls: &'static [&'static str],
}

const V1_CALLS_0_24: &[&str] = &[
    "SUBSCRIBE",
    "TEARDOWN",
    "ACCEPT",
    "DECLINE",
    "REVIVE",
    "KILL",
    "SHUTDOWN",
    "ACKNOWLEDGE",
    "RECONCILE",
    "MESSAGE",
    "REQUEST",
];
const V1_CALLS_0_25: &[&str] = &[
    "SUBSCRIBE",
    "TEARDOWN",
    "ACCEPT",
    "DECLINE",
    "REVIVE",
    "SUPPRESS",
    "KILL",
    "SHUTDOWN",
    "ACKNOWLEDGE",
    "RECONCILE",
    "MESSAGE",
    "REQUEST",
];
const V1_CALLS_1_0: &[&str] = &[
    "SUBSCRIBE",
    "TEARDOWN",
    "ACCEPT",
    "DECLINE",
    "ACCEPT_INVERSE_OFFERS",
    "DECLINE_INVERSE_OFFERS",
    "REVIVE",
    "SUPPRESS",
    "KILL",
    "SHUTDOWN",
    "ACKNOWLEDGE",
    "RECONCILE",
    "MESSAGE",
    "REQUEST",
];

const MASTER_0_22: &[&str] = &[
    "/health",
    "/metrics/snapshot",
    "/master/health",
    "/master/state.json",
    "/master/stats.json",
    "/master/shutdown",
    "/master/redirect",
];
const MASTER_0_23: &[&str] = &[
    "/health",
    "/metrics/snapshot",
    "/master/health",
    "/master/state.json",
    "/master/shutdown",
    "/master/teardown",
    "/master/redirect",
];
const MASTER_0_24: &[&str] = &[
    "/health",
    "/metrics/snapshot",
    "/master/health",
    "/master/state.json",
    "/master/teardown",
    "/master/redirect",
    "/api/v1/scheduler",
];
const MASTER_0_25: &[&str] = &[
    "/health",
    "/metrics/snapshot",
    "/master/health",
    "/master/state.json",
    "/master/state",
    "/master/teardown",
    "/master/redirect",
    "/api/v1/scheduler",
    "/maintenance/schedule",
    "/maintenance/status",
    "/machine/down",
    "/machine/up",
];
const MASTER_0_28: &[&str] = &[
    "/health",
    "/version",
    "/metrics/snapshot",
    "/master/health",
    "/master/state.json",
    "/master/state",
    "/master/teardown",
    "/master/redirect",
    "/api/v1/scheduler",
    "/maintenance/schedule",
    "/maintenance/status",
    "/machine/down",
    "/machine/up",
];
const MASTER_1_0: &[&str] = &[
    "/health",
    "/version",
    "/metrics/snapshot",
    "/master/health",
    "/master/state.json",
    "/master/state",
    "/master/teardown",
    "/master/redirect",
    "/api/v1/scheduler",
    "/api/v1",
    "/maintenance/schedule",
    "/maintenance/status",
    "/machine/down",
    "/machine/up",
];
const AGENT_0_22: &[&str] = &[
    "/health",
    "/metrics/snapshot",
    "/slave(1)/health",
    "/slave(1)/state.json",
    "/slave(1)/stats.json",
];
const AGENT_0_23: &[&str] = &[
    "/health",
    "/metrics/snapshot",
    "/slave(1)/health",
    "/slave(1)/state.json",
];
const AGENT_0_25: &[&str] = &[
    "/health",
    "/metrics/snapshot",
    "/slave(1)/health",
    "/slave(1)/state.json",
    "/slave(1)/state",
];
const AGENT_0_28: &[&str] = &[
    "/health",
    "/version",
    "/metrics/snapshot",
    "/slave(1)/health",
    "/slave(1)/state.json",
    "/slave(1)/state",
    "/api/v1/executor",
];

impl Caps {
    /// The capability table. `None` for a release this crate does not know.
    pub fn of(release: &str) -> Option<Caps> {
        let caps = match release {
            "0.22" => Caps {
                release: "0.22",
                writes: &[Label::Info],
                reads: &[Label::Info],
                launch: LaunchProtocol::LaunchTasksMessage,
                ack: AckProtocol::AckMessageToAgent,
                master_handles_calls: false,
                master_endpoints: MASTER_0_22,
                agent_endpoints: AGENT_0_22,
                v1_scheduler_api: false,
                non_leader: NonLeader::Unavailable,
                stream_id: false,
                scheduler_api: SchedulerApi::Driver,
                executor_api: ExecutorApi::Driver,
                maintenance: false,
                inverse_offers: InverseOfferEvent::InsideOffers,
                scalar_decimals: None,
                v1_scheduler_calls: &[],
            },
            "0.23" => Caps {
                release: "0.23",
                writes: &[Label::Info],
                reads: &[Label::JsonInfo, Label::Info],
                launch: LaunchProtocol::AcceptCall,
                ack: AckProtocol::AcknowledgeCall,
                master_handles_calls: true,
                master_endpoints: MASTER_0_23,
                agent_endpoints: AGENT_0_23,
                v1_scheduler_api: false,
                non_leader: NonLeader::Unavailable,
                stream_id: false,
                scheduler_api: SchedulerApi::Driver,
                executor_api: ExecutorApi::Driver,
                maintenance: false,
                inverse_offers: InverseOfferEvent::InsideOffers,
                scalar_decimals: None,
                v1_scheduler_calls: &[],
            },
            "0.24" => Caps {
                release: "0.24",
                writes: &[Label::JsonInfo],
                reads: &[Label::JsonInfo, Label::Info],
                launch: LaunchProtocol::AcceptCall,
                ack: AckProtocol::AcknowledgeCall,
                master_handles_calls: true,
                master_endpoints: MASTER_0_24,
                agent_endpoints: AGENT_0_23,
                v1_scheduler_api: true,
                non_leader: NonLeader::Unavailable,
                stream_id: false,
                scheduler_api: SchedulerApi::Driver,
                executor_api: ExecutorApi::Driver,
                maintenance: false,
                inverse_offers: InverseOfferEvent::InsideOffers,
                scalar_decimals: None,
                v1_scheduler_calls: V1_CALLS_0_24,
            },
            "0.25" => Caps {
                release: "0.25",
                writes: &[Label::JsonInfo],
                reads: &[Label::JsonInfo, Label::Info],
                launch: LaunchProtocol::AcceptCall,
                ack: AckProtocol::AcknowledgeCall,
                master_handles_calls: true,
                master_endpoints: MASTER_0_25,
                agent_endpoints: AGENT_0_25,
                v1_scheduler_api: true,
                non_leader: NonLeader::Unavailable,
                stream_id: false,
                scheduler_api: SchedulerApi::Driver,
                executor_api: ExecutorApi::Driver,
                maintenance: true,
                inverse_offers: InverseOfferEvent::InsideOffers,
                scalar_decimals: None,
                v1_scheduler_calls: V1_CALLS_0_25,
            },
            "0.28" => Caps {
                release: "0.28",
                writes: &[Label::JsonInfo],
                reads: &[Label::JsonInfo, Label::Info],
                launch: LaunchProtocol::AcceptCall,
                ack: AckProtocol::AcknowledgeCall,
                master_handles_calls: true,
                master_endpoints: MASTER_0_28,
                agent_endpoints: AGENT_0_28,
                v1_scheduler_api: true,
                non_leader: NonLeader::Redirect,
                stream_id: true,
                scheduler_api: SchedulerApi::V1Http,
                executor_api: ExecutorApi::V1Http,
                maintenance: true,
                inverse_offers: InverseOfferEvent::InsideOffers,
                scalar_decimals: Some(3),
                v1_scheduler_calls: V1_CALLS_0_25,
            },
            "1.0" => Caps {
                release: "1.0",
                writes: &[Label::JsonInfo],
                reads: &[Label::JsonInfo, Label::Info],
                launch: LaunchProtocol::AcceptCall,
                ack: AckProtocol::AcknowledgeCall,
                master_handles_calls: true,
                master_endpoints: MASTER_1_0,
                agent_endpoints: AGENT_0_28,
                v1_scheduler_api: true,
                non_leader: NonLeader::Redirect,
                stream_id: true,
                scheduler_api: SchedulerApi::V1Http,
                executor_api: ExecutorApi::V1Http,
                maintenance: true,
                inverse_offers: InverseOfferEvent::Separate,
                scalar_decimals: Some(3),
                v1_scheduler_calls: V1_CALLS_1_0,
            },
            _ => return None,
        };
        Some(caps)
    }

    /// The capabilities of the release this binary was built as.
    pub fn built() -> Caps {
        Caps::of(BUILT).expect("build.rs only accepts known releases")
    }

    /// A scalar resource as this release stores it.
    pub fn scalar(&self, v: f64) -> f64 {
        match self.scalar_decimals {
            Some(d) => {
                let f = 10f64.powi(d as i32);
                (v * f).round() / f
            }
            None => v,
        }
    }

    /// The full version string, as Mesos prints it (`0.23.0`).
    pub fn version(&self) -> String {
        format!("{}.0", self.release)
    }

    pub fn master_serves(&self, path: &str) -> bool {
        self.master_endpoints.contains(&path)
    }

    pub fn agent_serves(&self, path: &str) -> bool {
        self.agent_endpoints.contains(&path)
    }

    pub fn reads_label(&self, l: Label) -> bool {
        self.reads.contains(&l)
    }
}

/// Compares dotted release numbers numerically (`0.9 < 0.10`).
pub fn compare(a: &str, b: &str) -> Ordering {
    let parse = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (a, b) = (parse(a), parse(b));
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_release_has_a_row_and_nothing_else_does() {
        for r in KNOWN {
            assert_eq!(Caps::of(r).unwrap().release, *r);
        }
        for r in ["0.21", "0.26", "1.1", "", "0.23.0"] {
            assert!(Caps::of(r).is_none(), "{r}");
        }
        assert!(KNOWN.contains(&BUILT));
        assert!(KNOWN.windows(2).all(|w| compare(w[0], w[1]).is_lt()));
    }

    #[test]
    fn zookeeper_labels_by_release() {
        let c22 = Caps::of("0.22").unwrap();
        let c23 = Caps::of("0.23").unwrap();
        let c24 = Caps::of("0.24").unwrap();
        assert_eq!(c22.writes, [Label::Info]);
        assert_eq!(c23.writes, [Label::Info]);
        assert_eq!(c24.writes, [Label::JsonInfo]);
        assert!(c22.reads_label(Label::Info) && !c22.reads_label(Label::JsonInfo));
        for c in [&c23, &c24] {
            assert_eq!(c.reads, [Label::JsonInfo, Label::Info], "json preferred");
        }
        // What a release writes, its own detectors and every later one read.
        for (i, w) in KNOWN.iter().enumerate() {
            for r in &KNOWN[i..] {
                let (w, r) = (Caps::of(w).unwrap(), Caps::of(r).unwrap());
                assert!(w.writes.iter().all(|l| r.reads_label(*l)));
            }
        }
        // ... but a 0.22 detector cannot read what a 0.24 master writes.
        assert!(!c24.writes.iter().any(|l| c22.reads_label(*l)));
    }

    #[test]
    fn scheduler_protocol_by_release() {
        let c22 = Caps::of("0.22").unwrap();
        let c23 = Caps::of("0.23").unwrap();
        let c24 = Caps::of("0.24").unwrap();
        assert_eq!(c22.launch, LaunchProtocol::LaunchTasksMessage);
        assert_eq!(c22.ack, AckProtocol::AckMessageToAgent);
        assert!(!c22.master_handles_calls);
        for c in [&c23, &c24] {
            assert_eq!(c.launch, LaunchProtocol::AcceptCall);
            assert_eq!(c.ack, AckProtocol::AcknowledgeCall);
            assert!(c.master_handles_calls);
        }
        assert!(c24.v1_scheduler_api && !c24.maintenance);
    }

    #[test]
    fn endpoints_by_release() {
        let c22 = Caps::of("0.22").unwrap();
        let c23 = Caps::of("0.23").unwrap();
        let c24 = Caps::of("0.24").unwrap();
        assert!(
            c22.master_serves("/master/stats.json") && !c23.master_serves("/master/stats.json")
        );
        assert!(!c22.master_serves("/master/teardown") && c23.master_serves("/master/teardown"));
        assert!(c23.master_serves("/master/shutdown") && !c24.master_serves("/master/shutdown"));
        for c in [&c22, &c23, &c24] {
            for p in [
                "/master/state.json",
                "/metrics/snapshot",
                "/health",
                "/master/redirect",
            ] {
                assert!(c.master_serves(p), "{} {p}", c.release);
            }
            assert!(c.agent_serves("/slave(1)/state.json"));
        }
        assert!(
            c22.agent_serves("/slave(1)/stats.json") && !c23.agent_serves("/slave(1)/stats.json")
        );
        assert_eq!(c23.version(), "0.23.0");
    }

    #[test]
    fn v1_apis_by_release() {
        let c = |r| Caps::of(r).unwrap();
        assert!(!c("0.23").v1_scheduler_api && !c("0.23").master_serves("/api/v1/scheduler"));
        for r in ["0.24", "0.25", "0.28", "1.0"] {
            assert!(
                c(r).v1_scheduler_api && c(r).master_serves("/api/v1/scheduler"),
                "{r}"
            );
        }
        assert_eq!(c("0.25").non_leader, NonLeader::Unavailable);
        assert_eq!(c("0.28").non_leader, NonLeader::Redirect);
        assert!(!c("0.25").stream_id && c("0.28").stream_id && c("1.0").stream_id);
        assert_eq!(c("0.25").scheduler_api, SchedulerApi::Driver);
        assert_eq!(c("0.28").scheduler_api, SchedulerApi::V1Http);
        assert_eq!(c("0.25").executor_api, ExecutorApi::Driver);
        assert!(!c("0.25").agent_serves("/api/v1/executor"));
        for r in ["0.28", "1.0"] {
            assert_eq!(c(r).executor_api, ExecutorApi::V1Http);
            assert!(c(r).agent_serves("/api/v1/executor"));
        }
        assert_eq!(c("0.28").inverse_offers, InverseOfferEvent::InsideOffers);
        assert_eq!(c("1.0").inverse_offers, InverseOfferEvent::Separate);
        assert!(c("1.0").master_serves("/api/v1") && !c("0.28").master_serves("/api/v1"));
        let calls = |r| c(r).v1_scheduler_calls;
        assert!(calls("0.23").is_empty() && calls("0.24").contains(&"ACCEPT"));
        assert!(!calls("0.24").contains(&"SUPPRESS") && calls("0.25").contains(&"SUPPRESS"));
        assert!(!calls("0.28").contains(&"ACCEPT_INVERSE_OFFERS"));
        assert!(calls("1.0").contains(&"DECLINE_INVERSE_OFFERS"));
    }

    #[test]
    fn maintenance_and_versions_by_release() {
        let c = |r| Caps::of(r).unwrap();
        for r in ["0.22", "0.23", "0.24"] {
            assert!(!c(r).maintenance && !c(r).master_serves("/maintenance/schedule"));
            assert!(!c(r).master_serves("/master/state"));
        }
        for r in ["0.25", "0.28", "1.0"] {
            assert!(c(r).maintenance, "{r}");
            for p in [
                "/maintenance/schedule",
                "/maintenance/status",
                "/machine/down",
                "/machine/up",
                "/master/state",
            ] {
                assert!(c(r).master_serves(p), "{r} {p}");
            }
        }
        for r in ["0.22", "0.23", "0.24", "0.25"] {
            assert!(
                !c(r).master_serves("/version") && !c(r).agent_serves("/version"),
                "{r}"
            );
        }
        assert!(c("0.28").master_serves("/version") && c("1.0").agent_serves("/version"));
        assert_eq!(c("0.25").scalar(0.12345), 0.12345);
        assert_eq!(c("0.28").scalar(0.12345), 0.123);
        assert_eq!(c("1.0").scalar(1.0005), 1.001);
    }

    #[test]
    fn compares_numerically() {
        assert!(compare("0.9", "0.10").is_lt());
        assert!(compare("0.24", "1.0").is_lt());
        assert!(compare("1.0", "1").is_eq());
    }
}
