//! Bad input never crashes, hangs or slips through: every class of malformed matrix or scenario
//! found so far (the corpus in `fixtures/bad-input/`, plus the ones too large or too odd to keep as
//! files) is exit 2 from the real binary with the file, line and column, a hint and nothing started;
//! and a seeded mutation fuzzer over the repository's own matrices and scenarios finds no panic, no
//! hang, no slow input and no error without a file or without a hint.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crossgrade::model::{self, LoadError};
use crossgrade::plan;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn corpus() -> PathBuf {
    workspace().join("harness/tests/fixtures/bad-input")
}

/// `crossgrade ARGS`, killed (and reported as a hang) after 30 s.
fn crossgrade(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossgrade"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = Vec::new();
        out.read_to_end(&mut s).ok();
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = Vec::new();
        err.read_to_end(&mut s).ok();
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("crossgrade {args:?} did not end within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Exit 2, no panic, the words, a `help:` and (if given) the position `file:line:col`.
fn assert_refused(out: &Output, words: &str, at: Option<&str>) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The renderer wraps long lines: compare with line breaks and the frame taken out.
    let flat: String = stderr
        .lines()
        .map(|l| l.trim_start_matches([' ', '│', '×']).trim_end())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains(words), "no {words:?} in:\n{stderr}");
    assert!(stderr.contains("help:"), "no hint in:\n{stderr}");
    if let Some(at) = at {
        assert!(flat.contains(&format!("{at}:")), "not at {at}:\n{stderr}");
    }
}

#[derive(serde::Deserialize)]
struct Expect {
    words: String,
    at: Option<String>,
}

#[test]
fn every_case_of_the_corpus_is_exit_2_at_its_position_with_a_hint() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "the corpus is in fixtures/bad-input");
    for case in cases {
        let expect: Expect =
            toml::from_str(&std::fs::read_to_string(case.join("expect.toml")).unwrap()).unwrap();
        let matrix = case.join("matrix.toml");
        let out = crossgrade(&["plan", "-f", matrix.to_str().unwrap()]);
        let at = expect.at.as_deref();
        std::panic::catch_unwind(|| assert_refused(&out, &expect.words, at))
            .unwrap_or_else(|_| panic!("case {}", case.display()));
    }
}

/// A copy of a corpus case to change.
fn copy_case(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let from = corpus().join(name);
    std::fs::create_dir(dir.path().join("scenarios")).unwrap();
    for f in [
        "matrix.toml",
        "scenarios/basic.toml",
        "scenarios/upgrade.toml",
    ] {
        std::fs::copy(from.join(f), dir.path().join(f)).unwrap();
    }
    let m = dir.path().join("matrix.toml");
    (dir, m)
}

#[test]
fn a_column_past_65536_is_named_not_a_panic() {
    let (_d, m) = copy_case("unknown-step");
    let text = std::fs::read_to_string(&m).unwrap();
    let long = format!("x = \"{}\" oops\n{text}", "a".repeat(70_000));
    std::fs::write(&m, long).unwrap();
    let out = crossgrade(&["plan", "-f", m.to_str().unwrap()]);
    assert_refused(&out, "matrix.toml:1:70008", None);
}

#[test]
fn twenty_thousand_bad_steps_are_counted_and_fifty_shown() {
    let (d, m) = copy_case("unknown-step");
    let mut steps = String::from("kind = \"cell\"\n");
    for i in 0..20_000 {
        steps.push_str(&format!("[[step]]\ndo = \"frobnicate{i}\"\n"));
    }
    std::fs::write(d.path().join("scenarios/many.toml"), steps).unwrap();
    let out = crossgrade(&["plan", "-f", m.to_str().unwrap()]);
    assert_refused(&out, "20001 errors (the first 50 shown)", None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("unknown step").count(), 50, "{stderr}");
}

