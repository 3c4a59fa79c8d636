//! Covering arrays (issue 14): a few cells of a matrix, chosen so that every combination of `t` roles'
//! releases still meets in some cell, instead of the whole cross product. Pure and deterministic: the
//! same [`Problem`] (and seed) always gives the same rows, so a plan built on it stays reviewable.
//!
//! The algorithm, in order:
//! 1. the *required* t-tuples: those the constraints allow, i.e. that a backtracking search extends
//!    to a full allowed row (a pair the skew rules make impossible is not asked for);
//! 2. a start: an algebraic construction where one applies (orthogonal arrays of index 1: the
//!    sum-mod-v array for `k <= t + 1` columns, Bush's polynomial array for a prime `v`; smaller levels
//!    folded onto them, rows the constraints forbid dropped), completed, and compared with an
//!    AETG-style greedy (each row the best of several seeded candidates, built column by column);
//! 3. simulated annealing over a row count `N` (as CASA does): drop the least useful row, then move
//!    rows to cover what is missing; on success try `N - 1` again, stop at the first failure within an
//!    iteration budget (never a time budget) or at the lower bound (the largest t-subset's count).
//!
//! Pinned rows are kept as given, count toward coverage and come first; the rest are sorted.

use thiserror::Error;

/// A covering-array problem: column `i` (a role) takes the values `0..levels[i]` (release indices).
pub struct Problem<'a> {
    pub levels: Vec<usize>,
    /// `t`: every allowed combination of values of any `t` columns must appear in some row.
    pub strength: usize,
    /// Whether a partial row may stand: false iff some constraint whose columns are all assigned is
    /// broken (`None` = unassigned). Must be a pure function of its argument. Any predicate works;
    /// skew rules are binary constraints between two roles.
    pub allowed: &'a dyn Fn(&[Option<usize>]) -> bool,
    /// Rows that must be in the result (pinned cells): they count toward coverage and come first,
    /// in the order given (a row pinned twice appears once).
    pub pinned: Vec<Vec<usize>>,
    /// Seeds the search: another seed may give other (equally valid) rows.
    pub seed: u64,
}

/// Why no rows could be generated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoverError {
    #[error("strength {strength} must be between 1 and the number of columns ({columns})")]
    Strength { strength: usize, columns: usize },
    #[error("row {index} has {width} values, but there are {columns} columns")]
    RowWidth {
        index: usize,
        width: usize,
        columns: usize,
    },
    #[error("row {index} has value {value} in column {column}, which takes values below {levels}")]
    RowValue {
        index: usize,
        column: usize,
        value: usize,
        levels: usize,
    },
    #[error("pinned row {index} breaks the constraints")]
    PinnedNotAllowed { index: usize },
    #[error("no row satisfies the constraints")]
    NoAllowedRow,
    #[error("{tuples} t-tuples to cover, more than the {limit} this generator handles")]
    TooLarge { tuples: u128, limit: u128 },
    /// The predicate answered differently for the same partial row (it must be a pure function).
    #[error("the constraint predicate is not consistent: a row it allowed before is refused now")]
    Inconsistent,
}

/// One combination to cover: `values[j]` in column `columns[j]`, columns ascending.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tuple {
    pub columns: Vec<usize>,
    pub values: Vec<usize>,
}

/// Most t-tuples a problem may have: the coverage bookkeeping holds a counter for each. (Deciding
/// which are required is a backtracking search per tuple, quick for binary skew rules; a predicate
/// that makes full rows very hard to find makes it slow, not wrong.)
pub const MAX_TUPLES: u128 = 1 << 22;

