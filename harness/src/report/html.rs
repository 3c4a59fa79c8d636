//! `index.html`: one self-contained page (no network, no scripts, no external assets). The grid coloured
//! by verdict and outlined by change against the baseline, then a panel per trial: its steps on a
//! timeline, the observation that failed, the container logs and the commands that reproduce it.
//! Every piece of text from outside (logs, outputs, reasons, ids) goes through [`escape`].

use std::fmt::Write as _;
use std::path::Path;

use super::grid::{self, Grid};
use super::results::{Results, TrialReport};
use crate::baseline::Change;
use crate::outcome::{HistoryReport, StepStatus, Verdict};

/// Log lines shown inline per container of a trial that did not pass (the whole file is linked).
const INLINE_LOG_LINES: usize = 300;

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,sans-serif;margin:0 2em 4em;color:#1b1b1b;background:#fafafa}
h1{font-size:1.5em;margin:1em 0 .2em}h2{margin-top:2em;border-bottom:1px solid #ddd}
code,pre{font:12px/1.4 ui-monospace,monospace}pre{background:#f1f1f1;padding:.6em;overflow:auto;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;text-align:left}
.mark{display:block;margin:2px 0;padding:2px 6px;border-radius:4px;text-decoration:none;color:#111;border:2px solid transparent}
.v-pass{background:#d7f0d9}.v-fail{background:#f8d3d3}.v-error{background:#fde3b0}
.c-regressed{border:3px solid #b00000}.c-changed{border:3px dashed #b06000}.c-new{border:2px dotted #333}.c-fixed{border:3px solid #1050c0}
.badge{display:inline-block;padding:0 .5em;border-radius:3px;font-size:.85em;font-weight:600}
.red{color:#b00000}.green{color:#1d6b25}
article.trial{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.4em 1em 1em;margin:1em 0}
article.trial:target{outline:3px solid #5a8dee}
.timeline{list-style:none;padding:0;margin:.5em 0}.timeline li{display:grid;grid-template-columns:22em 1fr 7em;gap:.6em;align-items:center;padding:1px 0}
.track{position:relative;height:12px;background:#eee;border-radius:2px}.bar{position:absolute;top:0;height:12px;min-width:2px;border-radius:2px}
.fault{color:#4a2a7a}.fault .bar{background:repeating-linear-gradient(45deg,#7b4fc0 0 6px,#b79be6 6px 12px)}
.s-pass .bar{background:#3c9a46}.s-fail .bar{background:#c62828}.s-error .bar{background:#e09000}.s-skipped .bar{background:#bbb}
.ops .track{height:22px}.ops .bar{height:20px;font-size:11px;line-height:20px;overflow:hidden;white-space:nowrap;color:#fff;padding:0 3px;box-sizing:border-box}
.op-placed{background:#3c7ac9}.op-open{background:#c62828}.op-unknown{background:repeating-linear-gradient(45deg,#888 0 6px,#aaa 6px 12px)}.op-stuck{outline:3px solid #111}
.c-Works{background:#e6f4ea}.c-Broken{background:#fce8e6}.c-Unclear{background:#fef7e0}.c-Untested{color:#888}.s-skipped{color:#888}.msg{grid-column:1/4;color:#8a1010;margin-left:1em}
"#;

/// Renders the page. `report_dir` is the run's folder, where the trials' log files are read from.
pub(crate) fn render(r: &Results, report_dir: &Path) -> String {
    let mut h = String::new();
    let title = format!("crossgrade · {} · run {}", r.meta.system, r.meta.run_id);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(&title)
    );
    let (status, running) = r.status();
    let _ = write!(
        h,
        "<h1>{}</h1>\n<p id=\"summary\">{} · <b class=\"{status}\" id=\"status\">{status}</b>{running}</p>\n\
         <p>Matrix <code>{}</code> · started {} · baseline <code>{}</code></p>\n\
         <p id=\"provenance\">{}</p>\n",
        escape(&title),
        escape(&r.headline()),
        escape(&r.meta.matrix),
        escape(&r.meta.started_at),
        escape(&r.meta.snapshots),
        escape(&r.meta.provenance.to_string()),
    );
    h.push_str(
        "<p class=\"legend\"><span class=\"mark v-pass\" style=\"display:inline\">✓ pass</span> \
         <span class=\"mark v-fail\" style=\"display:inline\">✗ fail</span> \
         <span class=\"mark v-error\" style=\"display:inline\">! error</span> · outline: \
         <span class=\"mark c-regressed\" style=\"display:inline\">↓ regressed</span> \
         <span class=\"mark c-changed\" style=\"display:inline\">≠ changed</span> \
         <span class=\"mark c-new\" style=\"display:inline\">+ new</span> \
         <span class=\"mark c-fixed\" style=\"display:inline\">↑ fixed</span>; none: as recorded</p>\n",
    );

    // A trial's anchor is its id (ids have no spaces): `index.html#fixture/basic/node=1.0,client=2.0`
    // stays valid from one run to the next.
    let anchor = |t: &TrialReport| t.outcome.id.clone();
    // A symbol as well as a colour, for readers who do not tell the colours apart.
    let mark = |t: &TrialReport, label: &str| {
        format!(
            "<a class=\"mark v-{} c-{}\" href=\"#{}\" title=\"{}\">{}{} {}</a>",
            t.outcome.verdict,
            t.change(),
            escape(&anchor(t)),
            escape(&format!(
                "{}: {} ({})",
                t.outcome.id,
                t.outcome.verdict,
                t.change()
            )),
            verdict_symbol(t.outcome.verdict),
            change_symbol(t.change()),
            escape(label)
        )
    };

    let attention: Vec<&TrialReport> = grid::by_attention(r)
        .into_iter()
        .filter(|t| t.baseline.red || t.change() == Change::Fixed)
        .collect();
    if !attention.is_empty() {
        h.push_str("<h2 id=\"attention\">Needs attention</h2>\n<table><tr><th>trial</th><th>verdict</th><th>change</th><th>reason</th></tr>\n");
        for t in &attention {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td><b>{}</b></td><td>{}</td></tr>",
                mark(t, &t.outcome.id),
                escape(&t.verdict_text()),
                t.change(),
                escape(t.outcome.reason.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table>\n");
    }

    for g in grid::grids(r) {
        render_grid(&mut h, &g, &mark);
    }
    for p in grid::paths(r) {
        let _ = writeln!(
            h,
            "<h2>{} (paths)</h2>\n<table class=\"paths\"><tr><th>path</th><th>verdict</th><th>failed at</th></tr>",
            escape(&p.scenario)
        );
        for (from, to, t) in &p.paths {
            let at = failed_step(t)
                .map(|s| format!("step {} {}", s.number, s.description))
                .unwrap_or_default();
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                mark(t, &format!("{from} → {to}")),
                escape(&format!("{} {}", t.outcome.verdict, t.change())),
                escape(&at)
            );
        }
        h.push_str("</table>\n");
    }

    if let Some(c) = super::compat::of_cells(r) {
        h.push_str(&c.html());
    }
    if let Some(p) = super::predicted::of(r) {
        h.push_str(&p.html());
    }
    if let Some(o) = super::orders::of(r) {
        h.push_str(&o.html());
    }
    h.push_str("<h2>Trials</h2>\n");
    for t in grid::by_attention(r) {
        render_trial(&mut h, t, &anchor(t), report_dir);
    }
    h.push_str("</body></html>\n");
    h
}

/// ✓ pass, ✗ fail, ! error.
fn verdict_symbol(v: crate::outcome::Verdict) -> &'static str {
    match v {
        crate::outcome::Verdict::Pass => "✓",
        crate::outcome::Verdict::Fail => "✗",
        crate::outcome::Verdict::Error => "!",
    }
}

/// ↓ regressed, ≠ changed, + new, ↑ fixed, nothing when as recorded.
fn change_symbol(c: Change) -> &'static str {
    match c {
        Change::Regressed => "↓",
        Change::Changed => "≠",
        Change::New => "+",
        Change::Fixed => "↑",
        Change::Unchanged => "",
    }
}

fn render_grid(h: &mut String, g: &Grid, mark: &dyn Fn(&TrialReport, &str) -> String) {
    let title = match &g.col_role {
        Some(c) => format!("{} × {}", g.row_role, c),
        None => g.row_role.clone(),
    };
    let inner = if g.inner_roles.is_empty() {
        String::new()
    } else {
        format!(" (inside: {})", g.inner_roles.join(" × "))
    };
    let _ = writeln!(
        h,
        "<h2>{} — {}{}</h2>\n<table class=\"grid\"><tr><th>{}</th>",
        escape(&g.scenario),
        escape(&title),
        escape(&inner),
        escape(&match &g.col_role {
            Some(c) => format!("{} \\ {}", g.row_role, c),
            None => g.row_role.clone(),
        })
    );
    for c in &g.cols {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    h.push_str("</tr>\n");
    for (ri, row) in g.rows.iter().enumerate() {
        let _ = write!(h, "<tr><th>{}</th>", escape(row));
        for square in &g.squares[ri] {
            h.push_str("<td>");
            for (label, t) in square {
                let text = match (&t.outcome.repeats, label.is_empty()) {
                    (Some(r), true) if r.class == crate::outcome::Class::Flaky => {
                        format!("flaky {}/{}", r.passed, r.runs)
                    }
                    (_, true) => t.outcome.verdict.as_str().to_string(),
                    (_, false) => label.clone(),
                };
                h.push_str(&mark(t, &text));
            }
            h.push_str("</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

fn failed_step(t: &TrialReport) -> Option<&crate::outcome::StepOutcome> {
    t.outcome
        .failed_step
        .and_then(|n| t.outcome.steps.iter().find(|s| s.number == n))
}

fn render_trial(h: &mut String, t: &TrialReport, anchor: &str, report_dir: &Path) {
    let o = &t.outcome;
    let _ = writeln!(
        h,
        "<article class=\"trial v-{v}\" id=\"{anchor}\" data-trial=\"{id}\">\n<h3>{id}</h3>\n\
         <p><span class=\"badge v-{v}\">{v}</span> <span class=\"badge c-{c}\">{c}</span> {:.1} s</p>",
        o.duration_ms as f64 / 1000.0,
        v = o.verdict,
        c = t.change(),
        id = escape(&o.id),
        anchor = escape(anchor),
    );
    if let Some(r) = &o.repeats {
        let runs: Vec<&str> = r.verdicts.iter().map(|v| v.as_str()).collect();
        let _ = writeln!(
            h,
            "<p class=\"repeats\">{}: runs {}; the details below are run {}'s</p>",
            escape(&r.describe()),
            runs.join(", "),
            r.shown
        );
    }
    if let Some(reason) = &o.reason {
        let _ = writeln!(h, "<p class=\"reason\">{}</p>", escape(reason));
    }
    let _ = writeln!(
        h,
        "<p>Reproduce:</p><pre class=\"reproduce\">{}{}</pre>",
        escape(&o.reproduce),
        if o.reproduce_nextest.is_empty() {
            String::new()
        } else {
            format!("\n{}", escape(&o.reproduce_nextest))
        }
    );
    if t.change() != Change::Unchanged {
        let _ = writeln!(
            h,
            "<p>Baseline: recorded</p><pre class=\"recorded\">{}</pre><p>this run</p><pre class=\"current\">{}</pre>",
            escape(t.baseline.recorded.as_deref().unwrap_or("(none)")),
            escape(&t.baseline.snapshot)
        );
    }

    // The steps on a timeline scaled to the trial's duration.
    let total = o
        .steps
        .iter()
        .map(|s| s.started_ms + s.duration_ms)
        .max()
        .unwrap_or(0)
        .max(o.duration_ms)
        .max(1) as f64;
    h.push_str("<ol class=\"timeline\">\n");
    for s in &o.steps {
        let status = match s.status {
            StepStatus::Pass => "pass",
            StepStatus::Fail => "fail",
            StepStatus::Error => "error",
            StepStatus::Skipped => "skipped",
        };
        let left = s.started_ms as f64 / total * 100.0;
        let width = (s.duration_ms as f64 / total * 100.0).min(100.0 - left);
        let _ = writeln!(
            h,
            "<li class=\"s-{status}\" title=\"{origin}\"><span>{n}. {desc}</span>\
             <span class=\"track\"><span class=\"bar\" style=\"left:{left:.2}%;width:{width:.2}%\"></span></span>\
             <span>{status} {secs:.1} s</span>{msg}</li>",
            origin = escape(&s.origin),
            n = s.number,
            desc = escape(&s.description),
            secs = s.duration_ms as f64 / 1000.0,
            msg = s
                .message
                .as_ref()
                .map(|m| format!("<span class=\"msg\">{}</span>", escape(m)))
                .unwrap_or_default(),
        );
    }
    // Each fault as a window on the same scale: from the step that started it to the step that
    // ended it, or the trial's end.
    for w in &o.faults {
        let left = w.started_ms as f64 / total * 100.0;
        let width =
            ((w.ended_ms.saturating_sub(w.started_ms)) as f64 / total * 100.0).min(100.0 - left);
        let until = match w.until_step {
            Some(n) => format!("steps {}–{n}", w.from_step),
            None => format!("step {} to the end", w.from_step),
        };
        let _ = writeln!(
            h,
            "<li class=\"fault f-{kind}\" title=\"ended by {ended}\"><span>⚡ {desc}</span>\
             <span class=\"track\"><span class=\"bar\" style=\"left:{left:.2}%;width:{width:.2}%\"></span></span>\
             <span>{until}</span></li>",
            kind = escape(&w.kind),
            ended = escape(&w.ended_by),
            desc = escape(&w.description),
            until = escape(&until),
        );
    }
    h.push_str("</ol>\n");

    if let Some(step) = failed_step(t) {
        for obs in &step.observations {
            let mut head = obs.what.clone();
            if let Some(code) = obs.exit_code {
                head.push_str(&format!(" · exit {code}"));
            }
            if let Some(st) = obs.http_status {
                head.push_str(&format!(" · HTTP {st}"));
            }
            if let Some(n) = &obs.note {
                head.push_str(&format!(" · {n}"));
            }
            let _ = writeln!(
                h,
                "<p class=\"observation\">Observed {}</p><pre>{}</pre>",
                escape(&head),
                escape(&obs.output)
            );
        }
    }
    if !o.workloads.is_empty() {
        h.push_str("<table><tr><th>workload</th><th>action</th><th>success</th><th>longest unavailable</th><th>passed</th></tr>\n");
        for w in &o.workloads {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}/{} ({:.1}%)</td><td>{} ms</td><td>{}</td></tr>",
                escape(&w.name),
                escape(&w.action),
                w.successes,
                w.attempts,
                w.success_ratio * 100.0,
                w.longest_unavailable_ms,
                w.passed
            );
        }
        h.push_str("</table>\n");
        for w in &o.workloads {
            if let Some(hist) = &w.history {
                render_history(h, &w.name, hist, t);
            }
        }
    }

    render_logs(h, t, report_dir);
    h.push_str("</article>\n");
}

/// A workload's history: its counts and verdict, a link to its file and, when it cannot be
/// linearized, the window of operations that cannot be ordered as a timeline, one line per client.
fn render_history(h: &mut String, name: &str, hist: &HistoryReport, t: &TrialReport) {
    let dir = t
        .outcome
        .logs_dir
        .strip_suffix("/logs")
        .unwrap_or(&t.outcome.logs_dir);
    let _ = writeln!(
        h,
        "<p class=\"history\">History of workload {name}: {ops} operations from {clients} client(s) \
         ({ok} ok, {failed} failed, {unknown} unknown), checked against the {model} model in {ms} ms \
         ({steps} steps): <b class=\"{class}\">{verdict}</b> · <a href=\"{file}\">{file_name}</a></p>",
        name = escape(name),
        ops = hist.ops,
        clients = hist.clients,
        ok = hist.ok,
        failed = hist.failed,
        unknown = hist.unknown,
        model = escape(&hist.model),
        ms = hist.check_ms,
        steps = hist.check_steps,
        class = if hist.violation.is_some() { "red" } else { "green" },
        verdict = escape(&hist.verdict),
        file = escape(&format!("{dir}/{}", hist.file)),
        file_name = escape(&hist.file),
    );
    let Some(v) = &hist.violation else { return };
    let _ = writeln!(
        h,
        "<p>No order of these operations{key} fits the {model} model: after {lin} of the key's {all} \
         operations the value is <code>{state}</code>. Blue: placed by the search's deepest attempt; \
         red: could not be placed; grey: unknown outcome (may have taken effect any time after its \
         start); outlined: the operation whose completion the search could not get past.</p>",
        key = v
            .key
            .as_ref()
            .map(|k| format!(" on key <code>{}</code>", escape(k)))
            .unwrap_or_default(),
        model = escape(&hist.model),
        lin = v.linearized,
        all = v.ops_in_key,
        state = escape(&v.state),
    );
    let start = v
        .window
        .iter()
        .map(|o| o.invoke_ms)
        .fold(f64::INFINITY, f64::min);
    let end = v
        .window
        .iter()
        .map(|o| o.complete_ms.unwrap_or(o.invoke_ms))
        .fold(start, f64::max);
    // An operation that never completed runs to the right edge, a tenth past the last completion.
    let edge = end + (end - start).max(1.0) * 0.1;
    let span = (edge - start).max(1.0);
    let mut clients: Vec<u64> = v.window.iter().map(|o| o.client).collect();
    clients.sort_unstable();
    clients.dedup();
    h.push_str("<ol class=\"timeline ops\">\n");
    for c in clients {
        let _ = write!(h, "<li><span>client {c}</span><span class=\"track\">");
        for o in v.window.iter().filter(|o| o.client == c) {
            let left = (o.invoke_ms - start) / span * 100.0;
            let until = if o.outcome == "unknown" {
                edge
            } else {
                o.complete_ms.unwrap_or(edge)
            };
            let width = ((until - o.invoke_ms) / span * 100.0).clamp(0.3, 100.0 - left);
            let class = match (o.outcome.as_str(), o.placed) {
                ("unknown", _) => "op-unknown",
                (_, true) => "op-placed",
                (_, false) => "op-open",
            };
            let label = format!("{} → {}", o.call, o.outcome);
            let _ = write!(
                h,
                "<span class=\"bar {class}{stuck}\" style=\"left:{left:.2}%;width:{width:.2}%\" \
                 title=\"{title}\">{label}</span>",
                stuck = if o.stuck { " op-stuck" } else { "" },
                title = escape(&format!(
                    "client {c}: {label}, {:.1}–{} ms",
                    o.invoke_ms,
                    o.complete_ms
                        .map(|t| format!("{t:.1}"))
                        .unwrap_or_else(|| "…".into())
                )),
                label = escape(&label),
            );
        }
        let _ = writeln!(
            h,
            "</span><span>{:.3}–{:.3} s</span></li>",
            start / 1000.0,
            end / 1000.0
        );
    }
    h.push_str("</ol>\n<table class=\"window\"><tr><th>client</th><th>operation</th><th>result</th><th>invoked (ms)</th><th>completed (ms)</th><th>placed</th></tr>\n");
    for o in &v.window {
        let _ = writeln!(
            h,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            if o.stuck { " class=\"red\"" } else { "" },
            o.client,
            escape(&o.call),
            escape(&o.outcome),
            o.invoke_ms,
            o.complete_ms
                .map(|t| format!("{t:.1}"))
                .unwrap_or_else(|| "never".into()),
            if o.placed { "yes" } else { "no" }
        );
    }
    h.push_str("</table>\n");
}

/// The containers' logs: inline (the last lines) for a trial that did not pass, linked always.
fn render_logs(h: &mut String, t: &TrialReport, report_dir: &Path) {
    let o = &t.outcome;
    let dir = report_dir.join(&o.logs_dir);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".log"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    if files.is_empty() && o.last_logs.is_empty() {
        return;
    }
    h.push_str("<h4>Container logs</h4>\n");
    let open = if o.verdict == Verdict::Pass {
        ""
    } else {
        " open"
    };
    if files.is_empty() {
        for (replica, lines) in &o.last_logs {
            let _ = writeln!(
                h,
                "<details{open}><summary>{}</summary><pre class=\"log\">{}</pre></details>",
                escape(replica),
                escape(&lines.join("\n"))
            );
        }
        return;
    }
    for f in files {
        let href = format!("{}/{}", o.logs_dir, f);
        if o.verdict == Verdict::Pass {
            let _ = writeln!(h, "<p><a href=\"{}\">{}</a></p>", escape(&href), escape(&f));
            continue;
        }
        let text = std::fs::read_to_string(dir.join(&f)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(INLINE_LOG_LINES);
        let _ = writeln!(
            h,
            "<details{open}><summary>{} ({} lines{}) · <a href=\"{}\">file</a></summary><pre class=\"log\">{}</pre></details>",
            escape(&f),
            lines.len(),
            if from > 0 { ", the last shown" } else { "" },
            escape(&href),
            escape(&lines[from..].join("\n"))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
