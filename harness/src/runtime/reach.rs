//! How the harness reaches the ports of a trial's containers (HTTP actions, checks and probes, TCP
//! probes). **Directly**: to their addresses on the trial network, which works when the engine's
//! bridge is routable from here (a rootful engine on this host). **Through the engine**: by a relay
//! helper on the trial's network that the harness talks to over an exec stream of the engine
//! ([`super::relay`]), which works wherever the engine is (another host, rootless, a VM).
//!
//! Chosen once per engine connection, from where the engine is and what it says it is, unless
//! `CROSSGRADE_REACH` forces a way. The choice says why, so that a direct way that cannot get
//! through is reported with what to set instead of a guess.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use super::engine_addr::EngineAddr;
use super::relay::RELAY_IMAGE;

/// The environment variable that forces a way: `direct`, `engine` or `auto` (the default).
pub const REACH_VAR: &str = "CROSSGRADE_REACH";

/// A way to reach replicas' ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// From the harness's process to the container's address on the trial network.
    Direct,
    /// Through the engine: a relay helper on the trial network, spoken to over an exec stream.
    Engine,
}

impl Reach {
    /// As `CROSSGRADE_REACH` and `results.json` spell it.
    pub fn word(self) -> &'static str {
        match self {
            Reach::Direct => "direct",
            Reach::Engine => "engine",
        }
    }
}

/// What `CROSSGRADE_REACH` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReachSetting {
    /// Decide from the engine's address and what it says it is.
    Auto,
    Forced(Reach),
}

impl ReachSetting {
    /// `value` as `CROSSGRADE_REACH` holds it (unset or empty: `auto`), or what is wrong with it.
    pub fn parse(value: Option<&str>) -> Result<ReachSetting, String> {
        match value.map(str::trim).unwrap_or("") {
            "" | "auto" => Ok(ReachSetting::Auto),
            "direct" => Ok(ReachSetting::Forced(Reach::Direct)),
            "engine" => Ok(ReachSetting::Forced(Reach::Engine)),
            other => Err(format!(
                "{REACH_VAR} = `{other}`: the ways are `direct` (to the containers' addresses), \
                 `engine` (through the engine, by a relay helper on the trial network) and `auto`"
            )),
        }
    }

    pub fn from_env() -> Result<ReachSetting, String> {
        ReachSetting::parse(std::env::var(REACH_VAR).ok().as_deref())
    }
}

/// The way chosen, and why: `doctor` says it, a run records it, and a direct way that cannot get
/// through quotes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachChoice {
    pub reach: Reach,
    /// Why, in a clause: `CROSSGRADE_REACH=engine`, `the engine at tcp://10.0.0.5:2375 is on
    /// another host`.
    pub why: String,
}

impl ReachChoice {
    pub fn new(reach: Reach, why: impl Into<String>) -> ReachChoice {
        ReachChoice {
            reach,
            why: why.into(),
        }
    }

    /// The helper image this way runs in every trial, if any.
    pub fn helper_image(&self) -> Option<&'static str> {
        (self.reach == Reach::Engine).then_some(RELAY_IMAGE)
    }
}

impl std::fmt::Display for ReachChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reach {
            Reach::Direct => write!(f, "direct, to the containers' addresses ({})", self.why),
            Reach::Engine => write!(
                f,
                "through the engine, by a relay helper on each trial's network ({})",
                self.why
            ),
        }
    }
}

/// What the engine says of itself that bears on the choice (`docker info`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EngineFacts {
    /// A rootless engine: its networks live in a network namespace of its own.
    pub rootless: bool,
    /// Docker Desktop: its networks live in a VM.
    pub desktop: bool,
}

/// The way `setting` asks for, or decides for the engine at `addr`. `on_this_host` says whether a
/// tcp:// engine's address is one of this host's (every address its name resolves to).
pub(crate) fn choose(
    setting: ReachSetting,
    addr: &EngineAddr,
    facts: EngineFacts,
    on_this_host: bool,
) -> ReachChoice {
    if let ReachSetting::Forced(r) = setting {
        return ReachChoice::new(r, format!("{REACH_VAR}={}", r.word()));
    }
    if facts.rootless {
        return ReachChoice::new(
            Reach::Engine,
            format!("the engine at {addr} is rootless: its networks are in a namespace of its own"),
        );
    }
    if facts.desktop {
        return ReachChoice::new(
            Reach::Engine,
            format!("the engine at {addr} is Docker Desktop: its networks are in its VM"),
        );
    }
    match addr {
        EngineAddr::Unix(_) => ReachChoice::new(
            Reach::Direct,
            format!("the engine is at {addr}, on this host"),
        ),
        EngineAddr::Tcp(_) if on_this_host => ReachChoice::new(
            Reach::Direct,
            format!("the engine at {addr} is on this host"),
        ),
        EngineAddr::Tcp(_) => ReachChoice::new(
            Reach::Engine,
            format!("the engine at {addr} is on another host"),
        ),
    }
}