/// Rows (each a value per column) covering every required t-tuple, pinned rows first then the others
/// in lexicographic order; deterministic for a given problem and seed. With `strength` equal to the
/// number of columns: every allowed row of the product, in product order (after the pinned ones).
pub fn generate(p: &Problem) -> Result<Vec<Vec<usize>>, CoverError> {
    let space = Space::new(&p.levels, p.strength)?;
    let pinned = check_pinned(p)?;
    let required = space.required(p.allowed)?;
    let mut rng = Rng::new(p.seed);

    let mut base = Coverage::new(&space, &required);
    for row in &pinned {
        base.add(row);
    }
    if p.strength == space.levels.len() {
        // One subset, whose tuples are the rows: what the pinned rows miss, in product order.
        let mut rows = pinned;
        let mut rest = base.missing.clone();
        rest.sort_unstable();
        rows.extend(rest.into_iter().map(|id| space.decode(id).1));
        return Ok(rows);
    }

    let greedy_rows = {
        let mut cov = base.clone();
        greedy(&space, p.allowed, &mut cov, Vec::new(), &mut rng)?
    };
    let mut best = greedy_rows;
    if let Some(built) = construction(&space.levels, p.strength) {
        let mut cov = base.clone();
        let mut start = Vec::new();
        for row in built {
            if allows(p.allowed, &row) && cov.gain(&row) > 0 {
                cov.add(&row);
                start.push(row);
            }
        }
        let rows = greedy(&space, p.allowed, &mut cov, start, &mut rng)?;
        if rows.len() <= best.len() {
            best = rows;
        }
    }
    let best = anneal(&space, p.allowed, &base, best, &mut rng);
    let mut free = prune(&base, best);
    free.sort();
    free.dedup();
    free.retain(|r| !pinned.contains(r));
    let mut rows = pinned;
    rows.extend(free);
    Ok(rows)
}

/// The t-tuples the constraints allow (each extends to a full allowed row): what [`generate`] must
/// cover. Ordered by columns, then values.
pub fn required_tuples(p: &Problem) -> Result<Vec<Tuple>, CoverError> {
    let space = Space::new(&p.levels, p.strength)?;
    let required = space.required(p.allowed)?;
    Ok(ids_to_tuples(&space, &required, |_| true))
}

/// The required tuples (see [`required_tuples`]) that none of `rows` covers, in the same order.
/// Only `rows` count (not `p.pinned`), and only their coverage: they are not checked against the
/// constraints.
pub fn missing(p: &Problem, rows: &[Vec<usize>]) -> Result<Vec<Tuple>, CoverError> {
    let space = Space::new(&p.levels, p.strength)?;
    for (index, row) in rows.iter().enumerate() {
        check_row(&space.levels, index, row)?;
    }
    let required = space.required(p.allowed)?;
    let mut cov = Coverage::new(&space, &required);
    for row in rows {
        cov.add(row);
    }
    let count = cov.count;
    Ok(ids_to_tuples(&space, &required, |id| count[id] == 0))
}

fn ids_to_tuples(space: &Space, required: &[bool], keep: impl Fn(usize) -> bool) -> Vec<Tuple> {
    (0..space.total)
        .filter(|&id| required[id] && keep(id))
        .map(|id| {
            let (s, values) = space.decode(id);
            Tuple {
                columns: space.subsets[s].cols.clone(),
                values,
            }
        })
        .collect()
}

fn check_row(levels: &[usize], index: usize, row: &[usize]) -> Result<(), CoverError> {
    if row.len() != levels.len() {
        return Err(CoverError::RowWidth {
            index,
            width: row.len(),
            columns: levels.len(),
        });
    }
    for (column, (&value, &levels)) in row.iter().zip(levels).enumerate() {
        if value >= levels {
            return Err(CoverError::RowValue {
                index,
                column,
                value,
                levels,
            });
        }
    }
    Ok(())
}

/// The pinned rows, checked, without repeats.
fn check_pinned(p: &Problem) -> Result<Vec<Vec<usize>>, CoverError> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (index, row) in p.pinned.iter().enumerate() {
        check_row(&p.levels, index, row)?;
        if !allows(p.allowed, row) {
            return Err(CoverError::PinnedNotAllowed { index });
        }
        if !out.contains(row) {
            out.push(row.clone());
        }
    }
    Ok(out)
}

fn allows(allowed: &dyn Fn(&[Option<usize>]) -> bool, row: &[usize]) -> bool {
    let partial: Vec<Option<usize>> = row.iter().map(|&v| Some(v)).collect();
    allowed(&partial)
}

