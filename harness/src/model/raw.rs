//! The files as written: serde structs that keep spans, deserialized without any I/O or checks beyond
//! TOML types and unknown keys. `load` turns them into the validated model.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatrix {
    pub system: S<RawSystem>,
    pub build: Option<RawBuild>,
    #[serde(default)]
    pub image: Vec<S<RawImage>>,
    #[serde(default)]
    pub roles: IndexMap<String, S<RawRole>>,
    #[serde(default)]
    pub services: IndexMap<String, S<RawRole>>,
    pub matrix: Option<S<RawCells>>,
    #[serde(default)]
    pub subsets: IndexMap<String, S<RawSubset>>,
    pub api: Option<S<RawApi>>,
}

/// `[api]`: where each release's API definition is, and which messages each pair of roles
/// exchanges (issue 17: what a change between two releases puts at risk).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    /// A folder template (`"apis/mesos/{release}.0"`) or a table release → folder.
    pub definitions: S<toml::Value>,
    #[serde(default)]
    pub interface: Vec<S<RawInterface>>,
}

/// `[[api.interface]]`: what `from` sends to `to`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInterface {
    pub from: S<String>,
    pub to: S<String>,
    /// Messages, enums or packages by full name (`mesos.v1.scheduler.Call`, `mesos.internal`).
    pub messages: S<Vec<S<String>>>,
}

