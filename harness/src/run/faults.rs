//! The faults in effect in a trial, how each is applied and undone, and the window each is drawn as.
//!
//! - pause: the engine's pause of the replica's container; undone by unpausing it.
//! - isolate: the engine's network disconnect; undone by connecting it again under its name.
//! - partition, loss, throttle, delay: iptables rules and tc qdiscs in the replica's network
//!   namespace, added from a network-tools helper container that shares it (started once per
//!   replica container, with `NET_ADMIN`, carrying the trial's labels so that teardown and `gc`
//!   remove it); undone by the commands that take exactly those rules and qdiscs back.
//!
//! A fault belongs to the container it was applied to: a replica stopped, restarted or moved
//! leaves its faults with its old container (a paused one is thawed first, see
//! [`Cluster::stop`]), and their windows end at that step. Whatever is still in effect when the
//! trial ends, however it ends, is undone by [`Faults::end`] before teardown.

use std::net::IpAddr;

use indexmap::IndexMap;
use tokio::time::Instant;

use super::cluster::Cluster;
use super::error::StepError;
use crate::outcome::FaultWindow;
use crate::runtime::{ContainerSpec, EngineError};
use crate::step::{Shaping, NET_TOOLS_IMAGE};

/// Label that marks a helper among a trial's containers; its value says which (`net-tools`, or
/// `relay`: the trial's way to its replicas through the engine).
pub(crate) const LABEL_HELPER: &str = "crossgrade.helper";

/// Commands run in one replica's helper.
#[derive(Debug, Clone)]
struct InNamespace {
    replica: String,
    container: String,
    commands: Vec<Vec<String>>,
}

#[derive(Debug, Clone)]
enum Applied {
    Pause {
        container: String,
    },
    Isolate {
        container: String,
    },
    /// What takes the rules or qdiscs back, per replica. `qdisc`: it holds the replica's root
    /// qdisc (a throttle or a delay; one at a time).
    Net {
        undo: Vec<InNamespace>,
        qdisc: bool,
    },
}

#[derive(Debug, Clone)]
struct Active {
    window: usize,
    replicas: Vec<String>,
    applied: Applied,
}

/// A trial's faults: those in effect, and every window so far.
pub(crate) struct Faults {
    started: Instant,
    active: Vec<Active>,
    windows: Vec<FaultWindow>,
    /// Helper containers, by the container whose network namespace each shares.
    helpers: IndexMap<String, String>,
}

/// The container a fault can act on: the replica's, while it runs.
fn running(cluster: &Cluster, name: &str, doing: &str) -> Result<String, StepError> {
    let rep = cluster.replica(name);
    rep.container
        .filter(|_| !rep.stopped)
        .ok_or_else(|| StepError::fail(format!("cannot {doing} {name}: it is not running")))
}

/// An engine call on a container that went (or stopped) since: nothing left to undo.
fn gone(e: &EngineError) -> bool {
    e.is_not_found() || e.is_conflict()
}

impl Faults {
    pub(crate) fn new(started: Instant) -> Faults {
        Faults {
            started,
            active: vec![],
            windows: vec![],
            helpers: IndexMap::new(),
        }
    }

