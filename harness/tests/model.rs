//! The model and the plan without Docker: every kind of bad input is reported with file, line and
//! column and exit code 2, and expansion gives stable, deterministic trials.

use std::path::{Path, PathBuf};
use std::process::Command;

use crossgrade::model;
use crossgrade::plan;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

const GOOD: &str = r#"
[system]
name = "demo"
releases = ["1.0", "1.10", "1.9"]
scenarios = "scenarios"

[roles.node]
image = "demo/node:{release}"
replicas = 2
command = ["serve", "--peers", "{replicas.node}"]

[roles.node.actions.health]
http = { port = 80, path = "/health" }

[roles.client]
image = "demo/client:{release}"

[roles.client.actions.get]
exec = ["get"]

[matrix]
scenarios = ["basic"]
exclude = [{ node = "1.0", client = "1.10" }]

[[matrix.paths]]
from = "1.0"
to = "1.10"
scenarios = ["upgrade"]
"#;

const BASIC: &str = r#"
kind = "cell"
[[step]]
do = "start"
[[step]]
do = "check"
action = "node.health"
when = "node >= 1.9"
expect = { status = 200 }
"#;

const UPGRADE: &str = r#"
kind = "path"
[[step]]
do = "start"
[[step]]
do = "upgrade"
role = "node"
[[each_state]]
do = "check"
action = "client.get"
expect = { exit = 0 }
"#;

/// Writes a matrix and its scenarios into a temp dir; `edit` changes the files first.
fn setup(matrix: &str, scenarios: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("scenarios")).unwrap();
    std::fs::write(dir.path().join("matrix.toml"), matrix).unwrap();
    for (name, text) in scenarios {
        std::fs::write(dir.path().join("scenarios").join(name), text).unwrap();
    }
    let p = dir.path().join("matrix.toml");
    (dir, p)
}

fn good_scenarios() -> Vec<(&'static str, &'static str)> {
    vec![("basic.toml", BASIC), ("upgrade.toml", UPGRADE)]
}

/// Loads a broken variant; returns every error line.
fn errors(matrix: &str, scenarios: &[(&str, &str)]) -> Vec<String> {
    let (_d, p) = setup(matrix, scenarios);
    let e = model::load(&p).expect_err("must not load");
    e.errors.iter().map(|e| e.to_string()).collect()
}

/// `crossgrade run -f matrix`.
fn crossgrade_run(matrix: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crossgrade"))
        .args(["run", "-f"])
        .arg(matrix)
        .output()
        .unwrap()
}

fn assert_error(errs: &[String], file: &str, line_col: &str, words: &str) {
    assert!(
        errs.iter()
            .any(|e| e.contains(&format!("{file}:{line_col}")) && e.contains(words)),
        "no error at {file}:{line_col} saying {words:?} in {errs:#?}"
    );
}

#[test]
fn releases_are_ordered_by_version_and_cells_expand_deterministically() {
    let (_d, p) = setup(GOOD, &good_scenarios());
    let m = model::load(&p).unwrap();
    let names: Vec<_> = m.releases.iter().map(|r| r.as_str()).collect();
    assert_eq!(names, ["1.0", "1.9", "1.10"]);
    let plan = plan::expand(&m);
    let ids: Vec<_> = plan.trials.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids.len(),
        3 * 3 - 1 + 1,
        "9 cells minus one excluded, plus one path"
    );
    assert_eq!(ids[0], "demo/basic/node=1.0,client=1.0");
    assert!(
        !ids.contains(&"demo/basic/node=1.0,client=1.10"),
        "excluded"
    );
    assert_eq!(ids.last().unwrap(), &"demo/upgrade/1.0-to-1.10");
    assert_eq!(
        plan.to_string(),
        plan::expand(&m).to_string(),
        "deterministic"
    );
}

#[test]
fn when_conditions_are_resolved_in_the_plan() {
    let (_d, p) = setup(GOOD, &good_scenarios());
    let plan = plan::expand(&model::load(&p).unwrap());
    let steps = |id: &str| plan.trials.iter().find(|t| t.id == id).unwrap().steps.len();
    assert_eq!(
        steps("demo/basic/node=1.0,client=1.0"),
        1,
        "1.0 < 1.9: check dropped"
    );
    assert_eq!(steps("demo/basic/node=1.10,client=1.0"), 2);
}

#[test]
fn a_path_moves_replicas_one_by_one_with_each_state_checks() {
    let (_d, p) = setup(GOOD, &good_scenarios());
    let plan = plan::expand(&model::load(&p).unwrap());
    let t = plan.trials.last().unwrap();
    let ops: Vec<String> = t.steps.iter().map(|s| s.describe()).collect();
    assert_eq!(
        ops,
        [
            "start all roles",
            "move node replica 1/2 to 1.10",
            "check client.get on client-0: exit 0",
            "move node replica 2/2 to 1.10",
            "check client.get on client-0: exit 0",
        ]
    );
    assert!(t.steps[1].is_move());
    assert!(t.steps[2].each_state);
}

