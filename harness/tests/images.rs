//! `crossgrade images build` on the command line: what it prints when the build cannot go on. Needs
//! a Docker engine (the command connects before it builds), but builds nothing.

use std::path::{Path, PathBuf};

mod common;
use common::*;

/// A matrix of one image (never built) whose `[build] prepare` is `prepare`.
fn matrix_with_prepare(dir: &Path, prepare: &str) -> PathBuf {
    std::fs::create_dir(dir.join("scenarios")).unwrap();
    std::fs::write(
        dir.join("scenarios/start.toml"),
        "kind = \"cell\"\n[[step]]\ndo = \"start\"\n",
    )
    .unwrap();
    let matrix = dir.join("matrix.toml");
    std::fs::write(
        &matrix,
        format!(
            r#"
[system]
name = "images-cli"
releases = ["1"]
scenarios = "scenarios"

[build]
prepare = ["{prepare}"]

[[image]]
name = "crossgrade-test/never-built:{{release}}"
context = "."

[roles.node]
image = "crossgrade-test/never-built:{{release}}"

[matrix]
scenarios = ["start"]
"#
        ),
    )
    .unwrap();
    matrix
}

/// The error keeps its cause: a prepare command that cannot start says why, in the OS's words.
#[test]
fn a_prepare_command_that_cannot_start_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let matrix = matrix_with_prepare(dir.path(), "./does-not-exist.sh");
    let out = crossgrade()
        .args(["images", "build", "-f"])
        .arg(&matrix)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot start the prepare command `./does-not-exist.sh`"),
        "{stderr}"
    );
    assert!(stderr.contains("No such file or directory"), "{stderr}");
}
