//! Golden plans: `crossgrade plan` of every matrix in the repository, held as insta snapshots under
//! `harness/tests/snapshots/plans/`, so that any change to loading or planning shows as a diff to
//! review (`cargo insta review`). Runs the real binary; never touches Docker.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `*.toml` of the repository with a `[system]` table, relative to the workspace root, sorted.
/// Build output, report folders, scenario directories and the bad-input corpus (held by its own test,
/// `bad_input.rs`) are not searched.
fn matrices() -> Vec<PathBuf> {
    let root = workspace();
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.')
                    && ![
                        "target",
                        "reports",
                        "scenarios",
                        "node_modules",
                        "bad-input",
                    ]
                    .contains(&name.as_str())
                    && !name.ends_with("-scenarios")
                {
                    stack.push(path);
                }
            } else if name.ends_with(".toml") && name != "Cargo.toml" {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if text.lines().any(|l| l.trim() == "[system]") {
                    out.push(path.strip_prefix(&root).unwrap().to_path_buf());
                }
            }
        }
    }
    out.sort();
    out
}

/// What `crossgrade plan -f FILE` prints, run from the workspace root, with its exit code.
fn plan_of(matrix: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_crossgrade"))
        .current_dir(workspace())
        .env("NO_COLOR", "1")
        .args(["plan", "-f"])
        .arg(matrix)
        .output()
        .unwrap();
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().map_or("signal".into(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_plan_of_every_matrix_in_the_repository() {
    let found = matrices();
    // The default matrix, the nightly paths and the real systems at least: a walk that finds
    // nothing would pass vacuously.
    for must in [
        "matrix.toml",
        "nightly.toml",
        "etcd.toml",
        "redis.toml",
        "postgres.toml",
    ] {
        assert!(
            found.iter().any(|p| p == Path::new(must)),
            "{must} not found among {found:?}"
        );
    }
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots/plans");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for matrix in &found {
            let name = matrix.to_string_lossy().replace('/', "__");
            insta::assert_snapshot!(name, plan_of(matrix));
        }
    });
}
