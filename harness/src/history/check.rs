//! The linearizability search: Wing & Gong's algorithm with Lowe's cache, as porcupine does it.
//!
//! Per partition (key), the calls and returns of its operations are one list sorted by time
//! (intervals are closed: at equal times calls come first). The search walks the list from its
//! head: a call whose operation can take effect in the current state is *lifted* (it and its
//! return leave the list, in O(1) as the list is doubly linked) and the walk starts again from the
//! head; reaching a return means that operation's window closed with it unplaced, so the search
//! backtracks: the last lifted call is put back (*unlifted*) and the walk goes on past it. Each
//! (set of linearized operations, state) reached is remembered, and a call that leads to one
//! already seen is skipped: that is what keeps the search from being exponential on real histories.
//!
//! An operation with an unknown outcome returns at infinity and with an unconstrained result (a
//! read-only one is dropped, as it constrains nothing); a failed one is dropped. Two things go
//! further than porcupine, both because such an operation may always be put off to the end (the
//! models' steps never refuse a call whose result is unknown), where it changes nothing that is
//! checked:
//!
//! - the search succeeds once every operation that completed is placed, whatever is left of the
//!   unknown ones;
//! - the cache matches a (set, state) pair with any seen pair of the same state and the same
//!   completed operations placed whose unknown operations placed are a *subset* of the current
//!   ones: everything the current pair can still do, the seen one could too (it has the same
//!   state and more left to place), so it is already explored or being explored. Without this, each
//!   subset of the unknown operations open at a point is a pair of its own, and a history with a
//!   few dozen of them takes seconds where it now takes milliseconds.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::model::{Model, ModelKind, KV, REGISTER};
use super::types::{History, Operation, Outcome, Return};

/// How long the search may run.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// At most this many search steps (one step: one call tried, or one backtrack) over the whole
    /// history, then [`Verdict::Unknown`]; `None`: no limit. A count and not a clock, so a verdict
    /// never depends on the machine's load. Real histories take a few steps per operation; a
    /// pathological one can take exponentially many.
    pub max_steps: Option<u64>,
}

/// What the check found, and what it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub verdict: Verdict,
    /// Operations searched over (failed ones and unknown read-only ones are dropped).
    pub ops: usize,
    /// Search steps taken.
    pub steps: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Box<Violation>),
    /// The step budget ran out before a verdict.
    Unknown(Exhausted),
}

/// A key whose operations have no linearization, and where the search got stuck.
///
/// The search's deepest attempt placed [`Violation::linearized`] operations of the key in an order
/// the model accepts, reaching [`Violation::state`], and then could place none of the operations
/// still open at the completion of [`Violation::stuck`] — itself included — in any order; every
/// other attempt got stuck no later. The [`Violation::window`] is what a report should draw, one
/// line per client: the operations of the key invoked no later than `stuck` completed that either
///
/// - were never placed by that attempt (the ones that cannot be ordered), or
/// - were placed but overlap the span from the invoke of the last one placed (whose effect the
///   state shows), or of the earliest unplaced one if earlier, to the completion of `stuck` (the
///   ones whose order against the unplaced ones was in question).
///
/// Operations that never completed and were placed before that span are left out: they would
/// overlap every later window and say nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The key (`None`: the single register).
    pub key: Option<String>,
    /// Operations of the key searched over.
    pub ops_in_key: usize,
    /// How many of them the deepest attempt placed.
    pub linearized: usize,
    /// The model's state after them, in words.
    pub state: String,
    /// The operation whose completion the deepest attempt could not get past.
    pub stuck: Operation,
    /// See the type's documentation; ordered by invoke.
    pub window: Vec<Operation>,
    /// For each operation of the window, whether the deepest attempt placed it.
    pub placed: Vec<bool>,
}

/// The step budget ran out while checking this key (keys before it were linearizable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhausted {
    pub key: Option<String>,
    pub max_steps: u64,
}

/// A history the model cannot check: not a verdict, the input is wrong for it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    #[error(
        "operation {index} (client {client}) is a `{call}`, which the {model} model does not have"
    )]
    Unsupported {
        index: usize,
        client: u64,
        call: &'static str,
        model: &'static str,
    },
    #[error("operation {index} (client {client}) is a `{call}` whose result is {ret}, which a `{call}` cannot return")]
    Mismatch {
        index: usize,
        client: u64,
        call: &'static str,
        ret: String,
    },
    #[error("operation {index} (client {client}) completed ({complete}) before it was invoked ({invoke})")]
    Backwards {
        index: usize,
        client: u64,
        invoke: u64,
        complete: u64,
    },
    #[error("operation {index} (client {client}) is ok but has no completion time")]
    OkWithoutCompletion { index: usize, client: u64 },
}

