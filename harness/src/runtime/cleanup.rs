//! Leaving nothing behind. Every object the harness creates carries `crossgrade.run=<run id>` and an
//! owner label naming the process that made it (host, pid and the pid's start time, so a recycled pid is
//! not mistaken for the owner). Layers, innermost first:
//!
//! 1. a trial tears its own objects down when it ends; if its future is dropped instead (panic, abort),
//!    [`SweepGuard`] removes everything with its trial label on drop;
//! 2. the run sweeps its run label when it ends, and its own guard does the same on drop;
//! 3. at the start of every run, objects whose owner process is gone are swept;
//! 4. `crossgrade gc` does the same on demand.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::backend::{Backend, EngineError, EngineErrorKind, Labelled, Result};

pub const LABEL_RUN: &str = "crossgrade.run";
pub const LABEL_TRIAL: &str = "crossgrade.trial";
pub const LABEL_OWNER: &str = "crossgrade.owner";

/// This process, as written in the owner label: `host:pid:starttime`.
pub(crate) fn owner_id() -> String {
    let pid = std::process::id();
    format!("{}:{pid}:{}", hostname(), start_time(pid).unwrap_or(0))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process named by an owner label is still running. Owners on another host, or labels this
/// version cannot read, count as alive: never remove what might be someone else's live run.
pub(crate) fn owner_alive(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return true;
    };
    if host != hostname() {
        return true;
    }
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return true;
    };
    start_time(pid) == Some(start)
}

/// The labels of an object created for `trial` of `run`.
pub fn labels(run_id: &str, trial: Option<&str>) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (LABEL_RUN.to_string(), run_id.to_string()),
        (LABEL_OWNER.to_string(), owner_id()),
    ]);
    if let Some(t) = trial {
        l.insert(LABEL_TRIAL.to_string(), t.to_string());
    }
    l
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

impl Swept {
    pub fn total(&self) -> usize {
        self.containers + self.networks + self.volumes
    }

    fn add(&mut self, o: Swept) {
        self.containers += o.containers;
        self.networks += o.networks;
        self.volumes += o.volumes;
    }
}

impl std::fmt::Display for Swept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} containers, {} networks, {} volumes",
            self.containers, self.networks, self.volumes
        )
    }
}

/// How long a sweep lets containers that are still being created settle before it removes them.
const SETTLE: Duration = Duration::from_secs(5);

/// How long a removal of our own objects waits for one to stop being busy (see
/// [`remove_when_free`]).
pub const BUSY_WAIT: Duration = Duration::from_secs(20);

