//! Risk from the API definitions, on the repository's tinymesos matrices: the plan ordered
//! riskiest first, diffs computed once per interface and release pair, and the trials a release
//! pair puts at risk (issue 17).

use std::path::{Path, PathBuf};
use std::process::Command;

use crossgrade::model;
use crossgrade::plan;
use crossgrade::risk::{self, Api};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn the_plan_is_ordered_riskiest_first_and_uniform_cells_are_last() {
    let m = model::load(&workspace().join("matrix.toml")).unwrap();
    let plan = plan::expand(&m);
    let mut api = Api::load(&m).unwrap().expect("matrix.toml has [api]");
    let predictions = api.predict_all(&m, &plan.trials);
    let ordered = risk::ordered(&plan.trials, &predictions);
    let keys: Vec<(usize, usize)> = ordered
        .iter()
        .map(|(_, p)| p.map_or((0, 0), |p| (p.counts.breaking, p.counts.risky)))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted, "by breaking, then risky findings");
    let last: Vec<&str> = ordered[ordered.len() - 2..]
        .iter()
        .map(|(t, _)| t.id.as_str())
        .collect();
    assert_eq!(
        last,
        [
            "tinymesos/basic/master=0.22,agent=0.22,executor=0.22,scheduler=0.22",
            "tinymesos/basic/master=0.23,agent=0.23,executor=0.23,scheduler=0.23"
        ],
        "a cell whose roles all run one release exchanges nothing between releases"
    );
    // A rolling upgrade meets the old and the new master after its first move, not before.
    let rolling = &predictions["tinymesos/rolling-upgrade/0.22-to-0.23"];
    assert!(rolling.exposures.iter().all(|e| e.step > 0), "{rolling:?}");
    assert!(rolling
        .exposures
        .iter()
        .any(|e| e.from == "master" && e.to == "master" && e.sender == "0.23"));
    // The known failure: a 0.23 scheduler's calls to a 0.22 master.
    let known = &predictions["tinymesos/basic/master=0.22,agent=0.22,executor=0.22,scheduler=0.23"];
    assert!(known.at_risk());
    assert!(known
        .exposures
        .iter()
        .any(|e| e.label() == "scheduler 0.23 → master 0.22" && e.counts.breaking > 0));
}

#[test]
fn a_plan_of_many_cells_costs_one_diff_per_interface_and_release_pair() {
    let m = model::load(&workspace().join("nightly.toml")).unwrap();
    let plan = plan::expand(&m);
    let mut api = Api::load(&m).unwrap().unwrap();
    // Every trial twice: the second time is all cache.
    api.predict_all(&m, &plan.trials);
    let first = api.diffs_computed();
    api.predict_all(&m, &plan.trials);
    assert_eq!(api.diffs_computed(), first);
    let releases = m.releases.len();
    assert!(first <= api.interfaces().len() * releases * (releases - 1));
}

#[test]
fn api_diff_cells_names_the_trials_where_two_releases_meet() {
    let out = Command::new(env!("CARGO_BIN_EXE_crossgrade"))
        .current_dir(workspace())
        .args(["api-diff", "--cells", "0.22", "0.23", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "crossgrade.api-risk/v1");
    let pair = v["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["from"] == "scheduler" && p["to"] == "master" && p["old"] == "0.23")
        .expect("scheduler 0.23 → master 0.22");
    let trials: Vec<&str> = pair["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(trials.len(), 4, "{trials:?}");
    assert!(trials
        .iter()
        .all(|t| t.contains("master=0.22") && t.contains("scheduler=0.23")));
    assert!(pair["counts"]["breaking"].as_u64().unwrap() > 0);
}
