//! The build orchestrator: the jobs (each `[[image]]` at each release), the `prepare` command, the
//! build order (images built `FROM` each other), the build hashes that make up-to-date images skip,
//! missing Debian bases made first, then one classic-builder build per job.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use indexmap::IndexMap;

use super::catalog::normalize_image;
use super::context::{scan_context, tar_context, ContextScan};
use super::debian::{bootstrap_debian, debian_suite};
use super::dockerfile::{self, Dockerfile, OUTSIDE_DOCKERFILE};
use super::error::{io_err, BuildError};
use super::hash::image_hash;
use super::process::{run_prepare, Tail};
use crate::model::{ImageDef, Matrix, ReleaseScope};
use crate::runtime::backend::Backend as _;
use crate::runtime::engine::Engine;
use crate::runtime::engine_images::{ImageBuild, ImageBuildError};

/// Label on built images: the content hash of everything the build read.
pub(crate) const LABEL_BUILD_HASH: &str = "crossgrade.build-hash";
/// Label on built images: the matrix's system name.
pub(crate) const LABEL_SYSTEM: &str = "crossgrade.system";

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Rebuild even when the image is up to date.
    pub force: bool,
    /// Image names to build (with the images they are built `FROM`, when the matrix defines those);
    /// empty means all.
    pub only: Vec<String>,
    /// Install a missing host tool (`debootstrap`, with `apt-get`, as root) instead of failing with
    /// how to install it. Off unless the user asks: it changes the host, not just the engine.
    pub install_tools: bool,
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

/// One line per event, as a log shows it (the terminal's live display is the CLI's own).
impl std::fmt::Display for BuildEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildEvent::Preparing { command } => write!(f, "preparing: {command}"),
            BuildEvent::PrepareLog { line } => write!(f, "prepare | {line}"),
            BuildEvent::Prepared { secs } => write!(f, "prepared in {secs:.1} s"),
            BuildEvent::UpToDate { image } => write!(f, "up to date {image}"),
            BuildEvent::Bootstrapping { base } => write!(f, "bootstrapping {base}"),
            BuildEvent::Bootstrapped { base, secs } => {
                write!(f, "bootstrapped {base} in {secs:.1} s")
            }
            BuildEvent::Building { image } => write!(f, "building {image}"),
            BuildEvent::Log { image, line } => write!(f, "{image} | {line}"),
            BuildEvent::Built { image, secs } => write!(f, "built {image} in {secs:.1} s"),
        }
    }
}

