//! A second Docker engine that a test starts itself, to stop and bring back under a run without
//! touching the machine's own engine: its own socket, data root, exec root, pid file, a config file
//! containing `{}` (the default /etc/docker/daemon.json pins the data root and the storage driver),
//! its own bridge and its own address pool, `--iptables=false`. Never `--bridge=none`: that deletes
//! the host's `docker0` (see ../shared/environment.md).
//!
//! Everything it made goes when it drops, even when the test failed: its containers, networks and
//! bridges, the daemon and what the daemon started (containerd, shims), mounts under its folder, the
//! folder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test's own engine.
pub struct SecondEngine {
    /// Everything of the engine lives under it: `/tmp/cg2-<pid>-<k>`.
    pub dir: PathBuf,
    /// `unix://<dir>/docker.sock`, for `DOCKER_HOST`.
    pub host: String,
    /// `tcp://127.0.0.1:<port>`, where it also listens (plain HTTP, loopback only).
    pub tcp: String,
    /// The default bridge it was given (`cg2br<k>`), with 10.213.<k>.1/24.
    pub bridge: String,
    /// Its user-defined networks come from 10.214.<k>.0/24 (/28 each).
    k: u8,
    daemon: Option<Child>,
    dockerd: PathBuf,
    /// The host's `docker0` address when this engine started, to give the bridge back if this
    /// engine takes it (see [`SecondEngine::keep_docker0`]).
    docker0: Option<String>,
}

/// Why this machine cannot run a second engine, or `None` when it can.
pub fn second_engine_unavailable() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: starting a dockerd and a bridge needs root".into());
    }
    if find_program("dockerd").is_none() {
        return Some("no dockerd binary on PATH".into());
    }
    if find_program("ip").is_none() {
        return Some("no `ip` command (iproute2) to give the engine a bridge".into());
    }
    if find_program("docker").is_none() {
        return Some("no docker CLI to move images into the engine".into());
    }
    None
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into(), "/usr/bin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn run_quiet(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every IPv4 address on the host, as (interface, address/prefix).
fn host_addresses() -> Vec<(String, String)> {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let ifname = f.nth(1)?.to_string();
            let addr = f.skip_while(|w| *w != "inet").nth(1)?.to_string();
            Some((ifname, addr))
        })
        .collect()
}

