//! Figures for the covering-array generator (issue 14): for each case, the rows generated, the full
//! product they replace, the lower bound (the t largest levels' product; constraints can raise the
//! true one), the time taken, and how many required tuples the rows miss (always 0).
//! `cargo run --release -p crossgrade --example cover`. Prints figures; asserts only coverage.

use std::time::Instant;

use crossgrade::plan::cover::{generate, missing, Problem};

fn any(_: &[Option<usize>]) -> bool {
    true
}

/// col3 <= col0 and |col0 - col1| <= 1: the skew rules `scheduler <= master`, `master - agent <= 1`
/// in release indices.
fn skew(r: &[Option<usize>]) -> bool {
    let le = !matches!((r[3], r[0]), (Some(a), Some(b)) if a > b);
    let near = !matches!((r[0], r[1]), (Some(a), Some(b)) if a.abs_diff(b) > 1);
    le && near
}

fn case(
    seed: u64,
    name: &str,
    levels: Vec<usize>,
    t: usize,
    allowed: &dyn Fn(&[Option<usize>]) -> bool,
) {
    let p = Problem {
        levels: levels.clone(),
        strength: t,
        allowed,
        pinned: Vec::new(),
        seed,
    };
    let start = Instant::now();
    let rows = generate(&p);
    let took = start.elapsed();
    let product: u128 = levels.iter().map(|&l| l as u128).product();
    let mut sorted = levels.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let bound: u128 = sorted[..t].iter().map(|&l| l as u128).product();
    match rows {
        Ok(rows) => {
            let left = missing(&p, &rows).map(|m| m.len());
            println!(
                "{name:<24} rows {:>5}   product {product:>9}   bound {bound:>5}   {:>9.3} ms   missing {left:?}",
                rows.len(),
                took.as_secs_f64() * 1e3,
            );
        }
        Err(e) => println!("{name:<24} error: {e}"),
    }
}

fn main() {
    // An optional seed: `cargo run --release -p crossgrade --example cover -- 7`.
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(14);
    let case = |name, levels, t, allowed: &dyn Fn(&[Option<usize>]) -> bool| {
        case(seed, name, levels, t, allowed)
    };
    println!("seed {seed}");
    case("4x6 t=2", vec![6; 4], 2, &any);
    case("4x6 t=3", vec![6; 4], 3, &any);
    case("4x6 t=2 skew", vec![6; 4], 2, &skew);
    case("6x10 t=2", vec![10; 6], 2, &any);
    case("4x2 t=2", vec![2; 4], 2, &any);
    case("10x4 t=2", vec![4; 10], 2, &any);
    case("5x5 t=3", vec![5; 5], 3, &any);
    case("6x6 t=3", vec![6; 6], 3, &any);
    case("3,4,5,6,7 mixed t=2", vec![3, 4, 5, 6, 7], 2, &any);
    case("10x10 t=2", vec![10; 10], 2, &any);
}