/// Assigns the unassigned columns of `row` so that it stays allowed, by backtracking over columns in
/// order; tries `prefer`'s value first in each column (so a repair changes little). Iterative, so
/// that many columns cannot exhaust the stack. False (row unchanged) if no completion exists.
fn complete(
    levels: &[usize],
    allowed: &dyn Fn(&[Option<usize>]) -> bool,
    row: &mut [Option<usize>],
    prefer: Option<&[usize]>,
) -> bool {
    if !allowed(row) {
        return false;
    }
    let free: Vec<usize> = (0..row.len()).filter(|&c| row[c].is_none()).collect();
    let mut tried = vec![0usize; free.len()];
    let mut depth = 0;
    while depth < free.len() {
        let c = free[depth];
        let n = levels[c];
        let mut placed = false;
        while tried[depth] < n {
            let k = tried[depth];
            tried[depth] += 1;
            let v = match prefer.and_then(|p| p.get(c)).copied() {
                Some(first) if first < n => match k {
                    0 => first,
                    k if k - 1 < first => k - 1,
                    k => k,
                },
                _ => k,
            };
            row[c] = Some(v);
            if allowed(row) {
                placed = true;
                break;
            }
        }
        if placed {
            depth += 1;
        } else {
            row[c] = None;
            tried[depth] = 0;
            if depth == 0 {
                return false;
            }
            depth -= 1;
        }
    }
    true
}

/// The t-subsets of columns, and a global id for each (subset, values) pair.
struct Space {
    levels: Vec<usize>,
    subsets: Vec<Subset>,
    /// The subsets that contain each column.
    by_column: Vec<Vec<usize>>,
    total: usize,
}

struct Subset {
    cols: Vec<usize>,
    /// Mixed radix, last column fastest, so ids follow the values' lexicographic order.
    strides: Vec<usize>,
    base: usize,
    size: usize,
}

impl Space {
    fn new(levels: &[usize], t: usize) -> Result<Space, CoverError> {
        let k = levels.len();
        if t == 0 || t > k {
            return Err(CoverError::Strength {
                strength: t,
                columns: k,
            });
        }
        if levels.contains(&0) {
            return Err(CoverError::NoAllowedRow);
        }
        // Every subset has at least one tuple: bound the subsets before listing them.
        let too_large = |tuples| CoverError::TooLarge {
            tuples,
            limit: MAX_TUPLES,
        };
        let subsets = binomial(k, t);
        if subsets > MAX_TUPLES {
            return Err(too_large(subsets));
        }
        let mut out = Vec::new();
        let mut total: u128 = 0;
        let mut cols: Vec<usize> = (0..t).collect();
        loop {
            let size = cols
                .iter()
                .try_fold(1u128, |n, &c| n.checked_mul(levels[c] as u128))
                .unwrap_or(u128::MAX);
            let base = total;
            total = total.saturating_add(size);
            if total > MAX_TUPLES {
                return Err(too_large(total_tuples(levels, t)));
            }
            let mut strides = vec![1usize; t];
            for j in (0..t.saturating_sub(1)).rev() {
                strides[j] = strides[j + 1] * levels[cols[j + 1]];
            }
            out.push(Subset {
                cols: cols.clone(),
                strides,
                base: base as usize,
                size: size as usize,
            });
            if !next_combination(&mut cols, k) {
                break;
            }
        }
        let mut by_column = vec![Vec::new(); k];
        for (s, sub) in out.iter().enumerate() {
            for &c in &sub.cols {
                by_column[c].push(s);
            }
        }
        Ok(Space {
            levels: levels.to_vec(),
            subsets: out,
            by_column,
            total: total as usize,
        })
    }

    fn id(&self, s: usize, row: &[usize]) -> usize {
        let sub = &self.subsets[s];
        sub.base
            + sub
                .cols
                .iter()
                .zip(&sub.strides)
                .map(|(&c, &st)| row[c] * st)
                .sum::<usize>()
    }

    /// The id of subset `s`'s tuple in a partial row, if all its columns are assigned.
    fn partial_id(&self, s: usize, row: &[Option<usize>]) -> Option<usize> {
        let sub = &self.subsets[s];
        let mut id = sub.base;
        for (&c, &st) in sub.cols.iter().zip(&sub.strides) {
            id += row[c]? * st;
        }
        Some(id)
    }

    /// The subset a tuple id belongs to.
    fn subset_of(&self, id: usize) -> usize {
        self.subsets
            .partition_point(|sub| sub.base + sub.size <= id)
            .min(self.subsets.len() - 1)
    }

    /// Calls `f(column, value)` for each value of a tuple, without allocating.
    fn each_value(&self, id: usize, mut f: impl FnMut(usize, usize)) {
        let sub = &self.subsets[self.subset_of(id)];
        let mut rest = id - sub.base;
        for (&c, &st) in sub.cols.iter().zip(&sub.strides) {
            f(c, (rest / st).min(self.levels[c] - 1));
            rest %= st;
        }
    }