impl ModelKind {
    /// Checks `history` against this model.
    pub fn check(self, history: &History, options: CheckOptions) -> Result<Check, CheckError> {
        match self {
            ModelKind::Register => check(&REGISTER, history, options),
            ModelKind::Kv => check(&KV, history, options),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => REGISTER.name,
            ModelKind::Kv => KV.name,
        }
    }
}

/// Checks `history` against `model`, key by key in key order, stopping at the first key that is not
/// linearizable.
pub fn check<S: Clone + Eq + Hash>(
    model: &Model<S>,
    history: &History,
    options: CheckOptions,
) -> Result<Check, CheckError> {
    let mut partitions: BTreeMap<Option<&str>, Vec<&Operation>> = BTreeMap::new();
    for (index, op) in history.ops.iter().enumerate() {
        validate(model, index, op)?;
        let searched = match &op.outcome {
            Outcome::Fail => false,
            Outcome::Unknown => !(model.read_only)(&op.call),
            Outcome::Ok(_) => true,
        };
        if searched {
            partitions
                .entry((model.partition)(op))
                .or_default()
                .push(op);
        }
    }
    let mut budget = Budget {
        left: options.max_steps,
        taken: 0,
    };
    let ops = partitions.values().map(Vec::len).sum();
    for (key, mut ops_in_key) in partitions {
        // Numbered by invoke, so that the linearized set is mostly a prefix (see `Linearized`).
        ops_in_key.sort_by_key(|op| (op.invoke, deadline(op)));
        let verdict = match search(model, &ops_in_key, &mut budget) {
            Search::Linearizable => continue,
            Search::Exhausted => Verdict::Unknown(Exhausted {
                key: key.map(str::to_string),
                max_steps: options.max_steps.unwrap_or(0),
            }),
            Search::Stuck(deepest) => {
                Verdict::NotLinearizable(Box::new(violation(model, key, &ops_in_key, deepest)))
            }
        };
        return Ok(Check {
            verdict,
            ops,
            steps: budget.taken,
        });
    }
    Ok(Check {
        verdict: Verdict::Linearizable,
        ops,
        steps: budget.taken,
    })
}

fn validate<S>(model: &Model<S>, index: usize, op: &Operation) -> Result<(), CheckError> {
    if !(model.supports)(&op.call) {
        return Err(CheckError::Unsupported {
            index,
            client: op.client,
            call: op.call.name(),
            model: model.name,
        });
    }
    if let Some(complete) = op.complete {
        if complete < op.invoke {
            return Err(CheckError::Backwards {
                index,
                client: op.client,
                invoke: op.invoke,
                complete,
            });
        }
    }
    if let Outcome::Ok(ret) = &op.outcome {
        if !op.call.fits(ret) {
            return Err(CheckError::Mismatch {
                index,
                client: op.client,
                call: op.call.name(),
                ret: ret.to_string(),
            });
        }
        if op.complete.is_none() {
            return Err(CheckError::OkWithoutCompletion {
                index,
                client: op.client,
            });
        }
    }
    Ok(())
}

struct Budget {
    left: Option<u64>,
    taken: u64,
}

impl Budget {
    /// Takes one step; false when none is left.
    fn take(&mut self) -> bool {
        if let Some(left) = &mut self.left {
            if *left == 0 {
                return false;
            }
            *left -= 1;
        }
        self.taken += 1;
        true
    }
}

/// When an operation's effect must have happened by: its completion if it took effect, never if
/// its outcome is unknown.
fn deadline(op: &Operation) -> u64 {
    match op.outcome {
        Outcome::Ok(_) => op.complete.unwrap_or(u64::MAX),
        Outcome::Fail | Outcome::Unknown => u64::MAX,
    }
}

/// Whether it returns at infinity.
fn unknown(op: &Operation) -> bool {
    !matches!(op.outcome, Outcome::Ok(_))
}

fn result(op: &Operation) -> Option<&Return> {
    match &op.outcome {
        Outcome::Ok(ret) => Some(ret),
        Outcome::Fail | Outcome::Unknown => None,
    }
}

