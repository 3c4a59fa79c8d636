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

/// Files shared between images (`include`) reach the build context and the image, and changing one
/// makes the image stale: `images list` and `doctor` say so until it is built again.
#[test]
fn an_included_file_from_outside_the_context_is_built_into_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("scenarios")).unwrap();
    std::fs::create_dir_all(d.join("images/app")).unwrap();
    std::fs::create_dir_all(d.join("images/common")).unwrap();
    std::fs::write(
        d.join("scenarios/start.toml"),
        "kind = \"cell\"\n[[step]]\ndo = \"start\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("images/app/Dockerfile"),
        "FROM scratch\nCOPY probe.sh /probe.sh\n",
    )
    .unwrap();
    std::fs::write(d.join("images/common/probe.sh"), "echo shared\n").unwrap();
    let image = format!("crossgrade-test/include-{}", std::process::id());
    std::fs::write(
        d.join("matrix.toml"),
        format!(
            r#"
[system]
name = "include"
releases = ["1"]
scenarios = "scenarios"

[[image]]
name = "{image}:{{release}}"
context = "images/app"
include = ["images/common/probe.sh"]

[roles.node]
image = "{image}:{{release}}"

[matrix]
scenarios = ["start"]
"#
        ),
    )
    .unwrap();
    let build = || {
        let out = crossgrade()
            .args(["images", "build", "-f"])
            .arg(d.join("matrix.toml"))
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{all}");
        all
    };
    build();
    let tag = format!("{image}:1");
    let read_probe = || {
        let id = String::from_utf8(
            std::process::Command::new("docker")
                .args(["create", &tag, "x"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let id = id.trim().to_string();
        let out = std::process::Command::new("docker")
            .args(["cp", &format!("{id}:/probe.sh"), "-"])
            .output()
            .unwrap();
        std::process::Command::new("docker")
            .args(["rm", &id])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(read_probe().contains("echo shared"));
    let list = || {
        let out = crossgrade()
            .args(["images", "list", "-f"])
            .arg(d.join("matrix.toml"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(list().starts_with(&format!("present  {tag}")), "{}", list());
    // A change to the shared file is a change to the image: stale until it is built again.
    std::fs::write(d.join("images/common/probe.sh"), "echo changed\n").unwrap();
    assert!(
        list().starts_with(&format!("STALE    {tag}  (its inputs changed")),
        "{}",
        list()
    );
    let doctor = crossgrade()
        .args(["doctor", "-f"])
        .arg(d.join("matrix.toml"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(said.contains("1 of 1 missing or stale"), "{said}");
    assert!(said.contains(&format!("STALE    {tag}")), "{said}");
    build();
    assert!(read_probe().contains("echo changed"));
    assert!(list().starts_with(&format!("present  {tag}")), "{}", list());
    std::process::Command::new("docker")
        .args(["rmi", "-f", &tag])
        .output()
        .unwrap();
}