    /// The subset and values of a tuple id.
    fn decode(&self, id: usize) -> (usize, Vec<usize>) {
        let s = self.subset_of(id);
        let sub = &self.subsets[s];
        let mut rest = id - sub.base;
        let values = sub
            .cols
            .iter()
            .zip(&sub.strides)
            .map(|(&c, &st)| {
                let v = rest / st;
                rest %= st;
                v.min(self.levels[c] - 1)
            })
            .collect();
        (s, values)
    }

    /// Which tuples can be extended to a full allowed row. Each row found marks all of its tuples,
    /// so few searches are needed when the constraints are loose.
    fn required(
        &self,
        allowed: &dyn Fn(&[Option<usize>]) -> bool,
    ) -> Result<Vec<bool>, CoverError> {
        let k = self.levels.len();
        let mut required = vec![false; self.total];
        let mut decided = vec![false; self.total];
        let mut row = vec![None; k];
        for id in 0..self.total {
            if decided[id] {
                continue;
            }
            decided[id] = true;
            let (s, values) = self.decode(id);
            row.iter_mut().for_each(|v| *v = None);
            for (&c, &v) in self.subsets[s].cols.iter().zip(&values) {
                row[c] = Some(v);
            }
            if complete(&self.levels, allowed, &mut row, None) {
                let full: Vec<usize> = row.iter().map(|v| v.unwrap_or(0)).collect();
                for s in 0..self.subsets.len() {
                    let t = self.id(s, &full);
                    required[t] = true;
                    decided[t] = true;
                }
            }
        }
        if !required.contains(&true) {
            return Err(CoverError::NoAllowedRow);
        }
        Ok(required)
    }
}

/// Advances `cols` to the next t-subset of `0..k` in lexicographic order; false after the last.
fn next_combination(cols: &mut [usize], k: usize) -> bool {
    let t = cols.len();
    for i in (0..t).rev() {
        if cols[i] < k - t + i {
            cols[i] += 1;
            for j in i + 1..t {
                cols[j] = cols[j - 1] + 1;
            }
            return true;
        }
    }
    false
}

fn binomial(n: usize, k: usize) -> u128 {
    let k = k.min(n - k);
    let mut r: u128 = 1;
    for i in 0..k {
        // Exact at every step: r * (n - i) is divisible by (i + 1).
        r = match r.checked_mul((n - i) as u128) {
            Some(x) => x / (i as u128 + 1),
            None => return u128::MAX,
        };
    }
    r
}

/// The number of t-tuples, saturating (only reported in an error).
fn total_tuples(levels: &[usize], t: usize) -> u128 {
    // Sum over subsets of the product of levels: the coefficient of x^t in prod (1 + l_i x).
    let mut e = vec![0u128; t + 1];
    e[0] = 1;
    for &l in levels {
        for j in (1..=t).rev() {
            e[j] = e[j].saturating_add(e[j - 1].saturating_mul(l as u128));
        }
    }
    e[t]
}

/// How many rows cover each tuple, and the required tuples none covers (as a list, for sampling).
#[derive(Clone)]
struct Coverage<'s> {
    space: &'s Space,
    required: &'s [bool],
    count: Vec<u32>,
    missing: Vec<usize>,
    /// Index of each tuple in `missing`, or `usize::MAX`.
    pos: Vec<usize>,
}

impl<'s> Coverage<'s> {
    fn new(space: &'s Space, required: &'s [bool]) -> Self {
        let missing: Vec<usize> = (0..space.total).filter(|&id| required[id]).collect();
        let mut pos = vec![usize::MAX; space.total];
        for (i, &id) in missing.iter().enumerate() {
            pos[id] = i;
        }
        Coverage {
            space,
            required,
            count: vec![0; space.total],
            missing,
            pos,
        }
    }

    fn inc(&mut self, id: usize) {
        self.count[id] += 1;
        if self.count[id] == 1 && self.required[id] {
            let i = self.pos[id];
            let last = self.missing.len() - 1;
            self.missing.swap(i, last);
            self.pos[self.missing[i]] = i;
            self.missing.pop();
            self.pos[id] = usize::MAX;
        }
    }

    fn dec(&mut self, id: usize) {
        self.count[id] -= 1;
        if self.count[id] == 0 && self.required[id] {
            self.pos[id] = self.missing.len();
            self.missing.push(id);
        }
    }

