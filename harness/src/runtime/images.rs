//! The matrix's images: which ones the roles need, which are in the engine, and building the
//! ones the matrix defines (`[[image]]`) from their Dockerfiles.
//!
//! Nothing here ever pulls: no registry is reachable. A build is skipped when the image in the
//! engine carries the content hash of its inputs (label [`LABEL_BUILD_HASH`]), so calling
//! [`build_images`] before every test run costs the `prepare` command, a hash of the build
//! contexts and one inspect per image. Base images the engine lacks are made locally:
//! `debian:SUITE[-slim]` by `debootstrap`; anything else is an error that says how to provide it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Instant;

use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, BuilderVersion, CreateImageOptionsBuilder,
};
use futures_util::StreamExt;
use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::backend::{Backend as _, EngineError};
use super::engine::{engine_error, Engine};
use crate::model::{ImageDef, Matrix, Release, Scope};

/// Label on built images: the content hash of everything the build read.
pub const LABEL_BUILD_HASH: &str = "crossgrade.build-hash";
/// Label on built images: the matrix's system name.
pub const LABEL_SYSTEM: &str = "crossgrade.system";

/// How many trailing output lines errors carry.
const TAIL_LINES: usize = 20;
/// The name a Dockerfile from outside its context gets inside the context archive.
const OUTSIDE_DOCKERFILE: &str = ".crossgrade.Dockerfile";

/// An image some role or service of the matrix runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedImage {
    pub name: String,
    /// The first role (or service) that needs it.
    pub role: String,
    /// The release that role runs it at.
    pub release: Release,
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Rebuild even when the image is up to date.
    pub force: bool,
    /// Image names to build (with the images they are built `FROM`, when the matrix defines those);
    /// empty means all.
    pub only: Vec<String>,
}

/// Progress of [`build_images`], in order.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildEvent {
    /// The matrix's `prepare` command starts.
    Preparing {
        command: String,
    },
    /// A line the `prepare` command printed (stdout and stderr).
    PrepareLog {
        line: String,
    },
    Prepared {
        secs: f64,
    },
    /// The image carries the hash of its current inputs: not rebuilt.
    UpToDate {
        image: String,
    },
    /// A missing Debian base image is made with `debootstrap`.
    Bootstrapping {
        base: String,
    },
    Bootstrapped {
        base: String,
        secs: f64,
    },
    Building {
        image: String,
    },
    /// A line of a build's output, or of `debootstrap`'s (then `image` is the base being made).
    Log {
        image: String,
        line: String,
    },
    Built {
        image: String,
        secs: f64,
    },
}

/// What [`build_images`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildReport {
    pub built: Vec<String>,
    pub up_to_date: Vec<String>,
    /// Base images made with `debootstrap`.
    pub bootstrapped: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Engine(#[from] EngineError),

    #[error(
        "cannot build `{image}`: the matrix defines no such image; it defines: {}",
        .known.join(", ")
    )]
    UnknownImage { image: String, known: Vec<String> },

    #[error("cannot start the prepare command `{command}`")]
    PrepareSpawn {
        command: String,
        #[source]
        source: io::Error,
    },

    #[error(
        "the prepare command `{command}` failed ({}); its last output:\n{output_tail}",
        exit_text(*.code)
    )]
    Prepare {
        command: String,
        code: Option<i32>,
        output_tail: String,
    },

    #[error("{action} `{}`", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("Dockerfile `{}` of image `{image}`: {message}", .path.display())]
    Dockerfile {
        image: String,
        path: PathBuf,
        message: String,
    },

    #[error("images are built FROM each other in a cycle: {}", .images.join(" -> "))]
    Cycle { images: Vec<String> },

    #[error(
        "image `{image}` needs the base image `{base}`, which is not in the Docker engine: {hint}"
    )]
    MissingBase {
        image: String,
        base: String,
        hint: String,
    },

    #[error("`{tool}` is needed but not installed; try `{hint}`")]
    MissingTool {
        tool: &'static str,
        hint: &'static str,
    },

    #[error("bootstrapping base image `{base}` failed: {message}; last output:\n{output_tail}")]
    Bootstrap {
        base: String,
        message: String,
        output_tail: String,
    },

    #[error("building image `{image}` failed: {message}; last build output:\n{log_tail}")]
    Build {
        image: String,
        message: String,
        log_tail: String,
    },
}

fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".to_string(),
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Io {
        action,
        path,
        source,
    }
}

fn engine_err(doing: String, source: BollardError) -> BuildError {
    BuildError::Engine(engine_error(doing, source))
}

/// Every image the matrix's roles need (each role at each release) and its services (at their fixed
/// release), without duplicates, in role order.
pub fn wanted_images(m: &Matrix) -> Vec<WantedImage> {
    let mut out: Vec<WantedImage> = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |name: String, role: &str, release: &Release| {
        if seen.insert(name.clone()) {
            out.push(WantedImage {
                name,
                role: role.to_string(),
                release: release.clone(),
            });
        }
    };
    for role in &m.roles {
        for release in &m.releases {
            add(m.image_of(role, release), &role.name, release);
        }
    }
    for service in &m.services {
        if let Some(release) = &service.fixed_release {
            add(m.image_of(service, release), &service.name, release);
        }
    }
    out
}

/// The names the matrix's `[[image]]` definitions make, each once.
pub fn defined_images(m: &Matrix) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for def in &m.images {
        for release in &def.releases {
            let name = def.name.render(&ReleaseScope(release.as_str()));
            if !out
                .iter()
                .any(|o| normalize_image(o) == normalize_image(&name))
            {
                out.push(name);
            }
        }
    }
    out
}

/// Each wanted image and whether the engine has it. Never pulls.
pub async fn image_status(
    engine: &Engine,
    m: &Matrix,
) -> Result<Vec<(WantedImage, bool)>, EngineError> {
    let mut out = Vec::new();
    for w in wanted_images(m) {
        let present = engine.image_exists(&w.name).await?;
        out.push((w, present));
    }
    Ok(out)
}

/// Template scope for image definitions: only `{release}` has a value.
struct ReleaseScope<'a>(&'a str);

impl Scope for ReleaseScope<'_> {
    fn release(&self) -> &str {
        self.0
    }
    fn role(&self) -> &str {
        ""
    }
    fn index(&self) -> u32 {
        0
    }
    fn replicas(&self, _: &str) -> String {
        String::new()
    }
    fn role_release(&self, _: &str) -> String {
        String::new()
    }
}

/// One image to build: an `[[image]]` at one release.
struct Job {
    name: String,
    def: usize,
    args: IndexMap<String, String>,
    /// Every image the Dockerfile builds on (`FROM`, `COPY --from`), stages and `scratch` left out.
    bases: Vec<String>,
    /// Jobs among `bases` (built first).
    deps: Vec<usize>,
    forced: bool,
    hash: String,
}