enum Search<S> {
    Linearizable,
    Exhausted,
    Stuck(Deepest<S>),
}

/// The deepest point the search reached before it had to backtrack.
struct Deepest<S> {
    /// The linearized set then, as [`Linearized`] splits it (a copy of the whole set each time the
    /// search goes deeper would cost O(n²) on a long history).
    full: usize,
    span: Vec<u64>,
    unknown: Vec<u64>,
    count: usize,
    /// The operation placed last, if any.
    last: Option<usize>,
    /// The operation whose return the search could not get past.
    stuck: usize,
    state: S,
}

/// No node: the end of the list.
const NIL: u32 = u32::MAX;
/// The list's head, before every entry.
const HEAD: usize = 0;

/// The list of calls and returns, doubly linked over indices. Node 0 is the head; node `1 + 2i` is
/// operation `i`'s call and `2 + 2i` its return.
struct Entries {
    next: Vec<u32>,
    prev: Vec<u32>,
}

impl Entries {
    fn new(ops: &[&Operation]) -> Entries {
        // (time, kind, node): calls sort before returns at equal times (closed intervals), and the
        // returns at infinity of unknown operations after every other.
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            let i = i as u32;
            events.push((op.invoke, 0, 1 + 2 * i));
            let kind = if unknown(op) { 2 } else { 1 };
            events.push((deadline(op), kind, 2 + 2 * i));
        }
        events.sort_unstable();
        let nodes = events.len() + 1;
        let mut next = vec![NIL; nodes];
        let mut prev = vec![NIL; nodes];
        let mut last = HEAD as u32;
        for &(_, _, node) in &events {
            next[last as usize] = node;
            prev[node as usize] = last;
            last = node;
        }
        Entries { next, prev }
    }

    fn unlink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p as usize] = x;
        if x != NIL {
            self.prev[x as usize] = p;
        }
    }

    fn relink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p as usize] = n as u32;
        if x != NIL {
            self.prev[x as usize] = n as u32;
        }
    }

    /// Takes operation `i`'s call and return out of the list.
    fn lift(&mut self, i: usize) {
        self.unlink(1 + 2 * i);
        self.unlink(2 + 2 * i);
    }

    /// Puts them back (the reverse of [`Entries::lift`], which left their own links as they were).
    fn unlift(&mut self, i: usize) {
        self.relink(2 + 2 * i);
        self.relink(1 + 2 * i);
    }
}

/// The set of linearized operations, with what the cache needs kept up to date as bits change.
///
/// Completed operations are in `words`, with a Zobrist hash (each one's random key XORed in while
/// its bit is set) and the span of words that are neither all ones nor all zeros at its ends.
/// Operations are numbered by invoke, so this part is mostly a full prefix and a few bits after it:
/// the cache keeps only that span, and its memory stays near constant per entry instead of growing
/// with the history. Unknown operations are in `unknown` instead (by their rank among the unknown
/// ones), which the cache compares by inclusion; their bits in `words` are always clear, and count
/// as set (`umask`) for the full prefix, so that they do not hold it back.
struct Linearized {
    words: Vec<u64>,
    /// The unknown operations' bits.
    umask: Vec<u64>,
    keys: Vec<u64>,
    hash: u64,
    /// Every word before it is all ones.
    full: usize,
    /// Every word from it on is zero.
    top: usize,
    /// Each operation's rank among the unknown ones, or `NOT_UNKNOWN`.
    rank: Vec<u32>,
    unknown: Vec<u64>,
    count: usize,
}

const NOT_UNKNOWN: u32 = u32::MAX;

impl Linearized {
    fn new(ops: &[&Operation]) -> Linearized {
        let n = ops.len();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let keys = (0..n).map(|_| splitmix64(&mut seed)).collect();
        let mut umask = vec![0; n.div_ceil(64)];
        let mut rank = vec![NOT_UNKNOWN; n];
        let mut unknowns = 0;
        for (i, op) in ops.iter().enumerate() {
            if unknown(op) {
                umask[i / 64] |= 1 << (i % 64);
                rank[i] = unknowns;
                unknowns += 1;
            }
        }
        let mut set = Linearized {
            words: vec![0; umask.len()],
            umask,
            keys,
            hash: 0,
            full: 0,
            top: 0,
            rank,
            unknown: vec![0; (unknowns as usize).div_ceil(64)],
            count: 0,
        };
        set.advance_full();
        set
    }