#[test]
fn a_fifo_in_the_scenario_directory_is_named_not_read() {
    let (d, m) = copy_case("unknown-step");
    let fifo = d.path().join("scenarios/pipe.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let out = crossgrade(&["plan", "-f", m.to_str().unwrap()]);
    assert_refused(&out, "pipe.toml: not a regular file", None);
}

#[test]
fn arguments_that_would_select_everything_or_run_nothing_are_refused() {
    let m = workspace().join("fixture.toml");
    let m = m.to_str().unwrap();
    let out = crossgrade(&["plan", "-f", m, "--cell", ""]);
    assert_refused(&out, "in --cell is not ROLE=RELEASE", None);
    let out = crossgrade(&["plan", "-f", m, "--cell", "node=1.0,"]);
    assert_refused(&out, "in --cell is not ROLE=RELEASE", None);
    let out = crossgrade(&["run", "-f", m, "-j", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be at least 1"));
    let out = crossgrade(&["run", "-f", m, "--repeat", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be at least 1"));
    let out = crossgrade(&["run", "-f", m, "--repeat", "2", "--keep"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[test]
fn doctor_shows_a_bad_matrix_s_errors() {
    let m = corpus().join("bad-regex/matrix.toml");
    let out = crossgrade(&["doctor", "-f", m.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("matrix    INVALID: 1 error in"), "{stdout}");
    assert!(stdout.contains("bad regex"), "{stdout}");
    assert!(stdout.contains("matrix.toml:15:15"), "{stdout}");
}

/// Bad input with stderr closed (`crossgrade plan … 2>&1 | head`): still exit 2, not a panic.
#[test]
fn a_closed_stderr_keeps_the_exit_code_of_bad_input() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_crossgrade"))
        .args(["plan", "-f"])
        .arg(corpus().join("unknown-step/matrix.toml"))
        .stdout(Stdio::piped())
        .stderr(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_closed_stdout_ends_plan_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossgrade"))
        .args(["plan", "-f"])
        .arg(workspace().join("nightly.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe, as `| head -1` does.
    let mut first = [0u8; 1];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---- the mutation fuzzer ----

/// xorshift64*: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// What the mutator splices in: TOML's punctuation, the values that found bugs, and the format's
/// own keys and values.
fn dictionary() -> Vec<String> {
    let mut d: Vec<String> = [
        "\"",
        "[",
        "]",
        "{",
        "}",
        "=",
        ",",
        ".",
        "\n",
        "[[step]]",
        "[[each_state]]",
        "[matrix]",
        "[[matrix.paths]]",
        "0",
        "-1",
        "99999999999999999999",
        "1e400",
        "nan",
        "inf",
        "true",
        "\"99999999999999999999s\"",
        "\"0.0000001ms\"",
        "\"1e400s\"",
        "\"0s\"",
        "\"25h\"",
        "\"{release}\"",
        "\"{nope}\"",
        "\"{\"",
        "\"}\"",
        "\"\u{1F600}\"",
        "\"(?\"",
        "\"\"",
        "do = \"upgrade\"",
        "do = \"start\"",
        "do = \"signal\"",
        "when = \"node >= 9.9\"",
        "replica = 99",
        "count = 0",
        "exits = { role = \"node\" }",
        "\"leader\"",
        "\"all\"",
        "max_trials = 0",
        "releases = []",
        "exclude = [{}]",
        "vary = []",
        "a.b.c.d.e.f = 1",
        "scenarios = [\"basic\", \"basic\"]",
        "image = \"Bad Image\"",
        "replicas = 65",
        "timeout = \"1ms\"",
        "kind = \"path\"",
        "kind = \"cell\"",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    d.push(format!("\"{}\"", "a".repeat(70_000)));
    d.push(format!("{} = 1", ["a"; 200].join(".")));
    d
}

fn mutate(text: &str, rng: &mut Rng, dict: &[String]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(3) {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let i = rng.below(lines.len());
        match rng.below(7) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            3 => {
                // A token at a character boundary of a line.
                let l = &lines[i];
                let cuts: Vec<usize> = (0..=l.len()).filter(|c| l.is_char_boundary(*c)).collect();
                let at = cuts[rng.below(cuts.len())];
                let token = &dict[rng.below(dict.len())];
                lines[i] = format!("{}{token}{}", &l[..at], &l[at..]);
            }
            4 => {
                // A value replaced.
                if let Some((key, _)) = lines[i].split_once('=') {
                    let token = &dict[rng.below(dict.len())];
                    lines[i] = format!("{key}= {token}");
                }
            }
            5 => {
                // One ASCII byte replaced by another (the text stays UTF-8).
                let l = &lines[i];
                let ascii: Vec<usize> = l
                    .char_indices()
                    .filter(|(_, c)| c.is_ascii())
                    .map(|(i, _)| i)
                    .collect();
                if !ascii.is_empty() {
                    let at = ascii[rng.below(ascii.len())];
                    let c = (b' ' + rng.below(95) as u8) as char;
                    lines[i] = format!("{}{c}{}", &l[..at], &l[at + 1..]);
                }
            }
            _ => lines.truncate(i),
        }
    }
    lines.join("\n")
}

/// One of the repository's matrices, copied with its scenarios into a directory of its own, paths
/// made absolute, so that it loads there as it does in place.
struct Seed {
    dir: tempfile::TempDir,
    matrix: String,
    scenarios: Vec<(PathBuf, String)>,
}

fn seeds() -> Vec<Seed> {
    let ws = workspace();
    let mut out = Vec::new();
    for name in [
        "fixture.toml",
        "matrix.toml",
        "etcd.toml",
        "redis.toml",
        "postgres.toml",
        "maintenance.toml",
    ] {
        let text = std::fs::read_to_string(ws.join(name)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let scenario_dir = text
            .lines()
            .find_map(|l| l.strip_prefix("scenarios = \""))
            .map(|s| s.trim_end_matches('"').to_string())
            .unwrap();
        std::fs::create_dir(dir.path().join("scenarios")).unwrap();
        let mut scenarios = Vec::new();
        for e in std::fs::read_dir(ws.join(&scenario_dir)).unwrap() {
            let p = e.unwrap().path();
            let to = dir.path().join("scenarios").join(p.file_name().unwrap());
            let t = std::fs::read_to_string(&p).unwrap();
            std::fs::write(&to, &t).unwrap();
            scenarios.push((to, t));
        }
        let matrix = text
            .replace(
                &format!("scenarios = \"{scenario_dir}\""),
                "scenarios = \"scenarios\"",
            )
            .replace(
                "context = \"",
                &format!("context = \"{}/", ws.to_str().unwrap()),
            )
            .replace(
                "definitions = \"",
                &format!("definitions = \"{}/", ws.to_str().unwrap()),
            );
        std::fs::write(dir.path().join("matrix.toml"), &matrix).unwrap();
        let loaded = model::load(&dir.path().join("matrix.toml"));
        assert!(loaded.is_ok(), "the seed {name} loads: {:?}", loaded.err());
        out.push(Seed {
            dir,
            matrix,
            scenarios,
        });
    }
    out
}

/// What loading one input came to.
enum Verdict {
    Loaded,
    Refused(LoadError),
}

/// Loads, plans and renders as `crossgrade plan` does; a panic anywhere is the caller's to catch.
fn load_and_render(matrix: &Path) -> Verdict {
    match model::load(matrix).and_then(|m| plan::expand_checked(&m).map(|_| ())) {
        Ok(()) => Verdict::Loaded,
        Err(e) => {
            let mut rendered = String::new();
            miette::GraphicalReportHandler::new()
                .render_report(&mut rendered, &e)
                .unwrap();
            for related in &e.errors {
                rendered.clear();
                miette::GraphicalReportHandler::new()
                    .render_report(&mut rendered, related)
                    .unwrap();
            }
            Verdict::Refused(e)
        }
    }
}

#[test]
fn a_mutation_fuzzer_finds_no_panic_hang_slow_input_or_unnamed_error() {
    let cases: usize = std::env::var("CROSSGRADE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_500);
    let seed: u64 = std::env::var("CROSSGRADE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_C0DE);
    let mut rng = Rng(seed);
    let dict = dictionary();
    let seeds = seeds();
    let (mut loaded, mut refused, mut slowest) = (0usize, 0usize, Duration::ZERO);
    for case in 0..cases {
        let s = &seeds[rng.below(seeds.len())];
        // The matrix or one scenario file, mutated; everything else as in the seed.
        let target = rng.below(s.scenarios.len() + 1);
        let (path, original) = if target == 0 {
            (s.dir.path().join("matrix.toml"), s.matrix.clone())
        } else {
            s.scenarios[target - 1].clone()
        };
        let input = mutate(&original, &mut rng, &dict);
        std::fs::write(&path, &input).unwrap();
        let matrix = s.dir.path().join("matrix.toml");
        let (tx, rx) = mpsc::channel();
        let started = Instant::now();
        let worker = std::thread::spawn(move || {
            let r = std::panic::catch_unwind(|| load_and_render(&matrix));
            tx.send(r).ok();
        });
        let keep = |why: &str| -> ! {
            let kept = std::env::temp_dir().join(format!("crossgrade-fuzz-{seed}-{case}.toml"));
            std::fs::write(&kept, &input).unwrap();
            panic!(
                "case {case} (seed {seed}): {why}; the input is in {} (it replaced {})",
                kept.display(),
                path.display()
            )
        };
        let result = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(r) => r,
            Err(_) => keep("no answer within 10 s"),
        };
        worker.join().ok();
        let took = started.elapsed();
        if input.len() < 64 * 1024 && took > Duration::from_secs(2) {
            keep(&format!("took {took:?}"));
        }
        slowest = slowest.max(took);
        match result {
            Err(_) => keep("panicked"),
            Ok(Verdict::Loaded) => loaded += 1,
            Ok(Verdict::Refused(e)) => {
                refused += 1;
                if e.errors.is_empty() {
                    keep("refused without an error");
                }
                for err in &e.errors {
                    let file = err.location.split(':').next().unwrap_or("");
                    if !Path::new(file).exists() {
                        keep(&format!("an error names no file: {err}"));
                    }
                    if err.location.matches(':').count() == 2 && err.help.is_none() {
                        keep(&format!("a positioned error has no hint: {err}"));
                    }
                }
            }
        }
        std::fs::write(&path, &original).unwrap();
    }
    // The figures, for the record (`--nocapture` shows them).
    println!(
        "fuzzed {cases} inputs (seed {seed}): {loaded} loaded, {refused} refused (exit 2), \
         0 panics, 0 hangs; slowest {slowest:?}"
    );
    assert!(refused > cases / 2, "most mutations break something");
}

#[test]
fn crossgrade_matrix_names_the_matrix_and_subset_for_the_command_line_too() {
    let plan = |env: Option<&str>, args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_crossgrade"));
        c.current_dir(workspace()).args(args);
        match env {
            Some(v) => c.env("CROSSGRADE_MATRIX", v),
            None => c.env_remove("CROSSGRADE_MATRIX"),
        };
        c.output().unwrap()
    };
    let by_env = plan(Some("etcd.toml:quick"), &["plan", "--ids"]);
    let by_args = plan(
        None,
        &["plan", "--ids", "-f", "etcd.toml", "--subset", "quick"],
    );
    assert_eq!(by_env.status.code(), Some(0));
    assert_eq!(by_env.stdout, by_args.stdout);
    assert!(!by_env.stdout.is_empty());
    // The tests' comma-separated list is refused, saying why.
    let list = plan(Some("matrix.toml,etcd.toml:quick"), &["plan", "--ids"]);
    assert_eq!(list.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&list.stderr).contains("names several matrices"));
}

#[test]
fn completions_and_the_manual_page_are_printed() {
    let out = crossgrade(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains("_crossgrade()") && script.contains("--message-format"),
        "{script}"
    );
    let man = crossgrade(&["man"]);
    assert_eq!(man.status.code(), Some(0));
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.contains(".TH crossgrade 1") && page.contains("Exit codes"),
        "{page}"
    );
    let bad = crossgrade(&["completions", "cmd.exe"]);
    assert_eq!(bad.status.code(), Some(2));
}