/// An `[[image]]`'s Dockerfile and context, read once for all its releases.
struct DefInputs {
    dockerfile_text: String,
    /// The Dockerfile's name inside the context archive.
    dockerfile_in_tar: String,
    /// Set when the Dockerfile lies outside the context and is added to the archive.
    outside: bool,
    scan: Option<ContextScan>,
}

/// Builds the images the matrix defines (or those in `opts.only`), skipping those up to date.
pub async fn build_images(
    engine: &Engine,
    m: &Matrix,
    opts: &BuildOptions,
    progress: &mut (dyn FnMut(BuildEvent) + Send),
) -> Result<BuildReport, BuildError> {
    let mut report = BuildReport::default();

    // Every (image, release), first definition of a name wins.
    let mut jobs: Vec<Job> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (d, def) in m.images.iter().enumerate() {
        for release in &def.releases {
            let scope = ReleaseScope(release.as_str());
            let name = def.name.render(&scope);
            let key = normalize_image(&name);
            if by_name.contains_key(&key) {
                continue;
            }
            by_name.insert(key, jobs.len());
            jobs.push(Job {
                name,
                def: d,
                args: def
                    .args
                    .iter()
                    .map(|(k, v)| (k.clone(), v.render(&scope)))
                    .collect(),
                bases: Vec::new(),
                deps: Vec::new(),
                forced: false,
                hash: String::new(),
            });
        }
    }

    let mut wanted: Vec<usize> = Vec::new();
    if opts.only.is_empty() {
        wanted.extend(0..jobs.len());
    } else {
        for name in &opts.only {
            match by_name.get(&normalize_image(name)) {
                Some(&j) => wanted.push(j),
                None => {
                    return Err(BuildError::UnknownImage {
                        image: name.clone(),
                        known: jobs.iter().map(|j| j.name.clone()).collect(),
                    })
                }
            }
        }
    }
    for &j in &wanted {
        jobs[j].forced = opts.force;
    }
    if wanted.is_empty() {
        return Ok(report);
    }

    if let Some(argv) = m.prepare.as_ref().filter(|a| !a.is_empty()) {
        run_prepare(m, argv, progress).await?;
    }

    // Dockerfiles (after `prepare`, which may write them), bases, and the matrix images they are
    // built on.
    let mut inputs: Vec<Option<DefInputs>> = (0..m.images.len()).map(|_| None).collect();
    let mut included = vec![false; jobs.len()];
    let mut queue: VecDeque<usize> = wanted.iter().copied().collect();
    while let Some(j) = queue.pop_front() {
        if included[j] {
            continue;
        }
        included[j] = true;
        let d = jobs[j].def;
        if inputs[d].is_none() {
            inputs[d] = Some(read_def(&m.images[d], &jobs[j].name).await?);
        }
        let text = &inputs[d].as_ref().expect("read above").dockerfile_text;
        let bases = dockerfile_bases(text, &jobs[j].args);
        let deps: Vec<usize> = bases
            .iter()
            .filter_map(|b| by_name.get(&normalize_image(b)).copied())
            .filter(|&k| k != j)
            .collect();
        queue.extend(deps.iter().copied());
        jobs[j].bases = bases;
        jobs[j].deps = deps;
    }
    let order = build_order(&jobs, &included)?;

    // Contents, then hashes (an image's hash covers the hashes of the images it is built on).
    for (d, input) in inputs.iter_mut().enumerate() {
        if let Some(input) = input {
            let context = m.images[d].context.clone();
            let dockerfile = (!input.outside).then(|| input.dockerfile_in_tar.clone());
            let scan =
                tokio::task::spawn_blocking(move || scan_context(&context, dockerfile.as_deref()))
                    .await
                    .expect("context scan panicked")?;
            input.scan = Some(scan);
        }
    }
    for &j in &order {
        let input = inputs[jobs[j].def]
            .as_ref()
            .expect("read for included jobs");
        let dep_hashes: Vec<&str> = jobs[j]
            .deps
            .iter()
            .map(|&k| jobs[k].hash.as_str())
            .collect();
        let hash = image_hash(
            &m.images[jobs[j].def].dockerfile,
            &input.dockerfile_text,
            &input.scan.as_ref().expect("scanned").digest,
            &jobs[j].args,
            &dep_hashes,
        );
        jobs[j].hash = hash;
    }

    let mut present_bases: HashSet<String> = HashSet::new();
    for &j in &order {
        let job = &jobs[j];
        let labels = engine.image_labels(&job.name).await?;
        let current = labels.as_ref().and_then(|l| l.get(LABEL_BUILD_HASH));
        if current == Some(&job.hash) && !job.forced {
            progress(BuildEvent::UpToDate {
                image: job.name.clone(),
            });
            report.up_to_date.push(job.name.clone());
            continue;
        }
        for base in &job.bases {
            if job
                .deps
                .iter()
                .any(|&k| normalize_image(&jobs[k].name) == normalize_image(base))
            {
                continue; // built (or found up to date) earlier in this loop
            }
            if present_bases.contains(base) {
                continue;
            }
            if !engine.image_exists(base).await? {
                let Some(suite) = debian_suite(base) else {
                    return Err(BuildError::MissingBase {
                        image: job.name.clone(),
                        base: base.clone(),
                        hint: format!(
                            "it cannot be pulled here (no registry is reachable); load it \
                             with `docker load` or build it locally (e.g. as an [[image]] of \
                             the matrix) and tag it `{base}`"
                        ),
                    });
                };
                bootstrap_debian(engine, base, &suite, progress).await?;
                report.bootstrapped.push(base.clone());
            }
            present_bases.insert(base.clone());
        }
        let input = inputs[job.def].as_ref().expect("read for included jobs");
        build_one(engine, m, &m.images[job.def], input, job, progress).await?;
        report.built.push(job.name.clone());
    }
    Ok(report)
}

/// Runs the matrix's `prepare` command in the matrix's directory.
async fn run_prepare(
    m: &Matrix,
    argv: &[String],
    progress: &mut (dyn FnMut(BuildEvent) + Send),
) -> Result<(), BuildError> {
    let command = argv.join(" ");
    progress(BuildEvent::Preparing {
        command: command.clone(),
    });
    let started = Instant::now();
    // A relative program path with a slash is the matrix's, not the harness's working directory's.
    let program = Path::new(&argv[0]);
    let program = if program.is_relative() && argv[0].contains('/') {
        m.root.join(program)
    } else {
        program.to_path_buf()
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&argv[1..]).current_dir(&m.root);
    let (status, tail) = run_streaming(cmd, |line| progress(BuildEvent::PrepareLog { line }))
        .await
        .map_err(|source| BuildError::PrepareSpawn {
            command: command.clone(),
            source,
        })?;
    if !status.success() {
        return Err(BuildError::Prepare {
            command,
            code: status.code(),
            output_tail: join_tail(&tail),
        });
    }
    progress(BuildEvent::Prepared {
        secs: started.elapsed().as_secs_f64(),
    });
    Ok(())
}

