//! Debian base images made locally, since nothing can be pulled: `debian:SUITE[-slim]` by
//! `debootstrap` into a scratch directory, imported into the engine as a root filesystem.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::build::BuildEvent;
use super::error::{io_err, BuildError};
use super::process::{find_tool, run_streaming};
use crate::runtime::backend::EngineError;
use crate::runtime::engine::Engine;

/// The Debian suite of `debian:SUITE` or `debian:SUITE-slim` (numeric versions too), if `image`
/// is one.
pub(super) fn debian_suite(image: &str) -> Option<String> {
    let (repo, tag) = image.split_once(':')?;
    if repo != "debian" && repo != "library/debian" {
        return None;
    }
    let suite = tag.strip_suffix("-slim").unwrap_or(tag);
    let suite = match suite {
        "10" => "buster",
        "11" => "bullseye",
        "12" => "bookworm",
        "13" => "trixie",
        s => s,
    };
    const SUITES: &[&str] = &[
        "buster",
        "bullseye",
        "bookworm",
        "trixie",
        "forky",
        "sid",
        "oldstable",
        "stable",
        "testing",
        "unstable",
    ];
    SUITES.contains(&suite).then(|| suite.to_string())
}

/// Makes `debian:SUITE[-slim]` with `debootstrap` and imports it into the engine as `base`.
/// `install_tools`: install `debootstrap` when it is missing (see [`host_tool`]).
pub(super) async fn bootstrap_debian(
    engine: &Engine,
    base: &str,
    suite: &str,
    install_tools: bool,
    progress: &mut (dyn FnMut(BuildEvent) + Send),
) -> Result<(), BuildError> {
    let tool = host_tool(&DEBOOTSTRAP, base, install_tools, progress).await?;
    progress(BuildEvent::Bootstrapping {
        base: base.to_string(),
    });
    let started = Instant::now();
    let dir = ScratchDir::create(suite)?;

    let mut cmd = tokio::process::Command::new(tool);
    cmd.arg("--variant=minbase").arg(suite).arg(dir.path());
    let (status, tail) = run_streaming(cmd, |line| {
        progress(BuildEvent::Log {
            image: base.to_string(),
            line,
        })
    })
    .await
    .map_err(|source| BuildError::BootstrapSpawn {
        base: base.to_string(),
        source,
    })?;
    if !status.success() {
        return Err(BuildError::Bootstrap {
            base: base.to_string(),
            suite: suite.to_string(),
            code: status.code(),
            output_tail: tail.joined(),
        });
    }
    // The downloaded packages stay in the apt cache; they are not part of the image.
    if let Ok(cache) = fs::read_dir(dir.path().join("var/cache/apt/archives")) {
        for entry in cache.flatten() {
            if entry.path().extension().is_some_and(|e| e == "deb") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    import_rootfs(engine, base, dir.path()).await?;
    dir.remove().await;
    progress(BuildEvent::Bootstrapped {
        base: base.to_string(),
        secs: started.elapsed().as_secs_f64(),
    });
    Ok(())
}

/// Streams a tar of `rootfs` into the engine as the image `tag` (like `docker import`).
async fn import_rootfs(engine: &Engine, tag: &str, rootfs: &Path) -> Result<(), BuildError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(8);
    let root = rootfs.to_path_buf();
    let packer = tokio::task::spawn_blocking(move || {
        let sink = ChannelWriter(tx.clone());
        let mut ar = tar::Builder::new(io::BufWriter::with_capacity(1 << 20, sink));
        ar.follow_symlinks(false);
        // Plain entries only: the engine's importer rejects GNU sparse headers ("unhandled tar header
        // type 83"), which the tar crate writes by default for files with holes (bullseye has some).
        ar.sparse(false);
        let result = ar
            .append_dir_all(".", &root)
            .and_then(|()| ar.into_inner())
            .and_then(|mut w| w.flush());
        if let Err(e) = &result {
            // Fail the upload rather than import a truncated root filesystem.
            let _ = tx.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
        }
        result
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let imported = engine
        .import_image(tag, vec![r#"CMD ["bash"]"#.to_string()], body)
        .await;
    let packed = packer.await.expect("packing the root filesystem panicked");
    if let Err(e) = packed {
        return Err(BuildError::Io {
            action: "packing the bootstrapped root filesystem",
            path: rootfs.to_path_buf(),
            source: e,
        });
    }
    if let Err(e) = imported {
        return Err(BuildError::Engine(EngineError {
            doing: format!("importing {tag} from {}", rootfs.display()),
            ..e
        }));
    }
    Ok(())
}

/// A `Write` that sends its chunks into a channel (read by the upload).
struct ChannelWriter(tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the engine stopped reading"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A directory for a bootstrap, removed afterwards (also when the bootstrap fails).
struct ScratchDir(Option<PathBuf>);

impl ScratchDir {
    fn create(suite: &str) -> Result<ScratchDir, BuildError> {
        let parent = std::env::var_os("TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/tmp"));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = parent.join(format!(
            "crossgrade-debootstrap-{suite}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path).map_err(io_err("creating the bootstrap directory", &path))?;
        Ok(ScratchDir(Some(path)))
    }

    fn path(&self) -> &Path {
        self.0.as_deref().expect("not removed yet")
    }

    async fn remove(mut self) {
        if let Some(path) = self.0.take() {
            let _ = tokio::task::spawn_blocking(move || remove_rootfs(&path)).await;
        }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            remove_rootfs(&path);
        }
    }
}

/// Removes a bootstrap directory, unless something is still mounted inside it (an interrupted
/// debootstrap can leave its `proc`/`sys` mounts behind; deleting through those is not safe).
fn remove_rootfs(path: &Path) {
    let mounted = fs::read_to_string("/proc/self/mountinfo")
        .map(|info| {
            info.lines().any(|l| {
                l.split(' ')
                    .nth(4)
                    .is_some_and(|mp| Path::new(mp).starts_with(path))
            })
        })
        .unwrap_or(false);
    if !mounted {
        let _ = fs::remove_dir_all(path);
    }
}

/// A tool the host must have, and the Debian packages that provide it.
struct HostTool {
    name: &'static str,
    packages: &'static [&'static str],
}

/// What makes the Debian bases (it downloads with `wget`).
const DEBOOTSTRAP: HostTool = HostTool {
    name: "debootstrap",
    packages: &["debootstrap", "wget"],
};

/// The host's `tool`, needed to make `base`. When it is missing, only with `install` (the user's
/// opt-in: installing host packages is not for library code to do unasked) and as root on a host
/// with `apt-get` is it installed; otherwise the error says how to install it, and how to opt in.
async fn host_tool(
    tool: &HostTool,
    base: &str,
    install: bool,
    progress: &mut (dyn FnMut(BuildEvent) + Send),
) -> Result<PathBuf, BuildError> {
    if let Some(path) = find_tool(tool.name) {
        return Ok(path);
    }
    let packages = tool.packages.join(" ");
    let missing = |hint: String| BuildError::MissingTool {
        tool: tool.name,
        base: base.to_string(),
        hint,
    };
    if !install {
        return Err(missing(format!(
            "install it (as root on Debian or Ubuntu: `apt-get install -y {packages}`), or let \
             crossgrade install it: `crossgrade images build --install-tools`, or \
             CROSSGRADE_INSTALL_TOOLS=1 in the environment"
        )));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let Some(apt) = find_tool("apt-get").filter(|_| root) else {
        return Err(missing(format!(
            "crossgrade installs it only as root on a host with apt-get; install the packages \
             `{packages}` (or what provides them here) yourself"
        )));
    };
    let install_args = ["install", "-y", "-qq", "--no-install-recommends"];
    for args in [
        vec!["update", "-qq"],
        install_args.iter().chain(tool.packages).copied().collect(),
    ] {
        let command = format!("apt-get {}", args.join(" "));
        let mut cmd = tokio::process::Command::new(&apt);
        cmd.args(&args).env("DEBIAN_FRONTEND", "noninteractive");
        let (status, tail) = run_streaming(cmd, |line| {
            progress(BuildEvent::Log {
                image: tool.name.into(),
                line,
            })
        })
        .await
        .map_err(|source| BuildError::ToolInstallSpawn {
            tool: tool.name,
            command: command.clone(),
            source,
        })?;
        if !status.success() {
            return Err(BuildError::ToolInstall {
                tool: tool.name,
                command,
                code: status.code(),
                output_tail: tail.joined(),
            });
        }
    }
    find_tool(tool.name).ok_or_else(|| {
        missing(format!(
            "`apt-get install {packages}` succeeded, yet `{}` is not on PATH",
            tool.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_bases_are_recognized() {
        assert_eq!(
            debian_suite("debian:bookworm-slim").as_deref(),
            Some("bookworm")
        );
        assert_eq!(debian_suite("debian:bullseye").as_deref(), Some("bullseye"));
        assert_eq!(
            debian_suite("debian:trixie-slim").as_deref(),
            Some("trixie")
        );
        assert_eq!(debian_suite("debian:12-slim").as_deref(), Some("bookworm"));
        assert_eq!(debian_suite("debian"), None);
        assert_eq!(debian_suite("debian:latest"), None);
        assert_eq!(debian_suite("debian:bookworm-20240101-slim"), None);
        assert_eq!(debian_suite("ubuntu:bookworm"), None);
        assert_eq!(debian_suite("other/debian:bookworm"), None);
    }

    #[tokio::test]
    async fn a_missing_tool_is_installed_only_on_request() {
        let tool = HostTool {
            name: "crossgrade-no-such-tool",
            packages: &["crossgrade-no-such-package", "wget"],
        };
        let mut events = Vec::new();
        let err = host_tool(&tool, "debian:bookworm-slim", false, &mut |e| {
            events.push(e)
        })
        .await
        .unwrap_err();
        assert!(events.is_empty(), "nothing ran: {events:?}");
        let message = err.to_string();
        assert!(
            matches!(&err, BuildError::MissingTool { tool, base, .. }
                if *tool == "crossgrade-no-such-tool" && base == "debian:bookworm-slim"),
            "{message}"
        );
        for words in [
            "apt-get install -y crossgrade-no-such-package wget",
            "crossgrade images build --install-tools",
            "CROSSGRADE_INSTALL_TOOLS=1",
        ] {
            assert!(message.contains(words), "{words:?} in {message}");
        }
        let found = host_tool(&DEBOOTSTRAP, "x", false, &mut |_| {}).await;
        assert_eq!(found.is_ok(), find_tool("debootstrap").is_some());
    }
}
