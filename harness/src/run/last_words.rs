//! A component's own words about why it stopped: the error line(s) at the end of its log, quoted in
//! the reason of a trial it failed, so that a report (and the baseline) says what the software said,
//! not only that it exited.
//!
//! Log formats differ (Redis's `1:S 21 Nov 2026 … # Can't handle RDB format version 10`, etcd's
//! `… C | etcdserver: cluster cannot be downgraded …` or zap's `{"level":"fatal",…}`, Go and Rust
//! panics), so by default the choice is a small, deterministic reading of the tail rather than a parser
//! per format, one line, the most severe near the end:
//!
//! 1. a panic line anywhere in the tail (a stack trace follows it, so it is not at the end): Go's
//!    `panic:` with the first frame of its goroutine, Rust's `panicked at` with its message;
//! 2. else an exception whose stack trace ends near the end of the log: its root cause, that is Java's
//!    last `Caused by:` (or the exception line above the first `at` frame), Python's line that closes
//!    the last traceback;
//! 3. else the last fatal/critical line among the last few;
//! 4. else the last error-like line among them;
//! 5. else the last line.
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
    let raw: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    if let Some(at) = raw.iter().position(|l| PANIC.is_match(l.trim())) {
        return Some(cut(&panic_words(&raw[at..])));
    }
    if let Some(cause) = exception_cause(&raw) {
        return Some(cut(&cause));
    }
    let tail = &lines[lines.len().saturating_sub(NEAR_END)..];
    tail.iter()
        .rev()
        .find(|l| FATAL.is_match(l))
        .or_else(|| tail.iter().rev().find(|l| ERROR_LIKE.is_match(l)))
        .or(tail.last())
        .map(|l| cut(l))
}

/// A panic line, with what completes it: Rust (1.73 and later) prints the message on the line after
/// `panicked at FILE:LINE:COL:`; Go prints the goroutine's frames after it, the first of which (past
/// the runtime's own) is where it panicked.
fn panic_words(from: &[&str]) -> String {
    let first = from[0].trim();
    if first.ends_with(':') && first.contains("panicked at") {
        if let Some(message) = from.get(1) {
            return format!("{first} {}", message.trim());
        }
    }
    if first.starts_with("panic: ") {
        let frames = from
            .iter()
            .skip_while(|l| !l.trim_start().starts_with("goroutine "))
            .skip(1)
            .map(|l| l.trim())
            .collect::<Vec<_>>();
        // Frames come in pairs: `pkg.func(args)` then `/path/file.go:LINE +0x…`.
        let frame = frames
            .chunks(2)
            .find(|pair| !(pair[0].starts_with("panic(") || pair[0].starts_with("runtime.")));
        if let Some([func, place]) = frame {
            // `pkg.(*T).Method(0x1, …)`: the arguments are the last parentheses.
            let func = func.rsplit_once('(').map_or(*func, |(name, _)| name);
            let place = place.split(" +0x").next().unwrap_or(place);
            return format!("{first} (in {func} at {place})");
        }
    }
    first.to_string()
}

/// The root cause of the last exception in the log, if its stack trace ends within [`NEAR_END`]
/// lines of the end (an exception handled long before the exit is not the reason).
fn exception_cause(raw: &[&str]) -> Option<String> {
    let is_frame = |l: &str| {
        let t = l.trim_start();
        l.starts_with(char::is_whitespace) && (t.starts_with("at ") || t.starts_with("..."))
    };
    // Java: frames are `\tat pkg.Class.method(File.java:12)`; a chain adds `Caused by: X: msg`.
    if let Some(last_frame) = raw.iter().rposition(|l| is_frame(l)) {
        if raw.len() - 1 - last_frame <= NEAR_END {
            let block_start = raw[..=last_frame]
                .iter()
                .rposition(|l| !is_frame(l) && !l.trim_start().starts_with("Caused by:"))
                .unwrap_or(0);
            let caused = raw[block_start..=last_frame]
                .iter()
                .rev()
                .find(|l| l.trim_start().starts_with("Caused by:"));
            return Some(caused.unwrap_or(&raw[block_start]).trim().to_string());
        }
    }
    // Python: `Traceback (most recent call last):`, indented frames, then the exception line.
    if let Some(tb) = raw
        .iter()
        .rposition(|l| l.trim() == "Traceback (most recent call last):")
    {
        let closing = raw[tb + 1..]
            .iter()
            .position(|l| !l.starts_with(char::is_whitespace))
            .map(|i| tb + 1 + i)?;
        if raw.len() - 1 - closing <= NEAR_END {
            return Some(raw[closing].trim().to_string());
        }
    }
    None
}

static WARNING: LazyLock<Regex> = LazyLock::new(|| {
    // capnslog's `W |`, and the words.
    Regex::new(r"(?i)\b(warn|warning)\b|\sW \| ").expect("valid pattern")
});

