//! What `images build` shows while it works: on a terminal, a live line per image being made (its
//! elapsed time and its last log line) above the finished ones; elsewhere (CI), plain lines stamped
//! with the time since the start. Every image's whole log goes to a file, named when its build ends
//! and quoted (its last lines) when it fails; `--verbose` streams the logs as they come.

use crossgrade::say;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossgrade::runtime::BuildEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Lines of a failed build's log shown with the failure.
const TAIL_ON_FAILURE: usize = 15;

pub struct BuildDisplay {
    started: Instant,
    verbose: bool,
    /// `Some` on a terminal.
    multi: Option<MultiProgress>,
    live: BTreeMap<String, ProgressBar>,
    /// Where each image's (or base's, or the prepare command's) log is kept.
    logs_dir: PathBuf,
    logs: BTreeMap<String, std::fs::File>,
    /// What is being made (images, bases, the prepare command), in the order begun.
    open: Vec<String>,
}

impl BuildDisplay {
    pub fn new(logs_dir: &Path, verbose: bool) -> BuildDisplay {
        let terminal = console::Term::stderr().is_term() && !verbose;
        BuildDisplay {
            started: Instant::now(),
            verbose,
            multi: terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            live: BTreeMap::new(),
            logs_dir: logs_dir.to_path_buf(),
            logs: BTreeMap::new(),
            open: Vec::new(),
        }
    }

    /// The file an image's log is kept in.
    pub fn log_path(&self, what: &str) -> PathBuf {
        let safe: String = what
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.logs_dir.join(format!("{safe}.log"))
    }

    fn say(&self, line: String) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => say!("[{:>7.1}s] {line}", self.started.elapsed().as_secs_f64()),
        }
    }

    /// `what` names the log; `label` is what the line says is going on.
    fn begin(&mut self, what: &str, label: String) {
        self.open.push(what.to_string());
        if std::fs::create_dir_all(&self.logs_dir).is_ok() {
            if let Ok(f) = std::fs::File::create(self.log_path(what)) {
                self.logs.insert(what.to_string(), f);
            }
        }
        match &self.multi {
            Some(m) => {
                let bar = m.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(label);
                bar.enable_steady_tick(Duration::from_millis(120));
                self.live.insert(what.to_string(), bar);
            }
            None => self.say(label),
        }
    }

    fn end(&mut self, what: &str, line: String) {
        if let Some(bar) = self.live.remove(what) {
            bar.finish_and_clear();
        }
        self.logs.remove(what);
        self.open.retain(|o| o != what);
        self.say(line);
    }

    fn log(&mut self, what: &str, line: &str) {
        if let Some(f) = self.logs.get_mut(what) {
            let _ = writeln!(f, "{line}");
        }
        if self.verbose {
            self.say(format!("  {what} | {line}"));
        } else if let Some(bar) = self.live.get(what) {
            bar.set_message(line.trim().to_string());
        }
    }

    pub fn event(&mut self, e: BuildEvent) {
        match e {
            BuildEvent::Preparing { command } => {
                self.begin("prepare", format!("preparing: {command}"));
            }
            BuildEvent::PrepareLog { line } => self.log("prepare", &line),
            BuildEvent::Prepared { secs } => {
                let log = self.log_path("prepare");
                self.end(
                    "prepare",
                    format!("prepared in {secs:.1} s (log: {})", log.display()),
                );
            }
            BuildEvent::UpToDate { image } => self.say(format!("up to date {image}")),
            BuildEvent::Bootstrapping { base } => {
                self.begin(&base, format!("bootstrapping {base}"))
            }
            BuildEvent::Bootstrapped { base, secs } => {
                let log = self.log_path(&base);
                self.end(
                    &base,
                    format!(
                        "bootstrapped {base} in {secs:.1} s (log: {})",
                        log.display()
                    ),
                );
            }
            BuildEvent::Building { image } => self.begin(&image, format!("building {image}")),
            BuildEvent::Log { image, line } => self.log(&image, &line),
            BuildEvent::Built { image, secs } => {
                let log = self.log_path(&image);
                self.end(
                    &image,
                    format!("built {image} in {secs:.1} s (log: {})", log.display()),
                );
            }
        }
    }

    /// After a failure: the last lines of everything still being made (the failed build among
    /// them), and where their whole logs are.
    pub fn failed(&mut self) {
        for (_, bar) in std::mem::take(&mut self.live) {
            bar.finish_and_clear();
        }
        self.logs.clear();
        for what in std::mem::take(&mut self.open) {
            let path = self.log_path(&what);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(TAIL_ON_FAILURE)..];
            if !tail.is_empty() {
                say!("the last lines of {what}'s log ({}):", path.display());
                for l in tail {
                    say!("  {l}");
                }
            }
        }
    }
}