/// What [`build_images`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildReport {
    pub built: Vec<String>,
    pub up_to_date: Vec<String>,
    /// Base images made with `debootstrap`.
    pub bootstrapped: Vec<String>,
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
    dockerfile: Dockerfile,
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

    let (mut jobs, by_name) = jobs_of(m);

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

    let progress = std::sync::Mutex::new(progress);
    let emit = |e: BuildEvent| {
        let mut p = progress.lock().unwrap_or_else(|p| p.into_inner());
        (*p)(e)
    };
    // Debian bases the Dockerfiles already name are made while `prepare` runs (a bootstrap
    // downloads and unpacks; `prepare` mostly compiles).
    let early = missing_debian_bases(engine, m, &jobs, &wanted).await?;
    let prepare = async {
        match m.prepare.as_ref().filter(|a| !a.is_empty()) {
            Some(argv) => run_prepare(m, argv, &mut { emit }).await,
            None => Ok(()),
        }
    };
    let bootstraps = async {
        let mut made = Vec::new();
        for (base, suite) in &early {
            bootstrap_debian(engine, base, suite, opts.install_tools, &mut { emit }).await?;
            made.push(base.clone());
        }
        Ok::<_, BuildError>(made)
    };
    let (prepared, bootstrapped) = tokio::join!(prepare, bootstraps);
    prepared?;
    report.bootstrapped.extend(bootstrapped?);

    let (inputs, order) = resolve(m, &mut jobs, &by_name, &wanted).await?;

    // Up to date or to build, and the bases to make first.
    let mut done: HashSet<usize> = HashSet::new();
    let mut pending: Vec<usize> = Vec::new();
    for &j in &order {
        let job = &jobs[j];
        let labels = engine.image_labels(&job.name).await?;
        let current = labels.as_ref().and_then(|l| l.get(LABEL_BUILD_HASH));
        if current == Some(&job.hash) && !job.forced {
            emit(BuildEvent::UpToDate {
                image: job.name.clone(),
            });
            report.up_to_date.push(job.name.clone());
            done.insert(j);
        } else {
            pending.push(j);
        }
    }
    let mut bases: Vec<(String, String)> = Vec::new();
    let mut checked: HashSet<String> = report.bootstrapped.iter().cloned().collect();
    for &j in &pending {
        let job = &jobs[j];
        for base in &job.bases {
            let built_here = job
                .deps
                .iter()
                .any(|&k| normalize_image(&jobs[k].name) == normalize_image(base));
            if built_here || !checked.insert(base.clone()) || engine.image_exists(base).await? {
                continue;
            }
            let Some(suite) = debian_suite(base) else {
                return Err(BuildError::MissingBase {
                    image: job.name.clone(),
                    base: base.clone(),
                    hint: format!(
                        "it cannot be pulled here (no registry is reachable); load it with \
                         `docker load` or build it locally (e.g. as an [[image]] of the matrix) \
                         and tag it `{base}`"
                    ),
                });
            };
            bases.push((base.clone(), suite));
        }
    }

    // Bootstraps and builds at once, as many as there are cores, each build once the images it is
    // built on exist.
    enum Task {
        Base(String),
        Image(usize),
    }
    let limit = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut making: HashSet<String> = bases.iter().map(|(b, _)| b.clone()).collect();
    let mut bases: VecDeque<(String, String)> = bases.into();
    let mut running = futures_util::stream::FuturesUnordered::new();
    loop {
        while running.len() < limit {
            let task = if let Some((base, suite)) = bases.pop_front() {
                let mut emit = emit;
                let install = opts.install_tools;
                let fut: TaskFuture<'_, Task> = Box::pin(async move {
                    let r = bootstrap_debian(engine, &base, &suite, install, &mut emit).await;
                    (Task::Base(base), r)
                });
                fut
            } else if let Some(pos) = pending.iter().position(|&j| {
                jobs[j].deps.iter().all(|k| done.contains(k))
                    && jobs[j].bases.iter().all(|b| !making.contains(b))
            }) {
                let j = pending.remove(pos);
                let job = &jobs[j];
                let input = inputs[job.def].as_ref().expect("read for included jobs");
                let mut emit = emit;
                Box::pin(async move {
                    let r = build_one(engine, m, &m.images[job.def], input, job, &mut emit).await;
                    (Task::Image(j), r)
                })
            } else {
                break;
            };
            running.push(task);
        }
        let Some((task, result)) = futures_util::StreamExt::next(&mut running).await else {
            break; // nothing running and nothing ready: every job is done (the order has no cycle)
        };
        result?;
        match task {
            Task::Base(base) => {
                making.remove(&base);
                report.bootstrapped.push(base);
            }
            Task::Image(j) => {
                done.insert(j);
                report.built.push(jobs[j].name.clone());
            }
        }
    }
    Ok(report)
}

/// What the engine holds of an image a matrix runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageState {
    /// Built from the matrix's current inputs.
    UpToDate,
    /// Built from inputs that changed since: its Dockerfile, context or arguments, or an image it is
    /// built on (what `prepare` compiles counts once `prepare` has run again).
    Stale,
    Missing,
    /// No `[[image]]` makes it: the user provides it, and it is there (or not).
    Provided {
        present: bool,
    },
}