/// `[subsets.NAME]`: a named selection of trials.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSubset {
    #[serde(default)]
    pub about: String,
    pub trials: S<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSystem {
    pub name: S<String>,
    pub releases: S<Vec<S<String>>>,
    /// Directory of scenario files, relative to the matrix file. Default `scenarios/<name>`.
    pub scenarios: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBuild {
    pub prepare: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawImage {
    pub name: S<String>,
    pub context: S<String>,
    pub dockerfile: Option<String>,
    #[serde(default)]
    pub args: IndexMap<String, S<String>>,
    pub releases: Option<Vec<S<String>>>,
    /// Files from elsewhere in the repository added to the context's root (shared between images).
    #[serde(default)]
    pub include: Vec<S<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRole {
    /// Another role whose keys this one takes, but those it sets itself (members of one cluster
    /// written once: `[roles.b] like = "a"`).
    pub like: Option<S<String>>,
    /// A template string, or a table release → image (required, unless `like` gives it).
    pub image: Option<S<toml::Value>>,
    pub replicas: Option<S<i64>>,
    pub entrypoint: Option<Vec<S<String>>>,
    pub command: Option<Vec<S<String>>>,
    #[serde(default)]
    pub env: IndexMap<String, S<String>>,
    pub data: Option<S<String>>,
    pub ready: Option<S<RawReady>>,
    pub leader: Option<S<RawLeader>>,
    #[serde(default)]
    pub actions: IndexMap<String, S<RawAction>>,
    pub stop_timeout: Option<S<String>>,
    /// A regex for the component's error lines in its log (quoted when it exits).
    pub error_lines: Option<S<String>>,
    /// Services only: the release they run at.
    pub release: Option<S<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReady {
    pub log: Option<String>,
    pub exec: Option<Vec<S<String>>>,
    pub http: Option<S<RawHttp>>,
    pub tcp: Option<S<i64>>,
    pub timeout: Option<S<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub port: S<i64>,
    #[serde(default = "root_path")]
    pub path: S<String>,
    pub method: Option<S<String>>,
    pub body: Option<S<String>>,
    pub status: Option<S<i64>>,
}

fn root_path() -> S<String> {
    // A default carries no position of its own; an error about it points at the enclosing table.
    S::new(0..0, "/".to_string())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLeader {
    pub action: S<String>,
    pub pointer: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAction {
    pub exec: Option<Vec<S<String>>>,
    pub http: Option<S<RawHttp>>,
    pub timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCells {
    pub vary: Option<Vec<S<String>>>,
    pub releases: Option<Vec<S<String>>>,
    #[serde(default)]
    pub fixed: IndexMap<String, S<String>>,
    #[serde(default)]
    pub exclude: Vec<S<IndexMap<String, S<String>>>>,
    #[serde(default)]
    pub scenarios: Vec<S<String>>,
    #[serde(default)]
    pub paths: Vec<S<RawPath>>,
    /// The most trials the matrix may plan (default 10,000).
    pub max_trials: Option<S<i64>>,
    /// Which cells of the product run: `"all"` (default), `"pairwise"`, or `{ t = 3 }`.
    pub strategy: Option<S<toml::Value>>,
    /// Seed of a covering strategy's search (default 0).
    pub seed: Option<S<i64>>,
    /// Skew rules: comparisons of roles' releases by position (`"scheduler <= master"`).
    #[serde(default)]
    pub require: Vec<S<String>>,
    /// Groups of varying roles that are interchangeable members of one cluster (`[["a", "b",
    /// "c"]]`): cells and upgrade orders that differ only by which member holds which release are
    /// one.
    #[serde(default)]
    pub interchangeable: Vec<S<Vec<S<String>>>>,
    /// Cells that must run whatever the strategy chooses.
    #[serde(default)]
    pub include: Vec<S<IndexMap<String, S<String>>>>,
    /// The upgrades the project promises, as generated paths.
    pub policy: Option<S<RawPolicy>>,
    /// Path trials drawn from a seed.
    pub random: Option<S<RawRandom>>,
}

/// `[matrix.random]`: `trials` upgrade plans drawn from `seed` around a path scenario's start,
/// workload, per-state checks and final checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRandom {
    pub trials: S<i64>,
    #[serde(default)]
    pub seed: Option<S<i64>>,
    pub scenario: S<String>,
    /// At most this many hops per plan (default 2).
    pub hops: Option<S<i64>>,
    /// The chance of a rollback part-way through a hop (default 0).
    pub rollback: Option<S<f64>>,
    /// The most steps a plan may have (default 200).
    pub max_steps: Option<S<i64>>,
    /// Faults inserted in the plans' mixed-version states (none without the table).
    pub faults: Option<S<RawFaults>>,
}

/// `[matrix.random.faults]`: the chance of a fault in each mixed-version state of a drawn plan, and
/// which faults on which roles.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFaults {
    /// From 0 to 1: an integer or a float.
    pub probability: S<toml::Value>,
    /// Weight per kind (`pause`, `isolate`, `partition`, `loss`, `throttle`, `delay`); the kinds
    /// not listed weigh 0. Without it, every kind but `delay` weighs 1.
    pub kinds: Option<S<IndexMap<String, S<toml::Value>>>>,
    /// Roles (or services) that may be faulted (default: every role).
    pub roles: Option<S<Vec<S<String>>>>,
    /// Roles whose replicas together form one quorum group (each other role is one on its own).
    #[serde(default)]
    pub quorum: Vec<S<Vec<S<String>>>>,
    /// Never take down a majority of a quorum group (default true).
    pub keep_quorum: Option<S<bool>>,
    /// How long each fault holds before it is undone (default 10s).
    pub hold: Option<S<String>>,
    /// `loss`: the share of packets dropped (default 30).
    pub percent: Option<S<toml::Value>>,
    /// `throttle`: the rate (default 1mbit).
    pub rate: Option<S<String>>,
    /// `delay`: how long packets are held back (default 100ms).
    pub delay: Option<S<String>>,
}

/// `[matrix.policy]`: the latest `supported` releases are supported, and `upgrades` says which
/// upgrades between them are direct; each runs `scenarios`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub supported: S<i64>,
    pub upgrades: S<String>,
    pub scenarios: Vec<S<String>>,
    /// Path scenarios run as negative trials on the upgrades into a supported release that the
    /// policy does not promise.
    #[serde(default)]
    pub unpromised: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPath {
    pub from: S<String>,
    pub to: S<String>,
    #[serde(default)]
    pub scenarios: Vec<S<String>>,
    /// Roles that start at these releases on this path instead of at `from` (a pinned client).
    #[serde(default)]
    pub fixed: IndexMap<String, S<String>>,
    /// Releases passed through on the way, in order: each hop runs the scenario's moves.
    #[serde(default)]
    pub via: Vec<S<String>>,
    /// Orders of the roles' moves to run: `"all"` or a list of role lists.
    pub orders: Option<S<toml::Value>>,
}

/// A scenario file but its `[[step]]` and `[[each_state]]` tables, which each step kind reads on
/// its own (`crate::step`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub name: Option<S<String>>,
    pub kind: S<String>,
    #[serde(default)]
    pub description: String,
    pub timeout: Option<S<String>>,
    /// A cell scenario: the cells it runs in (`when = "node >= 1.1 and client >= 1.1"`).
    pub when: Option<S<String>>,
    /// What a scenario file run on its own (`--scenario-file`) is a trial of.
    pub trial: Option<S<RawTrialTarget>>,
}

/// `[trial]` of a scenario file run on its own: a path's releases, or the start of every role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrialTarget {
    pub from: Option<S<String>>,
    pub to: Option<S<String>>,
    /// Roles starting elsewhere than `from` (every role, in a cell scenario).
    #[serde(default)]
    pub start: IndexMap<String, S<String>>,
}
