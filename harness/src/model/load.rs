//! Loading: read the matrix and its scenario files, deserialize, then validate in one pass that collects
//! every error (with file, line and column) before anything can run.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use regex::Regex;
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diag::{Errors, LoadError, ModelError, SourceFile};
use super::duration::parse_duration;
use super::image_ref;
use super::raw::*;
use super::release::Release;
use super::skew::SkewRule;

/// One `interchangeable` group: its roles, and the rules that keep one cell of each permutation.
struct Interchangeable {
    roles: Vec<String>,
    rules: Vec<SkewRule>,
}
use super::template::Template;
use super::types::*;
use crate::step::{load_step, ScenarioCx};

const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// `orders = "all"` runs every permutation only up to this many roles (720 trials).
const MAX_ORDERED_ROLES: usize = 6;
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_TRIAL_TIMEOUT: Duration = Duration::from_secs(600);
/// The most trials a matrix plans unless its `[matrix] max_trials` says otherwise: about a day of
/// trials on one machine, and far below what would exhaust memory while planning.
pub(crate) const DEFAULT_MAX_TRIALS: u64 = 10_000;

/// Loads and validates `matrix.toml` and the scenario files it points to.
pub fn load(path: &Path) -> Result<Matrix, LoadError> {
    let fail = |errors: Vec<ModelError>| LoadError::new(path.display().to_string(), errors);
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(vec![ModelError::in_file(
            &path.display().to_string(),
            format!("cannot read the matrix file: {e}"),
        )
        .help("pass another file with -f/--matrix")])
    })?;
    let file = SourceFile::new(path, text);
    let mut errors = Errors::default();
    let raw: RawMatrix = match toml::from_str(&file.text) {
        Ok(r) => r,
        Err(e) => {
            errors.toml(&file, e);
            return Err(fail(errors.0));
        }
    };
    let root = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let matrix = Loader {
        file: &file,
        errors: &mut errors,
    }
    .matrix(raw, path, &root);
    match matrix {
        Some(m) if errors.is_empty() => Ok(m),
        _ => Err(fail(errors.0)),
    }
}

/// A scenario file run on its own (`crossgrade run --scenario-file`): a generated or shrunk plan,
/// with the trial it is (`[trial]`: a path's `from` and `to`, and roles that start elsewhere).
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    pub(crate) scenario: Scenario,
    /// The path it runs along (a path scenario).
    pub(crate) path: Option<(Release, Release)>,
    /// Every role's release at the start.
    pub(crate) start: IndexMap<String, Release>,
    /// The file as the user named it.
    pub(crate) file: String,
}

/// Loads `file` against the roles and releases of `m`, with the same checks as the scenarios of
/// its directory, and its `[trial]` table.
pub fn load_scenario_file(m: &Matrix, file: &Path) -> Result<ScenarioFile, LoadError> {
    let fail = |errors: Vec<ModelError>| LoadError::new(file.display().to_string(), errors);
    let text = read_regular_file(file).map_err(|why| {
        fail(vec![ModelError::in_file(&file.display().to_string(), why)
            .help(
                "pass the scenario file `crossgrade shrink` or a generated plan wrote",
            )])
    })?;
    let source = SourceFile::new(file, text);
    let mut errors = Errors::default();
    let mut sc = ScenarioCx {
        l: Loader {
            file: &source,
            errors: &mut errors,
        },
        roles: &m.roles,
        services: &m.services,
        releases: &m.releases,
        kind: ScenarioKind::Cell,
        workloads: HashSet::new(),
        in_each_state: false,
        history: None,
        faults: vec![],
    };
    let loaded = scenario(&mut sc, file);
    let Some((scenario, _, target)) = loaded else {
        return Err(fail(errors.0));
    };
    let mut l = Loader {
        file: &source,
        errors: &mut errors,
    };
    let Some(target) = target else {
        l.err(
            0..0,
            "a scenario file run on its own needs a [trial] table",
            "add [trial] with `from` and `to` (a path scenario) or `start = { role = \"release\", … }` \
             (a cell scenario)",
        );
        return Err(fail(errors.0));
    };
    let t = target.get_ref();
    let role_names: Vec<&str> = m.roles.iter().map(|r| r.name.as_str()).collect();
    let pinned = l.assignment("start", &t.start, &role_names, &m.releases);
    let path = match (scenario.kind, &t.from, &t.to) {
        (ScenarioKind::Path, Some(f), Some(to)) => {
            match (l.release(f, &m.releases), l.release(to, &m.releases)) {
                (Some(f), Some(to)) => Some((f, to)),
                _ => None,
            }
        }
        (ScenarioKind::Path, _, _) => {
            l.err(
                target.span(),
                "a path scenario's [trial] names `from` and `to`",
                "e.g. `from = \"0.22\"` and `to = \"0.24\"`",
            );
            None
        }
        (ScenarioKind::Cell, None, None) => None,
        (ScenarioKind::Cell, _, _) => {
            l.err(
                target.span(),
                "a cell scenario's [trial] has no `from` or `to`",
                "give every role's release in `start`",
            );
            None
        }
    };
    let mut start = IndexMap::new();
    for r in &m.roles {
        let at = pinned
            .get(&r.name)
            .or(path.as_ref().map(|(f, _)| f))
            .cloned();
        match at {
            Some(rel) => {
                start.insert(r.name.clone(), rel);
            }
            None if l.errors.is_empty() => l.err(
                target.span(),
                format!("[trial] `start` gives no release to role `{}`", r.name),
                format!(
                    "a cell scenario's `start` gives every role's: {}",
                    role_names.join(", ")
                ),
            ),
            None => {}
        }
    }
    for s in &m.services {
        if let Some(rel) = &s.fixed_release {
            start.insert(s.name.clone(), rel.clone());
        }
    }
    if !errors.is_empty() {
        return Err(fail(errors.0));
    }
    Ok(ScenarioFile {
        scenario,
        path,
        start,
        file: file.display().to_string(),
    })
}

/// Where errors go while one file loads, and the checks every part of a file shares.
pub(crate) struct Loader<'a> {
    pub file: &'a SourceFile,
    pub errors: &'a mut Errors,
}

/// The hint for every name the harness uses in ids and file names.
const NAME_HINT: &str = "start with a lowercase letter, e.g. `rolling-upgrade` or `node_2`";

/// The hint for every regex.
pub(crate) const REGEX_HINT: &str =
    "regexes are Rust's `regex` syntax (https://docs.rs/regex): escape `(`, `[`, `.` and `\\` with `\\` to match them literally";

