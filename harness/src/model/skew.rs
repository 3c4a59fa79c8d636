//! Skew rules: which mixed-version states a project supports, as comparisons between roles' releases
//! by their position in the system's release list (`scheduler <= master`: a scheduler never newer than
//! the master; `master - agent <= 1`: agents at most one release behind). Cells that break a rule are
//! left out, and coverage is computed over the states the rules allow.

use std::fmt;
use std::ops::Range;

/// A parsed rule: `Σ coef·position(role) + constant  OP  0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SkewRule {
    /// As written, for messages and reports.
    pub text: String,
    /// `file:line:column` of the rule.
    pub origin: String,
    terms: Vec<(i64, String)>,
    constant: i64,
    op: Cmp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
    Ne,
}

impl Cmp {
    fn holds(self, v: i64) -> bool {
        match self {
            Cmp::Le => v <= 0,
            Cmp::Lt => v < 0,
            Cmp::Ge => v >= 0,
            Cmp::Gt => v > 0,
            Cmp::Eq => v == 0,
            Cmp::Ne => v != 0,
        }
    }
}

/// What is wrong with a rule: the byte range within the rule's text, a message and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleError {
    pub at: Range<usize>,
    pub message: String,
    pub help: String,
}

const GRAMMAR: &str = "a rule compares roles' releases by position, e.g. `scheduler <= master` or \
                       `master - agent <= 1` (operators <=, <, >=, >, ==, !=; + and - between roles \
                       and whole numbers)";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Role(String),
    Number(i64),
    Plus,
    Minus,
    Cmp(Cmp),
}

fn tokens(s: &str) -> Result<Vec<(Token, Range<usize>)>, RuleError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            // A role name may hold `-` (`agent-b`); subtraction between roles needs spaces then.
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-') {
                i += 1;
            }
            Token::Role(s[start..i].to_string())
        } else if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let n = s[start..i].parse().map_err(|_| RuleError {
                at: start..i,
                message: format!("`{}` is too large a number", &s[start..i]),
                help: "a difference of positions in the release list is a small number".into(),
            })?;
            Token::Number(n)
        } else {
            let two = s.get(i..i + 2).unwrap_or("");
            let (t, len) = match (two, c) {
                ("<=", _) => (Token::Cmp(Cmp::Le), 2),
                (">=", _) => (Token::Cmp(Cmp::Ge), 2),
                ("==", _) => (Token::Cmp(Cmp::Eq), 2),
                ("!=", _) => (Token::Cmp(Cmp::Ne), 2),
                (_, b'<') => (Token::Cmp(Cmp::Lt), 1),
                (_, b'>') => (Token::Cmp(Cmp::Gt), 1),
                (_, b'+') => (Token::Plus, 1),
                (_, b'-') => (Token::Minus, 1),
                _ => {
                    let ch = s[i..].chars().next().unwrap_or(' ');
                    return Err(RuleError {
                        at: i..i + ch.len_utf8(),
                        message: format!("unexpected `{ch}` in a skew rule"),
                        help: GRAMMAR.into(),
                    });
                }
            };
            i += len;
            t
        };
        out.push((tok, start..i));
    }
    Ok(out)
}

impl SkewRule {
    /// Parses a rule; `roles` are the names it may use (an unknown one is an error at its position).
    pub(crate) fn parse(text: &str, origin: String, roles: &[&str]) -> Result<SkewRule, RuleError> {
        let toks = tokens(text)?;
        let whole = 0..text.len();
        let cmp_at: Vec<usize> = toks
            .iter()
            .enumerate()
            .filter(|(_, (t, _))| matches!(t, Token::Cmp(_)))
            .map(|(i, _)| i)
            .collect();
        let k = match cmp_at.as_slice() {
            [k] => *k,
            [] => {
                return Err(RuleError {
                    at: whole,
                    message: format!("`{text}` compares nothing"),
                    help: GRAMMAR.into(),
                })
            }
            [_, second, ..] => {
                return Err(RuleError {
                    at: toks[*second].1.clone(),
                    message: "a rule has one comparison".into(),
                    help: "write a chain such as `a <= b <= c` as two rules: `a <= b`, `b <= c`"
                        .into(),
                })
            }
        };
        let Token::Cmp(op) = toks[k].0 else {
            unreachable!("found as a comparison")
        };
        let mut terms: Vec<(i64, String)> = Vec::new();
        let mut constant = 0i64;
        for (side, part, sign) in [(0, &toks[..k], 1i64), (1, &toks[k + 1..], -1i64)] {
            if part.is_empty() {
                let at = if side == 0 {
                    toks[k].1.clone()
                } else {
                    toks[k].1.end..text.len()
                };
                return Err(RuleError {
                    at,
                    message: format!(
                        "nothing on the {} of the comparison",
                        if side == 0 { "left" } else { "right" }
                    ),
                    help: GRAMMAR.into(),
                });
            }
            let mut expect_operand = true;
            let mut next_sign = 1i64;
            for (t, at) in part {
                match (t, expect_operand) {
                    (Token::Role(name), true) => {
                        if !roles.contains(&name.as_str()) {
                            let dashed = name.contains('-');
                            return Err(RuleError {
                                at: at.clone(),
                                message: format!("unknown role `{name}` in a skew rule"),
                                help: if dashed {
                                    format!(
                                        "roles are: {}; to subtract, put spaces around `-`",
                                        roles.join(", ")
                                    )
                                } else {
                                    format!("roles are: {}", roles.join(", "))
                                },
                            });
                        }
                        let c = sign * next_sign;
                        match terms.iter_mut().find(|(_, r)| r == name) {
                            Some(t) => t.0 += c,
                            None => terms.push((c, name.clone())),
                        }
                        expect_operand = false;
                    }
                    (Token::Number(n), true) => {
                        constant += sign * next_sign * n;
                        expect_operand = false;
                    }
                    (Token::Plus | Token::Minus, false) => {
                        next_sign = if *t == Token::Minus { -1 } else { 1 };
                        expect_operand = true;
                    }
                    (Token::Minus, true) if next_sign == 1 => {
                        // A leading minus: `-1 <= master - agent`.
                        next_sign = -1;
                    }
                    _ => {
                        return Err(RuleError {
                            at: at.clone(),
                            message: if expect_operand {
                                "expected a role or a number here".into()
                            } else {
                                "expected `+`, `-` or a comparison here".into()
                            },
                            help: GRAMMAR.into(),
                        })
                    }
                }
            }
            if expect_operand {
                return Err(RuleError {
                    at: part.last().map(|(_, r)| r.clone()).unwrap_or(whole.clone()),
                    message: "the expression ends with an operator".into(),
                    help: GRAMMAR.into(),
                });
            }
        }
        terms.retain(|(c, _)| *c != 0);
        let rule = SkewRule {
            text: text.to_string(),
            origin,
            terms,
            constant,
            op,
        };
        if rule.terms.is_empty() {
            return Err(RuleError {
                at: whole,
                message: format!(
                    "`{text}` does not depend on any role: it {}",
                    if op.holds(constant) {
                        "always holds"
                    } else {
                        "never holds"
                    }
                ),
                help: GRAMMAR.into(),
            });
        }
        Ok(rule)
    }

