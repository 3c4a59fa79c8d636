//! The linearizability checker against recorded histories with known verdicts (`shared/histories`,
//! beside the project root: Jepsen's etcd register and a key-value store, porcupine's test data),
//! hand-made histories with the cases that matter, and `crossgrade history check`'s exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crossgrade::history::{
    self, check, Call, CheckOptions, History, ModelKind, Operation, Outcome, Return, Verdict, KV,
    REGISTER,
};

/// `shared/histories`, beside the project root (CI clones have `../shared` beside it too).
fn shared() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/histories");
    assert!(
        dir.is_dir(),
        "the recorded histories are not at {} (the project root's sibling `shared/histories`)",
        dir.display()
    );
    dir
}

/// Every history of a `shared/histories` folder, with whether its expected.tsv says it is
/// linearizable.
fn expected(dir: &str) -> Vec<(PathBuf, bool)> {
    let dir = shared().join(dir);
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let rows: Vec<_> = tsv
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (file, verdict) = l.split_once('\t').unwrap();
            let linearizable = match verdict.trim() {
                "linearizable" => true,
                "not-linearizable" => false,
                other => panic!("expected.tsv: {other:?}"),
            };
            (dir.join(file), linearizable)
        })
        .collect();
    // Every history in the folder has a verdict, so none is silently left out.
    let listed = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != "expected.tsv")
        .count();
    assert_eq!(
        listed,
        rows.len(),
        "files in {} without a verdict",
        dir.display()
    );
    rows
}

/// Checks every history of `dir`, printing each one's time; all verdicts must agree.
fn agree(dir: &str, model: ModelKind) {
    let mut wrong = Vec::new();
    let mut slowest = Duration::ZERO;
    let rows = expected(dir);
    for (path, linearizable) in &rows {
        let h = history::load(path, None).unwrap();
        let started = Instant::now();
        let c = model.check(&h, CheckOptions::default()).unwrap();
        let took = started.elapsed();
        slowest = slowest.max(took);
        let got = matches!(c.verdict, Verdict::Linearizable);
        assert!(!matches!(c.verdict, Verdict::Unknown(_)));
        println!(
            "{}: {} ({} ops, {} steps, {took:?})",
            path.display(),
            if got {
                "linearizable"
            } else {
                "not linearizable"
            },
            c.ops,
            c.steps
        );
        if got != *linearizable {
            wrong.push(path.display().to_string());
        }
    }
    println!(
        "{dir}: {} of {} agree, slowest {slowest:?}",
        rows.len() - wrong.len(),
        rows.len()
    );
    assert!(
        wrong.is_empty(),
        "verdicts that disagree with expected.tsv: {wrong:?}"
    );
}

#[test]
fn every_jepsen_etcd_history_gets_its_known_verdict() {
    agree("jepsen-etcd", ModelKind::Register);
}

#[test]
fn every_kv_history_gets_its_known_verdict() {
    agree("kv", ModelKind::Kv);
}

fn w(client: u64, invoke: u64, complete: u64, v: &str) -> Operation {
    op(
        client,
        invoke,
        Some(complete),
        Call::Write(v.into()),
        Outcome::Ok(Return::Done),
    )
}

fn r(client: u64, invoke: u64, complete: u64, v: Option<&str>) -> Operation {
    let ret = Return::Value(v.map(str::to_string));
    op(client, invoke, Some(complete), Call::Read, Outcome::Ok(ret))
}

fn op(client: u64, invoke: u64, complete: Option<u64>, call: Call, outcome: Outcome) -> Operation {
    Operation {
        client,
        invoke,
        complete,
        key: None,
        call,
        outcome,
    }
}

fn verdict(ops: Vec<Operation>) -> Verdict {
    check(&REGISTER, &History::from(ops), CheckOptions::default())
        .unwrap()
        .verdict
}