fn is_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl Loader<'_> {
    /// A TOML syntax or type error, at its position.
    pub(crate) fn toml(&mut self, e: toml::de::Error) {
        self.errors.toml(self.file, e);
    }

    /// An error at `span` and what would be accepted there.
    pub(crate) fn err(
        &mut self,
        span: std::ops::Range<usize>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.errors.at(self.file, span, msg, help);
    }

    pub(crate) fn duration(&mut self, d: &Option<Spanned<String>>, default: Duration) -> Duration {
        match d {
            None => default,
            Some(s) => parse_duration(s.get_ref()).unwrap_or_else(|e| {
                self.err(s.span(), e.to_string(), e.hint());
                default
            }),
        }
    }

    pub(crate) fn release(&mut self, s: &Spanned<String>, known: &[Release]) -> Option<Release> {
        match Release::parse(s.get_ref()) {
            Err(e) => {
                self.err(s.span(), e.to_string(), e.hint());
                None
            }
            Ok(r) if !known.is_empty() && !known.contains(&r) => {
                self.err(
                    s.span(),
                    format!("unknown release `{r}`"),
                    format!("the system's releases are: {}", join(known)),
                );
                None
            }
            Ok(r) => Some(r),
        }
    }

    fn template(&mut self, s: &Spanned<String>, roles: &[&str]) -> Template {
        Template::parse(s.get_ref(), roles).unwrap_or_else(|e| {
            self.err(s.span(), e.to_string(), e.hint());
            Template::literal(s.get_ref())
        })
    }

    fn templates(&mut self, v: &[Spanned<String>], roles: &[&str]) -> Vec<Template> {
        v.iter().map(|s| self.template(s, roles)).collect()
    }

    fn matrix(&mut self, raw: RawMatrix, path: &Path, root: &Path) -> Option<Matrix> {
        let system = raw.system.get_ref();
        let name = system.name.get_ref().clone();
        if !is_name(&name) {
            self.err(
                system.name.span(),
                format!("system name `{name}` must be lowercase letters, digits, `-` or `_`"),
                NAME_HINT,
            );
        }
        let mut releases = Vec::new();
        for r in system.releases.get_ref() {
            if let Some(rel) = self.release(r, &[]) {
                if releases.contains(&rel) {
                    self.err(
                        r.span(),
                        format!("release `{rel}` is listed twice"),
                        "list each release once",
                    );
                } else {
                    releases.push(rel);
                }
            }
        }
        if releases.is_empty() {
            self.err(
                system.releases.span(),
                "the system has no releases",
                "list them oldest first, e.g. releases = [\"0.22\", \"0.23\"]",
            );
        }
        releases.sort();

        let mut all_names: Vec<&str> = Vec::new();
        for (n, r) in raw.roles.iter().chain(&raw.services) {
            if all_names.contains(&n.as_str()) {
                self.err(
                    r.span(),
                    format!("`{n}` is declared both as a role and as a service"),
                    "a name is either a [roles.NAME] (varies by release) or a [services.NAME] (fixed)",
                );
            }
            all_names.push(n);
        }
        if raw.roles.is_empty() {
            self.err(
                raw.system.span(),
                "the matrix declares no roles",
                "add a [roles.NAME] table with at least an `image`",
            );
        }
        let raw_roles = self.resolve_likes(&raw.roles);
        let roles: Vec<Role> = raw_roles
            .iter()
            .map(|(n, r)| self.role(n, r, &releases, &all_names, false))
            .collect();
        let raw_services = self.resolve_likes(&raw.services);
        let services: Vec<Role> = raw_services
            .iter()
            .map(|(n, r)| self.role(n, r, &releases, &all_names, true))
            .collect();

        let images = raw
            .image
            .iter()
            .map(|i| self.image(i, &releases, root))
            .collect();

        let role_names: Vec<&str> = raw.roles.keys().map(String::as_str).collect();
        let (scenario_dir, dir_at) = match &system.scenarios {
            Some(d) => (root.join(d.get_ref()), d.span()),
            None => (root.join("scenarios").join(&name), raw.system.span()),
        };
        let scenarios = load_scenarios(
            &scenario_dir,
            (self.file, dir_at),
            &roles,
            &services,
            &releases,
            &mut *self.errors,
        );

        let (cells, paths, random) = match &raw.matrix {
            Some(m) => self.cells(m, (&roles, &services), &role_names, &releases, &scenarios),
            None => {
                self.err(
                    0..0,
                    "the file has no [matrix] table, so it has no trials",
                    "add [matrix] with `scenarios = [...]` for cells and/or [[matrix.paths]]",
                );
                return None;
            }
        };

        let subsets = raw
            .subsets
            .iter()
            .map(|(name, s)| self.subset(name, s))
            .collect();

        let api = raw
            .api
            .as_ref()
            .map(|a| self.api(a, &releases, &role_names, root));

        let image_spans: Vec<Range<usize>> = raw
            .roles
            .values()
            .chain(raw.services.values())
            .map(|r| r.get_ref().image.as_ref().map_or(r.span(), |i| i.span()))
            .collect();
        let image_def_spans: Vec<Range<usize>> =
            raw.image.iter().map(|i| i.get_ref().name.span()).collect();
        let m = Matrix {
            file: path.to_path_buf(),
            root: root.to_path_buf(),
            system: name,
            releases,
            roles,
            services,
            images,
            prepare: raw.build.and_then(|b| b.prepare),
            cells,
            paths,
            random,
            scenarios,
            subsets,
            api,
        };
        self.image_references(&m, &image_spans, &image_def_spans);
        let mut m = m;
        // Fault steps that shape traffic run the network-tools helper: the matrix builds it (unless
        // it defines that image itself).
        let uses_net_tools = m.scenarios.iter().any(|s| {
            s.steps
                .iter()
                .chain(&s.each_state)
                .any(|st| st.spec.needs_net_tools())
        }) || m
            .random
            .as_ref()
            .and_then(|r| r.faults.as_ref())
            .is_some_and(FaultSpec::may_shape);
        let defines = m.images.iter().any(|d| {
            d.releases.iter().any(|r| {
                d.name.render(&super::template::ReleaseScope(r.as_str()))
                    == crate::step::NET_TOOLS_IMAGE
            })
        });
        if uses_net_tools && !defines {
            if let Some(first) = m.releases.first().cloned() {
                m.images.push(ImageDef::net_tools(&first));
            }
        }
        Some(m)
    }

    /// Every image a role or an [[image]] names, for every release, must be a reference the engine
    /// reads; each bad one is reported once, at the `image` or `name` that makes it.
    fn image_references(
        &mut self,
        m: &Matrix,
        roles_at: &[Range<usize>],
        defs_at: &[Range<usize>],
    ) {
        for (role, at) in m.roles.iter().chain(&m.services).zip(roles_at) {
            let names: Vec<String> = match (&role.image, &role.fixed_release) {
                // A table may lack a release (already an error): only what it names.
                (ImageRef::PerRelease(map), _) => map.values().cloned().collect(),
                (ImageRef::Template(_), Some(r)) => vec![m.image_of(role, r)],
                (ImageRef::Template(_), None) => {
                    m.releases.iter().map(|r| m.image_of(role, r)).collect()
                }
            };
            for name in names {
                if let Some(why) = image_ref::refusal(&name) {
                    self.err(
                        at.clone(),
                        format!("`{name}` is not an image name ({why})"),
                        image_ref::HINT,
                    );
                    break;
                }
            }
        }
        for (def, at) in m.images.iter().zip(defs_at) {
            for release in &def.releases {
                let name = def
                    .name
                    .render(&super::template::ReleaseScope(release.as_str()));
                if let Some(why) = image_ref::refusal(&name) {
                    self.err(
                        at.clone(),
                        format!("`{name}` is not an image name ({why})"),
                        image_ref::HINT,
                    );
                    break;
                }
            }
        }
    }

    /// `[api]`: a folder per release (from a template or a table), interfaces between known roles.
    fn api(
        &mut self,
        raw: &Spanned<RawApi>,
        releases: &[Release],
        role_names: &[&str],
        root: &Path,
    ) -> ApiSpec {
        let r = raw.get_ref();
        let at = r.definitions.span();
        let mut definitions: IndexMap<Release, PathBuf> = IndexMap::new();
        const HINT: &str =
            "`definitions` is a folder template such as \"apis/mesos/{release}\", or a \
                            table release → folder, e.g. { \"0.22\" = \"apis/mesos/0.22.0\" }";
        match r.definitions.get_ref() {
            toml::Value::String(s) => {
                let t = self.template(&Spanned::new(at.clone(), s.clone()), &[]);
                for rel in releases {
                    let dir = t.render(&super::template::ReleaseScope(rel.as_str()));
                    definitions.insert(rel.clone(), root.join(dir));
                }
            }
            toml::Value::Table(table) => {
                for (k, v) in table {
                    let Some(rel) = self.release(&Spanned::new(at.clone(), k.clone()), releases)
                    else {
                        continue;
                    };
                    match v.as_str() {
                        Some(dir) => {
                            definitions.insert(rel, root.join(dir));
                        }
                        None => self.err(
                            at.clone(),
                            format!("the definition of release `{rel}` is not a folder name"),
                            HINT,
                        ),
                    }
                }
                let missing: Vec<String> = releases
                    .iter()
                    .filter(|r| !definitions.contains_key(*r))
                    .map(|r| r.to_string())
                    .collect();
                if !missing.is_empty() {
                    self.err(
                        at.clone(),
                        format!("no API definition for {}", missing.join(", ")),
                        "give every release of the system a folder (a template covers them all)",
                    );
                }
            }
            _ => self.err(
                at.clone(),
                "`definitions` must be a string or a table",
                HINT,
            ),
        }
        for (rel, dir) in &definitions {
            if !dir.is_dir() {
                self.err(
                    at.clone(),
                    format!(
                        "the API definition of release `{rel}` is not a folder: {}",
                        dir.display()
                    ),
                    "folders are relative to the matrix file and hold the release's .proto files \
                     (e.g. apis/mesos/0.22.0)",
                );
            }
        }
        let mut interfaces = Vec::new();
        for i in &r.interface {
            let ir = i.get_ref();
            for role in [&ir.from, &ir.to] {
                if !role_names.contains(&role.get_ref().as_str()) {
                    self.err(
                        role.span(),
                        format!("unknown role `{}`", role.get_ref()),
                        format!(
                            "an interface is between two of the matrix's roles: {}",
                            role_names.join(", ")
                        ),
                    );
                }
            }
            if ir.messages.get_ref().is_empty() {
                self.err(
                    ir.messages.span(),
                    "the interface lists no messages",
                    "name what `from` sends `to` by full name (a message, an enum or a package), \
                     e.g. messages = [\"mesos.v1.scheduler.Call\"]",
                );
            }
            let mut messages: Vec<Located<String>> = Vec::new();
            for m in ir.messages.get_ref() {
                let name = m.get_ref().trim_start_matches('.');
                let well_formed = !name.is_empty()
                    && name.split('.').all(|p| {
                        p.chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    });
                if !well_formed {
                    self.err(
                        m.span(),
                        format!("`{}` is not a protobuf full name", m.get_ref()),
                        "e.g. mesos.v1.scheduler.Call (a message or enum) or mesos.internal (a package)",
                    );
                } else if messages.iter().any(|x| x.value == name) {
                    self.err(
                        m.span(),
                        format!("`{name}` is listed twice"),
                        "list each name once",
                    );
                } else {
                    messages.push(Located::new(name.to_string(), self.file, m.span()));
                }
            }
            interfaces.push(Interface {
                from: ir.from.get_ref().clone(),
                to: ir.to.get_ref().clone(),
                messages,
            });
        }
        ApiSpec {
            definitions,
            interfaces,
        }
    }

    /// Roles with `like = "BASE"` take every key of BASE they do not set (`env` and `actions` merged,
    /// theirs winning). BASE must be a role declared without `like` of its own.
    fn resolve_likes(
        &mut self,
        roles: &IndexMap<String, Spanned<RawRole>>,
    ) -> IndexMap<String, Spanned<RawRole>> {
        let mut out = IndexMap::new();
        for (name, r) in roles {
            let own = r.get_ref();
            let Some(like) = &own.like else {
                out.insert(name.clone(), r.clone());
                continue;
            };
            let base = match roles.get(like.get_ref()) {
                Some(b) if b.get_ref().like.is_none() && like.get_ref() != name => b.get_ref(),
                Some(_) => {
                    self.err(
                        like.span(),
                        format!(
                            "`{}` takes its keys from another role itself",
                            like.get_ref()
                        ),
                        "name the role that is written out in full: `like` does not chain",
                    );
                    out.insert(name.clone(), r.clone());
                    continue;
                }
                None => {
                    let names: Vec<&str> = roles.keys().map(String::as_str).collect();
                    self.err(
                        like.span(),
                        format!("`like` names unknown role `{}`", like.get_ref()),
                        format!("roles are: {}", names.join(", ")),
                    );
                    out.insert(name.clone(), r.clone());
                    continue;
                }
            };
            let mut env = base.env.clone();
            env.extend(own.env.clone());
            let mut actions = base.actions.clone();
            actions.extend(own.actions.clone());
            let merged = RawRole {
                like: None,
                image: own.image.clone().or_else(|| base.image.clone()),
                replicas: own.replicas.clone().or_else(|| base.replicas.clone()),
                entrypoint: own.entrypoint.clone().or_else(|| base.entrypoint.clone()),
                command: own.command.clone().or_else(|| base.command.clone()),
                env,
                data: own.data.clone().or_else(|| base.data.clone()),
                ready: own.ready.clone().or_else(|| base.ready.clone()),
                leader: own.leader.clone().or_else(|| base.leader.clone()),
                actions,
                stop_timeout: own
                    .stop_timeout
                    .clone()
                    .or_else(|| base.stop_timeout.clone()),
                error_lines: own.error_lines.clone().or_else(|| base.error_lines.clone()),
                release: own.release.clone().or_else(|| base.release.clone()),
            };
            out.insert(name.clone(), Spanned::new(r.span(), merged));
        }
        out
    }

    fn subset(&mut self, name: &str, raw: &Spanned<RawSubset>) -> Subset {
        if !is_name(name) {
            self.err(
                raw.span(),
                format!("subset name `{name}` must be lowercase letters, digits, `-` or `_`"),
                NAME_HINT,
            );
        }
        let r = raw.get_ref();
        if r.trials.get_ref().is_empty() {
            self.err(
                r.trials.span(),
                format!("subset `{name}` lists no trials"),
                "list trial ids as `crossgrade plan --ids` prints them",
            );
        }
        let mut trials: Vec<Located<String>> = Vec::new();
        for t in r.trials.get_ref() {
            if trials.iter().any(|x| &x.value == t.get_ref()) {
                self.err(
                    t.span(),
                    format!("trial `{}` is listed twice", t.get_ref()),
                    "list each trial once",
                );
            } else {
                trials.push(Located::new(t.get_ref().clone(), self.file, t.span()));
            }
        }
        Subset {
            name: name.to_string(),
            about: r.about.clone(),
            trials,
        }
    }

    fn role(
        &mut self,
        name: &str,
        raw: &Spanned<RawRole>,
        releases: &[Release],
        all_names: &[&str],
        service: bool,
    ) -> Role {
        let span = raw.span();
        let r = raw.get_ref();
        if !is_name(name) {
            self.err(
                span.clone(),
                format!("role name `{name}` must be lowercase letters, digits, `-` or `_`"),
                NAME_HINT,
            );
        }
        let fixed_release = match (&r.release, service) {
            (Some(rel), true) => Release::parse(rel.get_ref())
                .map_err(|e| self.err(rel.span(), e.to_string(), e.hint()))
                .ok(),
            (Some(rel), false) => {
                self.err(
                    rel.span(),
                    format!("role `{name}` has a fixed `release`"),
                    "roles vary by release; declare a fixed component under [services.NAME]",
                );
                None
            }
            (None, true) => Some(Release::parse("fixed").expect("valid")),
            (None, false) => None,
        };
        let missing;
        let image_value = match &r.image {
            Some(i) => i,
            None => {
                self.err(
                    span.clone(),
                    format!("role `{name}` has no `image`"),
                    "add `image = \"name:{release}\"`, or `like = \"ROLE\"` to take another role's",
                );
                missing = Spanned::new(
                    span.clone(),
                    toml::Value::String("missing:{release}".into()),
                );
                &missing
            }
        };
        let image = match image_value.get_ref() {
            toml::Value::String(s) => {
                let t = self.template(&Spanned::new(image_value.span(), s.clone()), all_names);
                if !service && !t.uses_release() && releases.len() > 1 {
                    self.err(
                        image_value.span(),
                        format!("the image of role `{name}` is the same for every release"),
                        "put `{release}` in the image name, or give a table release → image; a \
                         component that does not vary with the system (a pinned client library) is \
                         a [services.NAME] with a `release`, whose actions steps run as a role's",
                    );
                }
                ImageRef::Template(t)
            }
            toml::Value::Table(t) => {
                let mut map = IndexMap::new();
                for (k, v) in t {
                    let rel = self.release(&Spanned::new(image_value.span(), k.clone()), releases);
                    match (rel, v.as_str()) {
                        (Some(rel), Some(img)) => {
                            map.insert(rel, img.to_string());
                        }
                        (_, None) => self.err(
                            image_value.span(),
                            format!("the image for release `{k}` must be a string"),
                            "write `image = { \"0.22\" = \"name:tag\" }` or one template `image = \"name:{release}\"`",
                        ),
                        _ => {}
                    }
                }
                if !service {
                    for rel in releases {
                        if !map.contains_key(rel) {
                            self.err(
                                image_value.span(),
                                format!("role `{name}` has no image for release `{rel}`"),
                                format!("add `\"{rel}\" = \"IMAGE\"` to its image table"),
                            );
                        }
                    }
                }
                ImageRef::PerRelease(map)
            }
            _ => {
                self.err(
                    image_value.span(),
                    "`image` must be a string template or a table release → image",
                    "write `image = \"name:{release}\"` or `image = { \"0.22\" = \"name:tag\" }`",
                );
                ImageRef::Template(Template::literal(""))
            }
        };
        let replicas = match &r.replicas {
            None => 1,
            Some(n) if (1..=64).contains(n.get_ref()) => *n.get_ref() as u32,
            Some(n) => {
                self.err(
                    n.span(),
                    "replicas must be between 1 and 64",
                    "write e.g. `replicas = 3`",
                );
                1
            }
        };
        let data = r.data.as_ref().and_then(|d| {
            if d.get_ref().starts_with('/') {
                Some(d.get_ref().clone())
            } else {
                self.err(
                    d.span(),
                    "`data` must be an absolute path in the container",
                    "write e.g. `data = \"/var/lib/NAME\"`",
                );
                None
            }
        });
        let ready = r.ready.as_ref().map(|rd| self.ready(rd, all_names));
        let mut actions = IndexMap::new();
        for (an, a) in &r.actions {
            let action = self.action(an, a, all_names);
            actions.insert(an.clone(), action);
        }
        let leader = r.leader.as_ref().map(|l| {
            let spec = l.get_ref();
            if !actions.contains_key(spec.action.get_ref()) {
                self.err(
                    spec.action.span(),
                    format!("role `{name}` has no action `{}`", spec.action.get_ref()),
                    format!("its actions are: {}", keys(&actions)),
                );
            }
            LeaderSpec {
                action: spec.action.get_ref().clone(),
                pointer: spec.pointer.clone(),
            }
        });
        let env = r
            .env
            .iter()
            .map(|(k, v)| (k.clone(), self.template(v, all_names)))
            .collect();
        Role {
            name: name.to_string(),
            image,
            replicas,
            entrypoint: r.entrypoint.as_ref().map(|v| self.templates(v, all_names)),
            command: r.command.as_ref().map(|v| self.templates(v, all_names)),
            env,
            data,
            ready,
            leader,
            actions,
            stop_timeout: self.duration(&r.stop_timeout, DEFAULT_STOP_TIMEOUT),
            error_lines: r.error_lines.as_ref().and_then(|p| {
                Regex::new(p.get_ref())
                    .map_err(|err| self.err(p.span(), format!("bad regex: {err}"), REGEX_HINT))
                    .ok()
            }),
            fixed_release,
        }
    }

    fn http(&mut self, h: &Spanned<RawHttp>, roles: &[&str]) -> HttpRequest {
        let raw = h.get_ref();
        let port = *raw.port.get_ref();
        if !(1..=65535).contains(&port) {
            self.err(
                raw.port.span(),
                format!("port {port} is out of range"),
                "a port is between 1 and 65535",
            );
        }
        let method = raw
            .method
            .as_ref()
            .map(|m| m.get_ref().to_ascii_uppercase())
            .unwrap_or_else(|| "GET".into());
        if !["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"].contains(&method.as_str()) {
            let span = raw.method.as_ref().map_or(h.span(), |m| m.span());
            self.err(
                span,
                format!("unknown HTTP method `{method}`"),
                "methods are GET, POST, PUT, DELETE, PATCH and HEAD",
            );
        }
        let path = self.template(&raw.path, roles);
        if !raw.path.get_ref().starts_with('/') {
            self.err(
                raw.path.span(),
                "an HTTP path must start with `/`",
                "write e.g. `path = \"/health\"`",
            );
        }
        let status = match &raw.status {
            None => 200,
            Some(s) if (100..=599).contains(s.get_ref()) => *s.get_ref() as u16,
            Some(s) => {
                self.err(
                    s.span(),
                    "an HTTP status is between 100 and 599",
                    "write e.g. `status = 200`",
                );
                200
            }
        };
        HttpRequest {
            method,
            port: port.clamp(1, 65535) as u16,
            path,
            body: raw.body.as_ref().map(|b| self.template(b, roles)),
            status,
        }
    }

    fn ready(&mut self, rd: &Spanned<RawReady>, roles: &[&str]) -> Ready {
        let r = rd.get_ref();
        let mut probes = Vec::new();
        if let Some(l) = &r.log {
            probes.push(Probe::Log(l.clone()));
        }
        if let Some(e) = &r.exec {
            probes.push(Probe::Exec(self.templates(e, roles)));
        }
        if let Some(h) = &r.http {
            probes.push(Probe::Http(self.http(h, roles)));
        }
        if let Some(t) = &r.tcp {
            if !(1..=65535).contains(t.get_ref()) {
                self.err(
                    t.span(),
                    "port out of range",
                    "a port is between 1 and 65535",
                );
            }
            probes.push(Probe::Tcp(*t.get_ref() as u16));
        }
        if probes.len() != 1 {
            self.err(
                rd.span(),
                "a readiness probe needs exactly one of `log`, `exec`, `http`, `tcp`",
                "e.g. ready = { log = \"listening on\", timeout = \"10s\" }",
            );
        }
        Ready {
            probe: probes
                .into_iter()
                .next()
                .unwrap_or(Probe::Log(String::new())),
            timeout: self.duration(&r.timeout, DEFAULT_READY_TIMEOUT),
        }
    }

    fn action(&mut self, name: &str, a: &Spanned<RawAction>, roles: &[&str]) -> Action {
        let raw = a.get_ref();
        let kind = match (&raw.exec, &raw.http) {
            (Some(e), None) if !e.is_empty() => ActionKind::Exec(self.templates(e, roles)),
            (None, Some(h)) => ActionKind::Http(self.http(h, roles)),
            _ => {
                self.err(
                    a.span(),
                    format!("action `{name}` needs exactly one of `exec` (a non-empty command) or `http`"),
                    "e.g. exec = [\"/bin/check\", \"--quiet\"] or http = { port = 8080, path = \"/health\" }",
                );
                ActionKind::Exec(vec![])
            }
        };
        Action {
            name: name.to_string(),
            kind,
            timeout: self.duration(&raw.timeout, DEFAULT_ACTION_TIMEOUT),
        }
    }

    fn image(&mut self, i: &Spanned<RawImage>, releases: &[Release], root: &Path) -> ImageDef {
        let raw = i.get_ref();
        let context = root.join(raw.context.get_ref());
        if !context.is_dir() {
            self.err(
                raw.context.span(),
                format!("build context `{}` is not a directory", context.display()),
                "`context` is a directory relative to the matrix file, e.g. \"images/NAME\"",
            );
        }
        let dockerfile = raw
            .dockerfile
            .clone()
            .unwrap_or_else(|| "Dockerfile".into());
        let rels = match &raw.releases {
            None => releases.to_vec(),
            Some(v) => v.iter().filter_map(|r| self.release(r, releases)).collect(),
        };
        let mut include = Vec::new();
        for f in &raw.include {
            let path = root.join(f.get_ref());
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if !path.is_file() {
                self.err(
                    f.span(),
                    format!("`{}` is not a file", path.display()),
                    "`include` lists files relative to the matrix file, e.g. \"images/common/probe.sh\"",
                );
            } else if let Some(clash) = name.filter(|n| context.join(n).exists()) {
                self.err(
                    f.span(),
                    format!("the context already has a `{clash}`"),
                    "an included file goes to the context's root under its own name: rename one",
                );
            } else {
                include.push(path);
            }
        }
        ImageDef {
            name: self.template(&raw.name, &[]),
            include,
            inline: None,
            context,
            dockerfile,
            args: raw
                .args
                .iter()
                .map(|(k, v)| (k.clone(), self.template(v, &[])))
                .collect(),
            releases: rels,
        }
    }

    fn scenario_ref(
        &mut self,
        s: &Spanned<String>,
        scenarios: &[Scenario],
        kind: ScenarioKind,
    ) -> Option<String> {
        let name = s.get_ref();
        match scenarios.iter().find(|sc| &sc.name == name) {
            None => {
                let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
                self.err(
                    s.span(),
                    format!("unknown scenario `{name}`"),
                    format!("scenarios found: {}", names.join(", ")),
                );
                None
            }
            Some(sc) if sc.kind != kind => {
                self.err(
                    s.span(),
                    format!(
                        "scenario `{name}` is a {:?} scenario, listed where {:?} scenarios go",
                        sc.kind, kind
                    ),
                    "cell scenarios go in [matrix] scenarios, path scenarios in [[matrix.paths]]",
                );
                None
            }
            Some(_) => Some(name.clone()),
        }
    }

    fn cells(
        &mut self,
        m: &Spanned<RawCells>,
        (roles, services): (&[Role], &[Role]),
        role_names: &[&str],
        releases: &[Release],
        scenarios: &[Scenario],
    ) -> (CellSpec, Vec<PathSpec>, Option<RandomSpec>) {
        let raw = m.get_ref();
        let check_role = |l: &mut Self, s: &Spanned<String>| -> bool {
            if role_names.contains(&s.get_ref().as_str()) {
                true
            } else {
                l.err(
                    s.span(),
                    format!("unknown role `{}`", s.get_ref()),
                    format!("roles are: {}", role_names.join(", ")),
                );
                false
            }
        };
        let vary: Vec<String> = match &raw.vary {
            None => role_names.iter().map(|s| s.to_string()).collect(),
            Some(v) => {
                let named: Vec<&str> = v
                    .iter()
                    .filter(|s| check_role(self, s))
                    .map(|s| s.get_ref().as_str())
                    .collect();
                // Keep role order, whatever order `vary` lists them in.
                roles
                    .iter()
                    .map(|r| r.name.clone())
                    .filter(|r| named.contains(&r.as_str()))
                    .collect()
            }
        };
        let cell_releases = match &raw.releases {
            None => releases.to_vec(),
            Some(v) => {
                let mut out: Vec<Release> =
                    v.iter().filter_map(|r| self.release(r, releases)).collect();
                out.sort();
                out.dedup();
                out
            }
        };
        let mut fixed = self.assignment("fixed", &raw.fixed, role_names, releases);
        for (role, rel) in &raw.fixed {
            if vary.contains(role) {
                self.err(
                    rel.span(),
                    format!("role `{role}` both varies and is fixed"),
                    "remove it from `vary` or from `fixed`",
                );
                fixed.shift_remove(role);
            }
        }
        for r in roles {
            if !vary.contains(&r.name) && !fixed.contains_key(&r.name) {
                if let Some(last) = cell_releases.last().or(releases.last()) {
                    fixed.insert(r.name.clone(), last.clone());
                }
            }
        }
        let exclude: Vec<IndexMap<String, Release>> = raw
            .exclude
            .iter()
            .map(|ex| self.assignment("exclude", ex.get_ref(), role_names, releases))
            .collect();
        let mut cell_scenarios: Vec<String> = Vec::new();
        let mut listed: Vec<&Spanned<String>> = Vec::new();
        for s in &raw.scenarios {
            if let Some(first) = listed.iter().find(|f| f.get_ref() == s.get_ref()) {
                let (line, col) = self.file.line_col(first.span().start);
                self.err(
                    s.span(),
                    format!(
                        "scenario `{}` is listed twice (first at {line}:{col})",
                        s.get_ref()
                    ),
                    "list each scenario once: each would give the same trials",
                );
                continue;
            }
            listed.push(s);
            if let Some(name) = self.scenario_ref(s, scenarios, ScenarioKind::Cell) {
                cell_scenarios.push(name);
            }
        }
        let mut paths = Vec::new();
        // Each (from, to, scenario) once: it is a trial id.
        let mut path_trials: Vec<(String, &Spanned<String>)> = Vec::new();
        for p in &raw.paths {
            let rp = p.get_ref();
            let (from, to) = (
                self.release(&rp.from, releases),
                self.release(&rp.to, releases),
            );
            let via = self.via(rp, releases);
            let orders = self.orders(rp.orders.as_ref());
            let mut names = Vec::new();
            for s in &rp.scenarios {
                // A path, its hops and whether its orders are explored make the trial ids.
                let key = format!(
                    "{} → {}{}{}",
                    rp.from.get_ref(),
                    rp.to.get_ref(),
                    rp.via
                        .iter()
                        .map(|v| format!(" via {}", v.get_ref()))
                        .collect::<String>(),
                    if orders == Orders::Written {
                        ""
                    } else {
                        " (orders)"
                    },
                );
                if let Some((_, first)) = path_trials
                    .iter()
                    .find(|(k, n)| *k == key && n.get_ref() == s.get_ref())
                {
                    let (line, col) = self.file.line_col(first.span().start);
                    self.err(
                        s.span(),
                        format!(
                            "the path {key} already runs `{}` (listed at {line}:{col})",
                            s.get_ref()
                        ),
                        "list each path once, with all its scenarios in one `scenarios` list",
                    );
                    continue;
                }
                path_trials.push((key, s));
                if let Some(sc) = scenarios.iter().find(|x| &x.name == s.get_ref()) {
                    self.check_orders(rp.orders.as_ref(), &orders, sc, role_names);
                }
                if let Some(name) = self.scenario_ref(s, scenarios, ScenarioKind::Path) {
                    names.push(name);
                }
            }
            if rp.scenarios.is_empty() {
                self.err(
                    p.span(),
                    "this path lists no scenarios",
                    "add `scenarios = [\"rolling-upgrade\"]` naming path scenarios",
                );
            }
            let pinned = self.assignment("fixed", &rp.fixed, role_names, releases);
            if let (Some(from), Some(to)) = (from, to) {
                if from == to {
                    self.err(
                        rp.to.span(),
                        "a path goes from one release to another",
                        "give `to` a release other than `from`",
                    );
                }
                if let Some(via) = via {
                    self.check_via(rp, &from, &to, &via, releases);
                    paths.push(PathSpec {
                        from,
                        to,
                        scenarios: names,
                        fixed: pinned,
                        unpromised: false,
                        via,
                        orders,
                    });
                }
            }
        }
        let promised = match &raw.policy {
            Some(policy) => self.policy_paths(policy, releases, scenarios, &mut paths),
            None => vec![],
        };
        let random = raw
            .random
            .as_ref()
            .and_then(|r| self.random(r, releases, scenarios, &promised, (roles, services)));
        if raw.scenarios.is_empty()
            && raw.paths.is_empty()
            && raw.policy.is_none()
            && raw.random.is_none()
        {
            self.err(
                m.span(),
                "the matrix is empty: no cell scenarios and no paths",
                "add `scenarios = [\"basic\"]` and/or a [[matrix.paths]] table",
            );
        } else if !raw.scenarios.is_empty() && vary.is_empty() {
            self.err(
                m.span(),
                "no role varies, so there are no cells",
                "list the roles whose releases vary in `vary = [...]`",
            );
        }
        let strategy = self.strategy(raw, vary.len());
        let seed = self.seed(&raw.seed);
        let mut rules = self.rules(&raw.require, role_names);
        let interchangeable = self.interchangeable(&raw.interchangeable, &vary, role_names);
        for group in &interchangeable {
            rules.extend(group.rules.iter().cloned());
        }
        let interchangeable = interchangeable.into_iter().map(|g| g.roles).collect();
        let mut spec = CellSpec {
            vary,
            releases: cell_releases,
            fixed,
            exclude,
            scenarios: cell_scenarios,
            strategy,
            seed,
            rules,
            interchangeable,
            include: Vec::new(),
            order: releases.to_vec(),
        };
        spec.include = self.pinned_cells(&raw.include, &spec, role_names, releases);
        if !raw.scenarios.is_empty() && !spec.vary.is_empty() {
            self.size(m, &spec, paths.iter().map(|p| p.scenarios.len()).sum());
        }
        (spec, paths, random)
    }

    /// The paths `[matrix.policy]` promises, added to `paths` (a path already listed takes the
    /// policy's scenarios it does not run yet, so that no trial id is planned twice).
    fn policy_paths(
        &mut self,
        policy: &Spanned<RawPolicy>,
        releases: &[Release],
        scenarios: &[Scenario],
        paths: &mut Vec<PathSpec>,
    ) -> Vec<(Release, Release)> {
        let p = policy.get_ref();
        let n = *p.supported.get_ref();
        if n < 2 || n as usize > releases.len() {
            self.err(
                p.supported.span(),
                format!(
                    "`supported = {n}`: a policy supports from 2 to {} releases (the system's)",
                    releases.len()
                ),
                "`supported = 3` supports the latest release and the two before it",
            );
            return vec![];
        }
        let supported = &releases[releases.len() - n as usize..];
        let pairs: Vec<(usize, usize)> = match p.upgrades.get_ref().as_str() {
            "adjacent" => (1..supported.len()).map(|j| (j - 1, j)).collect(),
            "to-latest" => (0..supported.len() - 1)
                .map(|i| (i, supported.len() - 1))
                .collect(),
            "any" => (0..supported.len())
                .flat_map(|i| (i + 1..supported.len()).map(move |j| (i, j)))
                .collect(),
            other => {
                self.err(
                    p.upgrades.span(),
                    format!("unknown upgrade policy `{other}`"),
                    "`adjacent` (each supported release to the next), `to-latest` (each to the \
                     latest) or `any` (each to every newer supported release)",
                );
                return vec![];
            }
        };
        let names: Vec<String> = p
            .scenarios
            .iter()
            .filter_map(|s| self.scenario_ref(s, scenarios, ScenarioKind::Path))
            .collect();
        if p.scenarios.is_empty() {
            self.err(
                policy.span(),
                "the policy lists no scenarios",
                "add `scenarios = [\"rolling-upgrade\"]` naming path scenarios",
            );
        }
        let promised: Vec<(Release, Release)> = pairs
            .iter()
            .map(|&(i, j)| (supported[i].clone(), supported[j].clone()))
            .collect();
        for (from, to) in &promised {
            let same = |x: &PathSpec| &x.from == from && &x.to == to;
            // A trial id names the path and scenario: what a listed path runs already is not
            // planned again.
            let new: Vec<String> = names
                .iter()
                .filter(|n| !paths.iter().any(|x| same(x) && x.scenarios.contains(n)))
                .cloned()
                .collect();
            if new.is_empty() {
                continue;
            }
            match paths.iter_mut().find(|x| {
                same(x)
                    && x.fixed.is_empty()
                    && !x.unpromised
                    && x.via.is_empty()
                    && x.orders == Orders::Written
            }) {
                Some(listed) => listed.scenarios.extend(new),
                None => paths.push(PathSpec {
                    from: from.clone(),
                    to: to.clone(),
                    scenarios: new,
                    fixed: IndexMap::new(),
                    unpromised: false,
                    via: vec![],
                    orders: Orders::Written,
                }),
            }
        }
        // Negative trials: every other upgrade into a supported release.
        let negative: Vec<String> = p
            .unpromised
            .iter()
            .filter_map(|s| self.scenario_ref(s, scenarios, ScenarioKind::Path))
            .collect();
        if negative.is_empty() {
            return promised;
        }
        for (j, to) in releases.iter().enumerate() {
            if !supported.contains(to) {
                continue;
            }
            for from in &releases[..j] {
                if promised.iter().any(|(f, t)| f == from && t == to) {
                    continue;
                }
                let new: Vec<String> = negative
                    .iter()
                    .filter(|n| {
                        !paths
                            .iter()
                            .any(|x| &x.from == from && &x.to == to && x.scenarios.contains(n))
                    })
                    .cloned()
                    .collect();
                if !new.is_empty() {
                    paths.push(PathSpec {
                        from: from.clone(),
                        to: to.clone(),
                        scenarios: new,
                        fixed: IndexMap::new(),
                        unpromised: true,
                        via: vec![],
                        orders: Orders::Written,
                    });
                }
            }
        }
        promised
    }

    /// `seed = N`: a whole number from 0 (default 0).
    fn seed(&mut self, seed: &Option<Spanned<i64>>) -> u64 {
        match seed {
            None => 0,
            Some(s) => u64::try_from(*s.get_ref()).unwrap_or_else(|_| {
                self.err(
                    s.span(),
                    format!("`seed = {}` is negative", s.get_ref()),
                    "a seed is a whole number from 0",
                );
                0
            }),
        }
    }

    /// `[matrix.random]`: a path scenario of the matrix, counts in range, a bound.
    fn random(
        &mut self,
        r: &Spanned<RawRandom>,
        releases: &[Release],
        scenarios: &[Scenario],
        promised: &[(Release, Release)],
        roles: (&[Role], &[Role]),
    ) -> Option<RandomSpec> {
        let raw = r.get_ref();
        let scenario = self.scenario_ref(&raw.scenario, scenarios, ScenarioKind::Path)?;
        let count = |l: &mut Self, v: &Option<Spanned<i64>>, default: i64, what: &str| {
            let Some(v) = v else {
                return Some(default as usize);
            };
            match usize::try_from(*v.get_ref()) {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    l.err(
                        v.span(),
                        format!("`{what} = {}` must be at least 1", v.get_ref()),
                        format!("give a whole number from 1 (default {default})"),
                    );
                    None
                }
            }
        };
        let trials = count(self, &Some(raw.trials.clone()), 1, "trials")?;
        let hops = count(self, &raw.hops, 2, "hops")?;
        let max_steps_n = count(self, &raw.max_steps, 200, "max_steps")?;
        let seed = self.seed(&raw.seed);
        let rollback = match &raw.rollback {
            None => 0.0,
            Some(p) if (0.0..=1.0).contains(p.get_ref()) => *p.get_ref(),
            Some(p) => {
                self.err(
                    p.span(),
                    format!("`rollback = {}` is not a chance", p.get_ref()),
                    "give a number from 0 (never) to 1 (every plan rolls back once)",
                );
                return None;
            }
        };
        if releases.len() < 2 {
            self.err(
                r.span(),
                "random plans need two releases at least",
                "list the system's releases in [system] releases",
            );
            return None;
        }
        let pos = |x: &Release| releases.iter().position(|y| y == x);
        let skips = promised
            .iter()
            .filter_map(|(f, t)| Some((pos(f)?, pos(t)?)))
            .collect();
        let faults = match &raw.faults {
            None => None,
            Some(f) => Some(self.random_faults(f, roles)?),
        };
        let span = raw.max_steps.as_ref().map_or(r.span(), |m| m.span());
        Some(RandomSpec {
            trials,
            seed,
            scenario,
            hops,
            rollback,
            max_steps: Located::new(max_steps_n, self.file, span),
            skips,
            faults,
        })
    }

    /// `[matrix.random.faults]`: a chance, weights of which at least one counts, roles of the
    /// system, quorum groups of them, and each kind's setting.
    fn random_faults(
        &mut self,
        f: &Spanned<RawFaults>,
        (roles, services): (&[Role], &[Role]),
    ) -> Option<FaultSpec> {
        let raw = f.get_ref();
        let known: Vec<&Role> = roles.iter().chain(services).collect();
        let names = known
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut ok = true;
        let number = |v: &toml::Value| match v {
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(x) => Some(*x),
            _ => None,
        };
        let probability = raw.probability.get_ref();
        let probability = match number(probability).filter(|p| (0.0..=1.0).contains(p)) {
            Some(p) => p,
            None => {
                self.err(
                    raw.probability.span(),
                    format!("`probability = {probability}` is not a chance"),
                    "give a number from 0 (never) to 1 (a fault in every mixed-version state)",
                );
                ok = false;
                0.0
            }
        };
        let kind_names = FaultKind::ALL.map(FaultKind::name).join(", ");
        let weights: Vec<(FaultKind, u32)> = match &raw.kinds {
            None => FaultKind::ALL
                .iter()
                .map(|k| (*k, k.default_weight()))
                .collect(),
            Some(table) => {
                let mut w: Vec<(FaultKind, u32)> = FaultKind::ALL.iter().map(|k| (*k, 0)).collect();
                for (name, v) in table.get_ref() {
                    let Some(slot) = w.iter_mut().find(|(k, _)| k.name() == name) else {
                        self.err(
                            v.span(),
                            format!("unknown fault kind `{name}`"),
                            format!("kinds are: {kind_names}"),
                        );
                        ok = false;
                        continue;
                    };
                    match v.get_ref().as_integer().and_then(|i| u32::try_from(i).ok()) {
                        Some(n) => slot.1 = n,
                        None => {
                            self.err(
                                v.span(),
                                format!("the weight of `{name}` is not a whole number from 0"),
                                "give e.g. `isolate = 2` (twice as often as a kind of weight 1), \
                                 or 0 for never",
                            );
                            ok = false;
                        }
                    }
                }
                if ok && probability > 0.0 && w.iter().all(|(_, n)| *n == 0) {
                    self.err(
                        table.span(),
                        "every fault kind weighs 0, so no fault can be drawn",
                        format!(
                            "give one of {kind_names} a weight of 1 or more, or set \
                             `probability = 0`"
                        ),
                    );
                    ok = false;
                }
                w
            }
        };
        let role = |l: &mut Self, s: &Spanned<String>| -> Option<String> {
            if known.iter().any(|r| &r.name == s.get_ref()) {
                Some(s.get_ref().clone())
            } else {
                l.err(
                    s.span(),
                    format!("unknown role `{}`", s.get_ref()),
                    format!("roles and services are: {names}"),
                );
                None
            }
        };
        let faulted: Vec<String> = match &raw.roles {
            None => roles.iter().map(|r| r.name.clone()).collect(),
            Some(v) => {
                let named: Vec<String> = v.get_ref().iter().filter_map(|s| role(self, s)).collect();
                ok &= named.len() == v.get_ref().len();
                if v.get_ref().is_empty() && probability > 0.0 {
                    self.err(
                        v.span(),
                        "no role may be faulted",
                        format!("list the roles faults may be put on (roles and services are: {names}), or leave `roles` out for every role"),
                    );
                    ok = false;
                }
                // In the matrix's order, whatever order `roles` lists them in.
                known
                    .iter()
                    .map(|r| r.name.clone())
                    .filter(|r| named.contains(r))
                    .collect()
            }
        };
        let mut quorum: Vec<Vec<String>> = Vec::new();
        for g in &raw.quorum {
            if g.get_ref().is_empty() {
                self.err(
                    g.span(),
                    "a quorum group is empty",
                    "list the roles whose replicas form one group, e.g. `quorum = [[\"a\", \"b\", \"c\"]]`",
                );
                ok = false;
                continue;
            }
            let mut group = Vec::new();
            for s in g.get_ref() {
                let Some(r) = role(self, s) else {
                    ok = false;
                    continue;
                };
                if group.contains(&r) || quorum.iter().any(|o| o.contains(&r)) {
                    self.err(
                        s.span(),
                        format!("role `{r}` is in two quorum groups"),
                        "a role's replicas belong to one group: list it once",
                    );
                    ok = false;
                    continue;
                }
                group.push(r);
            }
            quorum.push(group);
        }
        let keep_quorum = raw.keep_quorum.as_ref().is_none_or(|k| *k.get_ref());
        let hold = self.duration(&raw.hold, Duration::from_secs(10));
        let percent = match &raw.percent {
            None => 30.0,
            Some(p) => match number(p.get_ref()).filter(|v| (0.0..=100.0).contains(v)) {
                Some(v) => v,
                None => {
                    self.err(
                        p.span(),
                        "`percent` is a share of packets from 0 to 100",
                        "write e.g. `percent = 30` (100 drops everything)",
                    );
                    ok = false;
                    30.0
                }
            },
        };
        let rate = match &raw.rate {
            None => 1_000_000,
            Some(r) => crate::step::parse_rate(r.get_ref()).unwrap_or_else(|| {
                self.err(
                    r.span(),
                    format!("`{}` is not a rate", r.get_ref()),
                    "write a number and a unit as tc does, from 8bit to 100gbit: \"1mbit\", \
                     \"500kbit\", \"2mbps\" (bytes per second)",
                );
                ok = false;
                1_000_000
            }),
        };
        let delay = self.duration(&raw.delay, Duration::from_millis(100));
        let spec = FaultSpec {
            probability,
            weights,
            roles: faulted,
            quorum,
            keep_quorum,
            hold,
            percent,
            rate,
            delay,
        };
        if !ok {
            return None;
        }
        let replicas = |name: &str| {
            known
                .iter()
                .find(|r| r.name == name)
                .map_or(0, |r| r.replicas as usize)
        };
        let weighed = spec.weights.iter().filter(|(_, w)| *w > 0);
        if probability > 0.0 && !weighed.clone().any(|(k, _)| spec.possible(*k, replicas)) {
            let kinds: Vec<&str> = weighed.map(|(k, _)| k.name()).collect();
            self.err(
                f.span(),
                format!(
                    "no fault of the kinds weighed ({}) can be put on these roles while keeping \
                     a quorum: a group needs three replicas or more to lose one",
                    kinds.join(", ")
                ),
                "declare roles that form one group (`quorum = [[\"a\", \"b\", \"c\"]]`), weigh \
                 `loss` or `throttle`, or set `keep_quorum = false`",
            );
            return None;
        }
        Some(spec)
    }

    /// `via = [...]`: releases of the system (`None` when one is not).
    fn via(&mut self, rp: &RawPath, releases: &[Release]) -> Option<Vec<Release>> {
        let mut out = Vec::new();
        let mut ok = true;
        for v in &rp.via {
            match self.release(v, releases) {
                Some(r) => out.push(r),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Each `via` release strictly between `from` and `to`, in the path's direction, each once.
    fn check_via(
        &mut self,
        rp: &RawPath,
        from: &Release,
        to: &Release,
        via: &[Release],
        releases: &[Release],
    ) {
        let pos = |r: &Release| releases.iter().position(|x| x == r).unwrap_or(0);
        let (f, t) = (pos(from), pos(to));
        let mut last = f;
        for (v, raw) in via.iter().zip(&rp.via) {
            let p = pos(v);
            let between = if f < t {
                f < p && p < t
            } else {
                t < p && p < f
            };
            if !between {
                self.err(
                    raw.span(),
                    format!("`via` release {v} is not between {from} and {to}"),
                    "list the releases the path passes through, strictly between `from` and `to`",
                );
                return;
            }
            let onward = if f < t { p > last } else { p < last };
            if !onward {
                self.err(
                    raw.span(),
                    format!("`via` release {v} is out of order"),
                    format!("list them in the order the path reaches them, from {from} to {to}"),
                );
                return;
            }
            last = p;
        }
    }

    /// `orders = "all"` or `orders = [["agent", "master"], ...]`; each list is checked against
    /// each scenario of the path by [`Self::check_orders`].
    fn orders(&mut self, raw: Option<&Spanned<toml::Value>>) -> Orders {
        const HELP: &str = "`orders = \"all\"` (every order of the roles the scenario moves) or a \
                            list of orders, e.g. `orders = [[\"agent\", \"master\"]]`";
        let Some(raw) = raw else {
            return Orders::Written;
        };
        match raw.get_ref() {
            toml::Value::String(s) if s == "all" => Orders::All,
            toml::Value::Array(lists) => {
                let mut out = Vec::new();
                for l in lists {
                    let roles: Option<Vec<String>> = l
                        .as_array()
                        .and_then(|a| a.iter().map(|r| r.as_str().map(str::to_string)).collect());
                    match roles {
                        Some(r) => out.push(r),
                        None => {
                            self.err(raw.span(), "an order is a list of role names", HELP);
                            return Orders::Written;
                        }
                    }
                }
                if out.is_empty() {
                    self.err(raw.span(), "`orders` lists no order", HELP);
                    return Orders::Written;
                }
                Orders::Listed(out)
            }
            _ => {
                self.err(raw.span(), "`orders` is \"all\" or a list of orders", HELP);
                Orders::Written
            }
        }
    }

    /// Orders need a scenario whose roles each move in one run (see [`Shape::order`]), and a
    /// listed order must be a permutation of the roles it moves.
    fn check_orders(
        &mut self,
        raw: Option<&Spanned<toml::Value>>,
        orders: &Orders,
        sc: &Scenario,
        role_names: &[&str],
    ) {
        let Some(raw) = raw else { return };
        if *orders == Orders::Written {
            return;
        }
        let written = match sc.shape().order() {
            Ok(o) => o,
            Err(why) => {
                self.err(
                    raw.span(),
                    format!("the orders of `{}` cannot be explored: {why}", sc.name),
                    "explore orders with a scenario that moves each role in one run of steps",
                );
                return;
            }
        };
        if written.is_empty() {
            self.err(
                raw.span(),
                format!(
                    "scenario `{}` moves no role: it has no order to explore",
                    sc.name
                ),
                "explore orders with a scenario that has `upgrade` steps",
            );
            return;
        }
        if let Orders::Listed(lists) = orders {
            let moved = written.join(", ");
            for l in lists {
                let problem = if let Some(r) = l.iter().find(|r| !role_names.contains(&r.as_str()))
                {
                    Some(format!("`{r}` is not a role"))
                } else if let Some(r) = l.iter().find(|r| !written.contains(r)) {
                    Some(format!("scenario `{}` does not move `{r}`", sc.name))
                } else if let Some((i, r)) = l.iter().enumerate().find(|(i, r)| l[..*i].contains(r))
                {
                    Some(format!("`{r}` is listed twice (position {})", i + 1))
                } else {
                    written
                        .iter()
                        .find(|r| !l.contains(r))
                        .map(|r| format!("the order leaves out `{r}`"))
                };
                if let Some(p) = problem {
                    self.err(
                        raw.span(),
                        format!("order [{}]: {p}", l.join(", ")),
                        format!(
                            "an order lists each role `{}` moves once; it moves: {moved}",
                            sc.name
                        ),
                    );
                }
            }
        } else if written.len() > MAX_ORDERED_ROLES {
            self.err(
                raw.span(),
                format!(
                    "`{}` moves {} roles: every order is {} trials",
                    sc.name,
                    written.len(),
                    (1..=written.len()).product::<usize>()
                ),
                format!(
                    "list the orders to run (all of them only up to {MAX_ORDERED_ROLES} roles)"
                ),
            );
        }
    }

    /// `strategy = "all" | "pairwise" | { t = N }`, with `t` at most the number of varying roles.
    fn strategy(&mut self, raw: &RawCells, varying: usize) -> Strategy {
        const HELP: &str = "`strategy = \"all\"` (every cell), `\"pairwise\"` (every pair of roles' \
                            releases in some cell) or `{ t = 3 }` (every combination of 3 roles' releases)";
        let Some(s) = &raw.strategy else {
            return Strategy::All;
        };
        let t = match s.get_ref() {
            toml::Value::String(name) if name == "all" => return Strategy::All,
            toml::Value::String(name) if name == "pairwise" => 2,
            toml::Value::Table(table) => match (table.get("t"), table.len()) {
                (Some(toml::Value::Integer(t)), 1) if *t >= 1 => *t as usize,
                _ => {
                    self.err(
                        s.span(),
                        "a covering strategy is `{ t = N }` with N a whole number from 1",
                        HELP,
                    );
                    return Strategy::All;
                }
            },
            other => {
                self.err(s.span(), format!("unknown strategy {other}"), HELP);
                return Strategy::All;
            }
        };
        if t > varying {
            self.err(
                s.span(),
                format!(
                    "strength {t} is more than the {varying} role{} that vary",
                    if varying == 1 { "" } else { "s" }
                ),
                format!(
                    "combinations of {t} roles need {t} varying roles: vary more roles, or use \
                     `{{ t = {varying} }}` (which is every cell)"
                ),
            );
            return Strategy::All;
        }
        Strategy::Covering { t }
    }

    /// `interchangeable = [["a", "b", "c"], ...]`: each group's roles vary, appear in one group, and
    /// are at least two. A group keeps one cell of those that differ only by which member holds which
    /// release: the one whose members' releases do not decrease in the group's order (`a <= b`, `b
    /// <= c`, as rules labelled with the group, so that `plan --explain` shows what they removed and
    /// a covering strategy covers only those cells).
    fn interchangeable(
        &mut self,
        raw: &[Spanned<Vec<Spanned<String>>>],
        vary: &[String],
        role_names: &[&str],
    ) -> Vec<Interchangeable> {
        const HELP: &str = "list groups of varying roles that are interchangeable members of one \
                            cluster, e.g. `interchangeable = [[\"a\", \"b\", \"c\"]]`";
        let mut seen: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for group in raw {
            let mut roles: Vec<String> = Vec::new();
            for r in group.get_ref() {
                let name = r.get_ref();
                if !vary.contains(name) {
                    let what = if role_names.contains(&name.as_str()) {
                        format!("role `{name}` does not vary, so it has no release to interchange")
                    } else {
                        format!("unknown role `{name}`")
                    };
                    self.err(
                        r.span(),
                        what,
                        format!("the varying roles are: {}", vary.join(", ")),
                    );
                } else if seen.contains(name) {
                    self.err(
                        r.span(),
                        format!("role `{name}` is in two interchangeable groups (or twice in one)"),
                        "a role belongs to one group at most",
                    );
                } else {
                    seen.push(name.clone());
                    roles.push(name.clone());
                }
            }
            if group.get_ref().len() < 2 {
                self.err(
                    group.span(),
                    "an interchangeable group needs two roles or more",
                    HELP,
                );
                continue;
            }
            let (line, col) = self.file.line_col(group.span().start);
            let origin = format!("{}:{line}:{col}", self.file.name);
            let label = roles.join(", ");
            let rules = roles
                .windows(2)
                .filter_map(|w| {
                    let mut rule = SkewRule::parse(
                        &format!("{} <= {}", w[0], w[1]),
                        origin.clone(),
                        role_names,
                    )
                    .ok()?;
                    rule.text = format!("{} (interchangeable: {label})", rule.text);
                    Some(rule)
                })
                .collect();
            out.push(Interchangeable { roles, rules });
        }
        out
    }

    /// `require = ["scheduler <= master", ...]`, each rule parsed and its roles checked, errors
    /// pointing inside the string.
    fn rules(&mut self, raw: &[Spanned<String>], role_names: &[&str]) -> Vec<SkewRule> {
        let mut out = Vec::new();
        for r in raw {
            let (line, col) = self.file.line_col(r.span().start);
            let origin = format!("{}:{line}:{col}", self.file.name);
            match SkewRule::parse(r.get_ref(), origin, role_names) {
                Ok(rule) => out.push(rule),
                Err(e) => {
                    // Inside the quotes when the string is written as is (no escapes), else the
                    // whole string.
                    let written = self.file.text.get(r.span());
                    let plain = written.is_some_and(|w| w.len() == r.get_ref().len() + 2);
                    let span = if plain {
                        let inner = r.span().start + 1;
                        inner + e.at.start..inner + e.at.end.max(e.at.start + 1)
                    } else {
                        r.span()
                    };
                    self.err(span, e.message, e.help)
                }
            }
        }
        out
    }

    /// `include = [{ role = "release", ... }]`: whole cells (every varying role, no other) that the
    /// exclusions and rules allow.
    fn pinned_cells(
        &mut self,
        raw: &[Spanned<IndexMap<String, Spanned<String>>>],
        spec: &CellSpec,
        role_names: &[&str],
        releases: &[Release],
    ) -> Vec<IndexMap<String, Release>> {
        let mut out = Vec::new();
        for entry in raw {
            let cell = self.assignment("include", entry.get_ref(), role_names, releases);
            if cell.len() != entry.get_ref().len() {
                continue; // already reported
            }
            let missing: Vec<&str> = spec
                .vary
                .iter()
                .filter(|v| !cell.contains_key(*v))
                .map(String::as_str)
                .collect();
            if let Some(extra) = cell.keys().find(|r| !spec.vary.contains(r)) {
                self.err(
                    entry.span(),
                    format!("an included cell names `{extra}`, which does not vary"),
                    format!(
                        "a cell gives a release to each varying role: {}",
                        spec.vary.join(", ")
                    ),
                );
                continue;
            }
            if !missing.is_empty() {
                self.err(
                    entry.span(),
                    format!(
                        "an included cell gives no release to {}",
                        missing.join(", ")
                    ),
                    format!(
                        "a cell gives a release to each varying role: {}",
                        spec.vary.join(", ")
                    ),
                );
                continue;
            }
            if let Some(r) = cell.values().find(|r| !spec.releases.contains(r)) {
                self.err(
                    entry.span(),
                    format!("an included cell takes release {r}, which the cells do not vary over"),
                    format!("[matrix] releases: {}", join(&spec.releases)),
                );
                continue;
            }
            let cell: IndexMap<String, Release> = spec
                .vary
                .iter()
                .map(|v| (v.clone(), cell[v].clone()))
                .collect();
            match spec.left_out_by(&cell) {
                Some(LeftOut::Rule(rule)) => self.err(
                    entry.span(),
                    format!("this included cell breaks the rule {rule}"),
                    "pin only cells the rules allow, or change the rule",
                ),
                Some(LeftOut::Excluded(i)) => self.err(
                    entry.span(),
                    format!(
                        "this included cell is also excluded (`exclude` entry {})",
                        i + 1
                    ),
                    "a cell cannot be both pinned and excluded: remove one of them",
                ),
                None if out.contains(&cell) => self.err(
                    entry.span(),
                    "this cell is included twice",
                    "list each pinned cell once",
                ),
                None => out.push(cell),
            }
        }
        out
    }

    /// A `role = "release"` table (`fixed`, an `exclude` entry): each role and release checked, the
    /// bad ones reported at their value and left out.
    fn assignment(
        &mut self,
        key: &str,
        table: &IndexMap<String, Spanned<String>>,
        role_names: &[&str],
        releases: &[Release],
    ) -> IndexMap<String, Release> {
        let mut out = IndexMap::new();
        for (role, rel) in table {
            if !role_names.contains(&role.as_str()) {
                self.err(
                    rel.span(),
                    format!("`{key}` names unknown role `{role}`"),
                    format!("roles are: {}", role_names.join(", ")),
                );
            } else if let Some(r) = self.release(rel, releases) {
                out.insert(role.clone(), r);
            }
        }
        out
    }

    /// Refuses a matrix with no cell although it lists cell scenarios, and one that plans more trials
    /// than its limit (before anything is built: a product of tens of millions of cells would
    /// exhaust memory).
    fn size(&mut self, m: &Spanned<RawCells>, spec: &CellSpec, path_trials: usize) {
        let raw = m.get_ref();
        let mut count = spec.count();
        if count.cells == 0 && !spec.rules.is_empty() && spec.rules.len() == raw.require.len() {
            // The rule after which none remains (exclusions apply first).
            let emptied_by = (0..=spec.rules.len()).find(|&k| {
                let mut fewer = spec.clone();
                fewer.rules.truncate(k);
                fewer.count().cells == 0
            });
            if let Some(k) = emptied_by.filter(|k| *k > 0) {
                let rule = &raw.require[k - 1];
                self.err(
                    rule.span(),
                    format!(
                        "the rules leave no cell: none of the cells the rules before it allow \
                         keeps `{}`",
                        rule.get_ref()
                    ),
                    "a rule compares positions in [system] releases; check its direction \
                     (`scheduler <= master` keeps schedulers no newer than masters)",
                );
                return;
            }
        }
        if count.cells == 0 {
            match (&raw.releases, raw.exclude.first()) {
                (Some(r), _) if r.is_empty() => {
                    // `releases = []`: the span of the key's value is not kept; point at [matrix].
                    self.err(
                        m.span(),
                        "`releases = []` leaves the varying roles no release, so there are no cells",
                        "list the releases cells take, or leave `releases` out for all of them",
                    );
                }
                (_, Some(first)) => self.err(
                    first.span(),
                    "the exclusions leave no cell",
                    "remove an `exclude` entry, or vary more roles or releases",
                ),
                _ => {}
            }
            return;
        }
        let limit = match &raw.max_trials {
            None => DEFAULT_MAX_TRIALS,
            Some(n) if *n.get_ref() >= 1 => *n.get_ref() as u64,
            Some(n) => {
                self.err(
                    n.span(),
                    "`max_trials` must be at least 1",
                    format!("leave it out for the default of {DEFAULT_MAX_TRIALS}"),
                );
                return;
            }
        };
        if let Strategy::Covering { t } = spec.strategy {
            // A covering array needs at most one cell per combination of t roles' releases.
            let combos = (0..t).fold(1u128, |n, i| {
                n.saturating_mul((spec.vary.len() - i) as u128) / (i as u128 + 1)
            });
            let bound = combos
                .saturating_mul((spec.releases.len() as u128).saturating_pow(t as u32))
                .saturating_add(spec.include.len() as u128);
            if bound < count.cells {
                count = CellCount {
                    cells: bound,
                    exact: false,
                };
            }
        }
        let trials = count
            .cells
            .saturating_mul(spec.scenarios.len() as u128)
            .saturating_add(path_trials as u128);
        if trials > u128::from(limit) {
            let how_many = if count.cells == u128::MAX {
                "more than 10^38".to_string()
            } else if count.exact {
                trials.to_string()
            } else {
                format!("up to {trials}")
            };
            self.err(
                m.span(),
                format!(
                    "this matrix plans {how_many} trials ({} roles vary over {} releases), more \
                     than its limit of {limit}",
                    spec.vary.len(),
                    spec.releases.len()
                ),
                "vary fewer roles or releases, add `exclude` entries or run a subset; to plan \
                 that many anyway, raise the limit with `max_trials = N` under [matrix]",
            );
        }
    }
}
/// Loads every `*.toml` in `dir` as a scenario, in name order. `dir_at` is where the matrix names
/// the directory (or its [system] table, when it is the default).
fn load_scenarios(
    dir: &Path,
    dir_at: (&SourceFile, Range<usize>),
    roles: &[Role],
    services: &[Role],
    releases: &[Release],
    errors: &mut Errors,
) -> Vec<Scenario> {
    let (matrix_file, dir_span) = dir_at;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.at(
                matrix_file,
                dir_span,
                format!("cannot read the scenario directory {}: {e}", dir.display()),
                "set `scenarios = \"DIR\"` under [system], relative to the matrix file \
                 (the default is scenarios/SYSTEM)",
            );
            return vec![];
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out: Vec<Scenario> = Vec::new();
    let mut named_at: Vec<(SourceFile, Range<usize>)> = Vec::new();
    for path in files {
        let text = match read_regular_file(&path) {
            Ok(t) => t,
            Err(why) => {
                errors.push(ModelError::in_file(&path.display().to_string(), why).help(
                    "scenario files are regular TOML files; move anything else out of the \
                         scenario directory or give it another extension",
                ));
                continue;
            }
        };
        let file = SourceFile::new(&path, text);
        let mut sc = ScenarioCx {
            l: Loader {
                file: &file,
                errors: &mut *errors,
            },
            roles,
            services,
            releases,
            kind: ScenarioKind::Cell,
            workloads: HashSet::new(),
            in_each_state: false,
            history: None,
            faults: vec![],
        };
        if let Some((scenario, name_span, target)) = scenario(&mut sc, &path) {
            if let Some(t) = target {
                sc.l.err(
                    t.span(),
                    "a [trial] table belongs to a scenario file run on its own",
                    "run this file with `crossgrade run --scenario-file FILE`, or remove [trial] \
                     and list the scenario in the matrix",
                );
            }
            if let Some(i) = out.iter().position(|s| s.name == scenario.name) {
                let (prev_file, prev_span) = &named_at[i];
                let (line, col) = prev_file.line_col(prev_span.start);
                errors.at(
                    &file,
                    name_span,
                    format!(
                        "scenario name `{}` is already used by {}:{line}:{col}",
                        scenario.name, prev_file.name
                    ),
                    "give one of them another `name` (a scenario is named by `name`, or by its \
                     file name when it has none)",
                );
            } else {
                out.push(scenario);
                named_at.push((file.clone(), name_span));
            }
        }
    }
    out
}

/// The text of a file that must be a regular file: a FIFO, a device or a directory named `*.toml`
/// would block or fail the read.
fn read_regular_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "not a regular file ({})",
            if meta.is_dir() {
                "a directory"
            } else {
                "a FIFO, socket or device"
            }
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))
}