    /// Every window so far, in the order the faults started.
    pub(crate) fn windows(&self) -> Vec<FaultWindow> {
        self.windows.clone()
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn open(
        &mut self,
        kind: &str,
        description: String,
        replicas: Vec<String>,
        step: usize,
        applied: Applied,
    ) {
        let now = self.now_ms();
        self.windows.push(FaultWindow {
            kind: kind.into(),
            description,
            replicas: replicas.clone(),
            from_step: step,
            until_step: None,
            ended_by: String::new(),
            started_ms: now,
            ended_ms: now,
        });
        self.active.push(Active {
            window: self.windows.len() - 1,
            replicas,
            applied,
        });
    }

    fn close(&mut self, window: usize, step: Option<usize>, by: String) {
        let now = self.now_ms();
        let w = &mut self.windows[window];
        w.until_step = step;
        w.ended_by = by;
        w.ended_ms = now;
    }

    /// The fault of this kind on this container in effect, if any: which step started it.
    fn in_effect(&self, container: &str, which: impl Fn(&Applied) -> bool) -> Option<usize> {
        self.active
            .iter()
            .find(|a| {
                which(&a.applied)
                    && match &a.applied {
                        Applied::Pause { container: c } | Applied::Isolate { container: c } => {
                            c == container
                        }
                        Applied::Net { undo, .. } => undo.iter().any(|u| u.container == container),
                    }
            })
            .map(|a| self.windows[a.window].from_step)
    }

    pub(crate) async fn pause(
        &mut self,
        cluster: &Cluster,
        name: &str,
        step: usize,
    ) -> Result<(), StepError> {
        let id = running(cluster, name, "pause")?;
        if let Some(at) = self.in_effect(&id, |a| matches!(a, Applied::Pause { .. })) {
            return Err(StepError::harness(format!(
                "{name} is paused already (since step {at})"
            )));
        }
        match cluster.backend.pause(&id).await {
            Err(e) if gone(&e) => {
                return Err(StepError::fail(format!(
                    "cannot pause {name}: it is not running ({e})"
                )))
            }
            r => r?,
        }
        cluster.mark_paused(name, true);
        self.open(
            "pause",
            format!("pause {name}"),
            vec![name.to_string()],
            step,
            Applied::Pause { container: id },
        );
        Ok(())
    }

    /// Thaws the paused replicas among `names` (all of them without it); returns those thawed.
    pub(crate) async fn resume(
        &mut self,
        cluster: &Cluster,
        names: Option<&[String]>,
        step: usize,
    ) -> Result<Vec<String>, StepError> {
        let chosen = |a: &Active| {
            matches!(a.applied, Applied::Pause { .. })
                && names.is_none_or(|n| a.replicas.iter().any(|r| n.contains(r)))
        };
        let mut done = Vec::new();
        let mut taken = self.take(chosen).into_iter();
        while let Some(a) = taken.next() {
            if let Err(e) = self.undo(cluster, &a).await {
                // Still in effect: the trial's end tries again.
                self.active.push(a);
                self.active.extend(taken);
                return Err(e);
            }
            self.close(a.window, Some(step), format!("step {step}"));
            done.extend(a.replicas);
        }
        Ok(done)
    }

    pub(crate) async fn isolate(
        &mut self,
        cluster: &Cluster,
        name: &str,
        step: usize,
    ) -> Result<(), StepError> {
        let id = running(cluster, name, "isolate")?;
        if let Some(at) = self.in_effect(&id, |a| matches!(a, Applied::Isolate { .. })) {
            return Err(StepError::harness(format!(
                "{name} is isolated already (since step {at})"
            )));
        }
        cluster.backend.disconnect(&id, &cluster.network).await?;
        self.open(
            "isolate",
            format!("isolate {name}"),
            vec![name.to_string()],
            step,
            Applied::Isolate { container: id },
        );
        Ok(())
    }

    /// Drops every packet between replicas of different groups, in each one's namespace.
    pub(crate) async fn partition(
        &mut self,
        cluster: &Cluster,
        groups: &[Vec<String>],
        step: usize,
    ) -> Result<(), StepError> {
        let mut addresses: IndexMap<String, (String, IpAddr)> = IndexMap::new();
        for n in groups.iter().flatten() {
            let id = running(cluster, n, "partition")?;
            let ip = cluster.replica(n).ip.ok_or_else(|| {
                StepError::harness(format!("{n} has no address on the trial's network"))
            })?;
            addresses.insert(n.clone(), (id, ip));
        }
        let mut undo = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            for n in group {
                let others: Vec<IpAddr> = groups
                    .iter()
                    .enumerate()
                    .filter(|(h, _)| *h != g)
                    .flat_map(|(_, o)| o.iter().map(|m| addresses[m].1))
                    .collect();
                let rule = |verb: &str, chain: &str, dir: &str, ip: &IpAddr| -> Vec<String> {
                    [
                        "iptables",
                        "-w",
                        verb,
                        chain,
                        dir,
                        &ip.to_string(),
                        "-j",
                        "DROP",
                    ]
                    .map(String::from)
                    .to_vec()
                };
                let (mut add, mut del) = (Vec::new(), Vec::new());
                for ip in &others {
                    add.push(rule("-I", "INPUT", "-s", ip));
                    add.push(rule("-I", "OUTPUT", "-d", ip));
                    del.push(rule("-D", "INPUT", "-s", ip));
                    del.push(rule("-D", "OUTPUT", "-d", ip));
                }
                let container = addresses[n].0.clone();
                self.apply(cluster, n, &container, &add).await?;
                undo.push(InNamespace {
                    replica: n.clone(),
                    container,
                    commands: del,
                });
            }
        }
        let shown: Vec<String> = groups.iter().map(|g| g.join(", ")).collect();
        self.open(
            "partition",
            format!("partition {}", shown.join(" | ")),
            groups.iter().flatten().cloned().collect(),
            step,
            Applied::Net { undo, qdisc: false },
        );
        Ok(())
    }