/// The state of each of `images` in the engine, without building anything: the build hash of every
/// image the matrix defines is computed from its inputs as they are now and compared with the one
/// it was built with.
pub async fn image_states(
    engine: &Engine,
    m: &Matrix,
    images: &[String],
) -> Result<Vec<(String, ImageState)>, BuildError> {
    let (mut jobs, by_name) = jobs_of(m);
    let defined: Vec<usize> = images
        .iter()
        .filter_map(|i| by_name.get(&normalize_image(i)).copied())
        .collect();
    resolve(m, &mut jobs, &by_name, &defined).await?;
    let mut out = Vec::new();
    for image in images {
        let state = match by_name.get(&normalize_image(image)) {
            None => ImageState::Provided {
                present: engine.image_exists(image).await?,
            },
            Some(&j) => match engine.image_labels(image).await? {
                None => ImageState::Missing,
                Some(labels) if labels.get(LABEL_BUILD_HASH) == Some(&jobs[j].hash) => {
                    ImageState::UpToDate
                }
                Some(_) => ImageState::Stale,
            },
        };
        out.push((image.clone(), state));
    }
    Ok(out)
}

/// Every `[[image]]` at each of its releases, the first definition of a name winning, and the job
/// of each normalised image name.
fn jobs_of(m: &Matrix) -> (Vec<Job>, HashMap<String, usize>) {
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
    (jobs, by_name)
}

/// The wanted jobs and the matrix images they are built on: their Dockerfiles read, their bases and
/// dependencies found, their contexts scanned and their build hashes computed (an image's hash
/// covers the hashes of the images it is built on). Returns the inputs per `[[image]]` and the
/// jobs in build order.
async fn resolve(
    m: &Matrix,
    jobs: &mut [Job],
    by_name: &HashMap<String, usize>,
    wanted: &[usize],
) -> Result<(Vec<Option<DefInputs>>, Vec<usize>), BuildError> {
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
            let dockerfile = dockerfile::read(&m.images[d], &jobs[j].name).await?;
            inputs[d] = Some(DefInputs {
                dockerfile,
                scan: None,
            });
        }
        let text = &inputs[d].as_ref().expect("read above").dockerfile.text;
        let bases = dockerfile::bases(text, &jobs[j].args);
        let deps: Vec<usize> = bases
            .iter()
            .filter_map(|b| by_name.get(&normalize_image(b)).copied())
            .filter(|&k| k != j)
            .collect();
        queue.extend(deps.iter().copied());
        jobs[j].bases = bases;
        jobs[j].deps = deps;
    }
    let order = build_order(jobs, &included)?;

    // Contents, then hashes (an image's hash covers the hashes of the images it is built on).
    for (d, input) in inputs.iter_mut().enumerate() {
        if let Some(input) = input {
            if m.images[d].inline.is_some() {
                // The harness's own Dockerfile, with nothing beside it: the hash covers its text.
                input.scan = Some(ContextScan::empty());
                continue;
            }
            let context = m.images[d].context.clone();
            let include = m.images[d].include.clone();
            let dockerfile =
                (!input.dockerfile.outside).then(|| input.dockerfile.name_in_context.clone());
            let scan = tokio::task::spawn_blocking(move || {
                scan_context(&context, dockerfile.as_deref(), &include)
            })
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
            &input.dockerfile.text,
            &input.scan.as_ref().expect("scanned").digest,
            &jobs[j].args,
            &dep_hashes,
        );
        jobs[j].hash = hash;
    }
    Ok((inputs, order))
}

/// A bootstrap or a build under way, and what it was.
type TaskFuture<'a, T> = Pin<Box<dyn Future<Output = (T, Result<(), BuildError>)> + Send + 'a>>;

/// Debian bases that the wanted jobs' Dockerfiles name (as they are before `prepare` runs) and the
/// engine does not have, each once.
async fn missing_debian_bases(
    engine: &Engine,
    m: &Matrix,
    jobs: &[Job],
    wanted: &[usize],
) -> Result<Vec<(String, String)>, BuildError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for &j in wanted {
        let Ok(d) = dockerfile::read(&m.images[jobs[j].def], &jobs[j].name).await else {
            continue; // `prepare` may write it
        };
        for base in dockerfile::bases(&d.text, &jobs[j].args) {
            let Some(suite) = debian_suite(&base) else {
                continue;
            };
            if out.iter().any(|(b, _)| *b == base) || engine.image_exists(&base).await? {
                continue;
            }
            out.push((base, suite));
        }
    }
    Ok(out)
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