/// One scenario file. Its steps are kept out of serde's reading of the file, which would stop at the
/// first bad step: each `[[step]]` and `[[each_state]]` table is loaded on its own by its kind
/// ([`crate::step`]), so that every bad step is reported.
fn scenario(
    sc: &mut ScenarioCx<'_>,
    path: &Path,
) -> Option<(Scenario, Range<usize>, Option<Spanned<RawTrialTarget>>)> {
    let file = sc.l.file;
    let mut doc = match DeTable::parse(&file.text) {
        Ok(d) => d,
        Err(e) => {
            sc.l.toml(e);
            return None;
        }
    };
    let mut take_steps = |key: &str| -> Result<Vec<Spanned<DeValue<'_>>>, Range<usize>> {
        match doc.get_mut().remove(key) {
            None => Ok(vec![]),
            Some(v) => {
                let span = v.span();
                match v.into_inner() {
                    DeValue::Array(items) => Ok(items.into_iter().collect()),
                    _ => Err(span),
                }
            }
        }
    };
    let (steps, each_state) = match (take_steps("step"), take_steps("each_state")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(span), _) | (_, Err(span)) => {
            sc.l.err(
                span,
                "steps are tables",
                "write [[step]] (or [[each_state]]) before each step's keys",
            );
            return None;
        }
    };
    let raw: RawScenario = match RawScenario::deserialize(toml::de::Deserializer::from(doc)) {
        Ok(r) => r,
        Err(e) => {
            sc.l.toml(e);
            return None;
        }
    };
    let name = match &raw.name {
        Some(n) => n.get_ref().clone(),
        None => path.file_stem()?.to_string_lossy().into_owned(),
    };
    if !is_name(&name) {
        let span = raw.name.as_ref().map_or(0..0, |n| n.span());
        sc.l.err(
            span,
            format!("scenario name `{name}` must be lowercase letters, digits, `-` or `_`"),
            NAME_HINT,
        );
    }
    sc.kind = match raw.kind.get_ref().as_str() {
        "cell" => ScenarioKind::Cell,
        "path" => ScenarioKind::Path,
        other => {
            sc.l.err(
                raw.kind.span(),
                format!("unknown scenario kind `{other}`"),
                "`cell` runs in one mixed-version state; `path` runs along an upgrade path",
            );
            ScenarioKind::Cell
        }
    };
    if steps.is_empty() {
        sc.l.err(
            raw.kind.span(),
            format!("scenario `{name}` has no [[step]]"),
            "add at least one [[step]] with `do = \"start\"`",
        );
    }
    if sc.kind == ScenarioKind::Cell && !each_state.is_empty() {
        sc.l.err(
            each_state[0].span(),
            "[[each_state]] checks belong to path scenarios",
            "write `kind = \"path\"` or make these [[step]]s",
        );
    }
    let when = raw.when.as_ref().and_then(|w| {
        if sc.kind == ScenarioKind::Path {
            sc.l.err(
                w.span(),
                "`when` chooses the cells a cell scenario runs in",
                "a path scenario runs on the paths `[[matrix.paths]]` lists: remove `when`",
            );
            return None;
        }
        crate::model::Condition::parse(w.get_ref(), &sc.role_names(), sc.releases)
            .map_err(|e| sc.l.err(w.span(), e.to_string(), e.hint()))
            .ok()
    });
    sc.faults.clear();
    let steps = steps.into_iter().filter_map(|s| load_step(s, sc)).collect();
    // The checks after each move undo only what they themselves start.
    sc.in_each_state = true;
    sc.faults.clear();
    let each_state = each_state
        .into_iter()
        .filter_map(|s| load_step(s, sc))
        .collect();
    // Where the name comes from: its `name` key, or (named after its file) its first line.
    let name_span = raw.name.as_ref().map_or(0..0, |n| n.span());
    let target = raw.trial;
    Some((
        Scenario {
            name,
            kind: sc.kind,
            description: raw.description.trim().to_string(),
            steps,
            each_state,
            timeout: sc.l.duration(&raw.timeout, DEFAULT_TRIAL_TIMEOUT),
            when,
        },
        name_span,
        target,
    ))
}