#[test]
fn a_stale_read_is_not_linearizable_and_its_window_shows_it() {
    // 1 is written, then 2, and only after both a read sees 1.
    let Verdict::NotLinearizable(v) = verdict(vec![
        w(0, 0, 10, "1"),
        w(1, 20, 30, "2"),
        r(2, 40, 50, Some("1")),
    ]) else {
        panic!("a stale read passed")
    };
    assert_eq!((v.key, v.linearized, v.ops_in_key), (None, 2, 3));
    assert_eq!(v.state, "\"2\"");
    assert_eq!(v.stuck, r(2, 40, 50, Some("1")));
    // The write whose effect the state shows, and the read that cannot follow it.
    assert_eq!(v.window, [w(1, 20, 30, "2"), r(2, 40, 50, Some("1"))]);
}

#[test]
fn concurrent_operations_may_take_effect_in_either_order() {
    // The read overlaps both writes, so it may see either, or nothing yet.
    for seen in [Some("1"), Some("2"), None] {
        let ops = vec![w(0, 0, 10, "1"), w(1, 5, 20, "2"), r(2, 8, 30, seen)];
        assert_eq!(verdict(ops), Verdict::Linearizable, "{seen:?}");
    }
    // Two reads that disagree on the order of the writes cannot both be right.
    let ops = vec![
        w(0, 0, 10, "1"),
        w(1, 0, 10, "2"),
        r(2, 20, 30, Some("1")),
        r(3, 40, 50, Some("2")),
    ];
    assert!(matches!(verdict(ops), Verdict::NotLinearizable(_)));
}

#[test]
fn an_unknown_outcome_may_have_taken_effect_or_not() {
    let lost = |client, invoke| {
        op(
            client,
            invoke,
            None,
            Call::Write("9".into()),
            Outcome::Unknown,
        )
    };
    // Seen much later: it took effect (after its invoke, at any time).
    assert_eq!(
        verdict(vec![
            w(0, 0, 10, "1"),
            lost(1, 5),
            r(2, 100, 110, Some("9"))
        ]),
        Verdict::Linearizable
    );
    // Never seen: it did not (or not yet).
    assert_eq!(
        verdict(vec![
            w(0, 0, 10, "1"),
            lost(1, 5),
            r(2, 100, 110, Some("1"))
        ]),
        Verdict::Linearizable
    );
    // But not before it was invoked.
    assert!(matches!(
        verdict(vec![r(2, 0, 3, Some("9")), lost(1, 5)]),
        Verdict::NotLinearizable(_)
    ));
    // A failed write never took effect; a read with an unknown outcome constrains nothing.
    let failed = op(1, 5, Some(6), Call::Write("9".into()), Outcome::Fail);
    assert!(matches!(
        verdict(vec![failed, r(2, 100, 110, Some("9"))]),
        Verdict::NotLinearizable(_)
    ));
    let timed_out = op(3, 0, Some(50), Call::Read, Outcome::Unknown);
    assert_eq!(
        verdict(vec![timed_out, r(2, 100, 110, None)]),
        Verdict::Linearizable
    );
}

#[test]
fn cas_results_constrain_the_order() {
    let cas = |client, invoke, complete, e: &str, n: &str, held| {
        let call = Call::Cas {
            expected: e.into(),
            new: n.into(),
        };
        op(
            client,
            invoke,
            Some(complete),
            call,
            Outcome::Ok(Return::Cas(held)),
        )
    };
    assert_eq!(
        verdict(vec![
            w(0, 0, 10, "1"),
            cas(1, 20, 30, "1", "2", true),
            r(2, 40, 50, Some("2"))
        ]),
        Verdict::Linearizable
    );
    // A compare that failed although nothing else could have changed the value.
    assert!(matches!(
        verdict(vec![w(0, 0, 10, "1"), cas(1, 20, 30, "1", "2", false)]),
        Verdict::NotLinearizable(_)
    ));
}

