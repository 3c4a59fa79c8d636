//! Sequential specifications to check histories against. As in porcupine, a model is data — an
//! initial state, a step function, a partition — and knows nothing of the checker or of any system.

use super::types::{Call, Operation, Return};

/// A sequential specification of one partition (one key) of a system.
///
/// The checker needs `S: Eq + Hash` to remember the (linearized set, state) pairs it has already
/// explored.
#[derive(Clone, Copy)]
pub struct Model<S> {
    /// Its name, as `--model` spells it.
    pub name: &'static str,
    /// Whether the model has this call (checked before any search, so that a kv history checked as
    /// a register is an error and not a verdict).
    pub supports: fn(&Call) -> bool,
    /// Calls that never change the state: with an unknown outcome they constrain nothing at all,
    /// and the checker drops them.
    pub read_only: fn(&Call) -> bool,
    /// The partition an operation belongs to. A history is linearizable if and only if each
    /// partition is (linearizability is compositional), and checking keys apart is much faster.
    pub partition: for<'a> fn(&'a Operation) -> Option<&'a str>,
    /// The state of every partition before any operation.
    pub init: fn() -> S,
    /// The state after `call` took effect in `state` with result `ret` (`None`: unknown, so
    /// unconstrained), or `None` when that result is impossible in that state. With `ret` `None`
    /// it never refuses a call the model supports: the checker relies on being able to put an
    /// unknown operation off to the end.
    pub step: fn(&S, &Call, Option<&Return>) -> Option<S>,
    /// The state in words, for the report of a violation.
    pub describe: fn(&S) -> String,
}

/// Which model, by name (for the command line and for callers that choose at run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Register,
    Kv,
}

fn by_key(op: &Operation) -> Option<&str> {
    op.key.as_deref()
}

/// A register per key (one register when operations have no key): read, write and
/// compare-and-set; it starts absent, so a first read returns nil.
pub const REGISTER: Model<Option<String>> = Model {
    name: "register",
    supports: |c| matches!(c, Call::Read | Call::Write(_) | Call::Cas { .. }),
    read_only: |c| matches!(c, Call::Read),
    partition: by_key,
    init: || None,
    step: register_step,
    describe: |s| match s {
        Some(v) => format!("{v:?}"),
        None => "nil".into(),
    },
};

fn register_step(
    state: &Option<String>,
    call: &Call,
    ret: Option<&Return>,
) -> Option<Option<String>> {
    match (call, ret) {
        (Call::Read, None) => Some(state.clone()),
        (Call::Read, Some(Return::Value(v))) => (v == state).then(|| state.clone()),
        (Call::Write(v), None | Some(Return::Done)) => Some(Some(v.clone())),
        (Call::Cas { expected, new }, ret) => {
            let held = state.as_deref() == Some(expected.as_str());
            match ret {
                None => {}
                Some(Return::Cas(said)) if *said == held => {}
                Some(_) => return None,
            }
            Some(if held {
                Some(new.clone())
            } else {
                state.clone()
            })
        }
        _ => None,
    }
}

/// A key-value store, key by key: get, put and append; every key starts as `""` (a get that
/// returns nil is read as `""`).
pub const KV: Model<String> = Model {
    name: "kv",
    supports: |c| matches!(c, Call::Get | Call::Put(_) | Call::Append(_)),
    read_only: |c| matches!(c, Call::Get),
    partition: by_key,
    init: String::new,
    step: kv_step,
    describe: |s| format!("{s:?}"),
};

fn kv_step(state: &String, call: &Call, ret: Option<&Return>) -> Option<String> {
    match (call, ret) {
        (Call::Get, None) => Some(state.clone()),
        (Call::Get, Some(Return::Value(v))) => {
            (v.as_deref().unwrap_or("") == state).then(|| state.clone())
        }
        (Call::Put(v), None | Some(Return::Done)) => Some(v.clone()),
        (Call::Append(v), None | Some(Return::Done)) => {
            let mut s = String::with_capacity(state.len() + v.len());
            s.push_str(state);
            s.push_str(v);
            Some(s)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn the_register_starts_absent_and_follows_writes_and_cas() {
        let s = (REGISTER.init)();
        assert_eq!(s, None);
        assert_eq!(
            (REGISTER.step)(&s, &Call::Read, Some(&Return::Value(None))),
            Some(None)
        );
        assert_eq!(
            (REGISTER.step)(&s, &Call::Read, Some(&Return::Value(Some(v("1"))))),
            None
        );
        let s = (REGISTER.step)(&s, &Call::Write(v("1")), Some(&Return::Done)).unwrap();
        assert_eq!(s.as_deref(), Some("1"));
        let cas = |e: &str, n: &str| Call::Cas {
            expected: v(e),
            new: v(n),
        };
        // A cas whose compare holds sets; one that does not leaves the value, and must say so.
        assert_eq!(
            (REGISTER.step)(&s, &cas("1", "2"), Some(&Return::Cas(true))),
            Some(Some(v("2")))
        );
        assert_eq!(
            (REGISTER.step)(&s, &cas("1", "2"), Some(&Return::Cas(false))),
            None
        );
        assert_eq!(
            (REGISTER.step)(&s, &cas("3", "2"), Some(&Return::Cas(false))),
            Some(Some(v("1")))
        );
        assert_eq!(
            (REGISTER.step)(&s, &cas("3", "2"), Some(&Return::Cas(true))),
            None
        );
        // Unknown: unconstrained, but the effect follows the state.
        assert_eq!(
            (REGISTER.step)(&s, &cas("1", "2"), None),
            Some(Some(v("2")))
        );
        assert_eq!((REGISTER.step)(&s, &Call::Read, None), Some(Some(v("1"))));
        // A result of the wrong kind is impossible, not ignored.
        assert_eq!((REGISTER.step)(&s, &Call::Read, Some(&Return::Done)), None);
        assert_eq!((REGISTER.step)(&s, &Call::Get, None), None);
    }

    #[test]
    fn a_kv_key_starts_empty_and_appends() {
        let s = (KV.init)();
        assert_eq!(
            (KV.step)(&s, &Call::Get, Some(&Return::Value(Some(v(""))))),
            Some(v(""))
        );
        assert_eq!(
            (KV.step)(&s, &Call::Get, Some(&Return::Value(None))),
            Some(v(""))
        );
        let s = (KV.step)(&s, &Call::Append(v("x 1 y")), Some(&Return::Done)).unwrap();
        let s = (KV.step)(&s, &Call::Append(v("x 2 y")), None).unwrap();
        assert_eq!(s, "x 1 yx 2 y");
        assert_eq!(
            (KV.step)(&s, &Call::Get, Some(&Return::Value(Some(v("x 1 y"))))),
            None
        );
        let s = (KV.step)(&s, &Call::Put(v("z")), Some(&Return::Done)).unwrap();
        assert_eq!(s, "z");
        assert!(!(KV.supports)(&Call::Read));
        assert!((KV.read_only)(&Call::Get));
    }
}