/// At most this many of a replica's complaints during a failed step are quoted.
const MAX_COMPLAINTS: usize = 3;

/// The warnings and errors in `log` (what a replica logged during a step that failed), the last
/// [`MAX_COMPLAINTS`] of them: a component that misbehaves without exiting says so in its log.
/// `error_lines`, a role's own pattern, counts as well.
pub(crate) fn complaints(log: &str, error_lines: Option<&Regex>) -> Vec<String> {
    let found: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && (PANIC.is_match(l)
                    || FATAL.is_match(l)
                    || ERROR_LIKE.is_match(l)
                    || WARNING.is_match(l)
                    || error_lines.is_some_and(|r| r.is_match(l)))
        })
        .collect();
    found[found.len().saturating_sub(MAX_COMPLAINTS)..]
        .iter()
        .map(|l| cut(l))
        .collect()
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
    fn java_s_root_cause_not_its_exit_line() {
        // ZooKeeper 3.8 on 3.4's data, as it ends.
        let log = "2026-12-01 10:00:00,000 [myid:1] - INFO  [main:QuorumPeerConfig@174] - Reading configuration\n\
                   2026-12-01 10:00:00,100 [myid:1] - ERROR [main:QuorumPeerMain@114] - Unexpected exception, exiting abnormally\n\
                   java.lang.RuntimeException: Unable to run quorum server\n\
                   \tat org.apache.zookeeper.server.quorum.QuorumPeer.loadDataBase(QuorumPeer.java:1149)\n\
                   \tat org.apache.zookeeper.server.quorum.QuorumPeer.start(QuorumPeer.java:1079)\n\
                   Caused by: java.io.IOException: No snapshot found, but there are log entries. Something is broken!\n\
                   \tat org.apache.zookeeper.server.persistence.FileTxnSnapLog.restore(FileTxnSnapLog.java:290)\n\
                   \t... 4 more\n\
                   2026-12-01 10:00:00,200 [myid:1] - ERROR [main:ServiceUtils@48] - Exiting JVM with code 1\n";
        assert_eq!(
            last_words(log, None).unwrap(),
            "Caused by: java.io.IOException: No snapshot found, but there are log entries. Something is broken!"
        );
        // Without a chain: the exception line above the first frame.
        let log = "starting\njava.net.BindException: Address already in use\n\tat sun.nio.ch.Net.bind(Net.java:555)\nbye\n";
        assert_eq!(
            last_words(log, None).unwrap(),
            "java.net.BindException: Address already in use"
        );
    }

    #[test]
    fn python_s_last_traceback_line() {
        let log = "Traceback (most recent call last):\n  File \"/app/a.py\", line 3, in <module>\n    main()\n\
                   KeyError: 'x'\n\nDuring handling of the above exception, another exception occurred:\n\n\
                   Traceback (most recent call last):\n  File \"/app/a.py\", line 5, in <module>\n    boot()\n\
                   ConnectionRefusedError: [Errno 111] Connection refused\n";
        assert_eq!(
            last_words(log, None).unwrap(),
            "ConnectionRefusedError: [Errno 111] Connection refused"
        );
    }

    #[test]
    fn go_s_panic_with_its_first_frame_and_rust_s_with_its_message() {
        let log = "starting\npanic: assignment to entry in nil map\n\ngoroutine 1 [running]:\n\
                   main.(*Store).Put(...)\n\t/src/store.go:41 +0x2c\nmain.main()\n\t/src/main.go:12 +0x1d\nexit status 2\n";
        assert_eq!(
            last_words(log, None).unwrap(),
            "panic: assignment to entry in nil map (in main.(*Store).Put at /src/store.go:41)"
        );
        let log = "thread 'main' panicked at src/main.rs:5:9:\nindex out of bounds\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            last_words(log, None).unwrap(),
            "thread 'main' panicked at src/main.rs:5:9: index out of bounds"
        );
    }

    #[test]
    fn an_exception_handled_long_before_the_exit_is_not_the_reason() {
        let log = "java.io.IOException: retried\n\tat a.B.c(B.java:1)\none\ntwo\nthree\nfour\nfive\nsix\nfatal: gave up\n";
        assert_eq!(last_words(log, None).unwrap(), "fatal: gave up");
    }

    #[test]
    fn complaints_are_the_last_warnings_and_errors() {
        let log = "starting\n[WRN] slow consumer\nok\n[ERR] raft: append entry corrupt\n\
                   2026 W | rafthttp: lost peer\nfine\n[ERR] again\n";
        assert_eq!(
            complaints(log, None),
            [
                "[ERR] raft: append entry corrupt",
                "2026 W | rafthttp: lost peer",
                "[ERR] again"
            ]
        );
        assert!(complaints("all good\nserving\n", None).is_empty());
        let own = Regex::new(r"^>>> ").unwrap();
        assert_eq!(complaints("a\n>>> odd\n", Some(&own)), [">>> odd"]);
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
