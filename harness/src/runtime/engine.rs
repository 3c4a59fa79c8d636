//! The Docker engine: a thin, typed layer over bollard for what the harness does with containers,
//! networks and volumes. Every call says what it was doing when it fails.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, ExecConfig, HostConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest, NetworkingConfig, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::engine_addr::{self, EngineAddr};
use super::reach::{self, EngineFacts, ReachChoice, ReachSetting, REACH_VAR};
use super::relay::Relays;

use super::backend::{
    Backend, ContainerSpec, ContainerStatus, Endpoint, EngineError, EngineErrorKind, ExecOutput,
    HttpAnswer, HttpCall, Labelled, Labels, Result, Unanswered,
};

/// Maps a bollard error to an [`EngineError`] saying what was being done.
pub(crate) fn engine_error(doing: String, source: BollardError) -> EngineError {
    let kind = match &source {
        BollardError::DockerResponseServerError { status_code, .. } => match status_code {
            404 => EngineErrorKind::NotFound,
            409 => EngineErrorKind::Conflict,
            403 => EngineErrorKind::InUse,
            _ => EngineErrorKind::Other,
        },
        // The engine did not answer at all (down, its socket gone, the connection cut): what a
        // reader needs is the last cause, `Connection refused (os error 111)`, not the HTTP
        // client's wrapper around it (`Error in the hyper legacy client: client error (Connect)`).
        _ => return EngineError::new(doing, EngineErrorKind::Other, last_cause(&source)),
    };
    EngineError::new(doing, kind, source)
}

/// The innermost cause of `e`, as text.
fn last_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut e = e;
    while let Some(inner) = e.source() {
        e = inner;
    }
    e.to_string()
}

/// Treats the engine's answer `codes` (e.g. 404 on removing what is already gone) as success.
fn tolerate(
    r: std::result::Result<(), BollardError>,
    codes: &[u16],
    doing: impl FnOnce() -> String,
) -> Result<()> {
    match r {
        Err(BollardError::DockerResponseServerError { status_code, .. })
            if codes.contains(&status_code) =>
        {
            Ok(())
        }
        r => ctx(r, doing),
    }
}

fn ctx<T>(r: std::result::Result<T, BollardError>, doing: impl FnOnce() -> String) -> Result<T> {
    r.map_err(|source| engine_error(doing(), source))
}

/// How long one request to the engine may take (bollard's default).
const CONNECTION_TIMEOUT_SECS: u64 = 120;

/// A connection to the engine, negotiated down to the engine's API version.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(super) docker: Docker,
    /// Where it is.
    addr: EngineAddr,
    /// For requests to replicas' ports (HTTP actions and probes) sent directly to their addresses
    /// on the trial network.
    http: reqwest::Client,
    /// For those sent through the engine, by the relay helpers of trials.
    relays: Arc<Relays>,
    /// How replicas are reached, once decided.
    reach: Arc<tokio::sync::OnceCell<ReachChoice>>,
}