    /// Makes a replica's traffic lossy, throttled or late.
    pub(crate) async fn shape(
        &mut self,
        cluster: &Cluster,
        name: &str,
        how: &Shaping,
        step: usize,
    ) -> Result<(), StepError> {
        let id = running(cluster, name, "shape the traffic of")?;
        let (kind, add, del, qdisc) = match how {
            Shaping::Loss(percent) => {
                let p = format!("{:.4}", percent / 100.0);
                let rule = |verb: &str, chain: &str, iface: &str| -> Vec<String> {
                    [
                        "iptables",
                        "-w",
                        verb,
                        chain,
                        "!",
                        iface,
                        "lo",
                        "-m",
                        "statistic",
                        "--mode",
                        "random",
                        "--probability",
                        &p,
                        "-j",
                        "DROP",
                    ]
                    .map(String::from)
                    .to_vec()
                };
                (
                    "loss",
                    vec![rule("-I", "INPUT", "-i"), rule("-I", "OUTPUT", "-o")],
                    vec![rule("-D", "INPUT", "-i"), rule("-D", "OUTPUT", "-o")],
                    false,
                )
            }
            Shaping::Throttle(_) | Shaping::Delay(_) => {
                if let Some(at) =
                    self.in_effect(&id, |a| matches!(a, Applied::Net { qdisc: true, .. }))
                {
                    return Err(StepError::harness(format!(
                        "what {name} sends is throttled or delayed already (since step {at}): \
                         heal it first"
                    )));
                }
                let interfaces = self.interfaces(cluster, name, &id).await?;
                let (mut add, mut del) = (Vec::new(), Vec::new());
                for dev in &interfaces {
                    let mut cmd: Vec<String> = ["tc", "qdisc", "add", "dev", dev, "root"]
                        .map(String::from)
                        .to_vec();
                    match how {
                        Shaping::Throttle(rate) => {
                            // A bucket of 20 ms of traffic, and at least two full frames.
                            let burst = (rate / 8 / 50).max(3000);
                            cmd.extend([
                                "tbf".to_string(),
                                "rate".into(),
                                format!("{rate}bit"),
                                "burst".into(),
                                burst.to_string(),
                                "latency".into(),
                                "400ms".into(),
                            ]);
                        }
                        Shaping::Delay(d) => cmd.extend([
                            "netem".to_string(),
                            "delay".into(),
                            format!("{}ms", d.as_millis()),
                        ]),
                        Shaping::Loss(_) => unreachable!("matched above"),
                    }
                    add.push(cmd);
                    del.push(
                        ["tc", "qdisc", "del", "dev", dev, "root"]
                            .map(String::from)
                            .to_vec(),
                    );
                }
                let kind = if matches!(how, Shaping::Delay(_)) {
                    "delay"
                } else {
                    "throttle"
                };
                (kind, add, del, true)
            }
        };
        if let Err(e) = self.apply(cluster, name, &id, &add).await {
            return Err(match how {
                Shaping::Delay(_) => no_netem(e),
                _ => e,
            });
        }
        self.open(
            kind,
            format!("{how} on {name}"),
            vec![name.to_string()],
            step,
            Applied::Net {
                undo: vec![InNamespace {
                    replica: name.to_string(),
                    container: id,
                    commands: del,
                }],
                qdisc,
            },
        );
        Ok(())
    }