#[test]
fn keys_are_checked_apart_and_the_failing_one_is_named() {
    let kv = |client, invoke, complete, key: &str, call, ret| Operation {
        client,
        invoke,
        complete: Some(complete),
        key: Some(key.into()),
        call,
        outcome: Outcome::Ok(ret),
    };
    let got = |v: &str| Return::Value(Some(v.into()));
    let h = History::from(vec![
        kv(0, 0, 10, "a", Call::Append("x".into()), Return::Done),
        kv(1, 0, 10, "b", Call::Put("y".into()), Return::Done),
        kv(2, 20, 30, "b", Call::Get, got("y")),
        kv(3, 20, 30, "a", Call::Get, got("xx")),
    ]);
    let c = check(&KV, &h, CheckOptions::default()).unwrap();
    let Verdict::NotLinearizable(v) = c.verdict else {
        panic!("{c:?}")
    };
    assert_eq!(v.key.as_deref(), Some("a"));
    assert!(v.window.iter().all(|o| o.key.as_deref() == Some("a")));
    // The wrong model is an error, not a verdict.
    assert!(ModelKind::Register
        .check(&h, CheckOptions::default())
        .is_err());
}

#[test]
fn the_step_budget_gives_up_with_unknown() {
    let h = history::load(&shared().join("jepsen-etcd/etcd_002.log"), None).unwrap();
    let c = ModelKind::Register
        .check(
            &h,
            CheckOptions {
                max_steps: Some(100),
            },
        )
        .unwrap();
    assert!(matches!(c.verdict, Verdict::Unknown(_)), "{:?}", c.verdict);
    assert_eq!(c.steps, 100);
}

/// `crossgrade ARGS`: (exit code, stdout, stderr).
fn crossgrade(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crossgrade"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_exits_0_1_2() {
    let etcd = shared().join("jepsen-etcd");
    let ok = etcd.join("etcd_002.log");
    let bad = etcd.join("etcd_000.log");
    let (code, out, _) = crossgrade(&[
        "history",
        "check",
        "--model",
        "register",
        ok.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("etcd_002.log: linearizable (77 ops, "),
        "{out}"
    );

    let (code, out, _) = crossgrade(&[
        "history",
        "check",
        "--model",
        "register",
        ok.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.contains("etcd_000.log: not linearizable: key (the register), window of "),
        "{out}"
    );

    let kv = shared().join("kv/c01-ok.txt");
    let (code, out, _) = crossgrade(&[
        "history",
        "check",
        "--model",
        "kv",
        "--format",
        "jepsen-kv",
        kv.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");

    // Own format, detected; a bad line is named with its file and number, and nothing is checked.
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.jsonl");
    std::fs::write(
        &good,
        "{\"client\":0,\"invoke\":1,\"complete\":2,\"f\":\"write\",\"value\":3,\"outcome\":\"ok\"}\n\
         {\"client\":1,\"invoke\":3,\"complete\":4,\"f\":\"read\",\"outcome\":\"ok\",\"result\":\"3\"}\n",
    )
    .unwrap();
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(
        &broken,
        "{\"client\":0,\"invoke\":1,\"complete\":2,\"f\":\"write\",\"value\":3,\"outcome\":\"ok\"}\n\n{\"client\":1,\"invoke\":3,\"f\":\"read\"}\n",
    )
    .unwrap();
    let (code, out, _) = crossgrade(&[
        "history",
        "check",
        "--model",
        "register",
        good.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out, err) = crossgrade(&[
        "history",
        "check",
        "--model",
        "register",
        good.to_str().unwrap(),
        broken.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("broken.jsonl:3: no `outcome`"), "{err}");
    assert!(err.contains("help:"), "{err}");

    // Unreadable, of no format, or of the other model: 2 as well.
    let missing = dir.path().join("missing.jsonl");
    let (code, _, err) = crossgrade(&[
        "history",
        "check",
        "--model",
        "kv",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read"), "{err}");
    let prose = dir.path().join("prose.txt");
    std::fs::write(&prose, "hello\n").unwrap();
    let (code, _, err) =
        crossgrade(&["history", "check", "--model", "kv", prose.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--format"), "{err}");
    let (code, _, err) = crossgrade(&["history", "check", "--model", "kv", ok.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is --model right?"), "{err}");
}