    fn advance_full(&mut self) {
        while self.full < self.words.len()
            && self.words[self.full] | self.umask[self.full] == u64::MAX
        {
            self.full += 1;
        }
    }

    fn set(&mut self, i: usize) {
        self.count += 1;
        let r = self.rank[i];
        if r != NOT_UNKNOWN {
            self.unknown[r as usize / 64] |= 1 << (r % 64);
            return;
        }
        let w = i / 64;
        self.words[w] |= 1 << (i % 64);
        self.hash ^= self.keys[i];
        self.top = self.top.max(w + 1);
        self.advance_full();
    }

    fn clear(&mut self, i: usize) {
        self.count -= 1;
        let r = self.rank[i];
        if r != NOT_UNKNOWN {
            self.unknown[r as usize / 64] &= !(1 << (r % 64));
            return;
        }
        let w = i / 64;
        self.words[w] &= !(1 << (i % 64));
        self.hash ^= self.keys[i];
        self.full = self.full.min(w);
        while self.top > 0 && self.words[self.top - 1] == 0 {
            self.top -= 1;
        }
    }

    /// The words that tell the completed part of this set from others with the same `full`.
    fn span(&self) -> &[u64] {
        &self.words[self.full..self.top.max(self.full)]
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A fast hasher for states (FxHash's mixing), and a pass-through one for the cache's keys, which
/// are already hashes.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0; 8];
            b.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(b));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
    }
}

#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A (linearized set, state) pair already explored; the set as [`Linearized`] splits it, its words
/// in [`Cache::words`].
struct Seen<S> {
    /// The next pair of the same hash, or `NIL`.
    next: u32,
    full: u32,
    /// Where its span starts in `words`; its unknown words follow the span.
    at: usize,
    span: u32,
    state: S,
}

/// The explored pairs, in flat arrays: one allocation per pair (or none) instead of four, as a
/// long history explores millions of them.
struct Cache<S> {
    heads: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    seen: Vec<Seen<S>>,
    words: Vec<u64>,
}

fn state_hash<S: Hash>(state: &S) -> u64 {
    let mut h = Fx::default();
    state.hash(&mut h);
    // Mixed once more, so that it XORs well with the set's hash.
    let mut x = h.finish();
    splitmix64(&mut x)
}

impl<S: Clone + Eq + Hash> Cache<S> {
    fn new() -> Cache<S> {
        Cache {
            heads: HashMap::default(),
            seen: Vec::new(),
            words: Vec::new(),
        }
    }

    /// Whether the pair was new, that is no seen pair has its state, its completed operations and
    /// a subset of its unknown ones (see the module's documentation); a new one is remembered, and
    /// the seen pairs it covers are unlinked (their words stay, unreachable: cheaper than
    /// compacting).
    fn remember(&mut self, set: &Linearized, state: &S) -> bool {
        let hash = set.hash ^ state_hash(state);
        let span = set.span();
        let head = self.heads.get(&hash).copied().unwrap_or(NIL);
        let mut at = head;
        while at != NIL {
            let s = &self.seen[at as usize];
            at = s.next;
            if s.full as usize != set.full || s.span as usize != span.len() {
                continue;
            }
            let (old_span, rest) = self.words[s.at..].split_at(span.len());
            if old_span != span || s.state != *state {
                continue;
            }
            let old_unknown = &rest[..set.unknown.len()];
            if old_unknown
                .iter()
                .zip(&set.unknown)
                .all(|(&o, &n)| o & !n == 0)
            {
                return false;
            }
        }
        // Pairs the new one covers are unlinked: whatever they would match, it matches.
        let mut head = head;
        let mut prev = NIL;
        let mut at = head;
        while at != NIL {
            let s = &self.seen[at as usize];
            let next = s.next;
            let covered = s.full as usize == set.full
                && s.span as usize == span.len()
                && s.state == *state
                && {
                    let (old_span, rest) = self.words[s.at..].split_at(span.len());
                    old_span == span
                        && rest[..set.unknown.len()]
                            .iter()
                            .zip(&set.unknown)
                            .all(|(&o, &n)| n & !o == 0)
                };
            if !covered {
                prev = at;
            } else if prev == NIL {
                head = next;
            } else {
                self.seen[prev as usize].next = next;
            }
            at = next;
        }
        let index = self.seen.len() as u32;
        self.seen.push(Seen {
            next: head,
            full: set.full as u32,
            at: self.words.len(),
            span: span.len() as u32,
            state: state.clone(),
        });
        self.words.extend_from_slice(span);
        self.words.extend_from_slice(&set.unknown);
        self.heads.insert(hash, index);
        true
    }
}