    /// Ends the network faults that involve `names` (every one without it), the latest first;
    /// returns what was healed and on which replicas.
    pub(crate) async fn heal(
        &mut self,
        cluster: &Cluster,
        names: Option<&[String]>,
        step: usize,
    ) -> Result<Vec<(String, Vec<String>)>, StepError> {
        let chosen = |a: &Active| {
            !matches!(a.applied, Applied::Pause { .. })
                && names.is_none_or(|n| a.replicas.iter().any(|r| n.contains(r)))
        };
        let mut done = Vec::new();
        let mut taken = self.take(chosen).into_iter().rev();
        while let Some(a) = taken.next() {
            if let Err(e) = self.undo(cluster, &a).await {
                // Still in effect: the trial's end tries again.
                self.active.push(a);
                self.active.extend(taken);
                return Err(e);
            }
            self.close(a.window, Some(step), format!("step {step}"));
            done.push((self.windows[a.window].description.clone(), a.replicas));
        }
        Ok(done)
    }

    /// After a step: faults whose container the step stopped, replaced or thawed end there.
    pub(crate) fn settle(&mut self, cluster: &Cluster, step: usize) {
        let table = cluster.snapshot();
        let current = |replica: &str, container: &str| {
            table
                .get(replica)
                .is_some_and(|r| !r.stopped && r.container.as_deref() == Some(container))
        };
        let mut ended = Vec::new();
        for a in &mut self.active {
            let still = match &mut a.applied {
                Applied::Pause { container } => {
                    current(&a.replicas[0], container) && table[&a.replicas[0]].paused
                }
                Applied::Isolate { container } => current(&a.replicas[0], container),
                Applied::Net { undo, .. } => {
                    undo.retain(|u| current(&u.replica, &u.container));
                    !undo.is_empty()
                }
            };
            if !still {
                ended.push((a.window, a.replicas.join(", ")));
            }
        }
        for (window, who) in ended {
            self.active.retain(|a| a.window != window);
            self.close(
                window,
                Some(step),
                format!("step {step}, which stopped or replaced {who}"),
            );
        }
    }

    /// Undoes every fault still in effect, the latest first, whatever the trial's end, then removes
    /// the helpers. Returns what could not be undone.
    pub(crate) async fn end(&mut self, cluster: &Cluster) -> Vec<String> {
        let mut problems = Vec::new();
        for a in std::mem::take(&mut self.active).into_iter().rev() {
            if let Err(e) = self.undo(cluster, &a).await {
                problems.push(format!(
                    "undoing `{}`: {}",
                    self.windows[a.window].description,
                    e.message()
                ));
            }
            self.close(a.window, None, "the end of the trial".into());
        }
        for (_, helper) in std::mem::take(&mut self.helpers) {
            if let Err(e) = cluster.backend.remove_container(&helper).await {
                problems.push(format!("removing a network helper: {e}"));
            }
        }
        problems
    }

    /// Removes the active faults `chosen` picks, in the order they started.
    fn take(&mut self, chosen: impl Fn(&Active) -> bool) -> Vec<Active> {
        let (taken, kept) = std::mem::take(&mut self.active)
            .into_iter()
            .partition(|a| chosen(a));
        self.active = kept;
        taken
    }

