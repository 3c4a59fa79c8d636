//! The static API checks (issue 17): each rule on a small hand-written pair of releases under
//! `fixtures/api/`, the errors a bad file gives (file:line:column, exit 2), the real Mesos `.proto`
//! files of every release under `apis/mesos/`, and the findings between Mesos 0.22.0 and 0.23.0 as a
//! snapshot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crossgrade::api::{
    self, ApiError, ApiSource, Counts, FieldType, Finding, History, Rule, Schema, Scope, Severity,
};

mod common;
use common::*;

fn case(name: &str) -> PathBuf {
    fixture("api").join(name)
}

fn load(dir: &Path) -> Schema {
    api::load(&ApiSource::dir(dir)).unwrap_or_else(|e| panic!("{dir:?}: {e:?}"))
}

fn diff_case(name: &str) -> Vec<Finding> {
    let old = load(&case(name).join("old"));
    let new = load(&case(name).join("new"));
    api::diff(&old, &new, &Scope::all())
}

/// The one finding of `rule` about `subject`.
fn one<'a>(findings: &'a [Finding], rule: Rule, subject: &str) -> &'a Finding {
    let hits: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.rule == rule && f.subject == subject)
        .collect();
    assert_eq!(hits.len(), 1, "{rule} on {subject} in {findings:#?}");
    hits[0]
}

fn lines(f: &Finding) -> (u32, u32) {
    (
        f.old.as_ref().map_or(0, |l| l.line),
        f.new.as_ref().map_or(0, |l| l.line),
    )
}

#[test]
fn a_removed_field_is_breaking_with_both_sides_located() {
    let all = diff_case("fields");
    let f = one(&all, Rule::FieldRemoved, "shop.Removed");
    assert_eq!(f.severity, Severity::Breaking);
    assert_eq!((f.wire, f.json), (Severity::Risky, Severity::Breaking));
    assert!(f.message.contains("`gone` = 2"), "{}", f.message);
    // The field in the old file; the message that no longer has it in the new one.
    assert_eq!(lines(f), (8, 6));
    let old = f.old.as_ref().unwrap();
    assert!(old.path.ends_with("fields/old/shop.proto"), "{old}");
    assert_eq!(old.column, 3);
    assert!(f
        .new
        .as_ref()
        .unwrap()
        .path
        .ends_with("fields/new/shop.proto"));
}

#[test]
fn a_renamed_field_is_wire_compatible_but_json_breaking() {
    let all = diff_case("fields");
    let f = one(&all, Rule::FieldRenamed, "shop.Renamed");
    assert_eq!((f.wire, f.json), (Severity::Compatible, Severity::Breaking));
    assert_eq!(f.severity, Severity::Breaking);
    assert!(f.message.contains("`newName`"), "JSON names: {}", f.message);
    assert_eq!(lines(f), (12, 11));
    // Not also reported as a removal and an addition.
    assert!(!all
        .iter()
        .any(|f| f.subject == "shop.Renamed" && f.rule != Rule::FieldRenamed));
}

#[test]
fn a_renumbered_field_breaks_the_wire_not_json() {
    let all = diff_case("fields");
    let f = one(&all, Rule::FieldRenumbered, "shop.Renumbered");
    assert_eq!(
        (f.wire, f.json),
        (
            Severity::Compatible.max(Severity::Breaking),
            Severity::Compatible
        )
    );
    assert!(f.message.contains("1 → 2"), "{}", f.message);
}

#[test]
fn a_new_required_field_is_breaking_and_a_new_optional_one_compatible() {
    let all = diff_case("fields");
    let f = one(&all, Rule::RequiredFieldAdded, "shop.RequiredAdded");
    assert_eq!((f.wire, f.json), (Severity::Breaking, Severity::Breaking));
    let f = one(&all, Rule::FieldAdded, "shop.OptionalAdded");
    assert_eq!(f.severity, Severity::Compatible);
    assert!(f.message.contains("`extra` = 2"), "{}", f.message);
}