#[test]
fn a_path_may_pin_a_role_while_matrix_fixed_stays_with_the_cells() {
    // `[matrix] fixed` is for cells: on a path every role starts at `from`.
    let fixed_for_cells = GOOD.replace(
        "scenarios = [\"basic\"]\nexclude",
        "vary = [\"node\"]\nfixed = { client = \"1.9\" }\nscenarios = [\"basic\"]\nexclude",
    );
    let (_d, p) = setup(&fixed_for_cells, &good_scenarios());
    let plan = plan::expand(&model::load(&p).unwrap());
    let path = plan.trials.last().unwrap();
    assert_eq!(path.start["client"].as_str(), "1.0");
    assert!(plan.trials[0].start["client"].as_str() == "1.9");
    // A path's own `fixed` pins the role on that path.
    let pinned = GOOD.replace(
        "scenarios = [\"upgrade\"]",
        "scenarios = [\"upgrade\"]\nfixed = { client = \"1.9\" }",
    );
    let (_d, p) = setup(&pinned, &good_scenarios());
    let plan = plan::expand(&model::load(&p).unwrap());
    let path = plan.trials.last().unwrap();
    assert_eq!(path.start["client"].as_str(), "1.9");
    assert_eq!(path.start["node"].as_str(), "1.0");
    let bad = GOOD.replace(
        "scenarios = [\"upgrade\"]",
        "scenarios = [\"upgrade\"]\nfixed = { clint = \"1.9\", node = \"7\" }",
    );
    let errs = errors(&bad, &good_scenarios());
    assert_error(
        &errs,
        "matrix.toml",
        "29:19",
        "`fixed` names unknown role `clint`",
    );
    assert_error(&errs, "matrix.toml", "29:33", "unknown release `7`");
}

#[test]
fn toml_syntax_error_has_a_position() {
    let bad = GOOD.replace("replicas = 2", "replicas = = 2");
    assert_error(
        &errors(&bad, &good_scenarios()),
        "matrix.toml",
        "9:12",
        "extra `=`",
    );
}

#[test]
fn unknown_key_is_named_with_its_position() {
    let bad = GOOD.replace("replicas = 2", "replicaz = 2");
    assert_error(
        &errors(&bad, &good_scenarios()),
        "matrix.toml",
        "9:1",
        "unknown field `replicaz`",
    );
}

#[test]
fn unknown_role_action_and_release_in_steps_are_all_reported() {
    let basic = BASIC
        .replace("node.health", "nod.health")
        .replace("node >= 1.9", "node >= banana!");
    let upgrade = UPGRADE
        .replace("client.get", "client.gte")
        .replace("role = \"node\"", "role = \"node\"\nto = \"3.0\"");
    let errs = errors(GOOD, &[("basic.toml", &basic), ("upgrade.toml", &upgrade)]);
    assert_error(&errs, "basic.toml", "7:10", "unknown role `nod`");
    assert_error(&errs, "basic.toml", "8:8", "not a release name");
    assert_error(&errs, "upgrade.toml", "8:6", "unknown release `3.0`");
    assert_error(
        &errs,
        "upgrade.toml",
        "11:10",
        "role `client` has no action `gte`",
    );
}

#[test]
fn release_without_image_duplicate_release_bad_duration_and_unknown_step() {
    let bad = GOOD
        .replace(
            "image = \"demo/client:{release}\"",
            "image = { \"1.0\" = \"demo/client:1\" }",
        )
        .replace(
            "releases = [\"1.0\", \"1.10\", \"1.9\"]",
            "releases = [\"1.0\", \"1.10\", \"1.9\", \"1.9\"]",
        );
    let basic = format!("{BASIC}\n[[step]]\ndo = \"nap\"\n");
    let upgrade = UPGRADE.replace("do = \"upgrade\"", "do = \"upgrade\"\ntimeout = \"10\"");
    let errs = errors(&bad, &[("basic.toml", &basic), ("upgrade.toml", &upgrade)]);
    assert_error(
        &errs,
        "matrix.toml",
        "4:35",
        "release `1.9` is listed twice",
    );
    assert_error(
        &errs,
        "matrix.toml",
        "16:9",
        "role `client` has no image for release `1.9`",
    );
    assert_error(&errs, "basic.toml", "12:6", "unknown step `nap`");
    assert_error(&errs, "upgrade.toml", "7:11", "has no unit");
}

#[test]
fn an_empty_matrix_is_an_error() {
    let bad = GOOD.replace("scenarios = [\"basic\"]", "").replace(
        "[[matrix.paths]]\nfrom = \"1.0\"\nto = \"1.10\"\nscenarios = [\"upgrade\"]",
        "",
    );
    let errs = errors(&bad, &good_scenarios());
    assert!(
        errs.iter().any(|e| e.contains("the matrix is empty")),
        "{errs:#?}"
    );
}