/// `host:port` of a `tcp://host[:port][/…]` address (the engine's plain-HTTP port by default).
pub(crate) fn tcp_host_port(addr: &str) -> Option<String> {
    let rest = addr.strip_prefix("tcp://")?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    if hostport.is_empty() {
        return None;
    }
    let has_port = match hostport.rfind(']') {
        // `[::1]:2375` or `[::1]`.
        Some(close) => hostport[close..].contains(':'),
        None => hostport.matches(':').count() == 1,
    };
    Some(if has_port {
        hostport.to_string()
    } else {
        format!("{hostport}:2375")
    })
}

/// Whether `ip` is an address of this host: loopback, or one a socket can be bound to here.
pub(crate) fn is_this_host(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix() -> EngineAddr {
        EngineAddr::Unix("unix:///var/run/docker.sock".into())
    }

    fn tcp(a: &str) -> EngineAddr {
        EngineAddr::Tcp(a.into())
    }

    #[test]
    fn the_setting_is_auto_direct_or_engine_and_nothing_else() {
        assert_eq!(ReachSetting::parse(None), Ok(ReachSetting::Auto));
        assert_eq!(ReachSetting::parse(Some("")), Ok(ReachSetting::Auto));
        assert_eq!(ReachSetting::parse(Some("auto")), Ok(ReachSetting::Auto));
        assert_eq!(
            ReachSetting::parse(Some("engine")),
            Ok(ReachSetting::Forced(Reach::Engine))
        );
        assert_eq!(
            ReachSetting::parse(Some(" direct ")),
            Ok(ReachSetting::Forced(Reach::Direct))
        );
        let e = ReachSetting::parse(Some("relay")).unwrap_err();
        assert!(
            e.contains("CROSSGRADE_REACH = `relay`") && e.contains("`engine`"),
            "{e}"
        );
    }

    #[test]
    fn a_local_socket_is_direct_another_host_through_the_engine() {
        let none = EngineFacts::default();
        let c = choose(ReachSetting::Auto, &unix(), none, false);
        assert_eq!(c.reach, Reach::Direct);
        assert_eq!(
            c.why,
            "the engine is at unix:///var/run/docker.sock, on this host"
        );
        let c = choose(ReachSetting::Auto, &tcp("tcp://127.0.0.1:2375"), none, true);
        assert_eq!(c.reach, Reach::Direct);
        let c = choose(ReachSetting::Auto, &tcp("tcp://10.1.2.3:2375"), none, false);
        assert_eq!(
            (c.reach, c.why.as_str()),
            (
                Reach::Engine,
                "the engine at tcp://10.1.2.3:2375 is on another host"
            )
        );
        assert_eq!(c.helper_image(), Some(RELAY_IMAGE));
    }

    #[test]
    fn a_rootless_or_desktop_engine_is_reached_through_it_even_on_a_local_socket() {
        let rootless = EngineFacts {
            rootless: true,
            ..Default::default()
        };
        let c = choose(ReachSetting::Auto, &unix(), rootless, true);
        assert_eq!(c.reach, Reach::Engine);
        assert!(c.why.contains("rootless"), "{}", c.why);
        let desktop = EngineFacts {
            desktop: true,
            ..Default::default()
        };
        assert_eq!(
            choose(ReachSetting::Auto, &unix(), desktop, true).reach,
            Reach::Engine
        );
    }

    #[test]
    fn a_forced_way_wins_and_says_so() {
        let c = choose(
            ReachSetting::Forced(Reach::Direct),
            &tcp("tcp://10.1.2.3:2375"),
            EngineFacts::default(),
            false,
        );
        assert_eq!(
            (c.reach, c.why.as_str()),
            (Reach::Direct, "CROSSGRADE_REACH=direct")
        );
        assert_eq!(c.helper_image(), None);
        let c = choose(
            ReachSetting::Forced(Reach::Engine),
            &unix(),
            EngineFacts::default(),
            true,
        );
        assert_eq!(
            (c.reach, c.why.as_str()),
            (Reach::Engine, "CROSSGRADE_REACH=engine")
        );
    }

    #[test]
    fn tcp_addresses_name_a_host_and_port() {
        assert_eq!(
            tcp_host_port("tcp://10.0.0.5:2375").as_deref(),
            Some("10.0.0.5:2375")
        );
        assert_eq!(
            tcp_host_port("tcp://docker.example").as_deref(),
            Some("docker.example:2375")
        );
        assert_eq!(
            tcp_host_port("tcp://[::1]:2376/").as_deref(),
            Some("[::1]:2376")
        );
        assert_eq!(tcp_host_port("tcp://[::1]").as_deref(), Some("[::1]:2375"));
        assert_eq!(tcp_host_port("tcp://"), None);
    }

    #[test]
    fn loopback_is_this_host_and_a_documentation_address_is_not() {
        assert!(is_this_host("127.0.0.1".parse().unwrap()));
        assert!(!is_this_host("192.0.2.77".parse().unwrap()));
    }
}