#[test]
fn int32_to_int64_is_wire_compatible_but_json_breaking() {
    let all = diff_case("fields");
    let f = one(&all, Rule::TypeChanged, "shop.Widened");
    assert_eq!((f.wire, f.json), (Severity::Compatible, Severity::Breaking));
    assert!(f.message.contains("int32 → int64"), "{}", f.message);
}

#[test]
fn a_number_given_to_another_field_of_another_wire_type_is_reuse() {
    let all = diff_case("fields");
    let f = one(&all, Rule::NumberReused, "shop.Reused");
    assert_eq!((f.wire, f.json), (Severity::Breaking, Severity::Breaking));
    assert!(!all
        .iter()
        .any(|f| f.rule == Rule::FieldRenamed && f.subject == "shop.Reused"));
}

#[test]
fn label_changes_are_judged_by_direction() {
    let all = diff_case("fields");
    let labels: BTreeMap<String, (Severity, Severity)> = all
        .iter()
        .filter(|f| f.rule == Rule::LabelChanged && f.subject == "shop.Relabelled")
        .map(|f| {
            (
                f.message.split('`').nth(3).unwrap_or("").to_string(),
                (f.wire, f.json),
            )
        })
        .collect();
    assert_eq!(
        labels["a"],
        (Severity::Breaking, Severity::Breaking),
        "optional → required"
    );
    assert_eq!(
        labels["b"],
        (Severity::Risky, Severity::Risky),
        "required → optional"
    );
    assert_eq!(
        labels["c"],
        (Severity::Risky, Severity::Breaking),
        "optional → repeated"
    );
}

#[test]
fn enum_values_removed_and_added() {
    let all = diff_case("fields");
    let f = one(&all, Rule::EnumValueRemoved, "shop.Colour");
    assert_eq!(f.severity, Severity::Breaking);
    assert!(f.message.contains("`BLUE` = 3"), "{}", f.message);
    let f = one(&all, Rule::EnumValueAdded, "shop.Colour");
    assert_eq!(f.severity, Severity::Compatible);
}

#[test]
fn calls_and_events_are_the_values_of_call_type_and_event_type() {
    let all = diff_case("calls");
    let removed = one(&all, Rule::CallRemoved, "api.v1.Call.Type");
    assert!(
        removed.message.contains("`TEARDOWN`"),
        "{}",
        removed.message
    );
    assert_eq!(removed.severity, Severity::Breaking);
    let renamed = one(&all, Rule::CallRenamed, "api.v1.Call.Type");
    assert_eq!(
        (renamed.wire, renamed.json),
        (Severity::Compatible, Severity::Breaking)
    );
    assert!(
        renamed.message.contains("`DECLINE` → `REFUSE`"),
        "{}",
        renamed.message
    );
    let added = one(&all, Rule::CallAdded, "api.v1.Call.Type");
    assert_eq!(added.severity, Severity::Compatible);
    let renumbered = one(&all, Rule::EnumValueRenumbered, "api.v1.Event.Type");
    assert_eq!(
        (renumbered.wire, renumbered.json),
        (Severity::Breaking, Severity::Compatible)
    );
    // The most important first: a removed call.
    assert_eq!(all[0].rule, Rule::CallRemoved);
}

#[test]
fn a_scope_keeps_the_named_messages_and_what_they_reach() {
    let old = load(&case("fields/old"));
    let new = load(&case("fields/new"));
    let only = api::diff(&old, &new, &Scope::names(["shop.Widened"]));
    assert!(!only.is_empty() && only.iter().all(|f| f.subject == "shop.Widened"));
    let package = api::diff(&old, &new, &Scope::names(["shop"]));
    assert_eq!(package.len(), api::diff(&old, &new, &Scope::all()).len());
    let calls_old = load(&case("calls/old"));
    let calls_new = load(&case("calls/new"));
    let reach = api::diff(
        &calls_old,
        &calls_new,
        &Scope::names(["api.v1.Call"]).with_reachable(),
    );
    assert!(reach.iter().any(|f| f.subject == "api.v1.Call.Type"));
    assert!(reach.iter().all(|f| f.subject.starts_with("api.v1.Call")));
}