#[test]
fn cli_exits_2_on_bad_input_and_names_file_line_and_column() {
    let bad = GOOD.replace("replicas = 2", "replicas = \"two\"");
    let (_d, p) = setup(&bad, &good_scenarios());
    let out = crossgrade_run(&p);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("matrix.toml:9:12"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing ran: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn plan_of_the_fixture_matrix_lists_its_trials_without_docker() {
    let out = Command::new(env!("CARGO_BIN_EXE_crossgrade"))
        .args(["plan", "--ids", "-f"])
        .arg(workspace().join("fixture.toml"))
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output()
        .unwrap();
    assert!(out.status.success());
    let ids = String::from_utf8(out.stdout).unwrap();
    // 9 cells of 1.0/1.1/2.0, the one 2.1 (stale-read release) cell, 3 paths; the two history
    // scenarios only in the cells their `when` allows (2.0 and later: 2.0 with itself, 2.1 with
    // itself).
    assert_eq!(ids.lines().count(), 17, "{ids}");
    assert!(ids.contains("fixture/rolling-upgrade/1.0-to-2.0"));
    assert!(ids.contains("fixture/basic/node=2.1,client=2.1"));
    let history: Vec<&str> = ids
        .lines()
        .filter(|l| l.starts_with("fixture/history/"))
        .collect();
    assert_eq!(
        history,
        [
            "fixture/history/node=2.0,client=2.0",
            "fixture/history/node=2.1,client=2.1"
        ]
    );
}

#[test]
fn an_upgrade_can_move_some_replicas_and_a_later_one_the_rest() {
    let partial = UPGRADE.replace(
        "do = \"upgrade\"\nrole = \"node\"\n",
        "do = \"upgrade\"\nrole = \"node\"\ncount = 1\n[[step]]\ndo = \"restart\"\nrole = \"node\"\nreplica = 0\n[[step]]\ndo = \"upgrade\"\nrole = \"node\"\n",
    );
    let (_d, p) = setup(GOOD, &[("basic.toml", BASIC), ("upgrade.toml", &partial)]);
    let plan = plan::expand(&model::load(&p).unwrap());
    let t = plan.trials.last().unwrap();
    let ops: Vec<String> = t.steps.iter().map(|s| s.describe()).collect();
    assert_eq!(
        ops,
        [
            "start all roles",
            "move node replica 1/2 to 1.10",
            "check client.get on client-0: exit 0",
            "restart node-0",
            "move node replica 2/2 to 1.10",
            "check client.get on client-0: exit 0",
        ]
    );
}

#[test]
fn upgrade_count_is_checked_and_a_workload_takes_an_expect() {
    let bad = UPGRADE.replace(
        "do = \"upgrade\"\nrole = \"node\"\n",
        "do = \"upgrade\"\nrole = \"node\"\ncount = 3\n[[step]]\ndo = \"workload\"\nname = \"w\"\naction = \"node.health\"\nexpect = { pointer = \"/ok\", equals = true }\n",
    );
    let errs = errors(GOOD, &[("basic.toml", BASIC), ("upgrade.toml", &bad)]);
    assert_error(
        &errs,
        "upgrade.toml",
        "8:9",
        "count must be between 1 and 2 (the replicas of `node`)",
    );
    assert_eq!(errs.len(), 1, "the workload's expect is fine: {errs:#?}");
}

#[test]
fn the_default_matrix_is_the_16_cell_mesos_matrix_plus_its_upgrade_paths() {
    let m = model::load(&workspace().join("matrix.toml")).unwrap();
    let plan = plan::expand(&m);
    let cells: Vec<_> = plan
        .trials
        .iter()
        .filter(|t| matches!(t.kind, plan::TrialKind::Cell(_)))
        .collect();
    assert_eq!(cells.len(), 16);
    assert_eq!(
        cells[0].id,
        "tinymesos/basic/master=0.22,agent=0.22,executor=0.22,scheduler=0.22"
    );
    let paths: Vec<_> = plan
        .trials
        .iter()
        .filter(|t| matches!(t.kind, plan::TrialKind::Path { .. }))
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "tinymesos/rolling-upgrade/0.22-to-0.23",
            "tinymesos/rollback/0.22-to-0.23",
            "tinymesos/big-bang/0.22-to-0.23"
        ]
    );
    // `{to}` in a path scenario's expectations is the path's destination.
    let rolling = plan
        .trials
        .iter()
        .find(|t| t.id == "tinymesos/rolling-upgrade/0.22-to-0.23")
        .unwrap();
    assert!(
        rolling.steps.iter().any(|s| s.describe()
            == r#"check master.state on the master leader within 20s: /release == "0.23""#),
        "{rolling:#?}"
    );
}

#[test]
fn a_run_step_may_expect_a_replica_to_exit() {
    let with_exit = UPGRADE.replace(
        "do = \"upgrade\"\nrole = \"node\"\n",
        "do = \"run\"\naction = \"node.health\"\nreplica = 1\nexits = { role = \"node\", replica = 1, code = 0 }\n[[step]]\ndo = \"upgrade\"\nrole = \"node\"\n",
    );
    let (_d, p) = setup(GOOD, &[("basic.toml", BASIC), ("upgrade.toml", &with_exit)]);
    let plan = plan::expand(&model::load(&p).unwrap());
    let t = plan.trials.last().unwrap();
    assert_eq!(
        t.steps[1].describe(),
        "run node.health on node-1; then node-1 exits with code 0"
    );

    let bad = UPGRADE.replace(
        "do = \"upgrade\"\nrole = \"node\"\n",
        "do = \"run\"\naction = \"node.health\"\nexits = { role = \"node\", replica = \"all\" }\n[[step]]\ndo = \"restart\"\nrole = \"node\"\nexits = { role = \"node\", replica = 0 }\n[[step]]\ndo = \"run\"\naction = \"node.health\"\nexits = { role = \"nope\", replica = 0 }\n",
    );
    let errs = errors(GOOD, &[("basic.toml", BASIC), ("upgrade.toml", &bad)]);
    assert_error(
        &errs,
        "upgrade.toml",
        "8:36",
        "`exits` names one replica by its index",
    );
    assert_error(
        &errs,
        "upgrade.toml",
        "12:9",
        "`exits` does not apply to a `restart` step",
    );
    assert_error(&errs, "upgrade.toml", "16:18", "unknown role `nope`");
}

#[test]
fn a_subset_selects_trials_and_its_unknown_or_repeated_ids_are_pointed_at() {
    let with = |trials: &str| {
        format!("{GOOD}\n[subsets.quick]\nabout = \"a few\"\ntrials = [\n{trials}\n]\n")
    };
    let good = with("  \"demo/upgrade/1.0-to-1.10\",\n  \"demo/basic/node=1.9,client=1.0\",");
    let (_d, p) = setup(&good, &good_scenarios());
    let m = model::load(&p).unwrap();
    let plan = plan::expand_checked(&m).unwrap();
    let ids: Vec<String> = plan
        .subset(&m, "quick")
        .unwrap()
        .trials
        .into_iter()
        .map(|t| t.id)
        .collect();
    // In plan order (cells, then paths), whatever the file's order.
    assert_eq!(
        ids,
        ["demo/basic/node=1.9,client=1.0", "demo/upgrade/1.0-to-1.10"]
    );
    let e = plan::expand(&m).subset(&m, "slow").unwrap_err();
    assert!(
        e.errors[0].to_string().contains("no subset `slow`"),
        "{e:?}"
    );
    assert_eq!(e.errors[0].help.as_deref(), Some("its subsets: quick"));

    // An id the plan does not have: found after loading, still pointed at, with a near id.
    let typo =
        with("  \"demo/basic/node=1.9,client=1.0\",\n  \"demo/basic/node=1.9,client=1.11\",");
    let (_d, p) = setup(&typo, &good_scenarios());
    let m = model::load(&p).unwrap();
    let e = plan::expand_checked(&m).unwrap_err();
    let line = GOOD.lines().count() + 6;
    let errs: Vec<String> = e.errors.iter().map(|e| e.to_string()).collect();
    assert_error(
        &errs,
        "matrix.toml",
        &format!("{line}:3"),
        "lists `demo/basic/node=1.9,client=1.11`, which is not a trial",
    );
    assert!(
        e.errors[0]
            .help
            .as_deref()
            .unwrap()
            .contains("did you mean `demo/basic/node=1.9,client=1.10`?"),
        "{e:?}"
    );
    // The CLI refuses it with code 2 before anything runs.
    let out = crossgrade_run(&p);
    assert_eq!(out.status.code(), Some(2));

    // A repeated id, an empty list and a bad name, while loading.
    let errs = errors(
        &format!(
            "{}\n[subsets.Bad]\ntrials = []\n",
            with("  \"demo/upgrade/1.0-to-1.10\",\n  \"demo/upgrade/1.0-to-1.10\",")
        ),
        &good_scenarios(),
    );
    assert_error(
        &errs,
        "matrix.toml",
        &format!("{}:3", GOOD.lines().count() + 6),
        "listed twice",
    );
    assert!(
        errs.iter().any(|e| e.contains("subset name `Bad`")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("subset `Bad` lists no trials")),
        "{errs:#?}"
    );
}

#[test]
fn a_role_s_error_lines_must_be_a_regex() {
    let bad = GOOD.replace(
        "replicas = 2",
        "replicas = 2\nerror_lines = \"( # |unclosed\"",
    );
    let errs = errors(&bad, &good_scenarios());
    assert_error(&errs, "matrix.toml", "10:15", "bad regex");
}

#[test]
fn a_signal_step_names_a_signal_and_its_exit_defaults_to_the_signalled_replica() {
    let with = |steps: &str| UPGRADE.replace("do = \"upgrade\"\nrole = \"node\"\n", steps);
    let good = with(
        "do = \"signal\"\nrole = \"node\"\nreplica = 1\nsignal = \"usr2\"\nexits = { code = 0 }\n[[step]]\ndo = \"upgrade\"\nrole = \"node\"\n",
    );
    let (_d, p) = setup(GOOD, &[("basic.toml", BASIC), ("upgrade.toml", &good)]);
    let plan = plan::expand(&model::load(&p).unwrap());
    assert_eq!(
        plan.trials.last().unwrap().steps[1].describe(),
        "send SIGUSR2 to node-1; then node-1 exits with code 0"
    );

    let bad = with(
        "do = \"signal\"\nrole = \"node\"\nsignal = \"SIGNOPE\"\n[[step]]\ndo = \"signal\"\nrole = \"node\"\n[[step]]\ndo = \"signal\"\nrole = \"node\"\nsignal = \"HUP\"\nexits = { code = 0 }\n",
    );
    let errs = errors(GOOD, &[("basic.toml", BASIC), ("upgrade.toml", &bad)]);
    assert_error(&errs, "upgrade.toml", "8:10", "`SIGNOPE` is not a signal");
    assert_error(
        &errs,
        "upgrade.toml",
        "9:1",
        "a `signal` step needs `signal`",
    );
    // Every node: which one's exit is expected is not said.
    assert_error(
        &errs,
        "upgrade.toml",
        "16:9",
        "`exits` names one replica by its index",
    );
}

#[test]
fn a_key_a_step_does_not_take_is_pointed_at_with_the_keys_it_takes() {
    let bad = UPGRADE.replace(
        "do = \"upgrade\"\nrole = \"node\"\n",
        "do = \"restart\"\nrole = \"node\"\nkill = true\nsignl = \"HUP\"\n",
    );
    let (_d, p) = setup(GOOD, &[("basic.toml", BASIC), ("upgrade.toml", &bad)]);
    let e = model::load(&p).expect_err("must not load");
    let msgs: Vec<String> = e.errors.iter().map(|e| e.to_string()).collect();
    assert_error(
        &msgs,
        "upgrade.toml",
        "8:8",
        "`kill` does not apply to a `restart` step",
    );
    assert_error(
        &msgs,
        "upgrade.toml",
        "9:9",
        "unknown key `signl` in a `restart` step",
    );
    assert_eq!(
        e.errors[0].help.as_deref(),
        Some("a `restart` step takes: role, replica, when, timeout")
    );
}

#[test]
fn an_each_state_step_cannot_move_replicas() {
    let bad = format!("{UPGRADE}\n[[each_state]]\ndo = \"upgrade\"\nrole = \"client\"\n");
    let errs = errors(GOOD, &[("basic.toml", BASIC), ("upgrade.toml", &bad)]);
    assert_error(
        &errs,
        "upgrade.toml",
        "13:1",
        "a `upgrade` step cannot be an [[each_state]] step",
    );
}

#[test]
fn the_images_a_selection_runs_are_its_starts_and_its_moves_each_once() {
    let (_d, p) = setup(GOOD, &good_scenarios());
    let m = model::load(&p).unwrap();
    let plan = plan::expand(&m);
    let path = plan
        .trials
        .iter()
        .filter(|t| t.id == "demo/upgrade/1.0-to-1.10");
    assert_eq!(
        plan::images(&m, path),
        ["demo/node:1.0", "demo/client:1.0", "demo/node:1.10"],
        "the client does not move on this path"
    );
    let cells = plan
        .trials
        .iter()
        .filter(|t| t.id.starts_with("demo/basic/"));
    assert_eq!(plan::images(&m, cells).len(), 6, "3 releases × 2 roles");

    // A role no step of the trial starts needs no image at its starting release.
    let only_nodes = UPGRADE.replacen("do = \"start\"", "do = \"start\"\nroles = [\"node\"]", 1);
    let (_d, p) = setup(
        GOOD,
        &[("basic.toml", BASIC), ("upgrade.toml", &only_nodes)],
    );
    let m = model::load(&p).unwrap();
    let plan = plan::expand(&m);
    let path = plan
        .trials
        .iter()
        .filter(|t| t.id == "demo/upgrade/1.0-to-1.10");
    assert_eq!(
        plan::images(&m, path),
        ["demo/node:1.0", "demo/node:1.10"],
        "the client is never started on this path"
    );
}

#[test]
fn a_log_step_needs_something_to_look_for_and_a_valid_regex() {
    let basic = BASIC.replace(
        "[[step]]\ndo = \"check\"",
        "[[step]]\ndo = \"log\"\nrole = \"node\"\n[[step]]\ndo = \"log\"\nrole = \"node\"\nmatches = \"(\"\n[[step]]\ndo = \"check\"",
    );
    let errs = errors(GOOD, &[("basic.toml", &basic), ("upgrade.toml", UPGRADE)]);
    assert_error(
        &errs,
        "basic.toml",
        "5:1",
        "a `log` step needs what to look for",
    );
    assert_error(&errs, "basic.toml", "11:11", "bad regex");
}

#[test]
fn a_pinned_client_is_a_service_whose_actions_steps_run() {
    let with_service = format!(
        "{GOOD}\n[services.pinned]\nimage = \"demo/pymesos:0.2.15\"\nrelease = \"0.2.15\"\n\
         [services.pinned.actions.status]\nexec = [\"status\"]\n"
    );
    let basic = format!(
        "{BASIC}[[step]]\ndo = \"check\"\naction = \"pinned.status\"\nexpect = {{ exit = 0 }}\n"
    );
    let (_d, p) = setup(
        &with_service,
        &[("basic.toml", &basic), ("upgrade.toml", UPGRADE)],
    );
    let m = model::load(&p).unwrap();
    let plan = plan::expand(&m);
    assert_eq!(plan.trials[0].start["pinned"].as_str(), "0.2.15");
    // As a role, the same image for every release is refused, pointing at services.
    let as_role = GOOD.replace(
        "image = \"demo/client:{release}\"",
        "image = \"demo/pymesos:0.2.15\"",
    );
    let errs = errors(&as_role, &good_scenarios());
    assert!(
        errs.iter()
            .any(|e| e.contains("is the same for every release")),
        "{errs:#?}"
    );
    let (_d, p) = setup(&as_role, &good_scenarios());
    let help = model::load(&p).unwrap_err().errors[0].help.clone().unwrap();
    assert!(help.contains("[services.NAME]"), "{help}");
}

#[test]
fn an_included_file_must_exist_and_not_shadow_the_context() {
    let (d, _) = setup(GOOD, &good_scenarios());
    std::fs::create_dir_all(d.path().join("ctx")).unwrap();
    std::fs::write(d.path().join("ctx/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(d.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let m = format!(
        "{GOOD}\n[[image]]\nname = \"demo/node:{{release}}\"\ncontext = \"ctx\"\ninclude = [\"nope.sh\", \"Dockerfile\"]\n"
    );
    std::fs::write(d.path().join("matrix.toml"), m).unwrap();
    let errs: Vec<String> = model::load(&d.path().join("matrix.toml"))
        .unwrap_err()
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_error(&errs, "matrix.toml", "33:12", "nope.sh` is not a file");
    assert_error(
        &errs,
        "matrix.toml",
        "33:23",
        "the context already has a `Dockerfile`",
    );
}

/// A matrix over three releases with `extra` under [matrix] (after its scenarios).
fn three_releases(extra: &str) -> String {
    GOOD.replace("exclude = [{ node = \"1.0\", client = \"1.10\" }]", extra)
}

#[test]
fn skew_rules_leave_out_the_cells_that_break_them_and_plan_explain_says_which() {
    let (_d, p) = setup(
        &three_releases("require = [\"client <= node\"]"),
        &good_scenarios(),
    );
    let plan = plan::expand(&model::load(&p).unwrap());
    let cells: Vec<&str> = plan
        .trials
        .iter()
        .filter(|t| t.scenario == "basic")
        .map(|t| t.id.as_str())
        .collect();
    // Positions in [system] releases, ordered by version: 1.0 < 1.9 < 1.10.
    assert_eq!(
        cells,
        vec![
            "demo/basic/node=1.0,client=1.0",
            "demo/basic/node=1.9,client=1.0",
            "demo/basic/node=1.9,client=1.9",
            "demo/basic/node=1.10,client=1.0",
            "demo/basic/node=1.10,client=1.9",
            "demo/basic/node=1.10,client=1.10",
        ]
    );
    let out = Command::new(env!("CARGO_BIN_EXE_crossgrade"))
        .args(["plan", "--explain", "-f"])
        .arg(&p)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with("6 cells: the product's 9, less 3 that 1 rule removes\n"),
        "{text}"
    );
    assert!(
        text.contains("rule `client <= node` (")
            && text.contains("matrix.toml:23:12) removes 3 cells:"),
        "{text}"
    );
    assert!(text.contains("\n    node=1.0,client=1.10\n"), "{text}");
}

#[test]
fn a_pairwise_strategy_covers_every_allowed_pair_and_keeps_pinned_cells() {
    let (_d, p) = setup(
        &three_releases(
            "strategy = \"pairwise\"\nrequire = [\"client <= node\"]\n\
             include = [{ node = \"1.9\", client = \"1.0\" }]",
        ),
        &good_scenarios(),
    );
    let plan = plan::expand(&model::load(&p).unwrap());
    let cells: Vec<&str> = plan
        .trials
        .iter()
        .filter(|t| t.scenario == "basic")
        .map(|t| t.id.as_str())
        .collect();
    // With two roles a pair is a cell: every allowed cell, the pinned one among them.
    assert_eq!(cells.len(), 6, "{cells:?}");
    assert!(cells.contains(&"demo/basic/node=1.9,client=1.0"));
    assert_eq!(plan.cells.strategy, "pairwise");
    assert_eq!(plan.cells.pinned, 1);
}

#[test]
fn a_support_policy_generates_the_paths_it_promises_once_each() {
    let policy = |upgrades: &str| {
        three_releases(&format!(
            "\n[matrix.policy]\nsupported = 3\nupgrades = \"{upgrades}\"\nscenarios = [\"upgrade\"]"
        ))
    };
    let ids = |upgrades: &str| -> Vec<String> {
        let (_d, p) = setup(&policy(upgrades), &good_scenarios());
        let mut v: Vec<String> = plan::expand(&model::load(&p).unwrap())
            .trials
            .into_iter()
            .filter(|t| t.scenario == "upgrade")
            .map(|t| t.id)
            .collect();
        v.sort();
        v
    };
    // 1.0 → 1.10 is listed in [[matrix.paths]] already: it runs once.
    assert_eq!(
        ids("adjacent"),
        vec![
            "demo/upgrade/1.0-to-1.10",
            "demo/upgrade/1.0-to-1.9",
            "demo/upgrade/1.9-to-1.10"
        ]
    );
    assert_eq!(
        ids("to-latest"),
        vec!["demo/upgrade/1.0-to-1.10", "demo/upgrade/1.9-to-1.10"]
    );
    assert_eq!(ids("any").len(), 3);
    let errs = errors(&policy("sideways"), &good_scenarios());
    assert_error(
        &errs,
        "matrix.toml",
        "26:12",
        "unknown upgrade policy `sideways`",
    );
    let errs = errors(
        &policy("any").replace("supported = 3", "supported = 4"),
        &good_scenarios(),
    );
    assert_error(
        &errs,
        "matrix.toml",
        "25:13",
        "a policy supports from 2 to 3 releases",
    );
}

#[test]
fn upgrades_the_policy_does_not_promise_become_negative_trials() {
    let (_d, p) = setup(
        &three_releases(
            "\n[matrix.policy]\nsupported = 2\nupgrades = \"adjacent\"\nscenarios = [\"upgrade\"]\n\
             unpromised = [\"upgrade\"]",
        ),
        &good_scenarios(),
    );
    let plan = plan::expand(&model::load(&p).unwrap());
    let mut paths: Vec<(String, bool)> = plan
        .trials
        .iter()
        .filter(|t| t.scenario == "upgrade")
        .map(|t| (t.id.clone(), t.unpromised))
        .collect();
    paths.sort();
    // Supported: 1.9 and 1.10; promised: 1.9 → 1.10; 1.0 → 1.10 is listed, so it runs as listed.
    assert_eq!(
        paths,
        vec![
            ("demo/upgrade/1.0-to-1.10".to_string(), false),
            ("demo/upgrade/1.0-to-1.9".to_string(), true),
            ("demo/upgrade/1.9-to-1.10".to_string(), false),
        ]
    );
    assert!(plan.to_string().contains(
        "demo/upgrade/1.0-to-1.9\n    negative: the policy does not promise this upgrade"
    ));
}

/// A drawn plan (with its inserted faults), an explored order and a multi-hop path, written as
/// scenario files and read back, plan into the same steps: what `shrink` writes and `run
/// --scenario-file` replays is the plan.
#[test]
fn a_trial_written_as_a_scenario_file_plans_back_into_the_same_steps() {
    let dir = tempfile::tempdir().unwrap();
    for (matrix, pick) in [
        ("nightly.toml", "/random-2026-"),
        ("etcd.toml", "/random-2026-"),
        ("orders.toml", "/order=agent,master,executor,scheduler"),
        ("orders.toml", "-via-0.23"),
        ("matrix.toml", "tinymesos/rollback/0.22-to-0.23"),
    ] {
        let m = model::load(&workspace().join(matrix)).unwrap();
        let p = plan::expand_checked(&m).unwrap();
        let picked: Vec<&plan::Trial> = p.trials.iter().filter(|t| t.id.contains(pick)).collect();
        assert!(
            !picked.is_empty(),
            "no trial of {matrix} has `{pick}` in its id"
        );
        if pick.contains("random") {
            assert!(
                picked.iter().any(|t| t.steps.iter().any(|s| s.fault)),
                "no drawn plan of {matrix} has an inserted fault to write back"
            );
        }
        for t in picked {
            let steps: Vec<&plan::PlannedStep> = t.steps.iter().collect();
            let text = t.scenario_file(&m, "replayed", "a comment\non two lines", &steps);
            assert!(text.starts_with("# a comment\n# on two lines\n"), "{text}");
            let file = dir.path().join("replayed.toml");
            std::fs::write(&file, &text).unwrap();
            let f = model::load_scenario_file(&m, &file)
                .unwrap_or_else(|e| panic!("{}: {e:?}\n{text}", t.id));
            let back = plan::file_trial(&m, &f);
            let describe =
                |t: &plan::Trial| -> Vec<String> { t.steps.iter().map(|s| s.describe()).collect() };
            assert_eq!(describe(&back), describe(t), "{}", t.id);
            assert_eq!(back.start, t.start, "{}", t.id);
        }
    }
}

/// Three members of one cluster written as roles `a`, `b` (like a) and `c` (like a), and a client.
const MEMBERS: &str = r#"
[system]
name = "ring"
releases = ["1.0", "1.1", "1.2"]
scenarios = "scenarios"

[roles.a]
image = "demo/node:{release}"
command = ["serve", "--id", "{role}"]

[roles.b]
like = "a"

[roles.c]
like = "a"

[roles.client]
image = "demo/client:{release}"

[matrix]
vary = ["a", "b", "c"]
fixed = { client = "1.0" }
interchangeable = [["a", "b", "c"]]
scenarios = ["basic"]

[[matrix.paths]]
from = "1.0"
to = "1.1"
scenarios = ["upgrade"]
orders = "all"
"#;

const MEMBERS_BASIC: &str = "kind = \"cell\"\n[[step]]\ndo = \"start\"\n";

const MEMBERS_UPGRADE: &str = r#"
kind = "path"
[[step]]
do = "start"
[[step]]
do = "upgrade"
role = "a"
[[step]]
do = "upgrade"
role = "b"
[[step]]
do = "upgrade"
role = "c"
[[step]]
do = "upgrade"
role = "client"
"#;

/// Interchangeable members: of the cells that differ only by which member holds which release, one
/// runs (a <= b <= c: 10 of 27 over three releases), `plan --explain` says what the group removed,
/// and of the 24 orders of four roles, the 4 that move the members in their order (where the
/// client goes among them).
#[test]
fn interchangeable_members_keep_one_cell_and_one_order_of_each_permutation() {
    let (_d, p) = setup(
        MEMBERS,
        &[
            ("basic.toml", MEMBERS_BASIC),
            ("upgrade.toml", MEMBERS_UPGRADE),
        ],
    );
    let plan = plan::expand_checked(&model::load(&p).unwrap()).unwrap();
    let cells: Vec<&str> = plan
        .trials
        .iter()
        .filter(|t| t.scenario == "basic")
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(cells.len(), 10, "{cells:#?}");
    assert!(cells.contains(&"ring/basic/a=1.0,b=1.1,c=1.2"));
    assert!(!cells.contains(&"ring/basic/a=1.1,b=1.0,c=1.2"));
    let orders: Vec<&str> = plan
        .trials
        .iter()
        .filter(|t| t.scenario == "upgrade")
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(
        orders,
        [
            "ring/upgrade/1.0-to-1.1/order=a,b,c,client",
            "ring/upgrade/1.0-to-1.1/order=a,b,client,c",
            "ring/upgrade/1.0-to-1.1/order=a,client,b,c",
            "ring/upgrade/1.0-to-1.1/order=client,a,b,c",
        ]
    );
    let out = Command::new(env!("CARGO_BIN_EXE_crossgrade"))
        .args(["plan", "--explain", "-f"])
        .arg(&p)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with("10 cells: the product's 27, less 17 that 2 rules remove\n"),
        "{text}"
    );
    assert!(
        text.contains("rule `a <= b (interchangeable: a, b, c)` (")
            && text.contains("matrix.toml:23:20) removes 9 cells:"),
        "{text}"
    );
}

