//! The linearizability checker against recorded histories with known verdicts (`shared/histories`,
//! beside the project root: Jepsen's etcd register and a key-value store, porcupine's test data),
//! hand-made histories with the cases that matter, and `crossgrade history check`'s exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crossgrade::history::{
    self, check, Call, CheckOptions, Format, History, ModelKind, Operation, Outcome, Return,
    Verdict, KV, REGISTER,
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