    /// Takes a fault back. A container that went since took its fault with it.
    async fn undo(&mut self, cluster: &Cluster, a: &Active) -> Result<(), StepError> {
        match &a.applied {
            Applied::Pause { container } => {
                match cluster.backend.unpause(container).await {
                    Err(e) if gone(&e) => {}
                    r => r?,
                }
                cluster.mark_paused(&a.replicas[0], false);
            }
            Applied::Isolate { container } => {
                let name = &a.replicas[0];
                match cluster
                    .backend
                    .connect(container, &cluster.network, std::slice::from_ref(name))
                    .await
                {
                    Err(e) if gone(&e) => {}
                    r => {
                        r?;
                        // The engine may give it another address on its way back.
                        let ip = cluster.backend.ip_on(container, &cluster.network).await?;
                        cluster.set_ip(name, container, ip);
                    }
                }
            }
            Applied::Net { undo, .. } => {
                for u in undo {
                    if cluster.replica(&u.replica).container.as_deref() != Some(&u.container) {
                        continue;
                    }
                    self.apply(cluster, &u.replica, &u.container, &u.commands)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Runs `commands` in the helper of `replica`'s container, in order; the first that fails
    /// fails the step as the environment's error, with what the command said.
    async fn apply(
        &mut self,
        cluster: &Cluster,
        replica: &str,
        container: &str,
        commands: &[Vec<String>],
    ) -> Result<(), StepError> {
        let helper = self.helper(cluster, replica, container).await?;
        for argv in commands {
            let out = cluster.backend.exec(&helper, argv, &[]).await?;
            if out.exit_code != Some(0) {
                let said = [out.stderr.trim(), out.stdout.trim()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(StepError::harness(format!(
                    "`{}` in the network helper of {replica} exited with {}: {said}",
                    argv.join(" "),
                    out.exit_code
                        .map_or("no code".into(), |c| format!("code {c}")),
                )));
            }
        }
        Ok(())
    }

    /// The helper in `container`'s network namespace, started on first use.
    async fn helper(
        &mut self,
        cluster: &Cluster,
        replica: &str,
        container: &str,
    ) -> Result<String, StepError> {
        if let Some(h) = self.helpers.get(container) {
            return Ok(h.clone());
        }
        let mut labels = cluster.labels.clone();
        labels.insert(LABEL_HELPER.into(), "net-tools".into());
        let incarnation = cluster.replica(replica).incarnation;
        let spec = ContainerSpec {
            name: format!("{}-{replica}-{incarnation}-net", cluster.network),
            image: NET_TOOLS_IMAGE.into(),
            labels,
            joins: Some(container.to_string()),
            cap_add: vec!["NET_ADMIN".into()],
            ..Default::default()
        };
        let id = cluster.backend.start_container(&spec).await?;
        self.helpers.insert(container.to_string(), id.clone());
        Ok(id)
    }

    /// The replica's network interfaces, loopback aside.
    async fn interfaces(
        &mut self,
        cluster: &Cluster,
        replica: &str,
        container: &str,
    ) -> Result<Vec<String>, StepError> {
        let helper = self.helper(cluster, replica, container).await?;
        let argv: Vec<String> = ["ip", "-o", "link", "show"].map(String::from).to_vec();
        let out = cluster.backend.exec(&helper, &argv, &[]).await?;
        let found = interface_names(&out.stdout);
        if out.exit_code != Some(0) || found.is_empty() {
            return Err(StepError::harness(format!(
                "`ip -o link show` in the network helper of {replica} found no interface to \
                 shape: {}",
                out.stderr.trim()
            )));
        }
        Ok(found)
    }
}

/// `1: lo: <LOOPBACK,UP> …` / `41: eth0@if42: <…> …` → `eth0` (loopback left out).
fn interface_names(ip_link: &str) -> Vec<String> {
    ip_link
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).trim().to_string())
        .filter(|n| !n.is_empty() && n != "lo")
        .collect()
}

/// A netem qdisc that tc could not add: a kernel without netem says so in its own words, which the
/// step's error keeps.
fn no_netem(e: StepError) -> StepError {
    let said = e.message();
    let lacking = [
        "Specified qdisc kind is unknown",
        "qdisc not found",
        "No such file or directory",
    ]
    .iter()
    .any(|s| said.contains(s));
    if lacking {
        StepError::harness(format!(
            "the kernel lacks netem (sch_netem), so packets cannot be delayed here: {said}"
        ))
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_are_read_from_ip_link_without_loopback() {
        let out = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue\n\
                   41: eth0@if42: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue\n";
        assert_eq!(interface_names(out), ["eth0"]);
        assert!(interface_names("").is_empty());
    }
}
