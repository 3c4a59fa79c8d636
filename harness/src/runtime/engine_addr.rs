//! Which engine to speak to, as the docker CLI decides it: `DOCKER_HOST`, else the context
//! `DOCKER_CONTEXT` names, else the current context of `~/.docker/config.json`, else the local
//! socket. A choice crossgrade cannot honour (an ssh:// host, a context with TLS) is refused with
//! what to do instead: testing on another engine than the one the user named would be wrong.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// An engine's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAddr {
    /// `unix:///path/to/docker.sock`.
    Unix(String),
    /// `tcp://host:port`, spoken to over plain HTTP.
    Tcp(String),
}

impl std::fmt::Display for EngineAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineAddr::Unix(s) | EngineAddr::Tcp(s) => f.write_str(s),
        }
    }
}

/// The machine's own engine.
pub(crate) const LOCAL_SOCKET: &str = "unix:///var/run/docker.sock";

/// What the environment and the docker CLI's configuration say (read once, so that the choice is a
/// pure function of them, and testable).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    /// `$DOCKER_CONFIG`, else `~/.docker`.
    pub config_dir: Option<PathBuf>,
}

impl Sources {
    pub(crate) fn from_env() -> Sources {
        let non_empty = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Sources {
            docker_host: non_empty("DOCKER_HOST"),
            docker_context: non_empty("DOCKER_CONTEXT"),
            config_dir: non_empty("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| non_empty("HOME").map(|h| Path::new(&h).join(".docker"))),
        }
    }
}

/// The engine the sources name, or why it cannot be spoken to.
pub(crate) fn choose(s: &Sources) -> Result<EngineAddr, String> {
    if let Some(host) = &s.docker_host {
        return parse(host, "DOCKER_HOST");
    }
    let context = match &s.docker_context {
        Some(c) => Some((c.clone(), "DOCKER_CONTEXT".to_string())),
        None => s.config_dir.as_ref().and_then(|d| {
            let text = std::fs::read_to_string(d.join("config.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            let name = v.get("currentContext")?.as_str()?.to_string();
            Some((
                name,
                format!("currentContext of {}", d.join("config.json").display()),
            ))
        }),
    };
    match context {
        None => Ok(EngineAddr::Unix(LOCAL_SOCKET.into())),
        Some((name, _)) if name == "default" => Ok(EngineAddr::Unix(LOCAL_SOCKET.into())),
        Some((name, from)) => {
            let dir = s.config_dir.clone().unwrap_or_default();
            let meta = dir
                .join("contexts/meta")
                .join(hex(&Sha256::digest(name.as_bytes())))
                .join("meta.json");
            let text = std::fs::read_to_string(&meta).map_err(|e| {
                format!(
                    "the docker context `{name}` ({from}) is not there: {} ({e}); \
                     `docker context ls` lists them, or set DOCKER_HOST",
                    meta.display()
                )
            })?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON: {e}", meta.display()))?;
            let docker = &v["Endpoints"]["docker"];
            let Some(host) = docker["Host"].as_str() else {
                return Err(format!(
                    "the docker context `{name}` ({from}) names no engine (no Endpoints.docker.Host \
                     in {})",
                    meta.display()
                ));
            };
            let tls_dir = dir
                .join("contexts/tls")
                .join(hex(&Sha256::digest(name.as_bytes())));
            if tls_dir.exists() || docker["SkipTLSVerify"].as_bool() == Some(true) {
                return Err(format!(
                    "the docker context `{name}` ({from}) speaks TLS to {host}, which crossgrade \
                     does not: set DOCKER_HOST to a unix socket or a plain tcp:// address of the \
                     engine"
                ));
            }
            parse(host, &format!("the docker context `{name}` ({from})"))
        }
    }
}

fn parse(host: &str, from: &str) -> Result<EngineAddr, String> {
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(format!("{from} = `{host}` names no socket"));
        }
        return Ok(EngineAddr::Unix(host.to_string()));
    }
    if let Some(rest) = host.strip_prefix("tcp://") {
        if rest.is_empty() {
            return Err(format!("{from} = `{host}` names no address"));
        }
        return Ok(EngineAddr::Tcp(host.to_string()));
    }
    if host.starts_with("ssh://") {
        return Err(format!(
            "{from} = `{host}`: crossgrade does not speak to engines over ssh; forward the \
             engine's socket (`ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock HOST`) and set \
             DOCKER_HOST=unix:///tmp/docker.sock, with CROSSGRADE_REACH=engine (that engine's \
             networks are on its host)"
        ));
    }
    Err(format!(
        "{from} = `{host}`: crossgrade speaks to engines at unix:///path or tcp://host:port"
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> Sources {
        Sources {
            docker_host: Some(h.into()),
            ..Sources::default()
        }
    }

    #[test]
    fn docker_host_is_honoured_or_refused_never_replaced() {
        assert_eq!(
            choose(&host("unix:///tmp/e2/docker.sock")),
            Ok(EngineAddr::Unix("unix:///tmp/e2/docker.sock".into()))
        );
        assert_eq!(
            choose(&host("tcp://127.0.0.1:2375")),
            Ok(EngineAddr::Tcp("tcp://127.0.0.1:2375".into()))
        );
        let ssh = choose(&host("ssh://me@box")).unwrap_err();
        assert!(ssh.contains("does not speak to engines over ssh"), "{ssh}");
        assert!(choose(&host("npipe:////./pipe/docker_engine")).is_err());
        assert_eq!(
            choose(&Sources::default()),
            Ok(EngineAddr::Unix(LOCAL_SOCKET.into()))
        );
    }

    #[test]
    fn a_context_is_read_from_the_cli_s_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let meta = dir
            .path()
            .join("contexts/meta")
            .join(hex(&Sha256::digest(b"remote")));
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"remote","Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2375","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        let by_env = Sources {
            docker_context: Some("remote".into()),
            config_dir: Some(dir.path().to_path_buf()),
            ..Sources::default()
        };
        assert_eq!(
            choose(&by_env),
            Ok(EngineAddr::Tcp("tcp://10.0.0.5:2375".into()))
        );
        // The current context of config.json, when DOCKER_CONTEXT is not set.
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"remote"}"#,
        )
        .unwrap();
        let by_config = Sources {
            config_dir: Some(dir.path().to_path_buf()),
            ..Sources::default()
        };
        assert_eq!(
            choose(&by_config),
            Ok(EngineAddr::Tcp("tcp://10.0.0.5:2375".into()))
        );
        // DOCKER_HOST wins over both, as for the docker CLI.
        let both = Sources {
            docker_host: Some("unix:///x.sock".into()),
            ..by_config.clone()
        };
        assert_eq!(choose(&both), Ok(EngineAddr::Unix("unix:///x.sock".into())));
        // A context that is not there, or speaks TLS, is refused.
        let missing = Sources {
            docker_context: Some("gone".into()),
            ..by_config.clone()
        };
        assert!(choose(&missing).unwrap_err().contains("`gone`"));
        std::fs::create_dir_all(
            dir.path()
                .join("contexts/tls")
                .join(hex(&Sha256::digest(b"remote"))),
        )
        .unwrap();
        assert!(choose(&by_config).unwrap_err().contains("speaks TLS"));
    }
}