impl SecondEngine {
    /// Starts an engine and waits until it answers. Panics (after cleaning up) if it does not.
    pub fn start() -> SecondEngine {
        let dockerd = find_program("dockerd").expect("dockerd on PATH");
        // The bridge's name is the lock that keeps concurrent tests apart; its subnets must not be in
        // use by anything else on the host.
        let (k, bridge) = (0..=250u8)
            .find_map(|k| {
                let taken = host_addresses().iter().any(|(_, a)| {
                    a.starts_with(&format!("10.213.{k}.")) || a.starts_with(&format!("10.214.{k}."))
                });
                let bridge = format!("cg2br{k}");
                (!taken && run_quiet("ip", &["link", "add", &bridge, "type", "bridge"]))
                    .then_some((k, bridge))
            })
            .expect("a free bridge name and subnet for the second engine");
        let dir = PathBuf::from(format!("/tmp/cg2-{}-{k}", std::process::id()));
        // A port nothing listens on now (the kernel's pick, released for the daemon to take).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let mut engine = SecondEngine {
            host: format!("unix://{}/docker.sock", dir.display()),
            tcp: format!("tcp://127.0.0.1:{port}"),
            dir,
            bridge,
            k,
            daemon: None,
            dockerd,
            docker0: host_addresses()
                .into_iter()
                .find(|(ifname, _)| ifname == "docker0")
                .map(|(_, addr)| addr),
        };
        let addr = format!("10.213.{k}.1/24");
        assert!(
            run_quiet("ip", &["addr", "add", &addr, "dev", &engine.bridge])
                && run_quiet("ip", &["link", "set", &engine.bridge, "up"]),
            "cannot give {} the address {addr}",
            engine.bridge
        );
        // The machine's engine sets FORWARD's policy to DROP, and bridged traffic goes through it
        // (bridge-nf-call-iptables): without this rule the containers of a network of this engine
        // cannot reach each other.
        if find_program("iptables").is_some() {
            let rule = engine.forward_rule();
            let mut insert = vec!["-I", "FORWARD", "1"];
            insert.extend(rule.iter().map(String::as_str));
            assert!(
                run_quiet("iptables", &insert),
                "cannot let the engine's networks through FORWARD"
            );
        }
        std::fs::create_dir_all(&engine.dir).unwrap();
        std::fs::write(engine.dir.join("daemon.json"), "{}").unwrap();
        engine.launch();
        engine
    }

    /// The address pool its user-defined networks (the trials' networks) come from.
    pub fn pool(&self) -> String {
        format!("10.214.{}.0/24", self.k)
    }

    /// The iptables rule (after `-I FORWARD 1` or `-D FORWARD`) that lets traffic within the engine's
    /// address pool through.
    fn forward_rule(&self) -> Vec<String> {
        let pool = self.pool();
        let comment = format!("crossgrade test engine {}", self.dir.display());
        [
            "-s",
            &pool,
            "-d",
            &pool,
            "-m",
            "comment",
            "--comment",
            &comment,
            "-j",
            "ACCEPT",
        ]
        .map(String::from)
        .to_vec()
    }

    /// Starts the daemon on the engine's folders (again, after [`Self::kill`]) and waits until it
    /// answers.
    pub fn launch(&mut self) {
        assert!(self.daemon.is_none(), "the daemon is already running");
        // A killed daemon's containerd dies with it, but its pid file stays; pids wrap quickly here
        // (pid_max 32768), and a daemon that finds the pid alive in another process waits for that
        // "containerd" until it gives up. Not what is under test: remove a pid file that names no
        // containerd of this engine.
        let pidfile = self.dir.join("exec/containerd/containerd.pid");
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            let cmdline =
                std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap_or_default();
            if !String::from_utf8_lossy(&cmdline).contains(&format!("{}/", self.dir.display())) {
                let _ = std::fs::remove_file(&pidfile);
            }
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dockerd.log"))
            .unwrap();
        let d = &self.dir;
        let child = Command::new(&self.dockerd)
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .args(["--host", &self.host, "--host", &self.tcp])
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .args(["--iptables=false", "--bridge", &self.bridge])
            .arg("--default-address-pool")
            .arg(format!("base=10.214.{}.0/24,size=28", self.k))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting dockerd");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        // The bridge goes while the daemon starts, before it answers.
        let _restore = RestoreDocker0(self.docker0.clone());
        while !self.answers() {
            if let Some(status) = self.daemon.as_mut().unwrap().try_wait().unwrap() {
                self.daemon = None;
                panic!("the second dockerd exited ({status}):\n{}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "the second dockerd did not answer within 60s:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether the daemon answers on its socket.
    pub fn answers(&self) -> bool {
        self.docker()
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The docker CLI pointed at this engine.
    pub fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.args(["-H", &self.host]);
        c
    }

    /// The output of `docker -H <this engine> ARGS`, which must succeed.
    pub fn docker_out(&self, args: &[&str]) -> String {
        let o = self.docker().args(args).output().unwrap();
        assert!(
            o.status.success(),
            "docker {args:?} on the second engine: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Copies images from the machine's engine: `docker save … | docker -H … load`.
    pub fn load_images(&self, images: &[&str]) {
        let mut save = Command::new("docker")
            .env_remove("DOCKER_HOST")
            .arg("save")
            .args(images)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = self
            .docker()
            .arg("load")
            .stdin(save.stdout.take().unwrap())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(
            save.wait().unwrap().success() && load.success(),
            "moving {images:?}"
        );
    }

    /// The containers, networks and volumes labelled `crossgrade.run` in this engine.
    pub fn labelled(&self) -> Vec<String> {
        let filter = "label=crossgrade.run";
        let mut all = vec![];
        for (what, args) in [
            (
                "container",
                vec!["ps", "-a", "--filter", filter, "--format", "{{.Names}}"],
            ),
            (
                "network",
                vec!["network", "ls", "--filter", filter, "--format", "{{.Name}}"],
            ),
            (
                "volume",
                vec!["volume", "ls", "--filter", filter, "--format", "{{.Name}}"],
            ),
        ] {
            let out = self.docker_out(&args);
            all.extend(out.lines().map(|l| format!("{what} {l}")));
        }
        all
    }

    /// Kills the daemon with SIGKILL, as a crash would, and waits for it to be gone. What it had
    /// started (containerd, the containers' shims) is left as a crash leaves it.
    pub fn kill(&mut self) {
        let mut d = self.daemon.take().expect("the daemon is running");
        d.kill().unwrap();
        d.wait().unwrap();
        assert!(!self.answers(), "the engine still answers after SIGKILL");
    }

    /// The last lines of the daemon's log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops the daemon gracefully (SIGTERM; SIGKILL after 30 s).
    fn stop(&mut self) {
        let Some(mut d) = self.daemon.take() else {
            return;
        };
        unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while d.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = d.kill();
                let _ = d.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Processes started, directly or not, by this engine's daemons that are still alive
    /// (containerd, shims and the containers' processes after a SIGKILL): those whose command line
    /// names the engine's folder, and their descendants.
    fn strays(&self) -> Vec<i32> {
        let needle = format!("{}/", self.dir.display());
        let mut procs = vec![];
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 2..].split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok())
                .unwrap_or(0);
            let ours = String::from_utf8_lossy(&cmdline).contains(&needle);
            procs.push((pid, ppid, ours));
        }
        let mut found: Vec<i32> = procs.iter().filter(|p| p.2).map(|p| p.0).collect();
        let mut i = 0;
        while i < found.len() {
            let parent = found[i];
            for p in &procs {
                if p.1 == parent && !found.contains(&p.0) {
                    found.push(p.0);
                }
            }
            i += 1;
        }
        found.retain(|p| *p != std::process::id() as i32);
        found
    }
}

/// Gives the host's `docker0` back (its address as it was) when it is gone: a dockerd restarted
/// after SIGKILL, with a `--bridge` of its own, deletes the host's `docker0` while it restores its
/// stale default network (seen with Docker 20.10), after which every build with a RUN step on the
/// machine's engine fails ("could not find bridge docker0"). On drop, and when asked.
struct RestoreDocker0(Option<String>);

impl RestoreDocker0 {
    fn restore(&self) {
        let Some(addr) = &self.0 else { return };
        if host_addresses()
            .iter()
            .any(|(ifname, _)| ifname == "docker0")
        {
            return;
        }
        let ok = run_quiet("ip", &["link", "add", "docker0", "type", "bridge"])
            && run_quiet("ip", &["addr", "add", addr, "dev", "docker0"])
            && run_quiet("ip", &["link", "set", "docker0", "up"]);
        eprintln!(
            "the second engine deleted the host's docker0 (a dockerd restarted after SIGKILL \
             does); {}",
            if ok {
                format!("given back with {addr}")
            } else {
                "giving it back failed: restart the machine's dockerd".to_string()
            }
        );
    }
}

impl Drop for RestoreDocker0 {
    fn drop(&mut self) {
        self.restore();
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        if self.daemon.is_some() && self.answers() {
            // Everything in it is this test's: remove containers and networks while it can, so
            // that their bridges go with them.
            let ids = self
                .docker()
                .args(["ps", "-aq"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let _ = self
                    .docker()
                    .args(["rm", "-f", "-v"])
                    .args(&ids)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = self
                .docker()
                .args(["network", "prune", "-f"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        self.stop();
        for pid in self.strays() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.strays().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Mounts under the folder (overlay layers, network namespaces), deepest first.
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| Path::new(m).starts_with(&self.dir))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            run_quiet("umount", &["-l", m]);
        }
        // Bridges of its networks (br-…, in its address pool) and its own bridge.
        let pool = format!("10.214.{}.", self.k);
        for (ifname, addr) in host_addresses() {
            if addr.starts_with(&pool) && ifname.starts_with("br-") {
                run_quiet("ip", &["link", "del", &ifname]);
            }
        }
        run_quiet("ip", &["link", "del", &self.bridge]);
        let mut delete = vec!["-D", "FORWARD"];
        let rule = self.forward_rule();
        delete.extend(rule.iter().map(String::as_str));
        while run_quiet("iptables", &delete) {}
        let _ = std::fs::remove_dir_all(&self.dir);
        RestoreDocker0(self.docker0.clone()).restore();
    }
}