    fn add(&mut self, row: &[usize]) {
        for s in 0..self.space.subsets.len() {
            self.inc(self.space.id(s, row));
        }
    }

    fn remove(&mut self, row: &[usize]) {
        for s in 0..self.space.subsets.len() {
            self.dec(self.space.id(s, row));
        }
    }

    /// Replaces `old` by `new` (differing in the `changed` columns) in the counts.
    fn replace(&mut self, old: &[usize], new: &[usize], changed: &[bool]) {
        let space = self.space;
        for s in 0..space.subsets.len() {
            if space.subsets[s].cols.iter().any(|&c| changed[c]) {
                self.inc(space.id(s, new));
                self.dec(space.id(s, old));
            }
        }
    }

    /// How many more tuples would be missing if `old` became `new` (differing in `changed`).
    fn delta(&self, old: &[usize], new: &[usize], changed: &[bool]) -> isize {
        let space = self.space;
        let mut d = 0isize;
        for s in 0..space.subsets.len() {
            if space.subsets[s].cols.iter().any(|&c| changed[c]) {
                let (o, n) = (space.id(s, old), space.id(s, new));
                d += isize::from(self.required[o] && self.count[o] == 1);
                d -= isize::from(self.required[n] && self.count[n] == 0);
            }
        }
        d
    }

    /// Required tuples a full row would newly cover.
    fn gain(&self, row: &[usize]) -> usize {
        (0..self.space.subsets.len())
            .map(|s| self.space.id(s, row))
            .filter(|&id| self.required[id] && self.count[id] == 0)
            .count()
    }

    /// Required tuples newly covered through column `c` of a partial row, counting only subsets whose
    /// columns are all assigned.
    fn gain_at(&self, c: usize, row: &[Option<usize>]) -> usize {
        self.space.by_column[c]
            .iter()
            .filter_map(|&s| self.space.partial_id(s, row))
            .filter(|&id| self.required[id] && self.count[id] == 0)
            .count()
    }

    /// Required tuples that only this row covers.
    fn unique(&self, row: &[usize]) -> usize {
        (0..self.space.subsets.len())
            .map(|s| self.space.id(s, row))
            .filter(|&id| self.required[id] && self.count[id] == 1)
            .count()
    }
}

/// AETG-style greedy: adds rows to `rows` (already counted in `cov`) until every required tuple is
/// covered. Each row is the best of several candidates; a candidate starts from a missing tuple and
/// fills the other columns in a random order, each with the value covering most new tuples among
/// those that keep the row completable.
fn greedy(
    space: &Space,
    allowed: &dyn Fn(&[Option<usize>]) -> bool,
    cov: &mut Coverage,
    mut rows: Vec<Vec<usize>>,
    rng: &mut Rng,
) -> Result<Vec<Vec<usize>>, CoverError> {
    let k = space.levels.len();
    // Fewer candidates for big problems, so that the work stays bounded (about 1e8 gain lookups).
    let per_candidate: usize = (0..k)
        .map(|c| space.levels[c] * space.by_column[c].len().max(1))
        .sum::<usize>()
        .max(1);
    let rows_guess = space.subsets.iter().map(|s| s.size).max().unwrap_or(1) * 2;
    let candidates = (100_000_000 / (per_candidate * rows_guess).max(1)).clamp(1, 50);
    let mut scored: Vec<(usize, u64, usize)> = Vec::new();
    while !cov.missing.is_empty() {
        let mut best: Option<(usize, Vec<usize>)> = None;
        for _ in 0..candidates {
            let id = cov.missing[rng.below(cov.missing.len())];
            let (s, values) = space.decode(id);
            let mut row = vec![None; k];
            for (&c, &v) in space.subsets[s].cols.iter().zip(&values) {
                row[c] = Some(v);
            }
            let mut order: Vec<usize> = (0..k).filter(|&c| row[c].is_none()).collect();
            rng.shuffle(&mut order);
            for c in order {
                scored.clear();
                for v in 0..space.levels[c] {
                    row[c] = Some(v);
                    if allowed(&row) {
                        scored.push((cov.gain_at(c, &row), rng.next_u64(), v));
                    }
                }
                row[c] = None;
                scored.sort_unstable_by(|a, b| b.cmp(a));
                let mut placed = false;
                for &(_, _, v) in &scored {
                    let mut probe = row.clone();
                    probe[c] = Some(v);
                    if complete(&space.levels, allowed, &mut probe, None) {
                        row[c] = Some(v);
                        placed = true;
                        break;
                    }
                }
                if !placed {
                    return Err(CoverError::Inconsistent);
                }
            }
            let full: Vec<usize> = row.iter().map(|v| v.unwrap_or(0)).collect();
            let gain = cov.gain(&full);
            if best.as_ref().is_none_or(|(g, _)| gain > *g) {
                best = Some((gain, full));
            }
        }
        match best {
            Some((gain, row)) if gain > 0 => {
                cov.add(&row);
                rows.push(row);
            }
            _ => return Err(CoverError::Inconsistent),
        }
    }
    Ok(rows)
}