/// Runs a command with stdin closed, passing each output line (stdout and stderr, as they come) to
/// `on_line`; returns its exit status and last lines.
async fn run_streaming(
    mut cmd: tokio::process::Command,
    mut on_line: impl FnMut(String),
) -> io::Result<(ExitStatus, VecDeque<String>)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump_lines(out, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump_lines(err, tx.clone()));
    }
    drop(tx);
    let mut tail = VecDeque::new();
    while let Some(line) = rx.recv().await {
        push_tail(&mut tail, line.clone());
        on_line(line);
    }
    let status = child.wait().await?;
    Ok((status, tail))
}

async fn pump_lines(r: impl AsyncRead + Unpin, tx: tokio::sync::mpsc::UnboundedSender<String>) {
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                if tx.send(line).is_err() {
                    break;
                }
            }
        }
    }
}

fn push_tail(tail: &mut VecDeque<String>, line: String) {
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line);
}

fn join_tail(tail: &VecDeque<String>) -> String {
    tail.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads an `[[image]]`'s Dockerfile and works out where it goes in the context archive.
async fn read_def(def: &ImageDef, image: &str) -> Result<DefInputs, BuildError> {
    let rel = Path::new(&def.dockerfile);
    let inside = rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    let dockerfile_path = def.context.join(rel);
    let dockerfile_text = tokio::fs::read_to_string(&dockerfile_path)
        .await
        .map_err(io_err("reading the Dockerfile", &dockerfile_path))?;
    let dockerfile_in_tar = if inside {
        rel.components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/")
    } else {
        OUTSIDE_DOCKERFILE.to_string()
    };
    if dockerfile_in_tar.is_empty() {
        return Err(BuildError::Dockerfile {
            image: image.to_string(),
            path: dockerfile_path,
            message: "names the context directory, not a file".into(),
        });
    }
    let has_from = instructions(&dockerfile_text).iter().any(|i| {
        i.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("FROM"))
    });
    if !has_from {
        return Err(BuildError::Dockerfile {
            image: image.to_string(),
            path: dockerfile_path,
            message: "has no FROM instruction".into(),
        });
    }
    Ok(DefInputs {
        dockerfile_text,
        dockerfile_in_tar,
        outside: !inside,
        scan: None,
    })
}