/// The search over one partition's operations, numbered by invoke.
fn search<S: Clone + Eq + Hash>(
    model: &Model<S>,
    ops: &[&Operation],
    budget: &mut Budget,
) -> Search<S> {
    let mut list = Entries::new(ops);
    let mut set = Linearized::new(ops);
    let mut cache: Cache<S> = Cache::new();
    // The lifted operations, each with the state before it.
    let mut calls: Vec<(usize, S)> = Vec::new();
    let mut deepest: Option<Deepest<S>> = None;
    let mut state = (model.init)();
    let mut node = list.next[HEAD];
    while list.next[HEAD] != NIL {
        if node == NIL || !budget.take() {
            // `node` is never NIL here: a call's return is after it, and a return stops the walk.
            return Search::Exhausted;
        }
        let n = node as usize;
        let i = (n - 1) / 2;
        if n % 2 == 1 {
            // A call: place it here if the model takes it and the result is not one already seen.
            let op = ops[i];
            match (model.step)(&state, &op.call, result(op)) {
                Some(after) => {
                    set.set(i);
                    if cache.remember(&set, &after) {
                        calls.push((i, std::mem::replace(&mut state, after)));
                        list.lift(i);
                        node = list.next[HEAD];
                    } else {
                        set.clear(i);
                        node = list.next[n];
                    }
                }
                None => node = list.next[n],
            }
        } else if unknown(ops[i]) {
            // Returns at infinity come last: every operation that completed is placed, and the
            // unknown ones left can take effect after them all.
            return Search::Linearizable;
        } else {
            // A return whose call is still open: it cannot be placed after this point.
            if deepest.as_ref().is_none_or(|d| calls.len() > d.count) {
                deepest = Some(Deepest {
                    full: set.full,
                    span: set.span().to_vec(),
                    unknown: set.unknown.clone(),
                    count: calls.len(),
                    last: calls.last().map(|(j, _)| *j),
                    stuck: i,
                    state: state.clone(),
                });
            }
            let Some((j, before)) = calls.pop() else {
                // Nothing left to undo: every order has been tried. (`deepest` was set just above.)
                return deepest.map_or(Search::Exhausted, Search::Stuck);
            };
            state = before;
            set.clear(j);
            list.unlift(j);
            node = list.next[2 * j + 1];
        }
    }
    Search::Linearizable
}

/// The violation the deepest attempt shows (see [`Violation`] for what its window holds).
fn violation<S>(
    model: &Model<S>,
    key: Option<&str>,
    ops: &[&Operation],
    deepest: Deepest<S>,
) -> Violation {
    let bit = |words: &[u64], i: usize| words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0);
    let mut rank = 0;
    let placed: Vec<bool> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            if unknown(op) {
                rank += 1;
                bit(&deepest.unknown, rank - 1)
            } else {
                i / 64 < deepest.full || bit(&deepest.span, i - deepest.full * 64)
            }
        })
        .collect();
    let placed = |i: usize| placed[i];
    let stuck = ops[deepest.stuck];
    let end = deadline(stuck);
    // Unplaced operations that had to be placed by `end`, and the last one placed, start the span.
    let start = ops
        .iter()
        .enumerate()
        .filter(|&(i, op)| !placed(i) && op.invoke <= end && deadline(op) <= end)
        .map(|(_, op)| op.invoke)
        .chain(deepest.last.map(|i| ops[i].invoke))
        .min()
        .unwrap_or(stuck.invoke);
    let (window, placed) = ops
        .iter()
        .enumerate()
        .filter(|&(i, op)| {
            op.invoke <= end
                && (!placed(i) || op.invoke >= start || op.complete.is_some_and(|c| c >= start))
        })
        .map(|(i, op)| ((*op).clone(), placed(i)))
        .unzip();
    Violation {
        key: key.map(str::to_string),
        ops_in_key: ops.len(),
        linearized: deepest.count,
        state: (model.describe)(&deepest.state),
        stuck: stuck.clone(),
        window,
        placed,
    }
}