/// Annealing budgets, counted in tuple-count updates (a move costs about one per t-subset) so that
/// bigger problems get fewer moves rather than more time; never wall-clock time, so the result
/// depends only on the problem and the seed. About 40 M updates take 0.2 to 0.5 s.
const TOTAL_BUDGET: usize = 40_000_000;
/// At most this much for one row count before giving up on it.
const ATTEMPT_BUDGET: usize = 8_000_000;
/// And at most this many moves per tuple to cover, so that a small problem whose lower bound
/// cannot be met (4 columns of 2 levels need 5 rows, not 4) gives up soon.
const MOVES_PER_TUPLE: usize = 2_000;
/// Metropolis acceptance of a move that loses `d` tuples, as a threshold on a uniform `u64`:
/// `exp(-d / 0.3) * 2^64` for d = 1..=5 (3.6 %, 0.13 %, ...), none beyond. Integers, not `f64::exp`,
/// so that the rows are the same on every platform. The temperature is held constant: measured on
/// 4x6, 6x10 and 10x4 with t = 2, 0.3 beat cooling from 0.5 to 0.05 and fixed 0.2 or 0.5.
const ACCEPT: [u64; 5] = [
    658_069_025_363_982_080,
    23_475_950_032_867_560,
    837_480_885_292_947,
    29_876_287_530_391,
    1_065_806_482_599,
];

/// Shrinks a covering set of free rows (CASA-style simulated annealing): drop the row covering
/// fewest tuples alone, then anneal the rest until nothing is missing; repeat until an attempt fails
/// within its iteration budget, the total budget is spent, or the lower bound is reached.
fn anneal(
    space: &Space,
    allowed: &dyn Fn(&[Option<usize>]) -> bool,
    base: &Coverage,
    rows: Vec<Vec<usize>>,
    rng: &mut Rng,
) -> Vec<Vec<usize>> {
    // Each row holds at most one tuple of a subset: no fewer rows than a subset's missing tuples.
    let mut per_subset = vec![0usize; space.subsets.len()];
    for &id in &base.missing {
        per_subset[space.subset_of(id)] += 1;
    }
    let lower = per_subset.iter().copied().max().unwrap_or(0).max(1);
    let work_per_move = space.subsets.len().max(1);
    let mut total_budget = TOTAL_BUDGET;
    let mut best = rows;
    while best.len() > lower && total_budget > 0 {
        let mut cov = base.clone();
        for r in &best {
            cov.add(r);
        }
        let mut rows = best.clone();
        let drop = (0..rows.len())
            .min_by_key(|&i| cov.unique(&rows[i]))
            .unwrap_or(0);
        let gone = rows.swap_remove(drop);
        cov.remove(&gone);
        let moves = (ATTEMPT_BUDGET.min(total_budget) / work_per_move)
            .min(MOVES_PER_TUPLE.saturating_mul(base.missing.len()))
            .max(1);
        let (done, used) = search(space, allowed, &mut cov, &mut rows, moves, rng);
        total_budget = total_budget.saturating_sub(used * work_per_move);
        if !done {
            break;
        }
        best = rows;
    }
    best
}