    /// Whether the rule holds, given each role's position in the release list; `None` while a role
    /// it names has none (a partial assignment cannot break it yet).
    pub(crate) fn holds(&self, position: impl Fn(&str) -> Option<usize>) -> Option<bool> {
        let mut v = self.constant;
        for (c, role) in &self.terms {
            v += c * position(role)? as i64;
        }
        Some(self.op.holds(v))
    }
}

impl fmt::Display for SkewRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({})", self.text, self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: &[&str] = &["master", "agent", "scheduler", "agent-b"];

    fn rule(s: &str) -> SkewRule {
        SkewRule::parse(s, "m.toml:1:1".into(), ROLES).unwrap()
    }

    fn pos(m: usize, a: usize, s: usize) -> impl Fn(&str) -> Option<usize> {
        move |r| match r {
            "master" => Some(m),
            "agent" => Some(a),
            "scheduler" => Some(s),
            _ => None,
        }
    }

    #[test]
    fn compares_positions() {
        let r = rule("scheduler <= master");
        assert_eq!(r.holds(pos(1, 0, 1)), Some(true));
        assert_eq!(r.holds(pos(1, 0, 2)), Some(false));
        let d = rule("master - agent <= 1");
        assert_eq!(d.holds(pos(3, 2, 0)), Some(true));
        assert_eq!(d.holds(pos(3, 1, 0)), Some(false));
        assert_eq!(d.holds(pos(0, 5, 0)), Some(true));
        let n = rule("-1 <= master - agent");
        assert_eq!(n.holds(pos(0, 1, 0)), Some(true));
        assert_eq!(n.holds(pos(0, 2, 0)), Some(false));
        assert_eq!(rule("master != agent").holds(pos(1, 1, 0)), Some(false));
        assert_eq!(rule("master + 1 > agent").holds(pos(1, 1, 0)), Some(true));
    }

    #[test]
    fn partial_assignments_do_not_break_a_rule() {
        let r = rule("agent-b <= master");
        assert_eq!(r.holds(pos(0, 0, 0)), None);
    }

    #[test]
    fn bad_rules_say_where() {
        let e = |s: &str| SkewRule::parse(s, String::new(), ROLES).unwrap_err();
        let x = e("schedular <= master");
        assert_eq!(
            (x.at, x.message.as_str()),
            (0..9, "unknown role `schedular` in a skew rule")
        );
        let x = e("master-agent <= 1");
        assert!(x.help.contains("spaces around `-`"), "{x:?}");
        assert_eq!(e("master agent").at, 0..12);
        let x = e("agent <= master <= scheduler");
        assert_eq!(
            (x.at, x.message.as_str()),
            (16..18, "a rule has one comparison")
        );
        assert_eq!(
            e("master <= ").message,
            "nothing on the right of the comparison"
        );
        assert_eq!(
            e("master - <= 1").message,
            "the expression ends with an operator"
        );
        assert_eq!(
            e("master + + agent <= 1").message,
            "expected a role or a number here"
        );
        assert_eq!(e("master ~ agent").at, 7..8);
        assert!(e("master - master <= 1").message.contains("always holds"));
        assert_eq!(
            e("master <= agent +").message,
            "the expression ends with an operator"
        );
    }
}
