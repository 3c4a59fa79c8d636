//! The baseline record of one trial: its verdict, the step that failed and a normalised reason, as a
//! few lines of text. Nothing in it may change from one run to the next unless the system's behaviour
//! did: no timings, addresses, ports, container or run ids.

use std::sync::LazyLock;

use indexmap::IndexMap;
use regex::Regex;

use crate::outcome::{Class, TrialOutcome, Verdict};

/// The snapshot of a trial recorded as flaky.
pub(crate) const FLAKY: &str = "verdict: flaky";

/// Longest reason kept in a snapshot; the full text is in the report.
const MAX_REASON: usize = 400;

/// The text recorded for `outcome`, e.g.
///
/// ```text
/// verdict: fail
/// step: 3 run client.put
/// reason: exit code 1: error: HTTP 404 from node-<n>:8080 ...
/// releases: node=2.0×3 client=1.0
/// ```
///
/// A repeated trial whose runs disagree is recorded as `verdict: flaky` alone: which run failed, and
/// how, varies from run to run. Runs that agree are recorded as one run would be.
pub(crate) fn snapshot_of(outcome: &TrialOutcome) -> String {
    if outcome
        .repeats
        .as_ref()
        .is_some_and(|r| r.class == Class::Flaky)
    {
        return format!("{FLAKY}\n");
    }
    let mut s = format!("verdict: {}\n", outcome.verdict);
    // A negative trial that passed because a component refused keeps the refusal: that it now
    // goes through instead is a change.
    if outcome.verdict == Verdict::Pass && outcome.failed_step.is_none() {
        return s;
    }
    let failed = outcome
        .failed_step
        .and_then(|n| outcome.steps.iter().find(|st| st.number == n));
    if let Some(step) = failed {
        s.push_str(&format!("step: {} {}\n", step.number, step.description));
    }
    if let Some(reason) = reason_of(outcome) {
        s.push_str(&format!("reason: {reason}\n"));
    }
    // The versions of every node at that moment: what a reader needs to place the failure.
    if let Some(step) = failed {
        let releases: Vec<String> = releases_by_role(&step.releases)
            .into_iter()
            .map(
                |(role, counts)| match counts.iter().collect::<Vec<_>>()[..] {
                    [(rel, 1)] => format!("{role}={rel}"),
                    _ => {
                        let each: Vec<String> =
                            counts.iter().map(|(r, n)| format!("{r}×{n}")).collect();
                        format!("{role}={}", each.join(","))
                    }
                },
            )
            .collect();
        if !releases.is_empty() {
            s.push_str(&format!("releases: {}\n", releases.join(" ")));
        }
    }
    s
}

/// Why `outcome` failed, as its snapshot records it: the failed step's own message (the reason
/// repeats the step's description before it), else the trial's reason, normalised, and with the
/// replicas of a replicated role anonymous (which of them an election or an order picked varies from
/// run to run, so they are all `master-<n>`).
pub(crate) fn reason_of(outcome: &TrialOutcome) -> Option<String> {
    let failed = outcome
        .failed_step
        .and_then(|n| outcome.steps.iter().find(|st| st.number == n));
    let replicated: Vec<&str> = failed
        .map(|st| {
            releases_by_role(&st.releases)
                .into_iter()
                .filter(|(_, counts)| counts.values().sum::<usize>() > 1)
                .map(|(role, _)| role)
                .collect()
        })
        .unwrap_or_default();
    let reason = failed
        .and_then(|st| st.message.as_deref())
        .or(outcome.reason.as_deref())?;
    Some(anonymize(&normalize(reason), &replicated))
}

/// A step's replica → release map (`master-2` → `0.24`) by role, in replica order: each release the
/// role's replicas run, with how many run it.
pub(crate) fn releases_by_role(
    releases: &IndexMap<String, String>,
) -> IndexMap<&str, std::collections::BTreeMap<&str, usize>> {
    let mut by_role: IndexMap<&str, std::collections::BTreeMap<&str, usize>> = IndexMap::new();
    for (replica, rel) in releases {
        let role = replica
            .rsplit_once('-')
            .map_or(replica.as_str(), |(r, _)| r);
        *by_role.entry(role).or_default().entry(rel).or_default() += 1;
    }
    by_role
}

/// `master-2` → `master-<n>` for the replicated roles.
fn anonymize(text: &str, replicated: &[&str]) -> String {
    let mut s = text.to_string();
    for role in replicated {
        let re = Regex::new(&format!(r"\b{}-\d+\b", regex::escape(role))).expect("valid pattern");
        s = re.replace_all(&s, format!("{role}-<n>")).into_owned();
    }
    s
}

/// Whether a snapshot records a flaky trial.
pub(crate) fn is_flaky(snapshot: &str) -> bool {
    snapshot.lines().next().map(str::trim_end) == Some(FLAKY)
}

/// The verdict a snapshot records (its first line), if it is one of ours (`flaky` is none).
pub(crate) fn verdict_of(snapshot: &str) -> Option<Verdict> {
    match snapshot.lines().next()?.strip_prefix("verdict: ")?.trim() {
        "pass" => Some(Verdict::Pass),
        "fail" => Some(Verdict::Fail),
        "error" => Some(Verdict::Error),
        _ => None,
    }
}