#[test]
fn a_package_move_is_one_finding_and_types_follow_it() {
    let all = diff_case("moves");
    let f = one(&all, Rule::PackageMoved, "sys.master");
    assert_eq!(f.severity, Severity::Risky);
    assert!(f.message.contains("`sys.allocator`"), "{}", f.message);
    assert!(
        !all.iter()
            .any(|f| matches!(f.rule, Rule::MessageRemoved | Rule::TypeChanged)),
        "a moved type is the same type: {all:#?}"
    );
}

#[test]
fn a_deprecated_field_removed_before_the_grace_period_is_a_finding() {
    let dir = case("history");
    let (history, from, to) = api::load_history(&dir.join("1.1"), &dir.join("1.2")).unwrap();
    assert_eq!((from, to), (1, 2));
    let deprecated = api::deprecated(&history.releases[1].1);
    assert_eq!(deprecated.len(), 1);
    assert_eq!(deprecated[0].name, "svc.Info.host");
    let early = history.grace_findings(from, to, 2, &Scope::all());
    assert_eq!(early.len(), 1, "{early:#?}");
    assert_eq!(early[0].rule, Rule::DeprecationGrace);
    assert_eq!(
        lines(&early[0]),
        (7, 5),
        "the field in 1.1, its message in 1.2"
    );
    assert!(
        early[0]
            .message
            .contains("after 1 release deprecated (since 1.1"),
        "{}",
        early[0].message
    );
    assert!(
        history
            .grace_findings(from, to, 1, &Scope::all())
            .is_empty(),
        "grace 1 is kept"
    );
    // The removal itself says it was deprecated.
    let removal = api::diff(
        &history.releases[1].1,
        &history.releases[2].1,
        &Scope::all(),
    );
    assert!(
        removal[0].message.contains("it was deprecated"),
        "{}",
        removal[0].message
    );
    let _: &History = &history;
}

#[test]
fn import_roots_are_found_from_the_imports() {
    let s = load(&case("roots"));
    // `include/` is a root because a file imports `lib/types.proto` from it; nothing imports from
    // `src/`, so its file keeps its name below the folder.
    assert_eq!(s.files, ["lib/types.proto", "src/internal/messages.proto"]);
    let hello = &s.messages["lib.internal.Hello"];
    assert_eq!(hello.fields[0].ty, FieldType::Message("lib.Id".into()));
    assert_eq!(
        hello.fields[1].ty,
        FieldType::Enum("lib.internal.Hello.Kind".into())
    );
    assert_eq!(hello.fields[0].json_name, "id");
}