/// The included jobs, each after the jobs it is built on.
fn build_order(jobs: &[Job], included: &[bool]) -> Result<Vec<usize>, BuildError> {
    // 0 = unvisited, 1 = on the current path, 2 = done
    fn visit(
        j: usize,
        jobs: &[Job],
        state: &mut [u8],
        path: &mut Vec<usize>,
        out: &mut Vec<usize>,
    ) -> Result<(), BuildError> {
        match state[j] {
            2 => return Ok(()),
            1 => {
                let start = path.iter().position(|&p| p == j).unwrap_or(0);
                let mut images: Vec<String> = path[start..]
                    .iter()
                    .map(|&p| jobs[p].name.clone())
                    .collect();
                images.push(jobs[j].name.clone());
                return Err(BuildError::Cycle { images });
            }
            _ => {}
        }
        state[j] = 1;
        path.push(j);
        for &d in &jobs[j].deps {
            visit(d, jobs, state, path, out)?;
        }
        path.pop();
        state[j] = 2;
        out.push(j);
        Ok(())
    }
    let mut state = vec![0u8; jobs.len()];
    let mut out = Vec::new();
    for j in (0..jobs.len()).filter(|&j| included[j]) {
        visit(j, jobs, &mut state, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}

/// Builds one image with the classic builder (never BuildKit, never a pull).
async fn build_one(
    engine: &Engine,
    m: &Matrix,
    def: &ImageDef,
    input: &DefInputs,
    job: &Job,
    progress: &mut (dyn FnMut(BuildEvent) + Send),
) -> Result<(), BuildError> {
    let image = job.name.clone();
    progress(BuildEvent::Building {
        image: image.clone(),
    });
    let started = Instant::now();

    let context = def.context.clone();
    let entries = input.scan.as_ref().expect("scanned").entries.clone();
    let extra = input.outside.then(|| {
        (
            OUTSIDE_DOCKERFILE.to_string(),
            input.dockerfile_text.clone(),
        )
    });
    let tar = tokio::task::spawn_blocking(move || tar_context(&context, &entries, extra))
        .await
        .expect("packing the context panicked")
        .map_err(io_err("packing the build context", &def.context))?;

    let labels = HashMap::from([
        (LABEL_BUILD_HASH.to_string(), job.hash.clone()),
        (LABEL_SYSTEM.to_string(), m.system.clone()),
    ]);
    let buildargs: HashMap<String, String> = job
        .args
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let options = BuildImageOptionsBuilder::default()
        .dockerfile(&input.dockerfile_in_tar)
        .t(&image)
        .buildargs(&buildargs)
        .labels(&labels)
        .rm(true)
        .forcerm(true)
        .version(BuilderVersion::BuilderV1)
        .build();
    let mut stream =
        engine
            .docker()
            .build_image(options, None, Some(bollard::body_full(tar.into())));

    let mut tail: VecDeque<String> = VecDeque::new();
    let mut partial = String::new();
    let mut emit = |text: &str, tail: &mut VecDeque<String>, partial: &mut String| {
        partial.push_str(text);
        while let Some(nl) = partial.find('\n') {
            let line = partial[..nl].trim_end_matches('\r').to_string();
            partial.drain(..=nl);
            push_tail(tail, line.clone());
            progress(BuildEvent::Log {
                image: image.clone(),
                line,
            });
        }
    };
    while let Some(item) = stream.next().await {
        let failure = match item {
            Ok(info) => {
                if let Some(text) = info.stream.as_deref() {
                    emit(text, &mut tail, &mut partial);
                }
                if let Some(status) = info.status.as_deref() {
                    emit(&format!("{status}\n"), &mut tail, &mut partial);
                }
                info.error_detail.and_then(|e| e.message)
            }
            Err(BollardError::DockerStreamError { error }) => Some(error),
            Err(e) => {
                // The answer's stream broke (seen once in CI: "bytes remaining on stream" after
                // "Successfully tagged"). The engine may still have finished the build: if the tag
                // now carries this build's hash, it did.
                let built = engine
                    .image_labels(&image)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|l| l.get(LABEL_BUILD_HASH) == Some(&job.hash));
                if built {
                    emit(
                        &format!("(the build's answer broke off: {e}; the engine has the image with this build's hash)\n"),
                        &mut tail,
                        &mut partial,
                    );
                    break;
                }
                Some(e.to_string())
            }
        };
        if let Some(message) = failure {
            if !partial.is_empty() {
                let rest = std::mem::take(&mut partial);
                emit(&format!("{rest}\n"), &mut tail, &mut partial);
            }
            return Err(BuildError::Build {
                image: image.clone(),
                message,
                log_tail: join_tail(&tail),
            });
        }
    }
    if !partial.is_empty() {
        let rest = std::mem::take(&mut partial);
        emit(&format!("{rest}\n"), &mut tail, &mut partial);
    }
    progress(BuildEvent::Built {
        image,
        secs: started.elapsed().as_secs_f64(),
    });
    Ok(())
}

/// Makes `debian:SUITE[-slim]` with `debootstrap` and imports it into the engine as `base`.
async fn bootstrap_debian(
    engine: &Engine,
    base: &str,
    suite: &str,
    progress: &mut (dyn FnMut(BuildEvent) + Send),
) -> Result<(), BuildError> {
    let tool = match find_tool("debootstrap") {
        Some(t) => t,
        None => install_debootstrap(progress).await?,
    };
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
    .map_err(|e| BuildError::Bootstrap {
        base: base.to_string(),
        message: format!("cannot run debootstrap: {e}"),
        output_tail: String::new(),
    })?;
    if !status.success() {
        return Err(BuildError::Bootstrap {
            base: base.to_string(),
            message: format!(
                "debootstrap {suite} ended with {}",
                exit_text(status.code())
            ),
            output_tail: join_tail(&tail),
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
    let (repo, version) = split_tag(tag);
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
    })
    .map(|item| item.map(Into::into));

    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .changes(vec![r#"CMD ["bash"]"#.to_string()])
        .build();
    let mut stream =
        engine
            .docker()
            .create_image(Some(options), Some(bollard::body_try_stream(body)), None);
    let mut failure = None;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            failure = Some(e);
            break;
        }
    }
    drop(stream);
    let packed = packer.await.expect("packing the root filesystem panicked");
    if let Err(e) = packed {
        return Err(BuildError::Io {
            action: "packing the bootstrapped root filesystem",
            path: rootfs.to_path_buf(),
            source: e,
        });
    }
    if let Some(e) = failure {
        return Err(engine_err(
            format!("importing {tag} from {}", rootfs.display()),
            e,
        ));
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

/// The executable `name` on `PATH` (or in the sbin directories, which a non-root `PATH` may lack).
/// On a Debian-family host where we are root, installs Debian's `debootstrap` package (the one tool the
/// Debian bases need), so that a fresh machine needs no set-up by hand. Anywhere else, says how.
async fn install_debootstrap(
    progress: &mut (dyn FnMut(BuildEvent) + Send),
) -> Result<PathBuf, BuildError> {
    let missing = BuildError::MissingTool {
        tool: "debootstrap",
        hint: "install Debian's debootstrap package (apt-get install -y debootstrap)",
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let Some(apt) = find_tool("apt-get").filter(|_| root) else {
        return Err(missing);
    };
    for args in [
        &["update", "-qq"][..],
        &[
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "debootstrap",
            "wget",
        ][..],
    ] {
        let mut cmd = tokio::process::Command::new(&apt);
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        let (status, _) = run_streaming(cmd, |line| {
            progress(BuildEvent::Log {
                image: "debootstrap".into(),
                line,
            })
        })
        .await
        .map_err(|_| BuildError::MissingTool {
            tool: "debootstrap",
            hint: "apt-get install -y debootstrap",
        })?;
        if !status.success() {
            return Err(missing);
        }
    }
    find_tool("debootstrap").ok_or(missing)
}

fn find_tool(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            fs::metadata(p).is_ok_and(|md| md.is_file() && md.permissions().mode() & 0o111 != 0)
        })
}

// ------------------------------------------------------------------------------------------------
// Dockerfiles

/// The images a Dockerfile builds on: `FROM` images and `COPY --from` images, with `ARG`s declared
/// before the first `FROM` substituted (`build_args` override their defaults), in order, without
/// duplicates, leaving out `scratch` and earlier stages.
fn dockerfile_bases(text: &str, build_args: &IndexMap<String, String>) -> Vec<String> {
    let mut global_args: HashMap<String, String> = HashMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut seen_from = false;
    let mut bases: Vec<String> = Vec::new();
    fn add(base: String, bases: &mut Vec<String>) {
        if !bases.contains(&base) {
            bases.push(base);
        }
    }
    for instruction in instructions(text) {
        let mut words = instruction.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        let rest: Vec<&str> = words.collect();
        match keyword.to_ascii_uppercase().as_str() {
            "ARG" if !seen_from => {
                for decl in rest {
                    let (name, default) = match decl.split_once('=') {
                        Some((n, v)) => (n, Some(unquote(v))),
                        None => (decl, None),
                    };
                    let value = build_args
                        .get(name)
                        .cloned()
                        .or(default.map(str::to_string));
                    if let Some(v) = value {
                        global_args.insert(name.to_string(), v);
                    } else {
                        global_args.remove(name);
                    }
                }
            }
            "FROM" => {
                seen_from = true;
                let mut args = rest.iter().filter(|w| !w.starts_with("--"));
                let Some(image) = args.next() else {
                    continue;
                };
                let image = expand_vars(image, &global_args);
                let stage = match (args.next(), args.next()) {
                    (Some(kw), Some(name)) if kw.eq_ignore_ascii_case("as") => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                };
                // `FROM scratch` and `FROM earlier-stage` need no image.
                let lower = image.to_ascii_lowercase();
                let is_image = !(image.is_empty() || lower == "scratch" || stages.contains(&lower));
                stages.extend(stage);
                if is_image {
                    add(image, &mut bases);
                }
            }
            "COPY" | "ADD" => {
                for flag in rest.iter().take_while(|w| w.starts_with("--")) {
                    if let Some(from) = flag.strip_prefix("--from=") {
                        let from = expand_vars(from, &global_args);
                        let lower = from.to_ascii_lowercase();
                        let is_index = !from.is_empty() && from.bytes().all(|b| b.is_ascii_digit());
                        if !(is_index || stages.contains(&lower) || from.is_empty()) {
                            add(from, &mut bases);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    bases
}

/// The Dockerfile's instructions: comment lines dropped, `\` continuations joined.
fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        if let Some(cont) = trimmed.strip_suffix('\\') {
            current.push_str(cont);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        if !current.trim().is_empty() {
            out.push(current.trim().to_string());
        }
        current.clear();
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Expands `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alternative}`; unknown names are
/// empty.
fn expand_vars(s: &str, vars: &HashMap<String, String>) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['$', '\\']) {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if rest[i..].starts_with('\\') {
            match after.chars().next() {
                Some(c) => {
                    out.push(c);
                    rest = &after[c.len_utf8()..];
                }
                None => rest = after,
            }
            continue;
        }
        if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                out.push_str(&rest[i..]);
                return out;
            };
            let inner = &body[..end];
            rest = &body[end + 1..];
            let (name, op) = match inner.find(':') {
                Some(c) => (&inner[..c], Some(&inner[c + 1..])),
                None => (inner, None),
            };
            let value = vars.get(name).filter(|v| !v.is_empty());
            match op {
                Some(word) if word.starts_with('-') => {
                    out.push_str(value.map_or(&word[1..], |v| v.as_str()))
                }
                Some(word) if word.starts_with('+') => {
                    if value.is_some() {
                        out.push_str(&word[1..]);
                    }
                }
                _ => out.push_str(value.map_or("", |v| v.as_str())),
            }
        } else {
            let len = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(vars.get(&after[..len]).map_or("", |v| v.as_str()));
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

/// The Debian suite of `debian:SUITE` or `debian:SUITE-slim` (numeric versions too), if `image`
/// is one.
fn debian_suite(image: &str) -> Option<String> {
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

/// `name:latest` for an untagged name, so that `x` and `x:latest` compare equal.
fn normalize_image(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.contains('@') || last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// (`repo`, `tag`) of an image name; `latest` when it has none.
fn split_tag(name: &str) -> (&str, &str) {
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
        None => (name, "latest"),
    }
}

// ------------------------------------------------------------------------------------------------
// Build contexts

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Dir,
    File,
    Symlink,
}

#[derive(Debug, Clone)]
struct Entry {
    /// Relative to the context, `/`-separated.
    rel: String,
    kind: EntryKind,
}

/// What is sent as a build context, and the digest of it.
struct ContextScan {
    entries: Vec<Entry>,
    digest: [u8; 32],
}

/// `.dockerignore` rules: (exclude?, pattern segments), the last matching rule wins.
struct Ignore {
    rules: Vec<(bool, Vec<String>)>,
    has_exceptions: bool,
}

impl Ignore {
    fn parse(text: &str) -> Ignore {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclude, pattern) = match line.strip_prefix('!') {
                Some(p) => (false, p.trim()),
                None => (true, line),
            };
            let segments: Vec<String> = pattern
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .map(str::to_string)
                .collect();
            if !segments.is_empty() {
                rules.push((exclude, segments));
            }
        }
        let has_exceptions = rules.iter().any(|(ex, _)| !ex);
        Ignore {
            rules,
            has_exceptions,
        }
    }

    /// Whether `rel` is left out: a rule matches it or one of its parent directories.
    fn excluded(&self, rel: &str) -> bool {
        let path: Vec<&str> = rel.split('/').collect();
        let mut excluded = false;
        for (exclude, pattern) in &self.rules {
            let matches = (1..=path.len()).any(|n| match_segments(pattern, &path[..n]));
            if matches {
                excluded = *exclude;
            }
        }
        excluded
    }
}

fn match_segments(pattern: &[String], path: &[&str]) -> bool {
    match pattern.first() {
        None => path.is_empty(),
        Some(p) if p == "**" => (0..=path.len()).any(|i| match_segments(&pattern[1..], &path[i..])),
        Some(p) => {
            !path.is_empty()
                && glob_segment(
                    &p.chars().collect::<Vec<_>>(),
                    &path[0].chars().collect::<Vec<_>>(),
                )
                && match_segments(&pattern[1..], &path[1..])
        }
    }
}

/// `*`, `?`, `[a-z]`/`[^a-z]` and `\x` within one path segment.
fn glob_segment(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => (0..=s.len()).any(|i| glob_segment(&p[1..], &s[i..])),
        Some('?') => !s.is_empty() && glob_segment(&p[1..], &s[1..]),
        Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob_segment(&p[2..], &s[1..]),
        Some('[') => {
            let negate = matches!(p.get(1), Some('^') | Some('!'));
            let start = if negate { 2 } else { 1 };
            let Some(close) = p[start..]
                .iter()
                .skip(1)
                .position(|&c| c == ']')
                .map(|i| start + 1 + i)
            else {
                return s.first() == Some(&'[') && glob_segment(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else {
                return false;
            };
            let class = &p[start..close];
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_segment(&p[close + 1..], &s[1..])
        }
        Some(&c) => s.first() == Some(&c) && glob_segment(&p[1..], &s[1..]),
    }
}

/// Lists the context (skipping `.git` directories and what `.dockerignore` leaves out, but always
/// keeping the Dockerfile) and digests it: every entry's path, file modes and contents, symlink
/// targets.
fn scan_context(context: &Path, dockerfile: Option<&str>) -> Result<ContextScan, BuildError> {
    let ignore_path = context.join(".dockerignore");
    let ignore = match fs::read_to_string(&ignore_path) {
        Ok(text) => Ignore::parse(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ignore::parse(""),
        Err(e) => return Err(io_err("reading", &ignore_path)(e)),
    };
    let mut entries = Vec::new();
    walk(context, "", &ignore, &mut entries)?;
    if let Some(df) = dockerfile {
        if !entries.iter().any(|e| e.rel == df) {
            entries.push(Entry {
                rel: df.to_string(),
                kind: EntryKind::File,
            });
        }
    }
    entries.sort_by(|a, b| a.rel.cmp(&b.rel));

    let mut h = Sha256::new();
    h.update(b"crossgrade context v1\0");
    let mut buf = vec![0u8; 1 << 16];
    for e in &entries {
        let path = context.join(&e.rel);
        match e.kind {
            EntryKind::Dir => {
                h.update(b"D");
                feed(&mut h, e.rel.as_bytes());
            }
            EntryKind::Symlink => {
                let target = fs::read_link(&path).map_err(io_err("reading the symlink", &path))?;
                h.update(b"L");
                feed(&mut h, e.rel.as_bytes());
                feed(&mut h, target.as_os_str().as_encoded_bytes());
            }
            EntryKind::File => {
                use std::os::unix::fs::PermissionsExt;
                let mut file = fs::File::open(&path).map_err(io_err("reading", &path))?;
                let md = file.metadata().map_err(io_err("reading", &path))?;
                h.update(b"F");
                feed(&mut h, e.rel.as_bytes());
                h.update((md.permissions().mode() & 0o7777).to_le_bytes());
                h.update(md.len().to_le_bytes());
                let mut total: u64 = 0;
                loop {
                    let n = file.read(&mut buf).map_err(io_err("reading", &path))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                    total += n as u64;
                }
                h.update(total.to_le_bytes());
            }
        }
    }
    Ok(ContextScan {
        entries,
        digest: h.finalize().into(),
    })
}

fn walk(root: &Path, dir: &str, ignore: &Ignore, out: &mut Vec<Entry>) -> Result<(), BuildError> {
    let abs = root.join(dir);
    let mut children: Vec<fs::DirEntry> = fs::read_dir(&abs)
        .and_then(|rd| rd.collect::<io::Result<Vec<_>>>())
        .map_err(io_err("listing the build context directory", &abs))?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        let rel = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        let ft = child
            .file_type()
            .map_err(io_err("reading", &child.path()))?;
        let excluded = ignore.excluded(&rel);
        if ft.is_dir() {
            if name == ".git" {
                continue;
            }
            if !excluded {
                out.push(Entry {
                    rel: rel.clone(),
                    kind: EntryKind::Dir,
                });
            }
            if !excluded || ignore.has_exceptions {
                walk(root, &rel, ignore, out)?;
            }
        } else if !excluded {
            let kind = if ft.is_symlink() {
                EntryKind::Symlink
            } else if ft.is_file() {
                EntryKind::File
            } else {
                continue; // sockets, fifos, devices: not sent
            };
            out.push(Entry { rel, kind });
        }
    }
    Ok(())
}

fn feed(h: &mut Sha256, field: &[u8]) {
    h.update((field.len() as u64).to_le_bytes());
    h.update(field);
}

/// The build hash of one image: its Dockerfile (name and text), its context's digest, its build
/// arguments, and the hashes of the matrix images it is built on. Hex.
fn image_hash(
    dockerfile_name: &str,
    dockerfile_text: &str,
    context_digest: &[u8; 32],
    args: &IndexMap<String, String>,
    base_hashes: &[&str],
) -> String {
    let mut h = Sha256::new();
    h.update(b"crossgrade image v1\0");
    feed(&mut h, dockerfile_name.as_bytes());
    feed(&mut h, dockerfile_text.as_bytes());
    h.update(context_digest);
    h.update((args.len() as u64).to_le_bytes());
    for (k, v) in args {
        feed(&mut h, k.as_bytes());
        feed(&mut h, v.as_bytes());
    }
    h.update((base_hashes.len() as u64).to_le_bytes());
    for b in base_hashes {
        feed(&mut h, b.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The context as a tar archive (symlinks kept as symlinks), plus a Dockerfile from outside it.
fn tar_context(
    context: &Path,
    entries: &[Entry],
    extra: Option<(String, String)>,
) -> io::Result<Vec<u8>> {
    let mut ar = tar::Builder::new(Vec::new());
    ar.follow_symlinks(false);
    ar.sparse(false);
    for e in entries {
        ar.append_path_with_name(context.join(&e.rel), &e.rel)?;
    }
    if let Some((name, text)) = extra {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        ar.append_data(&mut header, name, text.as_bytes())?;
    }
    ar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn from_lines_stages_platform_and_scratch() {
        let df = "\
# a comment FROM nothing
ARG SUITE=bookworm
from --platform=$BUILDPLATFORM rust:1.85 AS Build
RUN cargo build
FROM build AS test
FROM scratch
COPY --from=build /x /x
COPY --from=0 /y /y
COPY --chown=0:0 --from=busybox:1.36 /bin/busybox /busybox
FROM debian:${SUITE}-slim
FROM \\
    debian:${SUITE}-slim
";
        assert_eq!(
            dockerfile_bases(df, &IndexMap::new()),
            vec!["rust:1.85", "busybox:1.36", "debian:bookworm-slim"]
        );
        // A build argument overrides the ARG's default; an undeclared one does not count.
        assert_eq!(
            dockerfile_bases(df, &args(&[("SUITE", "trixie"), ("X", "y")])),
            vec!["rust:1.85", "busybox:1.36", "debian:trixie-slim"]
        );
        assert_eq!(
            dockerfile_bases("FROM ${IMG:-alpine:3}\nFROM $NOPE/x", &IndexMap::new()),
            vec!["alpine:3", "/x"]
        );
        assert!(dockerfile_bases("FROM scratch\nCOPY a /a\n", &IndexMap::new()).is_empty());
        // A stage may reuse an image an earlier stage is based on; a stage named like an image is
        // not one.
        assert_eq!(
            dockerfile_bases("FROM x:1 AS a\nFROM x:1 AS b\nFROM a\n", &IndexMap::new()),
            vec!["x:1"]
        );
        assert_eq!(
            dockerfile_bases("FROM node AS node\n", &IndexMap::new()),
            vec!["node"]
        );
    }

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

    #[test]
    fn image_names() {
        assert_eq!(normalize_image("x"), "x:latest");
        assert_eq!(normalize_image("a/x"), "a/x:latest");
        assert_eq!(normalize_image("a/b:1.0"), "a/b:1.0");
        assert_eq!(
            split_tag("debian:bookworm-slim"),
            ("debian", "bookworm-slim")
        );
        assert_eq!(split_tag("a/b"), ("a/b", "latest"));
        assert_eq!(split_tag("a/b:2"), ("a/b", "2"));
    }

    #[test]
    fn dockerignore_patterns() {
        let ig = Ignore::parse("# c\ntarget/\n*.md\n!README.md\n/docs/**/*.tmp\nfile?.[a-c]\n");
        assert!(ig.excluded("target"));
        assert!(ig.excluded("target/debug/x"));
        assert!(!ig.excluded("src/target.rs"));
        assert!(ig.excluded("NOTES.md"));
        assert!(!ig.excluded("README.md"));
        assert!(ig.excluded("docs/a/b/c.tmp"));
        assert!(ig.excluded("docs/c.tmp"));
        assert!(ig.excluded("file1.b"));
        assert!(!ig.excluded("file1.d"));
        assert!(ig.has_exceptions);
    }

    fn hash_of(dir: &Path, a: &IndexMap<String, String>) -> String {
        let df = fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let scan = scan_context(dir, Some("Dockerfile")).unwrap();
        image_hash("Dockerfile", &df, &scan.digest, a, &[])
    }

    #[test]
    fn hash_follows_context_and_args() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::write(dir.join("Dockerfile"), "FROM scratch\nARG R\nCOPY . /\n").unwrap();
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::write(dir.join("bin/app"), b"v1").unwrap();
        fs::write(dir.join(".dockerignore"), "junk\n").unwrap();
        let a = args(&[("R", "1.0")]);

        let h0 = hash_of(dir, &a);
        assert_eq!(h0.len(), 64);
        assert_eq!(hash_of(dir, &a), h0, "stable");

        // Ignored: .git and what .dockerignore leaves out.
        fs::create_dir_all(dir.join(".git")).unwrap();
        fs::write(dir.join(".git/HEAD"), b"ref").unwrap();
        fs::write(dir.join("junk"), b"x").unwrap();
        assert_eq!(hash_of(dir, &a), h0);

        assert_ne!(hash_of(dir, &args(&[("R", "1.1")])), h0, "build arg");
        fs::write(dir.join("bin/app"), b"v2").unwrap();
        let h1 = hash_of(dir, &a);
        assert_ne!(h1, h0, "file contents");
        fs::write(dir.join("bin/extra"), b"").unwrap();
        let h2 = hash_of(dir, &a);
        assert_ne!(h2, h1, "new file");
        fs::write(dir.join("Dockerfile"), "FROM scratch\nARG R\nCOPY . /x/\n").unwrap();
        assert_ne!(hash_of(dir, &a), h2, "Dockerfile");

        let scan = scan_context(dir, Some("Dockerfile")).unwrap();
        let names: Vec<&str> = scan.entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(
            names,
            vec![".dockerignore", "Dockerfile", "bin", "bin/app", "bin/extra"]
        );
        let tar = tar_context(dir, &scan.entries, None).unwrap();
        let mut ar = tar::Archive::new(&tar[..]);
        let in_tar: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string()
            })
            .collect();
        assert_eq!(in_tar, names);
    }

    #[test]
    fn build_order_puts_bases_first_and_finds_cycles() {
        let job = |name: &str, deps: Vec<usize>| Job {
            name: name.into(),
            def: 0,
            args: IndexMap::new(),
            bases: vec![],
            deps,
            forced: false,
            hash: String::new(),
        };
        let jobs = vec![
            job("app", vec![1]),
            job("base", vec![]),
            job("other", vec![]),
        ];
        assert_eq!(
            build_order(&jobs, &[true, true, true]).unwrap(),
            vec![1, 0, 2]
        );
        let cyclic = vec![job("a", vec![1]), job("b", vec![0])];
        assert!(matches!(
            build_order(&cyclic, &[true, true]),
            Err(BuildError::Cycle { images }) if images == ["a", "b", "a"]
        ));
    }

    #[test]
    fn wanted_images_cover_roles_and_services_once() {
        use crate::model::{ImageRef, Role};
        let role = |name: &str, image: &str, fixed: Option<&str>| Role {
            name: name.into(),
            image: ImageRef::Template(Template::parse(image, &[]).unwrap()),
            replicas: 1,
            entrypoint: None,
            command: None,
            env: IndexMap::new(),
            data: None,
            ready: None,
            leader: None,
            actions: IndexMap::new(),
            stop_timeout: std::time::Duration::from_secs(1),
            error_lines: None,
            fixed_release: fixed.map(|r| Release::parse(r).unwrap()),
        };
        let mut m = matrix(Path::new("/x"), vec![], None);
        m.releases = vec![
            Release::parse("1.0").unwrap(),
            Release::parse("2.0").unwrap(),
        ];
        m.roles = vec![
            role("server", "sys/server:{release}", None),
            role("client", "sys/server:{release}", None),
            role("tool", "sys/tool:1", None),
        ];
        m.services = vec![role("zk", "zookeeper:{release}", Some("3.8"))];
        let got: Vec<(String, String, String)> = wanted_images(&m)
            .into_iter()
            .map(|w| (w.name, w.role, w.release.to_string()))
            .collect();
        let want = [
            ("sys/server:1.0", "server", "1.0"),
            ("sys/server:2.0", "server", "2.0"),
            ("sys/tool:1", "tool", "1.0"),
            ("zookeeper:3.8", "zk", "3.8"),
        ];
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn tools_are_found_on_path() {
        assert!(find_tool("sh").is_some());
        assert!(find_tool("crossgrade-no-such-tool").is_none());
    }

    // ---- against the real engine:
    //      cargo test -p crossgrade --lib images -- --ignored --nocapture

    use crate::model::{CellSpec, Template};
    use bollard::query_parameters::RemoveImageOptionsBuilder;

    fn matrix(root: &Path, images: Vec<ImageDef>, prepare: Option<Vec<String>>) -> Matrix {
        Matrix {
            file: root.join("matrix.toml"),
            root: root.to_path_buf(),
            system: "imagestest".into(),
            releases: vec![Release::parse("1.1").unwrap()],
            roles: vec![],
            services: vec![],
            images,
            prepare,
            cells: CellSpec {
                vary: vec![],
                releases: vec![],
                fixed: IndexMap::new(),
                exclude: vec![],
                scenarios: vec![],
            },
            paths: vec![],
            scenarios: vec![],
            subsets: vec![],
        }
    }

    fn image_def(name: &str, context: &Path, args: &[(&str, &str)], release: &str) -> ImageDef {
        ImageDef {
            name: Template::parse(name, &[]).unwrap(),
            context: context.to_path_buf(),
            dockerfile: "Dockerfile".into(),
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), Template::parse(v, &[]).unwrap()))
                .collect(),
            releases: vec![Release::parse(release).unwrap()],
        }
    }

    async fn remove_image(engine: &Engine, name: &str) {
        let opts = RemoveImageOptionsBuilder::default().force(true).build();
        let _ = engine.docker().remove_image(name, Some(opts), None).await;
    }

    #[tokio::test]
    #[ignore = "needs a Docker engine; builds the fixture image, then removes it"]
    async fn builds_the_fixture_then_finds_it_up_to_date() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let root = root.canonicalize().unwrap();
        let name = "crossgrade-imagestest/fixture:1.1";
        let m = matrix(
            &root,
            vec![image_def(
                "crossgrade-imagestest/fixture:{release}",
                &root.join("images/fixture"),
                &[("RELEASE", "{release}")],
                "1.1",
            )],
            Some(vec!["bash".into(), "images/fixture/prepare.sh".into()]),
        );
        let engine = Engine::connect().await.unwrap();
        remove_image(&engine, name).await;
        assert_eq!(
            wanted_images(&m),
            vec![],
            "no roles, nothing wanted (images are only built)"
        );

        let mut events = Vec::new();
        let t = Instant::now();
        let report = build_images(&engine, &m, &BuildOptions::default(), &mut |e| {
            events.push(e)
        })
        .await
        .unwrap();
        eprintln!("first build: {:?} in {:?}", report, t.elapsed());
        assert_eq!(report.built, vec![name]);
        assert!(matches!(events.first(), Some(BuildEvent::Preparing { .. })));
        assert!(events
            .iter()
            .any(|e| matches!(e, BuildEvent::Log { line, .. } if line.starts_with("Step 1/"))));
        for e in &events {
            if let BuildEvent::Prepared { secs } | BuildEvent::Built { secs, .. } = e {
                eprintln!("  {e:?} ({secs:.2}s)");
            }
        }
        let labels = engine.image_labels(name).await.unwrap().unwrap();
        assert_eq!(
            labels.get(LABEL_SYSTEM).map(String::as_str),
            Some("imagestest")
        );
        assert_eq!(labels.get(LABEL_BUILD_HASH).map(String::len), Some(64));
        let inspect = engine.docker().inspect_image(name).await.unwrap();
        let env = inspect.config.unwrap().env.unwrap();
        assert!(env.contains(&"FIXTURE_RELEASE=1.1".to_string()), "{env:?}");

        for _ in 0..2 {
            let mut events = Vec::new();
            let t = Instant::now();
            let report = build_images(&engine, &m, &BuildOptions::default(), &mut |e| {
                events.push(e)
            })
            .await
            .unwrap();
            let prepare = events.iter().find_map(|e| match e {
                BuildEvent::Prepared { secs } => Some(*secs),
                _ => None,
            });
            eprintln!(
                "up-to-date call: {} ms (prepare {:.0} ms)",
                t.elapsed().as_millis(),
                prepare.unwrap_or(0.0) * 1000.0
            );
            assert_eq!(report.up_to_date, vec![name]);
            assert!(report.built.is_empty());
            assert!(events.contains(&BuildEvent::UpToDate { image: name.into() }));
        }
        // Without the prepare step: the hash and the inspect alone.
        let mut quick = m.clone();
        quick.prepare = None;
        let t = Instant::now();
        let report = build_images(&engine, &quick, &BuildOptions::default(), &mut |_| {})
            .await
            .unwrap();
        eprintln!(
            "up-to-date check without prepare: {} ms",
            t.elapsed().as_millis()
        );
        assert_eq!(report.up_to_date, vec![name]);

        // `force` rebuilds; `only` names must exist.
        let forced = BuildOptions {
            force: true,
            only: vec![name.into()],
        };
        let t = Instant::now();
        let report = build_images(&engine, &quick, &forced, &mut |_| {})
            .await
            .unwrap();
        eprintln!("forced rebuild: {} ms", t.elapsed().as_millis());
        assert_eq!(report.built, vec![name]);
        let unknown = BuildOptions {
            force: false,
            only: vec!["nope:1".into()],
        };
        let err = build_images(&engine, &quick, &unknown, &mut |_| {})
            .await
            .unwrap_err();
        eprintln!("{err}");
        assert!(matches!(err, BuildError::UnknownImage { .. }));

        // A failing prepare command.
        let mut failing = quick.clone();
        failing.prepare = Some(vec![
            "sh".into(),
            "-c".into(),
            "echo out; echo err >&2; exit 3".into(),
        ]);
        let err = build_images(&engine, &failing, &BuildOptions::default(), &mut |_| {})
            .await
            .unwrap_err();
        eprintln!("{err}");
        assert!(
            matches!(&err, BuildError::Prepare { code: Some(3), output_tail, .. }
                if output_tail.contains("err"))
        );

        remove_image(&engine, name).await;
        assert!(!engine.image_exists(name).await.unwrap());
    }

    #[tokio::test]
    #[ignore = "needs a Docker engine (and debootstrap without debian:bookworm-slim); keeps that"]
    async fn bootstraps_a_debian_base_and_reports_missing_bases() {
        let engine = Engine::connect().await.unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path();
        fs::write(
            ctx.join("Dockerfile"),
            "ARG SUITE=bookworm\n\
             FROM debian:${SUITE}-slim\n\
             ARG RELEASE\n\
             RUN cat /etc/debian_version > /debian_version && echo \"release $RELEASE\"\n",
        )
        .unwrap();
        let name = "crossgrade-imagestest/debian:1.1";
        remove_image(&engine, name).await;
        let m = matrix(
            ctx,
            vec![image_def(name, ctx, &[("RELEASE", "{release}")], "1.1")],
            None,
        );
        let had_base = engine.image_exists("debian:bookworm-slim").await.unwrap();
        let mut events = Vec::new();
        let t = Instant::now();
        let report = build_images(&engine, &m, &BuildOptions::default(), &mut |e| {
            if let BuildEvent::Log { line, .. } = &e {
                eprintln!("  | {line}");
            }
            events.push(e)
        })
        .await
        .unwrap();
        eprintln!("{report:?} in {:?}", t.elapsed());
        for e in &events {
            if let BuildEvent::Bootstrapped { secs, .. } | BuildEvent::Built { secs, .. } = e {
                eprintln!("  {e:?} ({secs:.1}s)");
            }
        }
        assert_eq!(report.built, vec![name]);
        if !had_base {
            assert_eq!(report.bootstrapped, vec!["debian:bookworm-slim"]);
        }
        assert!(events
            .iter()
            .any(|e| matches!(e, BuildEvent::Log { line, .. } if line == "release 1.1")));
        remove_image(&engine, name).await;

        // Any other missing base is an error that says what to do.
        fs::write(
            ctx.join("Dockerfile"),
            "FROM crossgrade-imagestest/absent:9\n",
        )
        .unwrap();
        let err = build_images(&engine, &m, &BuildOptions::default(), &mut |_| {})
            .await
            .unwrap_err();
        eprintln!("{err}");
        assert!(matches!(&err, BuildError::MissingBase { base, .. }
                if base == "crossgrade-imagestest/absent:9"));
        // A failing build carries the build's last lines.
        fs::write(
            ctx.join("Dockerfile"),
            "FROM debian:bookworm-slim\nRUN echo about to fail && false\n",
        )
        .unwrap();
        let err = build_images(&engine, &m, &BuildOptions::default(), &mut |_| {})
            .await
            .unwrap_err();
        eprintln!("{err}");
        assert!(
            matches!(&err, BuildError::Build { log_tail, .. } if log_tail.contains("about to fail"))
        );
        assert!(!engine.image_exists(name).await.unwrap());
    }

    #[allow(dead_code)]
    fn build_images_future_is_send(
        e: &Engine,
        m: &Matrix,
        o: &BuildOptions,
        p: &mut (dyn FnMut(BuildEvent) + Send),
    ) {
        fn assert_send<T: Send>(_: &T) {}
        assert_send(&build_images(e, m, o, p));
    }
}