/// Rewrites what varies between runs of the same behaviour into placeholders, and folds the text to
/// one line of bounded length.
pub(crate) fn normalize(text: &str) -> String {
    static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        [
            // Timestamps in quoted log lines: ISO 8601 (etcd, zap, most), Redis's `21 Nov 2026
            // 10:00:00.123`, a bare time of day, Unix seconds (zap's numeric `"ts"`).
            (
                r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}([.,]\d+)?(Z|[+-]\d{2}:?\d{2})?",
                "<time>",
            ),
            (
                r"\b\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2}(\.\d+)?",
                "<time>",
            ),
            (r"\b\d{2}:\d{2}:\d{2}(\.\d+)?\b", "<time>"),
            (r"\b1[5-9]\d{8}(\.\d+)?\b", "<time>"),
            // Run ids: 20261121-223501-3fa2.
            (r"\b\d{8}-\d{6}-[0-9a-f]{4}\b", "<run>"),
            // UUIDs, then container/image ids and digests (12+ hex digits).
            (
                r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
                "<uuid>",
            ),
            (r"\b(sha256:)?[0-9a-f]{12,64}\b", "<id>"),
            // Pointers in Go's and C's messages (`etcd-endpoints://0xc00040a1e0/a-0:2379`).
            (r"\b0x[0-9a-f]{6,16}\b", "<ptr>"),
            // IPv4 addresses with or without a port.
            (r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d+)?\b", "<addr>"),
            // Durations and measured quantities: 1.5s, 250ms, 3m, 99.1%, 12/40.
            (r"\b\d+(\.\d+)?(ns|µs|us|ms|s|m|h)\b", "<duration>"),
            (r"\b\d+(\.\d+)?%", "<n>%"),
            (r"\b\d+/\d+\b", "<n>/<n>"),
            (r"\b\d+ ms\b", "<n> ms"),
        ]
        .into_iter()
        .map(|(re, to)| (Regex::new(re).expect("valid pattern"), to))
        .collect()
    });
    let mut s = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for (re, to) in RULES.iter() {
        s = re.replace_all(&s, *to).into_owned();
    }
    if s.chars().count() > MAX_REASON {
        s = s.chars().take(MAX_REASON).collect::<String>() + "…";
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_removes_what_varies() {
        let raw = "step 4 (check node.leader)   did not finish within 10s after 1.52s; \
                   GET http://172.18.0.3:8080/leader from 3f2a9c1b7d4e, run 20261121-223501-3fa2:\n\
                   97.5% (39/40) and 5200 ms; etcd-endpoints://0xc00040a1e0/a-0:2379";
        assert_eq!(
            normalize(raw),
            "step 4 (check node.leader) did not finish within <duration> after <duration>; \
             GET http://<addr>/leader from <id>, run <run>: <n>% (<n>/<n>) and <n> ms; \
             etcd-endpoints://<ptr>/a-0:2379"
        );
    }

    #[test]
    fn normalize_removes_log_timestamps() {
        assert_eq!(
            normalize(
                "it logged: 1:S 21 Nov 2026 10:00:00.003 # Can't handle RDB format version 10"
            ),
            "it logged: 1:S <time> # Can't handle RDB format version 10"
        );
        assert_eq!(
            normalize("2026-11-21 10:00:00.100000 C | etcdserver: cluster cannot be downgraded"),
            "<time> C | etcdserver: cluster cannot be downgraded"
        );
        assert_eq!(
            normalize(r#"{"level":"fatal","ts":"2026-11-21T10:00:00.123Z","msg":"x"} at 10:00:01"#),
            r#"{"level":"fatal","ts":"<time>","msg":"x"} at <time>"#
        );
        assert_eq!(
            normalize(r#"{"level":"fatal","ts":1763719200.123,"msg":"x"}"#),
            r#"{"level":"fatal","ts":<time>,"msg":"x"}"#
        );
    }

    #[test]
    fn normalize_keeps_codes_and_names() {
        assert_eq!(
            normalize("node-2 exited unexpectedly with code 3"),
            "node-2 exited unexpectedly with code 3"
        );
    }

    #[test]
    fn normalize_bounds_the_length() {
        let long = "x ".repeat(1000);
        assert!(normalize(&long).chars().count() <= MAX_REASON + 1);
    }

    #[test]
    fn interchangeable_replicas_are_anonymous_and_counted() {
        use crate::outcome::{StepOutcome, StepStatus};
        let releases: IndexMap<String, String> = [
            ("master-0", "0.22"),
            ("master-1", "0.24"),
            ("master-2", "0.22"),
            ("agent-0", "0.22"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let outcome = TrialOutcome {
            id: "s/x/a".into(),
            scenario: "x".into(),
            kind: "path".into(),
            start: IndexMap::new(),
            cell: None,
            path: None,
            unpromised: false,
            verdict: Verdict::Fail,
            reason: Some("ignored: the step's message is used".into()),
            failed_step: Some(8),
            duration_ms: 1,
            started_unix_ms: 0,
            steps: vec![StepOutcome {
                number: 8,
                description: "restart the master leader".into(),
                origin: "x.toml:1".into(),
                status: StepStatus::Fail,
                started_ms: 0,
                duration_ms: 0,
                message: Some("master-2 exited with code 1; agent-0 saw it".into()),
                observations: vec![],
                targets: vec![],
                releases,
                refusal: false,
            }],
            workloads: vec![],
            faults: vec![],
            last_logs: IndexMap::new(),
            logs_dir: String::new(),
            reproduce: String::new(),
            reproduce_nextest: String::new(),
            repeat: None,
            repeats: None,
        };
        assert_eq!(
            snapshot_of(&outcome),
            "verdict: fail\nstep: 8 restart the master leader\n\
             reason: master-<n> exited with code 1; agent-0 saw it\n\
             releases: master=0.22×2,0.24×1 agent=0.22\n"
        );
    }

    #[test]
    fn verdict_is_read_back() {
        assert_eq!(
            verdict_of("verdict: fail\nstep: 1 x\n"),
            Some(Verdict::Fail)
        );
        assert_eq!(verdict_of("something else"), None);
    }
}
