//! `.dockerignore` rules, matched the way the engine's builder matches them, so that what is hashed
//! is what is sent.

/// `.dockerignore` rules: (exclude?, pattern segments), the last matching rule wins.
pub(super) struct Ignore {
    rules: Vec<(bool, Vec<String>)>,
    /// Some rule brings back what another leaves out: excluded directories are still walked.
    pub(super) has_exceptions: bool,
}

impl Ignore {
    pub(super) fn parse(text: &str) -> Ignore {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclude, pattern) = match line.strip_prefix('!') {
                Some(p) => (false, p.trim()),
                None => (true, line),
            };
            let segments: Vec<String> = pattern
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .map(str::to_string)
                .collect();
            if !segments.is_empty() {
                rules.push((exclude, segments));
            }
        }
        let has_exceptions = rules.iter().any(|(ex, _)| !ex);
        Ignore {
            rules,
            has_exceptions,
        }
    }

    /// Whether `rel` is left out: a rule matches it or one of its parent directories.
    pub(super) fn excluded(&self, rel: &str) -> bool {
        let path: Vec<&str> = rel.split('/').collect();
        let mut excluded = false;
        for (exclude, pattern) in &self.rules {
            let matches = (1..=path.len()).any(|n| match_segments(pattern, &path[..n]));
            if matches {
                excluded = *exclude;
            }
        }
        excluded
    }
}

fn match_segments(pattern: &[String], path: &[&str]) -> bool {
    match pattern.first() {
        None => path.is_empty(),
        Some(p) if p == "**" => (0..=path.len()).any(|i| match_segments(&pattern[1..], &path[i..])),
        Some(p) => {
            !path.is_empty()
                && glob_segment(
                    &p.chars().collect::<Vec<_>>(),
                    &path[0].chars().collect::<Vec<_>>(),
                )
                && match_segments(&pattern[1..], &path[1..])
        }
    }
}

/// `*`, `?`, `[a-z]`/`[^a-z]` and `\x` within one path segment.
fn glob_segment(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => (0..=s.len()).any(|i| glob_segment(&p[1..], &s[i..])),
        Some('?') => !s.is_empty() && glob_segment(&p[1..], &s[1..]),
        Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob_segment(&p[2..], &s[1..]),
        Some('[') => {
            let negate = matches!(p.get(1), Some('^') | Some('!'));
            let start = if negate { 2 } else { 1 };
            let Some(close) = p[start..]
                .iter()
                .skip(1)
                .position(|&c| c == ']')
                .map(|i| start + 1 + i)
            else {
                return s.first() == Some(&'[') && glob_segment(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else {
                return false;
            };
            let class = &p[start..close];
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_segment(&p[close + 1..], &s[1..])
        }
        Some(&c) => s.first() == Some(&c) && glob_segment(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_patterns() {
        let ig = Ignore::parse("# c\ntarget/\n*.md\n!README.md\n/docs/**/*.tmp\nfile?.[a-c]\n");
        assert!(ig.excluded("target"));
        assert!(ig.excluded("target/debug/x"));
        assert!(!ig.excluded("src/target.rs"));
        assert!(ig.excluded("NOTES.md"));
        assert!(!ig.excluded("README.md"));
        assert!(ig.excluded("docs/a/b/c.tmp"));
        assert!(ig.excluded("docs/c.tmp"));
        assert!(ig.excluded("file1.b"));
        assert!(!ig.excluded("file1.d"));
        assert!(ig.has_exceptions);
    }
}
