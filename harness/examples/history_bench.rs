//! How fast the linearizability checker is: a generated linearizable register history of 100,000
//! operations by 10 clients, then every recorded history of `shared/histories`.
//!
//! `cargo run --release -p crossgrade --example history_bench [-- OPS]`. It fails (exit 1) if the
//! generated history takes 10 s or more, if any shared history takes 1 s or more, or if a verdict is
//! wrong: the timing limits live here, in release, and not in the test suite, where a loaded
//! machine would make them flaky.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crossgrade::history::{
    self, Call, CheckOptions, History, ModelKind, Operation, Outcome, Return, Verdict,
};

const CLIENTS: u64 = 10;

/// A seeded PRNG (SplitMix64), so the history is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A real register, run by `CLIENTS` clients whose calls overlap: each call takes effect at a
/// random instant inside its interval, and its result is what the register did then. About one
/// call in a thousand times out (unknown outcome; took effect or not, at random), and its client
/// goes on as a new one, as a Jepsen process does.
fn generate(ops: usize, seed: u64) -> History {
    let mut rng = Rng(seed);
    // Per client: when its next call may start, and its current id.
    let mut free_at = vec![0u64; CLIENTS as usize];
    let mut ids: Vec<u64> = (0..CLIENTS).collect();
    let mut next_id = CLIENTS;
    // (the instant it takes effect or None, the operation without its result)
    let mut planned: Vec<(Option<u64>, Operation)> = Vec::with_capacity(ops);
    for _ in 0..ops {
        let c = rng.below(CLIENTS) as usize;
        let invoke = free_at[c] + rng.below(20);
        let complete = invoke + 1 + rng.below(100);
        let at = invoke + rng.below(complete - invoke + 1);
        let call = match rng.below(10) {
            0..=3 => Call::Read,
            4..=7 => Call::Write(rng.below(10).to_string()),
            _ => Call::Cas {
                expected: rng.below(10).to_string(),
                new: rng.below(10).to_string(),
            },
        };
        let unknown = rng.below(1000) == 0;
        let op = Operation {
            client: ids[c],
            invoke,
            complete: (!unknown).then_some(complete),
            key: None,
            call,
            outcome: Outcome::Unknown,
        };
        let took_effect = !unknown || rng.below(2) == 0;
        planned.push((took_effect.then_some(at), op));
        free_at[c] = complete;
        if unknown {
            ids[c] = next_id;
            next_id += 1;
        }
    }
    // Run the register in the order the calls took effect.
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].0, i));
    let mut register: Option<String> = None;
    for i in order {
        let (at, op) = &mut planned[i];
        if at.is_none() {
            continue;
        }
        let ret = match &op.call {
            Call::Read => Return::Value(register.clone()),
            Call::Write(v) => {
                register = Some(v.clone());
                Return::Done
            }
            Call::Cas { expected, new } => {
                let held = register.as_deref() == Some(expected.as_str());
                if held {
                    register = Some(new.clone());
                }
                Return::Cas(held)
            }
            _ => unreachable!("the generator makes register calls only"),
        };
        if op.complete.is_some() {
            op.outcome = Outcome::Ok(ret);
        }
    }
    History {
        ops: planned.into_iter().map(|(_, op)| op).collect(),
    }
}

fn main() -> ExitCode {
    let ops = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let mut ok = true;

    let h = generate(ops, 16);
    let unknown = h
        .ops
        .iter()
        .filter(|o| o.outcome == Outcome::Unknown)
        .count();
    let started = Instant::now();
    let c = ModelKind::Register
        .check(&h, CheckOptions::default())
        .expect("the generator makes register calls only");
    let took = started.elapsed();
    let linearizable = matches!(c.verdict, Verdict::Linearizable);
    println!(
        "generated register history: {} ops by {CLIENTS} clients ({unknown} unknown): {} in {:.3} s ({} steps)",
        h.len(),
        if linearizable { "linearizable" } else { "NOT linearizable (wrong)" },
        took.as_secs_f64(),
        c.steps
    );
    ok &= linearizable && took < Duration::from_secs(10);

    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/histories");
    for (dir, model) in [("jepsen-etcd", ModelKind::Register), ("kv", ModelKind::Kv)] {
        let dir = shared.join(dir);
        let Ok(tsv) = std::fs::read_to_string(dir.join("expected.tsv")) else {
            println!("{}: not found", dir.display());
            return ExitCode::FAILURE;
        };
        let (mut total, mut max, mut agree, mut files) = (Duration::ZERO, Duration::ZERO, 0, 0);
        let mut slowest = String::new();
        for line in tsv.lines().filter(|l| !l.trim().is_empty()) {
            let Some((file, want)) = line.split_once('\t') else {
                continue;
            };
            let h = history::load(&dir.join(file), None).expect("a shared history parses");
            let started = Instant::now();
            let c = model
                .check(&h, CheckOptions::default())
                .expect("the model fits");
            let took = started.elapsed();
            files += 1;
            total += took;
            if took > max {
                max = took;
                slowest = format!("{file}, {} ops, {} steps", c.ops, c.steps);
            }
            let got = if matches!(c.verdict, Verdict::Linearizable) {
                "linearizable"
            } else {
                "not-linearizable"
            };
            agree += usize::from(got == want.trim());
        }
        println!(
            "{}: {agree} of {files} verdicts agree; total {:.1} ms, max {:.1} ms ({slowest})",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            total.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
        );
        ok &= agree == files && max < Duration::from_secs(1);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