impl Engine {
    /// Connects to [`docker_host`] and negotiates the API version, so that an engine older than
    /// bollard's default (API 1.41 here) is spoken to in its own version.
    pub async fn connect() -> Result<Engine> {
        let host = engine_addr::choose(&engine_addr::Sources::from_env()).map_err(|why| {
            EngineError::new("choosing the Docker engine", EngineErrorKind::Other, why)
        })?;
        let connected = match &host {
            EngineAddr::Unix(h) => {
                Docker::connect_with_unix(h, CONNECTION_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            }
            EngineAddr::Tcp(h) => {
                Docker::connect_with_http(h, CONNECTION_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            }
        };
        let docker = ctx(connected, || {
            format!("connecting to the Docker engine at {host}")
        })?;
        let docker = ctx(docker.negotiate_version().await, || {
            format!(
                "asking the Docker engine at {host} for its version (is it running? try `docker info`)"
            )
        })?;
        Ok(Engine {
            docker,
            addr: host,
            http: reqwest::Client::new(),
            relays: Arc::default(),
            reach: Arc::default(),
        })
    }

    /// Where the engine is.
    pub fn address(&self) -> &EngineAddr {
        &self.addr
    }

    /// How replicas' ports are reached: as `CROSSGRADE_REACH` forces, else from where the engine is
    /// (a tcp:// address of another host) and what it says it is (rootless, Docker Desktop).
    async fn choose_reach(&self) -> Result<ReachChoice> {
        let setting = ReachSetting::from_env().map_err(|why| {
            EngineError::new(format!("reading {REACH_VAR}"), EngineErrorKind::Other, why)
        })?;
        if let ReachSetting::Forced(_) = setting {
            return Ok(reach::choose(
                setting,
                &self.addr,
                EngineFacts::default(),
                false,
            ));
        }
        let info = ctx(self.docker.info().await, || {
            "asking the engine what it is".into()
        })?;
        let facts = EngineFacts {
            rootless: info
                .security_options
                .unwrap_or_default()
                .iter()
                .any(|o| o.contains("name=rootless")),
            desktop: info
                .operating_system
                .is_some_and(|o| o.contains("Docker Desktop")),
        };
        let on_this_host = match &self.addr {
            EngineAddr::Unix(_) => true,
            EngineAddr::Tcp(a) => match reach::tcp_host_port(a) {
                None => false,
                Some(hp) => match tokio::net::lookup_host(hp.as_str()).await {
                    Ok(addrs) => {
                        let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                        !ips.is_empty() && ips.into_iter().all(reach::is_this_host)
                    }
                    Err(_) => false,
                },
            },
        };
        Ok(reach::choose(setting, &self.addr, facts, on_this_host))
    }

    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// The whole log the engine streams for `opts`, as text.
    async fn read_logs(
        &self,
        id: &str,
        opts: bollard::query_parameters::LogsOptions,
    ) -> Result<String> {
        let mut stream = self.docker.logs(id, Some(opts));
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => out.extend_from_slice(&c.into_bytes()),
                Err(e) => return ctx(Err(e), || format!("reading logs of {id}")),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    pub async fn server_version(&self) -> Result<String> {
        let v = ctx(self.docker.version().await, || {
            "reading the engine version".into()
        })?;
        Ok(format!(
            "{} (API {})",
            v.version.unwrap_or_default(),
            v.api_version.unwrap_or_default()
        ))
    }

    /// The labels of an image, if it exists.
    pub async fn image_labels(&self, image: &str) -> Result<Option<Labels>> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(Some(i.config.and_then(|c| c.labels).unwrap_or_default())),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => ctx(Err(e), || format!("inspecting image {image}")),
        }
    }
}

/// `label` may hold several `key=value` filters separated by `&`; all must match.
fn label_filter(label: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        label.split('&').map(str::to_string).collect(),
    )])
}

#[async_trait]
impl Backend for Engine {
    /// Whether the image is in the engine. Never pulls.
    async fn describe(&self) -> Result<String> {
        self.server_version().await
    }