/// The first positioned error of a load that fails.
fn error_of(dir: &Path) -> String {
    match api::load(&ApiSource::dir(dir)) {
        Ok(_) => panic!("{dir:?} loaded"),
        Err(ApiError::Invalid(e)) => {
            assert_eq!(e.errors.len(), 1);
            let m = &e.errors[0];
            assert!(m.help.is_some(), "a hint: {m:?}");
            m.to_string()
        }
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn a_file_that_does_not_parse_names_its_line_and_column() {
    let e = error_of(&case("bad-syntax"));
    assert!(e.contains("bad-syntax/broken.proto:7:3: "), "{e}");
    let e = error_of(&case("undefined-type"));
    assert!(
        e.contains("undefined-type/a.proto:6:3: type `Missing` is not defined"),
        "{e}"
    );
    let e = error_of(&case("missing-import"));
    assert!(
        e.contains("missing-import/a.proto:3:1: import 'nowhere/b.proto' not found"),
        "{e}"
    );
}

#[test]
fn the_cli_exits_2_on_a_bad_file_and_0_on_findings() {
    let out = crossgrade()
        .arg("api-diff")
        .arg(case("bad-syntax"))
        .arg(case("fields/new"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.proto:7:3"), "{stderr}");

    let out = crossgrade()
        .arg("api-diff")
        .arg(case("fields/old"))
        .arg(case("fields/new"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("breaking ("), "{stdout}");
    let last = stdout.trim_end().lines().last().unwrap();
    assert!(
        last.ends_with(": 9 breaking, 1 risky, 2 compatible"),
        "{last}"
    );
    assert!(stdout.contains("shop.proto:8:3"), "{stdout}");

    let out = crossgrade()
        .args(["api-diff", "--deny", "breaking", "--format", "json"])
        .arg(case("fields/old"))
        .arg(case("fields/new"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], "crossgrade.api-diff/v1");
    assert_eq!(json["findings"][0]["severity"], "breaking");
    assert!(json["findings"][0]["old"]["line"].as_u64().is_some());

    let out = crossgrade()
        .args(["api-diff", "--format", "markdown", "--grace", "3"])
        .arg(case("history/1.1"))
        .arg(case("history/1.2"))
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{md}");
    assert!(md.contains("| `deprecation.grace` |"), "{md}");
}

/// `api-check` on captured v1 calls against the real Mesos 1.0 definitions: a conforming call, one
/// that sets ExecutorInfo's `source` (deprecated since 1.0), one with a key Mesos does not define;
/// and its bad input (a line that is not JSON, a message type the release does not define).
#[test]
fn api_check_names_nonconforming_and_deprecated_use_by_file_and_line() {
    let defs = workspace().join("apis/mesos/1.0.0");
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls.jsonl");
    let executor = r#"{"executor_id": {"value": "e"}, "command": {"value": "x"}, "source": "old"}"#;
    std::fs::write(
        &calls,
        format!(
            "{}\n\n{}\n{}\n",
            r#"{"type": "DECLINE", "framework_id": {"value": "F"}, "decline": {"offer_ids": [{"value": "O"}]}}"#,
            r#"{"type": "ACCEPT", "framework_id": {"value": "F"}, "accept": {"offer_ids": [], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "S"}, "executor": EXECUTOR}]}}]}}"#
                .replace("EXECUTOR", executor),
            r#"{"type": "DECLINE", "framework_id": {"value": "F"}, "slave_id": {"value": "S"}}"#,
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let out = crossgrade()
            .arg("api-check")
            .arg(&defs)
            .args(["--message", "mesos.v1.scheduler.Call"])
            .args(extra)
            .arg(&calls)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let at = |line: usize| format!("{}:{line}: ", calls.display());
    assert!(
        stdout.contains(&format!(
            "{}uses deprecated: accept.operations[0].launch.task_infos[0].executor.source: field `source` of mesos.v1.ExecutorInfo is deprecated: [deprecated = true] at ",
            at(3)
        )),
        "{stdout}"
    );
    assert!(stdout.contains("mesos.proto:497:"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{}does not conform: slave_id: mesos.v1.scheduler.Call has no field `slave_id`",
            at(4)
        )),
        "{stdout}"
    );
    assert!(!stdout.contains(&at(1)), "line 1 conforms: {stdout}");
    let last = stdout.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("3 messages of mesos.v1.scheduler.Call checked against ")
            && last.ends_with(": 1 do not conform, 1 uses of deprecated parts"),
        "{last}"
    );

    // Only deprecated use: exit 0 unless denied.
    std::fs::write(&calls, one_accept(executor)).unwrap();
    assert_eq!(run(&[]).0, Some(0));
    assert_eq!(run(&["--deny-deprecated"]).0, Some(1));

    // Bad input: exit 2 with the position, or the names it may have meant.
    std::fs::write(&calls, "{\"type\": \"DECLINE\"}\n{\"type\": \n").unwrap();
    let (code, _, stderr) = run(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("calls.jsonl:2:"), "{stderr}");
    let out = crossgrade()
        .arg("api-check")
        .arg(&defs)
        .args(["--message", "Call"])
        .arg(&calls)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Call is not a message of"), "{stderr}");
    assert!(stderr.contains("mesos.v1.scheduler.Call"), "{stderr}");
}

/// One ACCEPT whose task's executor sets `source`.
fn one_accept(executor: &str) -> String {
    r#"{"type": "ACCEPT", "framework_id": {"value": "F"}, "accept": {"offer_ids": [], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "S"}, "executor": EXECUTOR}]}}]}}"#
        .replace("EXECUTOR", executor)
        + "\n"
}

fn mesos_releases() -> Vec<(String, PathBuf)> {
    let root = workspace().join("apis/mesos");
    let mut r: Vec<(String, PathBuf)> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    r.sort();
    r
}

#[test]
fn the_real_mesos_protos_of_every_release_parse() {
    let releases = mesos_releases();
    assert_eq!(releases.len(), 8, "{releases:?}");
    for (name, dir) in releases {
        let s = load(&dir);
        assert!(
            s.files.iter().any(|f| f == "mesos/mesos.proto"),
            "{name}: {:?}",
            s.files
        );
        assert!(
            s.files
                .iter()
                .any(|f| f.ends_with("messages/messages.proto")),
            "{name}"
        );
        assert!(s.messages.contains_key("mesos.TaskInfo"), "{name}");
        assert!(
            s.messages.contains_key("mesos.internal.StatusUpdate"),
            "{name}"
        );
        // Every named type resolved to a message or an enum of the release.
        for m in s.messages.values() {
            for f in &m.fields {
                if let Some(t) = f.ty.named() {
                    assert!(
                        s.messages.contains_key(t) || s.enums.contains_key(t),
                        "{name}: {}.{} has type {t}",
                        m.full_name,
                        f.name
                    );
                }
            }
        }
    }
}

#[test]
fn mesos_0_22_to_0_23() {
    let releases = mesos_releases();
    let old = load(&releases[0].1);
    let new = load(&releases[1].1);
    let findings = api::diff(&old, &new, &Scope::all());
    let mut by_rule: BTreeMap<(Severity, &str), usize> = BTreeMap::new();
    for f in &findings {
        *by_rule.entry((f.severity, f.rule.id())).or_default() += 1;
    }
    let mut text = format!("{}\n", Counts::of(&findings));
    for ((severity, rule), n) in by_rule.iter().rev() {
        text.push_str(&format!("{severity:<10} {rule:<24} {n}\n"));
    }
    // The v1 scheduler API does not exist yet in 0.23.0: its calls are the old scheduler's.
    let calls = api::diff(
        &old,
        &new,
        &Scope::names(["mesos.scheduler.Call"]).with_reachable(),
    );
    text.push_str(&format!(
        "mesos.scheduler.Call and what it reaches: {}\n",
        Counts::of(&calls)
    ));
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots/api");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!("mesos_0.22.0_0.23.0", text));
}

/// No input panics the loader: every truncation of a real file, and each of its lines dropped or
/// doubled, loads or is an error with a position.
#[test]
fn mangled_files_are_errors_never_panics() {
    let text = std::fs::read_to_string(case("fields/old/shop.proto")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut variants: Vec<String> = (0..text.len())
        .step_by(3)
        .filter(|&i| text.is_char_boundary(i))
        .map(|i| text[..i].to_string())
        .collect();
    for i in 0..lines.len() {
        let mut dropped = lines.clone();
        dropped.remove(i);
        variants.push(dropped.join("\n"));
        let mut doubled = lines.clone();
        doubled.insert(i, lines[i]);
        variants.push(doubled.join("\n"));
    }
    variants.push("message { \u{0} é \"unterminated".into());
    variants.push("syntax = \"proto2\"; message A { optional A.B.C x = 1; }".into());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.proto");
    for v in &variants {
        std::fs::write(&file, v).unwrap();
        match api::load(&ApiSource::dir(dir.path())) {
            Ok(_) => {}
            Err(ApiError::Invalid(e)) => {
                let at = &e.errors[0].location;
                assert!(at.contains("x.proto"), "{at} for {v:?}");
            }
            Err(e) => panic!("{e:?} for {v:?}"),
        }
    }
}