/// Anneals `rows` (counted in `cov`) for at most `moves` moves, towards nothing missing. A move
/// covers a missing tuple in a random row (repairing the rest of the row if the constraints need
/// it) or, now and then, changes one value; a move that loses tuples is taken with the Metropolis
/// probability. Returns whether nothing is missing, and the moves used.
fn search(
    space: &Space,
    allowed: &dyn Fn(&[Option<usize>]) -> bool,
    cov: &mut Coverage,
    rows: &mut [Vec<usize>],
    moves: usize,
    rng: &mut Rng,
) -> (bool, usize) {
    let k = space.levels.len();
    let mut changed = vec![false; k];
    let mut old = vec![0usize; k];
    let mut new = vec![0usize; k];
    let mut partial: Vec<Option<usize>> = vec![None; k];
    if rows.is_empty() {
        return (cov.missing.is_empty(), 0);
    }
    for step in 0..moves {
        if cov.missing.is_empty() {
            return (true, step);
        }
        let r = rng.below(rows.len());
        old.copy_from_slice(&rows[r]);
        new.copy_from_slice(&old);
        if rng.below(10) < 8 {
            let id = cov.missing[rng.below(cov.missing.len())];
            space.each_value(id, |c, v| new[c] = v);
            for (p, &v) in partial.iter_mut().zip(&new) {
                *p = Some(v);
            }
            if !allowed(&partial) {
                // Keep the tuple, change as little else as the constraints need.
                partial.iter_mut().for_each(|p| *p = None);
                space.each_value(id, |c, v| partial[c] = Some(v));
                if !complete(&space.levels, allowed, &mut partial, Some(&old)) {
                    continue;
                }
                for (n, p) in new.iter_mut().zip(&partial) {
                    *n = p.unwrap_or(0);
                }
            }
        } else {
            let c = rng.below(k);
            if space.levels[c] < 2 {
                continue;
            }
            new[c] = (new[c] + 1 + rng.below(space.levels[c] - 1)) % space.levels[c];
            for (p, &v) in partial.iter_mut().zip(&new) {
                *p = Some(v);
            }
            if !allowed(&partial) {
                continue;
            }
        }
        for c in 0..k {
            changed[c] = new[c] != old[c];
        }
        if !changed.contains(&true) {
            continue;
        }
        let d = cov.delta(&old, &new, &changed);
        let threshold = usize::try_from(d - 1)
            .ok()
            .and_then(|i| ACCEPT.get(i))
            .copied()
            .unwrap_or(0);
        if d <= 0 || rng.next_u64() < threshold {
            cov.replace(&old, &new, &changed);
            rows[r].copy_from_slice(&new);
        }
    }
    (cov.missing.is_empty(), moves)
}

/// Drops free rows that cover nothing required alone (last first), and repeats of a row.
fn prune(base: &Coverage, rows: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
    let mut cov = base.clone();
    for r in &rows {
        cov.add(r);
    }
    let mut keep = vec![true; rows.len()];
    for i in (0..rows.len()).rev() {
        if cov.unique(&rows[i]) == 0 {
            cov.remove(&rows[i]);
            keep[i] = false;
        }
    }
    rows.into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect()
}