    async fn image_exists(&self, image: &str) -> Result<bool> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => ctx(Err(e), || format!("inspecting image {image}")),
        }
    }

    /// A plain bridge, not an `internal` one, though nothing in a trial needs the world beyond it
    /// and an internal network is created and removed in half the time: on an internal network
    /// Docker's DNS leaves a name it does not know unanswered, so a replica looking up a peer that
    /// is stopped or isolated waits out its resolver (10 s) instead of hearing "no such name" at
    /// once, which changes what the system under test does.
    async fn create_network(&self, name: &str, labels: &Labels) -> Result<()> {
        let req = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(labels.clone()),
            ..Default::default()
        };
        ctx(self.docker.create_network(req).await, || {
            format!("creating network {name}")
        })?;
        Ok(())
    }

    async fn create_volume(&self, name: &str, labels: &Labels) -> Result<()> {
        let req = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.clone()),
            ..Default::default()
        };
        ctx(self.docker.create_volume(req).await, || {
            format!("creating volume {name}")
        })?;
        Ok(())
    }

    /// Creates and starts a container; returns its id.
    async fn start_container(&self, spec: &ContainerSpec) -> Result<String> {
        let (hostname, network_mode, networking_config) = match &spec.joins {
            // A helper in another container's network namespace: that container's hostname and
            // endpoints are its own.
            Some(target) => (None, format!("container:{target}"), None),
            None => {
                let mut endpoints = HashMap::new();
                endpoints.insert(
                    spec.network.clone(),
                    EndpointSettings {
                        aliases: Some(spec.aliases.clone()),
                        ..Default::default()
                    },
                );
                (
                    Some(spec.hostname.clone()),
                    spec.network.clone(),
                    Some(NetworkingConfig {
                        endpoints_config: Some(endpoints),
                    }),
                )
            }
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            hostname,
            entrypoint: spec.entrypoint.clone(),
            cmd: spec.cmd.clone(),
            env: Some(spec.env.clone()),
            labels: Some(spec.labels.clone()),
            host_config: Some(HostConfig {
                network_mode: Some(network_mode),
                binds: spec
                    .volume
                    .as_ref()
                    .map(|(v, path)| vec![format!("{v}:{path}")]),
                cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
                ..Default::default()
            }),
            networking_config,
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let created = ctx(self.docker.create_container(Some(opts), body).await, || {
            format!("creating container {} from {}", spec.name, spec.image)
        })?;
        ctx(self.docker.start_container(&created.id, None).await, || {
            format!("starting container {}", spec.name)
        })?;
        Ok(created.id)
    }

    /// Stops gracefully (SIGTERM, then SIGKILL after `grace`).
    async fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        let opts = StopContainerOptionsBuilder::default()
            .t(grace.as_secs().max(1) as i32)
            .build();
        tolerate(
            self.docker.stop_container(id, Some(opts)).await,
            &[304 /* already stopped */],
            || format!("stopping container {id}"),
        )
    }

    async fn kill(&self, id: &str) -> Result<()> {
        tolerate(
            self.docker.kill_container(id, None).await,
            &[409 /* not running */],
            || format!("killing container {id}"),
        )
    }

    /// Removes a container (killing it if it runs); its volumes are kept.
    async fn remove_container(&self, id: &str) -> Result<()> {
        let opts = RemoveContainerOptionsBuilder::default().force(true).build();
        tolerate(
            self.docker.remove_container(id, Some(opts)).await,
            &[404],
            || format!("removing container {id}"),
        )
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        tolerate(self.docker.remove_network(name).await, &[404], || {
            format!("removing network {name}")
        })
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        let opts = RemoveVolumeOptionsBuilder::default().force(true).build();
        tolerate(
            self.docker.remove_volume(name, Some(opts)).await,
            &[404],
            || format!("removing volume {name}"),
        )
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus> {
        let c = ctx(self.docker.inspect_container(id, None).await, || {
            format!("inspecting container {id}")
        })?;
        let s = c.state.unwrap_or_default();
        Ok(ContainerStatus {
            running: s.running.unwrap_or(false),
            exit_code: s.exit_code,
            oom_killed: s.oom_killed.unwrap_or(false),
        })
    }

    /// The container's address on `network`.
    async fn ip_on(&self, id: &str, network: &str) -> Result<Option<IpAddr>> {
        let c = ctx(self.docker.inspect_container(id, None).await, || {
            format!("inspecting container {id}")
        })?;
        Ok(c.network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|e| e.ip_address)
            .and_then(|ip| ip.parse().ok()))
    }

    /// Runs `argv` in the container and collects its output.
    async fn exec(&self, id: &str, argv: &[String], env: &[String]) -> Result<ExecOutput> {
        let exec = ctx(
            self.docker
                .create_exec(
                    id,
                    ExecConfig {
                        cmd: Some(argv.to_vec()),
                        env: (!env.is_empty()).then(|| env.to_vec()),
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        ..Default::default()
                    },
                )
                .await,
            || format!("creating exec `{}`", argv.join(" ")),
        )?;
        let started = ctx(self.docker.start_exec(&exec.id, None).await, || {
            format!("starting exec `{}`", argv.join(" "))
        })?;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        if let bollard::exec::StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(bollard::container::LogOutput::StdOut { message }) => {
                        stdout.extend_from_slice(&message)
                    }
                    Ok(bollard::container::LogOutput::StdErr { message }) => {
                        stderr.extend_from_slice(&message)
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return ctx(Err(e), || format!("reading output of `{}`", argv.join(" ")))
                    }
                }
            }
        }
        let inspect = ctx(self.docker.inspect_exec(&exec.id).await, || {
            "inspecting exec".into()
        })?;
        Ok(ExecOutput {
            exit_code: inspect.exit_code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// The container's log (stdout and stderr interleaved), whole or its last `tail` lines.
    async fn logs(&self, id: &str, tail: Option<usize>) -> Result<String> {
        let tail = tail.map_or("all".to_string(), |n| n.to_string());
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail)
            .build();
        self.read_logs(id, opts).await
    }

    /// Asks the engine for the lines since the whole second before, with their timestamps, and keeps
    /// those at or after the instant asked (the engine's `since` counts whole seconds).
    async fn logs_since(&self, id: &str, ago: std::time::Duration) -> Result<String> {
        let from = time::OffsetDateTime::now_utc() - ago;
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .since(from.unix_timestamp() as i32)
            .build();
        let text = self.read_logs(id, opts).await?;
        let rfc3339 = time::format_description::well_known::Rfc3339;
        let mut kept = String::new();
        for line in text.lines() {
            let (stamp, rest) = line.split_once(' ').unwrap_or((line, ""));
            let at = time::OffsetDateTime::parse(stamp, &rfc3339).ok();
            if at.is_none_or(|at| at >= from) {
                kept.push_str(rest);
                kept.push('\n');
            }
        }
        Ok(kept)
    }

    /// Follows the container's log until a line contains `needle` (true) or the log ends because the
    /// container stopped (false).
    async fn wait_for_log(&self, id: &str, needle: &str) -> Result<bool> {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .build();
        let mut stream = self.docker.logs(id, Some(opts));
        let mut pending = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = ctx(chunk, || format!("following logs of {id}"))?;
            pending.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            if pending.contains(needle) {
                return Ok(true);
            }
            // Keep only the unfinished last line (plus room for a needle that spans chunks).
            if let Some(nl) = pending.rfind('\n') {
                pending.drain(..=nl);
            }
        }
        Ok(false)
    }

    /// Containers (running or not) with the label (`key` or `key=value`).
    async fn containers_labelled(&self, label: &str) -> Result<Vec<Labelled>> {
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&label_filter(label))
            .build();
        let list = ctx(self.docker.list_containers(Some(opts)).await, || {
            format!("listing containers labelled {label}")
        })?;
        Ok(list
            .into_iter()
            .map(|c| Labelled {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                labels: c.labels.unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            })
            .collect())
    }

    async fn networks_labelled(&self, label: &str) -> Result<Vec<Labelled>> {
        let opts = ListNetworksOptionsBuilder::default()
            .filters(&label_filter(label))
            .build();
        let list = ctx(self.docker.list_networks(Some(opts)).await, || {
            format!("listing networks labelled {label}")
        })?;
        Ok(list
            .into_iter()
            .map(|n| Labelled {
                id: n.id.unwrap_or_default(),
                name: n.name.unwrap_or_default(),
                labels: n.labels.unwrap_or_default(),
                state: String::new(),
            })
            .collect())
    }

    async fn volumes_labelled(&self, label: &str) -> Result<Vec<Labelled>> {
        let opts = ListVolumesOptionsBuilder::default()
            .filters(&label_filter(label))
            .build();
        let list = ctx(self.docker.list_volumes(Some(opts)).await, || {
            format!("listing volumes labelled {label}")
        })?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| Labelled {
                id: v.name.clone(),
                name: v.name,
                labels: v.labels,
                state: String::new(),
            })
            .collect())
    }

    async fn signal(&self, id: &str, signal: &str) -> Result<()> {
        let opts = KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        ctx(self.docker.kill_container(id, Some(opts)).await, || {
            format!("sending {signal} to container {id}")
        })
    }

    async fn pause(&self, id: &str) -> Result<()> {
        ctx(self.docker.pause_container(id).await, || {
            format!("pausing container {id}")
        })
    }

    async fn unpause(&self, id: &str) -> Result<()> {
        ctx(self.docker.unpause_container(id).await, || {
            format!("unpausing container {id}")
        })
    }

    async fn disconnect(&self, id: &str, network: &str) -> Result<()> {
        let req = NetworkDisconnectRequest {
            container: id.to_string(),
            force: Some(true),
        };
        ctx(self.docker.disconnect_network(network, req).await, || {
            format!("disconnecting container {id} from network {network}")
        })
    }

    async fn connect(&self, id: &str, network: &str, aliases: &[String]) -> Result<()> {
        let req = NetworkConnectRequest {
            container: id.to_string(),
            endpoint_config: Some(EndpointSettings {
                aliases: Some(aliases.to_vec()),
                ..Default::default()
            }),
        };
        ctx(self.docker.connect_network(network, req).await, || {
            format!("connecting container {id} to network {network}")
        })
    }

    async fn http(
        &self,
        to: &Endpoint,
        call: &HttpCall,
    ) -> Result<std::result::Result<HttpAnswer, Unanswered>> {
        if let Some(helper) = &to.via {
            return self.relays.http(&self.docker, helper, to.ip, call).await;
        }
        let url = format!("http://{}:{}{}", to.ip, call.port, call.path);
        let method =
            reqwest::Method::from_bytes(call.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut r = self.http.request(method, &url).timeout(call.timeout);
        if let Some(b) = &call.body {
            r = r.body(b.clone());
        }
        let resp = match r.send().await {
            Ok(resp) => resp,
            Err(e) => return Ok(Err(Unanswered(e.to_string()))),
        };
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Ok(Ok(HttpAnswer { status, body }))
    }

    async fn tcp_accepts(&self, to: &Endpoint, port: u16, within: Duration) -> Result<bool> {
        if let Some(helper) = &to.via {
            return self
                .relays
                .tcp(&self.docker, helper, to.ip, port, within)
                .await;
        }
        Ok(
            tokio::time::timeout(within, tokio::net::TcpStream::connect((to.ip, port)))
                .await
                .is_ok_and(|r| r.is_ok()),
        )
    }

    async fn reach(&self) -> Result<ReachChoice> {
        self.reach
            .get_or_try_init(|| self.choose_reach())
            .await
            .cloned()
    }

    /// A connection accepted or refused is an answer; a timeout, or no route, is none. Port 9
    /// (discard) is as good as any: a refusal proves the way as well as an acceptance.
    async fn answers_directly(&self, ip: IpAddr, within: Duration) -> bool {
        match tokio::time::timeout(within, tokio::net::TcpStream::connect((ip, 9))).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionRefused,
            Err(_) => false,
        }
    }

    /// On a thread of its own with a runtime and a connection of its own: the caller may be a `Drop`
    /// inside this engine's runtime, during a panic, or after that runtime is gone.
    fn sweep_blocking(&self, label: &str) -> std::result::Result<(), String> {
        let label = label.to_string();
        let worker = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime to clean up {label}: {e}"))?;
            rt.block_on(async {
                let engine = Engine::connect()
                    .await
                    .map_err(|e| format!("cleanup of {label}: {e}"))?;
                super::cleanup::sweep(&engine, &label, |_| false, super::cleanup::BUSY_WAIT)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("cleanup of {label} failed: {e}"))
            })
        });
        worker
            .join()
            .unwrap_or_else(|_| Err("the cleanup thread panicked".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::engine_error;

    /// An engine that does not answer is named by the last cause of the failure, once.
    #[test]
    fn an_engine_that_does_not_answer_is_named_by_the_last_cause() {
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e = engine_error(
            "inspecting exec".into(),
            bollard::errors::Error::IOError {
                err: std::io::Error::other(refused),
            },
        );
        assert_eq!(e.to_string(), "inspecting exec: Connection refused");
        assert!(std::error::Error::source(&e).is_none());
    }
}
