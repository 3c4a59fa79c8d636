//! A component's own words about why it stopped: the error line(s) at the end of its log, quoted in
//! the reason of a trial it failed, so that a report (and the baseline) says what the software said,
//! not only that it exited.
//!
//! Log formats differ (Redis's `1:S 21 Nov 2026 … # Can't handle RDB format version 10`, etcd's
//! `… C | etcdserver: cluster cannot be downgraded …` or zap's `{"level":"fatal",…}`, Go and Rust
//! panics), so by default the choice is a small, deterministic reading of the tail rather than a parser
//! per format, one line, the most severe near the end:
//!
//! 1. a panic line anywhere in the tail (a stack trace follows it, so it is not at the end);
//! 2. else the last fatal/critical line among the last few;
//! 3. else the last error-like line among them;
//! 4. else the last line.
//!
//! One line, because what comes before the fatal one varies from run to run (etcd may or may not log a
//! peer it cannot find just before it refuses to start), and the reason is held against a baseline. A
//! role whose cause and exit are two lines says which lines are its error lines (`error_lines`, a
//! regex): then the last two of those are quoted.

use std::sync::LazyLock;

use regex::Regex;

/// How far from the end the default reading looks (a process that exits logs its cause last, or just
/// before a line saying it exits).
const NEAR_END: usize = 5;
/// At most this many of a role's own error lines are quoted.
const MAX_LINES: usize = 2;
/// A quoted line longer than this is cut.
const MAX_LINE_CHARS: usize = 200;

static PANIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^panic: |^thread '.*' panicked at|^fatal error: ").expect("valid pattern")
});

static FATAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(fatal|panic|critical|crit|emerg|emergency)\b",
        // capnslog's level letters (etcd 3.3 and older): `… C | etcdserver: …`.
        r"|\s[CF] \| ",
    ))
    .expect("valid pattern")
});

static ERROR_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(error|err|failed|failure|cannot|can't|unable|refused|denied|invalid|exception|",
        r"abort(ed|ing)?|exiting)\b",
        r"|\sE \| ",
    ))
    .expect("valid pattern")
});

/// The line(s) of `log` (a container's last lines) that say why it stopped, joined by ` | `, or
/// `None` for an empty log. `error_lines`: the role's own pattern for its error lines, if it has one.
pub(crate) fn last_words(log: &str, error_lines: Option<&Regex>) -> Option<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if let Some(own) = error_lines {
        let matched: Vec<&str> = lines.iter().copied().filter(|l| own.is_match(l)).collect();
        if !matched.is_empty() {
            let last = &matched[matched.len().saturating_sub(MAX_LINES)..];
            return Some(last.iter().map(|l| cut(l)).collect::<Vec<_>>().join(" | "));
        }
    }
    if let Some(panic) = lines.iter().find(|l| PANIC.is_match(l)) {
        return Some(cut(panic));
    }
    let tail = &lines[lines.len().saturating_sub(NEAR_END)..];
    tail.iter()
        .rev()
        .find(|l| FATAL.is_match(l))
        .or_else(|| tail.iter().rev().find(|l| ERROR_LIKE.is_match(l)))
        .or(tail.last())
        .map(|l| cut(l))
}

/// `; it logged: …` to end a message about a component that exited, or nothing for an empty log.
pub(crate) fn it_logged(log: &str, error_lines: Option<&Regex>) -> String {
    last_words(log, error_lines)
        .map(|w| format!("; it logged: {w}"))
        .unwrap_or_default()
}

fn cut(line: &str) -> String {
    if line.chars().count() > MAX_LINE_CHARS {
        line.chars().take(MAX_LINE_CHARS).collect::<String>() + "…"
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIS: &str = "1:S 21 Nov 2026 10:00:00.001 * Loading RDB produced by version 7.0.15\n\
                         1:S 21 Nov 2026 10:00:00.002 * RDB age 3 seconds\n\
                         1:S 21 Nov 2026 10:00:00.003 # Can't handle RDB format version 10\n\
                         1:S 21 Nov 2026 10:00:00.004 # Fatal error loading the DB: Invalid argument. Exiting.\n";

    #[test]
    fn the_most_severe_line_near_the_end() {
        assert_eq!(
            last_words(REDIS, None).unwrap(),
            "1:S 21 Nov 2026 10:00:00.004 # Fatal error loading the DB: Invalid argument. Exiting."
        );
        // etcd 3.3: the critical line, whether or not an error line came just before it.
        let log = "2026-11-21 10:00:00.000000 I | etcdserver: name = a-0\n\
                   2026-11-21 10:00:00.050000 E | rafthttp: failed to find member 35123c68f49b6403\n\
                   2026-11-21 10:00:00.100000 C | etcdserver/membership: cluster cannot be downgraded\n";
        assert_eq!(
            last_words(log, None).unwrap(),
            "2026-11-21 10:00:00.100000 C | etcdserver/membership: cluster cannot be downgraded"
        );
        let log = "starting\nerror: cannot bind :8080: address in use\nshutting down\n";
        assert_eq!(
            last_words(log, None).unwrap(),
            "error: cannot bind :8080: address in use"
        );
    }

    #[test]
    fn a_role_s_own_error_lines_give_cause_and_exit() {
        let own = Regex::new(r" # ").unwrap();
        assert_eq!(
            last_words(REDIS, Some(&own)).unwrap(),
            "1:S 21 Nov 2026 10:00:00.003 # Can't handle RDB format version 10 | \
             1:S 21 Nov 2026 10:00:00.004 # Fatal error loading the DB: Invalid argument. Exiting."
        );
        // A log without such lines falls back to the default reading.
        assert_eq!(last_words("bye\n", Some(&own)).unwrap(), "bye");
    }

    #[test]
    fn a_panic_is_found_above_its_stack_trace() {
        let mut log = String::from("starting\npanic: runtime error: index out of range [3]\n\n");
        for i in 0..15 {
            log.push_str(&format!("main.f{i}()\n\t/src/main.go:{i}\n"));
        }
        assert_eq!(
            last_words(&log, None).unwrap(),
            "panic: runtime error: index out of range [3]"
        );
    }

    #[test]
    fn without_an_error_line_the_last_line_is_quoted() {
        assert_eq!(
            last_words("listening on 8080\nshutting down\n", None).unwrap(),
            "shutting down"
        );
        assert_eq!(last_words("\n  \n", None), None);
        assert_eq!(it_logged("", None), "");
    }

    #[test]
    fn an_error_far_above_the_end_is_not_the_reason() {
        let log = "error: transient, retried\na\nb\nc\nd\ne\nbye\n";
        assert_eq!(last_words(log, None).unwrap(), "bye");
    }

    #[test]
    fn long_lines_are_cut() {
        let long = format!("fatal: {}", "x".repeat(500));
        assert_eq!(
            last_words(&long, None).unwrap().chars().count(),
            MAX_LINE_CHARS + 1
        );
    }
}