fn join(r: &[Release]) -> String {
    r.iter().map(Release::as_str).collect::<Vec<_>>().join(", ")
}

pub(crate) fn keys<V>(m: &IndexMap<String, V>) -> String {
    if m.is_empty() {
        "(none)".into()
    } else {
        m.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM: &str = r#"
[system]
name = "demo"
releases = ["1.0", "1.1"]
scenarios = "scenarios"

[roles.node]
image = "demo/node:{release}"
replicas = 2
command = ["serve", "--name", "{name}"]
env = { A = "1" }

[roles.node.actions.health]
http = { port = 80, path = "/health" }
"#;

    fn load_with(extra: &str) -> Result<Matrix, LoadError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("scenarios")).unwrap();
        std::fs::write(
            dir.path().join("scenarios/basic.toml"),
            "kind = \"cell\"\n[[step]]\ndo = \"start\"\n",
        )
        .unwrap();
        let path = dir.path().join("matrix.toml");
        std::fs::write(
            &path,
            format!("{SYSTEM}{extra}\n[matrix]\nscenarios = [\"basic\"]\n"),
        )
        .unwrap();
        load(&path)
    }

    #[test]
    fn a_role_like_another_takes_what_it_does_not_set() {
        let m = load_with("[roles.twin]\nlike = \"node\"\nreplicas = 1\nenv = { B = \"2\" }\n")
            .unwrap();
        let node = m.role("node").unwrap();
        let twin = m.role("twin").unwrap();
        assert_eq!(twin.replicas, 1, "its own key wins");
        assert_eq!(twin.command, node.command);
        let r = Release::parse("1.1").unwrap();
        assert_eq!(m.image_of(twin, &r), m.image_of(node, &r));
        assert!(twin.actions.contains_key("health"));
        let env: Vec<&String> = twin.env.keys().collect();
        assert_eq!(env, ["A", "B"], "env merged");
    }

    #[test]
    fn like_names_a_role_written_out_and_a_role_has_an_image() {
        let e = load_with(
            "[roles.a]\nlike = \"nope\"\n[roles.b]\nlike = \"c\"\n[roles.c]\nlike = \"node\"\n[roles.d]\nreplicas = 1\n",
        )
        .unwrap_err();
        let all: Vec<String> = e.errors.iter().map(|e| e.to_string()).collect();
        assert!(
            all.iter()
                .any(|e| e.contains("`like` names unknown role `nope`")),
            "{all:#?}"
        );
        assert!(
            all.iter()
                .any(|e| e.contains("`c` takes its keys from another role itself")),
            "{all:#?}"
        );
        assert!(
            all.iter().any(|e| e.contains("role `d` has no `image`")),
            "{all:#?}"
        );
        assert!(e.errors.iter().all(|e| e.help.is_some()));
    }
}