/// Runs `remove` until it is not refused as busy, or until `deadline`. The engine
/// refuses a removal while another sweeper is removing the same object (409 "removal in progress"), while
/// a network still has the endpoint of a container being removed (403 "active endpoints"), and for a
/// moment after a container is gone before its endpoint is released. Leaving the object to "the other
/// sweeper" is not safe: two sweepers can each leave a network to the other. Once the object is gone
/// (404, which removals tolerate) the removal succeeds.
///
/// A network the engine keeps calling busy although no container is attached holds a stale endpoint
/// (moby/moby#42119, seen on Docker 20.10 here): only restarting the engine clears it, and the error
/// says so.
pub(crate) async fn remove_when_free<F, Fut>(
    what: String,
    deadline: Instant,
    mut remove: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let started = Instant::now();
    loop {
        match remove().await {
            Err(e) if e.is_busy() => {
                if Instant::now() >= deadline {
                    let stale = if what.starts_with("network") {
                        " (a network busy with no container attached holds a stale endpoint, \
                         moby/moby#42119: restarting the engine clears it)"
                    } else {
                        ""
                    };
                    return Err(EngineError::new(
                        format!(
                            "removing {what}: still in use after {}s{stale}",
                            started.elapsed().as_secs()
                        ),
                        EngineErrorKind::InUse,
                        e,
                    ));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            r => return r,
        }
    }
}

/// Removes every object matching `label` (`key=value`) for which `keep` is false: containers first
/// (they hold the networks and volumes), then networks, then volumes. A busy object is waited for
/// at most `patience` in all (see [`remove_when_free`]): a sweep on cancellation must end soon.
pub(crate) async fn sweep(
    engine: &dyn Backend,
    label: &str,
    keep: impl Fn(&Labelled) -> bool,
    patience: Duration,
) -> Result<Swept> {
    // Another sweeper (a concurrent run's start-of-run gc, say) may be removing the same objects:
    // every removal waits that out (`remove_when_free`). A failure is reported once everything else
    // has been tried.
    let deadline = Instant::now() + patience;
    let mut first_error = None;
    let mut note = |r: Result<()>, count: &mut usize| match r {
        Ok(()) => *count += 1,
        Err(e) => {
            first_error.get_or_insert(e);
        }
    };
    // A container still `created` may be being started by a request its owner sent just before it
    // died: removing it then races the engine's network setup, which can leave a stale endpoint that
    // makes the network unremovable until the engine restarts (moby/moby#42119, seen here after a
    // killed run). Let such starts settle first, briefly.
    let settle = Instant::now() + SETTLE;
    let containers = loop {
        let listed: Vec<_> = engine
            .containers_labelled(label)
            .await?
            .into_iter()
            .filter(|c| !keep(c))
            .collect();
        let unsettled = listed
            .iter()
            .any(|c| matches!(c.state.as_str(), "created" | "restarting"));
        if !unsettled || Instant::now() >= settle {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let removals = containers.iter().map(|c| {
        remove_when_free(format!("container {}", c.name), deadline, || {
            engine.remove_container(&c.id)
        })
    });
    let mut removed = 0;
    for r in futures_util::future::join_all(removals).await {
        note(r, &mut removed);
    }
    let mut networks = 0;
    for n in engine.networks_labelled(label).await? {
        if !keep(&n) {
            let removed = remove_when_free(format!("network {}", n.name), deadline, || {
                engine.remove_network(&n.name)
            });
            note(removed.await, &mut networks);
        }
    }
    let mut volumes = 0;
    for v in engine.volumes_labelled(label).await? {
        if !keep(&v) {
            let removed = remove_when_free(format!("volume {}", v.name), deadline, || {
                engine.remove_volume(&v.name)
            });
            note(removed.await, &mut volumes);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(Swept {
        containers: removed,
        networks,
        volumes,
    })
}

/// Removes everything labelled by runs whose owner process is gone (or, with `all`, every run's objects
/// but those of `except_run`), waiting `patience` for a busy object.
pub async fn gc(
    engine: &dyn Backend,
    all: bool,
    except_run: Option<&str>,
    patience: Duration,
) -> Result<Swept> {
    let mut total = Swept::default();
    let swept = sweep(
        engine,
        LABEL_RUN,
        |o| {
            let run = o.labels.get(LABEL_RUN).map(String::as_str);
            if except_run.is_some() && run == except_run {
                return true;
            }
            if all {
                return false;
            }
            o.labels.get(LABEL_OWNER).is_some_and(|w| owner_alive(w))
        },
        patience,
    )
    .await?;
    total.add(swept);
    Ok(total)
}

/// Sweeps `label` when dropped, unless disarmed: the cleanup of a trial whose future is dropped
/// (panic, cancellation). The sweep runs through [`Backend::sweep_blocking`], which works from `Drop`
/// inside an async task, during a panic, or after the runtime is gone. A sweep that fails is handed
/// to the guard's `on_failure`, if any: the library never prints.
pub struct SweepGuard {
    armed: Option<(Arc<dyn Backend>, String)>,
    on_failure: Option<Box<dyn Fn(String) + Send + Sync>>,
}

impl std::fmt::Debug for SweepGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SweepGuard")
            .field("label", &self.armed.as_ref().map(|(_, l)| l))
            .finish()
    }
}

impl SweepGuard {
    pub fn new(backend: Arc<dyn Backend>, label: String) -> SweepGuard {
        SweepGuard {
            armed: Some((backend, label)),
            on_failure: None,
        }
    }

    /// What to do with the error of a sweep on drop that failed.
    pub(crate) fn on_failure(mut self, f: impl Fn(String) + Send + Sync + 'static) -> SweepGuard {
        self.on_failure = Some(Box::new(f));
        self
    }

    /// The owner cleaned up on its own; nothing to do on drop.
    pub(crate) fn disarm(&mut self) {
        self.armed = None;
    }
}

impl Drop for SweepGuard {
    fn drop(&mut self) {
        if let Some((backend, label)) = self.armed.take() {
            if let Err(e) = backend.sweep_blocking(&label) {
                if let Some(f) = &self.on_failure {
                    f(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_pid_is_not() {
        assert!(owner_alive(&owner_id()));
        let me = owner_id();
        let (prefix, _) = me.rsplit_once(':').unwrap();
        assert!(!owner_alive(&format!("{prefix}:1")), "wrong start time");
        assert!(
            !owner_alive(&format!("{}:4194304:1", hostname())),
            "no such pid"
        );
        assert!(owner_alive("other-host:1:1"), "other hosts count as alive");
        assert!(owner_alive("garbage"));
    }

    fn busy() -> EngineError {
        EngineError::new(
            "removing network n",
            EngineErrorKind::InUse,
            "network n has active endpoints",
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_object_is_waited_for_not_left_to_another_sweeper() {
        let tries = std::cell::Cell::new(0);
        let r = remove_when_free("network n".into(), Instant::now() + BUSY_WAIT, || {
            tries.set(tries.get() + 1);
            let answer = if tries.get() < 4 { Err(busy()) } else { Ok(()) };
            async move { answer }
        })
        .await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(tries.get(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn an_object_busy_past_the_deadline_is_an_error_that_says_so() {
        let start = Instant::now();
        let e = remove_when_free("network n".into(), Instant::now() + BUSY_WAIT, || async {
            Err(busy())
        })
        .await
        .unwrap_err();
        assert!(start.elapsed() >= BUSY_WAIT);
        assert!(
            e.to_string().contains("network n: still in use after 20s"),
            "{e}"
        );
        assert!(e.to_string().contains("active endpoints"), "{e}");
    }
}