/// An orthogonal array of strength `t` and index 1 whose values are folded onto `levels`, when one
/// is known for this shape (folding keeps every tuple covered, since each level is reached):
/// - `k <= t + 1` columns: all `v^t` tuples of the first `t` columns, the last one their sum mod `v`;
/// - `v` prime, `t <= v`, `k <= v + 1`: Bush's array, the polynomials of degree below `t` over
///   GF(v) evaluated at each point (and their leading coefficient as column `v`).
///
/// `v` is the largest level (the smallest prime at least as large for Bush). None otherwise, or
/// when the array would have more than twice the rows the t largest levels need.
fn construction(levels: &[usize], t: usize) -> Option<Vec<Vec<usize>>> {
    let k = levels.len();
    let top = levels.iter().copied().max()?;
    if k <= t {
        return None;
    }
    let (v, bush) = if k == t + 1 {
        (top, false)
    } else {
        let p = (top.max(t).max(k.saturating_sub(1))..)
            .take(10_000)
            .find(|&n| is_prime(n))?;
        (p, true)
    };
    let n = (0..t).try_fold(1usize, |n, _| n.checked_mul(v))?;
    // Worth it only near the lower bound, the product of the t largest levels.
    let mut sorted = levels.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let bound = sorted[..t]
        .iter()
        .try_fold(1usize, |b, &l| b.checked_mul(l))
        .unwrap_or(usize::MAX);
    if n as u128 > MAX_TUPLES || n > bound.saturating_mul(2) {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    let mut coef = vec![0usize; t];
    for _ in 0..n {
        let row: Vec<usize> = (0..k)
            .map(|c| {
                let x = if !bush {
                    if c < t {
                        coef[c]
                    } else {
                        coef.iter().sum::<usize>() % v
                    }
                } else if c == v {
                    coef[t - 1]
                } else {
                    // Horner: coefficients in ascending degree; evaluate at the point c.
                    coef.iter().rev().fold(0, |acc, &a| (acc * c + a) % v)
                };
                x % levels[c]
            })
            .collect();
        out.push(row);
        for j in (0..t).rev() {
            coef[j] += 1;
            if coef[j] < v {
                break;
            }
            coef[j] = 0;
        }
    }
    Some(out)
}

fn is_prime(n: usize) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

/// SplitMix64: small, seeded, and the same on every platform (no crate, no clock). The plan's one
/// source of chance: covering arrays and random upgrade plans.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-high (no modulo bias worth the name).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // First outputs of SplitMix64 seeded with 0 (Vigna's reference implementation).
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(r.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn acceptance_thresholds_are_exp_of_minus_d_over_0_3() {
        for (i, &a) in ACCEPT.iter().enumerate() {
            let want = (-((i + 1) as f64) / 0.3).exp() * 2f64.powi(64);
            assert!((a as f64 / want - 1.0).abs() < 1e-9, "d = {}", i + 1);
        }
    }

    #[test]
    fn below_stays_in_range_and_reaches_every_value() {
        let mut r = Rng::new(7);
        let mut seen = [false; 5];
        for _ in 0..200 {
            let x = r.below(5);
            seen[x] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    fn covers_all(levels: &[usize], t: usize, rows: &[Vec<usize>]) -> bool {
        let space = Space::new(levels, t).unwrap();
        let required = vec![true; space.total];
        let mut cov = Coverage::new(&space, &required);
        for r in rows {
            cov.add(r);
        }
        cov.missing.is_empty()
    }

    #[test]
    fn sum_mod_v_is_an_orthogonal_array_for_any_v() {
        for v in 1..=6 {
            for t in 1..=3 {
                let levels = vec![v; t + 1];
                let rows = construction(&levels, t).unwrap();
                assert_eq!(rows.len(), v.pow(t as u32));
                assert!(covers_all(&levels, t, &rows), "v={v} t={t}");
            }
        }
    }

    #[test]
    fn bush_arrays_cover_with_v_to_the_t_rows() {
        for (v, t) in [(2, 2), (3, 2), (5, 2), (7, 2), (3, 3), (5, 3), (5, 4)] {
            let levels = vec![v; v + 1];
            let rows = construction(&levels, t).unwrap();
            assert_eq!(rows.len(), v.pow(t as u32));
            assert!(covers_all(&levels, t, &rows), "v={v} t={t}");
        }
    }

    #[test]
    fn folded_constructions_still_cover() {
        let levels = vec![4, 2, 5, 3, 1];
        let rows = construction(&levels, 2).unwrap();
        assert!(covers_all(&levels, 2, &rows));
    }

    #[test]
    fn combinations_are_listed_in_order() {
        let mut c = vec![0, 1];
        let mut all = vec![c.clone()];
        while next_combination(&mut c, 4) {
            all.push(c.clone());
        }
        assert_eq!(
            all,
            [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]].map(|a| a.to_vec())
        );
        assert_eq!(binomial(6, 2), 15);
        assert_eq!(total_tuples(&[2, 3, 4], 2), 6 + 8 + 12);
    }

    #[test]
    fn ids_decode_back_to_their_tuples() {
        let space = Space::new(&[2, 3, 4], 2).unwrap();
        for id in 0..space.total {
            let (s, values) = space.decode(id);
            let mut row = vec![0; 3];
            for (&c, &v) in space.subsets[s].cols.iter().zip(&values) {
                row[c] = v;
            }
            assert_eq!(space.id(s, &row), id);
        }
    }

    #[test]
    fn complete_prefers_the_given_row_and_backtracks() {
        let levels = [3, 3, 3];
        // Column 2 must equal column 0, and column 1 must differ from column 0.
        let allowed = |r: &[Option<usize>]| {
            !matches!((r[0], r[2]), (Some(a), Some(b)) if a != b)
                && !matches!((r[0], r[1]), (Some(a), Some(b)) if a == b)
        };
        let mut row = [Some(1), None, None];
        assert!(complete(&levels, &allowed, &mut row, Some(&[0, 2, 0])));
        assert_eq!(row, [Some(1), Some(2), Some(1)]);
        let mut row = [Some(1), Some(1), None];
        assert!(!complete(&levels, &allowed, &mut row, None));
    }
}
