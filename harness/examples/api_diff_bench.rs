//! The static API checks on Apache Mesos's real `.proto` files (`apis/mesos/<release>`): the time to
//! parse every release and to diff all pairs of them, the counts by severity for each adjacent
//! pair, and the five most important findings of each, with lines.
//!
//! `cargo run --release -p crossgrade --example api_diff_bench`

use std::path::{Path, PathBuf};
use std::time::Instant;

use crossgrade::api::{self, ApiSource, Counts, Finding, History, Scope};

/// The grace period of Mesos's policy before 1.0: six monthly releases.
const GRACE: usize = 6;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace")?
        .to_path_buf();
    let root = workspace.join("apis/mesos");
    let mut releases: Vec<String> = std::fs::read_dir(&root)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    releases.sort_by_key(|r| {
        r.split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    });

    let started = Instant::now();
    let mut schemas = Vec::new();
    for r in &releases {
        let dir = PathBuf::from("apis/mesos").join(r);
        let schema = api::load(&ApiSource::dir(workspace.join(&dir)))?;
        schemas.push((r.clone(), schema));
    }
    let parsed = started.elapsed();

    let started = Instant::now();
    let mut pairs = 0;
    let mut all = 0;
    for i in 0..schemas.len() {
        for j in i + 1..schemas.len() {
            all += api::diff(&schemas[i].1, &schemas[j].1, &Scope::all()).len();
            pairs += 1;
        }
    }
    let diffed = started.elapsed();

    let files: usize = schemas.iter().map(|(_, s)| s.files.len()).sum();
    let messages: usize = schemas.iter().map(|(_, s)| s.messages.len()).sum();
    println!(
        "parsed {} releases ({files} files, {messages} messages) in {:.1} ms",
        schemas.len(),
        parsed.as_secs_f64() * 1e3
    );
    println!(
        "diffed all {pairs} pairs ({all} findings) in {:.1} ms",
        diffed.as_secs_f64() * 1e3
    );

    let history = History::new(schemas.clone());
    let strip = |f: &Finding| {
        let mut f = f.clone();
        for l in [&mut f.old, &mut f.new].into_iter().flatten() {
            if let Ok(rel) = l.path.strip_prefix(&workspace) {
                l.path = rel.to_path_buf();
            }
        }
        f
    };
    println!("\nadjacent releases (grace period {GRACE} releases):");
    for i in 1..schemas.len() {
        let mut findings = api::diff(&schemas[i - 1].1, &schemas[i].1, &Scope::all());
        findings.extend(history.grace_findings(i - 1, i, GRACE, &Scope::all()));
        findings.sort_by(Finding::importance_order);
        println!(
            "\n{} → {}: {}",
            schemas[i - 1].0,
            schemas[i].0,
            Counts::of(&findings)
        );
        for f in findings.iter().take(5).map(strip) {
            let at = |l: &Option<api::Location>| l.as_ref().map_or("—".into(), |l| l.to_string());
            println!("  {} [{}] {}", f.severity, f.rule, f.message);
            println!("      old {}  new {}", at(&f.old), at(&f.new));
        }
    }
    Ok(())
}