/// A group names roles that vary, each once, and has two or more.
#[test]
fn interchangeable_groups_are_checked_with_positions() {
    let bad = MEMBERS.replace(
        r#"interchangeable = [["a", "b", "c"]]"#,
        r#"interchangeable = [["a", "client", "x"], ["b", "a"], ["c"]]"#,
    );
    let errs = errors(
        &bad,
        &[
            ("basic.toml", MEMBERS_BASIC),
            ("upgrade.toml", MEMBERS_UPGRADE),
        ],
    );
    assert_error(&errs, "matrix.toml", "23:26", "role `client` does not vary");
    assert_error(&errs, "matrix.toml", "23:36", "unknown role `x`");
    assert_error(
        &errs,
        "matrix.toml",
        "23:48",
        "role `a` is in two interchangeable groups",
    );
    assert_error(&errs, "matrix.toml", "23:54", "needs two roles or more");
}

/// `orders = "all"` runs every order of the roles a scenario moves, each once, the scenario's own
/// marked; `via` runs the moves once per hop.
#[test]
fn orders_are_every_permutation_once_and_via_moves_every_role_per_hop() {
    let m = model::load(&workspace().join("orders.toml")).unwrap();
    let p = plan::expand_checked(&m).unwrap();
    let orders: Vec<&plan::Trial> = p
        .trials
        .iter()
        .filter(|t| {
            t.id.starts_with("tinymesos/rolling-upgrade/0.22-to-0.23/order=")
        })
        .collect();
    assert_eq!(orders.len(), 24);
    let mut seen: Vec<Vec<String>> = Vec::new();
    for t in &orders {
        let plan::TrialKind::Path { order: Some(o), .. } = &t.kind else {
            panic!("an order trial: {}", t.id)
        };
        assert!(!seen.contains(&o.roles), "{:?} twice", o.roles);
        seen.push(o.roles.clone());
        assert_eq!(
            o.documented,
            o.roles == ["master", "agent", "executor", "scheduler"]
        );
        // The roles move in that order: the first move of each role comes in the order's order.
        let mut first: Vec<String> = Vec::new();
        for s in t.steps.iter().filter(|s| s.is_move()) {
            let role = s.describe().split_whitespace().nth(1).unwrap().to_string();
            if !first.contains(&role) {
                first.push(role);
            }
        }
        assert_eq!(first, o.roles, "{}", t.id);
    }
    let via = p
        .trials
        .iter()
        .find(|t| t.id == "tinymesos/rolling-upgrade/0.22-to-0.24-via-0.23")
        .expect("the multi-hop trial");
    let moves: Vec<String> = via
        .steps
        .iter()
        .filter(|s| s.is_move())
        .map(|s| s.describe())
        .collect();
    // 3 masters, an agent, an executor and a scheduler: 6 moves per hop, to 0.23 then to 0.24.
    assert_eq!(moves.len(), 12, "{moves:#?}");
    assert!(
        moves[..6].iter().all(|m| m.contains("to 0.23")),
        "{moves:#?}"
    );
    assert!(
        moves[6..].iter().all(|m| m.contains("to 0.24")),
        "{moves:#?}"
    );
}