/// Builds one image: its context packed, its build hash and the system as labels.
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
    let extra = input.dockerfile.outside.then(|| {
        (
            OUTSIDE_DOCKERFILE.to_string(),
            input.dockerfile.text.clone(),
        )
    });
    let tar = tokio::task::spawn_blocking(move || tar_context(&context, &entries, extra))
        .await
        .expect("packing the context panicked")
        .map_err(io_err("packing the build context", &def.context))?;

    let build = ImageBuild {
        tag: image.clone(),
        dockerfile: input.dockerfile.name_in_context.clone(),
        context: tar,
        build_args: job
            .args
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        labels: HashMap::from([
            (LABEL_BUILD_HASH.to_string(), job.hash.clone()),
            (LABEL_SYSTEM.to_string(), m.system.clone()),
        ]),
    };
    let mut tail = Tail::default();
    let mut on_line = |line: String| {
        tail.push(line.clone());
        progress(BuildEvent::Log {
            image: image.clone(),
            line,
        });
    };
    match engine.build_image(build, &mut on_line).await {
        Ok(()) => {}
        Err(ImageBuildError::Failed(message)) => {
            return Err(BuildError::Build {
                image,
                message,
                log_tail: tail.joined(),
            })
        }
        Err(ImageBuildError::Engine(source)) => {
            return Err(BuildError::BuildEngine {
                image,
                log_tail: tail.joined(),
                source: Box::new(source),
            })
        }
    }
    progress(BuildEvent::Built {
        image,
        secs: started.elapsed().as_secs_f64(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::runtime::images::testing::{image_def, matrix};

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

    // ---- against the real engine:
    //      cargo test -p crossgrade --lib images -- --ignored --nocapture

    /// Builds with the default options: the report, the events, and how long it took.
    async fn build_recording(
        engine: &Engine,
        m: &Matrix,
    ) -> (BuildReport, Vec<BuildEvent>, std::time::Duration) {
        let mut events = Vec::new();
        let t = Instant::now();
        let report = build_images(engine, m, &BuildOptions::default(), &mut |e| events.push(e))
            .await
            .unwrap();
        (report, events, t.elapsed())
    }

    async fn remove_image(engine: &Engine, name: &str) {
        let _ = engine.remove_image(name).await;
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

        let (report, events, took) = build_recording(&engine, &m).await;
        eprintln!("first build: {report:?} in {took:?}");
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
        let env = engine.image_env(name).await.unwrap();
        assert!(env.contains(&"FIXTURE_RELEASE=1.1".to_string()), "{env:?}");

        for _ in 0..2 {
            let (report, events, took) = build_recording(&engine, &m).await;
            let prepare = events.iter().find_map(|e| match e {
                BuildEvent::Prepared { secs } => Some(*secs),
                _ => None,
            });
            eprintln!(
                "up-to-date call: {} ms (prepare {:.0} ms)",
                took.as_millis(),
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
            install_tools: false,
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
            install_tools: false,
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
        let dockerfile = "FROM crossgrade-imagestest/absent:9\n";
        let err = build_error(&engine, &m, dockerfile).await;
        assert!(matches!(&err, BuildError::MissingBase { base, .. }
                if base == "crossgrade-imagestest/absent:9"));
        // A failing build carries the build's last lines.
        let dockerfile = "FROM debian:bookworm-slim\nRUN echo about to fail && false\n";
        let err = build_error(&engine, &m, dockerfile).await;
        assert!(
            matches!(&err, BuildError::Build { log_tail, .. } if log_tail.contains("about to fail"))
        );
        assert!(!engine.image_exists(name).await.unwrap());
    }

    /// Builds the matrix's one image (whose context is the matrix's folder) from `dockerfile`,
    /// which must fail.
    async fn build_error(engine: &Engine, m: &Matrix, dockerfile: &str) -> BuildError {
        fs::write(m.root.join("Dockerfile"), dockerfile).unwrap();
        let err = build_images(engine, m, &BuildOptions::default(), &mut |_| {})
            .await
            .unwrap_err();
        eprintln!("{err}");
        err
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
