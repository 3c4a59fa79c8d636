//! String templates for images, commands, environment and actions.
//!
//! `{release}`, `{role}`, `{index}`, `{name}` (e.g. `node-1`), `{replicas.ROLE}` (the comma-separated names of
//! all replicas of ROLE, for cluster membership strings) and `{release.ROLE}` (ROLE's current release).
//! `{{` and `}}` stand for literal braces. Variables are checked when the file is loaded, so a typo is a
//! load error with a position, not a surprise at run time.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Var),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    Release,
    Role,
    Index,
    Name,
    Replicas(String),
    RoleRelease(String),
}

/// Why a template is refused, found when the file is loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TemplateError {
    #[error("unclosed `{{` in template `{0}`")]
    Unclosed(String),
    #[error("lone `}}` in template `{0}` (write `}}}}`)")]
    LoneBrace(String),
    #[error("`{{{var}}}` names no role; roles are: {}", .roles.join(", "))]
    UnknownRole { var: String, roles: Vec<String> },
    #[error(
        "unknown template variable `{{{0}}}`; known: {{release}}, {{role}}, {{index}}, \
         {{name}}, {{replicas.ROLE}}, {{release.ROLE}}"
    )]
    UnknownVariable(String),
}

impl TemplateError {
    /// What would be accepted.
    pub(crate) fn hint(&self) -> String {
        match self {
            TemplateError::Unclosed(_) | TemplateError::LoneBrace(_) => {
                "`{` and `}` surround a variable such as {release}; a literal brace is written twice: `{{` or `}}`".into()
            }
            TemplateError::UnknownRole { roles, .. } => {
                format!("write {{replicas.ROLE}} or {{release.ROLE}} with ROLE one of: {}", roles.join(", "))
            }
            TemplateError::UnknownVariable(_) => {
                "variables are {release}, {role}, {index}, {name}, {replicas.ROLE}, {release.ROLE}; a literal brace is written twice".into()
            }
        }
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    source: String,
    pieces: Vec<Piece>,
}

/// What a template is filled with. `replicas` and `releases` are looked up by role name.
pub(crate) trait Scope {
    fn release(&self) -> &str;
    fn role(&self) -> &str;
    fn index(&self) -> u32;
    fn replicas(&self, role: &str) -> String;
    fn role_release(&self, role: &str) -> String;
}

/// Template scope for image definitions: only `{release}` has a value.
pub(crate) struct ReleaseScope<'a>(pub(crate) &'a str);

impl Scope for ReleaseScope<'_> {
    fn release(&self) -> &str {
        self.0
    }
    fn role(&self) -> &str {
        ""
    }
    fn index(&self) -> u32 {
        0
    }
    fn replicas(&self, _: &str) -> String {
        String::new()
    }
    fn role_release(&self, _: &str) -> String {
        String::new()
    }
}

impl Template {
    /// Parses `source`; `known_roles` are the role names `{replicas.X}`/`{release.X}` may name.
    pub(crate) fn parse(source: &str, known_roles: &[&str]) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let rest = &source[i + 1..];
                    let end = rest
                        .find('}')
                        .ok_or_else(|| TemplateError::Unclosed(source.to_string()))?;
                    let name = &rest[..end];
                    let var = parse_var(name, known_roles)?;
                    for _ in 0..=end {
                        chars.next();
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Var(var));
                }
                '}' => return Err(TemplateError::LoneBrace(source.to_string())),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template {
            source: source.to_string(),
            pieces,
        })
    }

    /// A template with no variables.
    pub(crate) fn literal(s: &str) -> Template {
        Template {
            source: s.replace('{', "{{").replace('}', "}}"),
            pieces: vec![Piece::Text(s.to_string())],
        }
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template mentions `{release}`: an image template without it names one image for every
    /// release.
    pub(crate) fn uses_release(&self) -> bool {
        self.pieces.contains(&Piece::Var(Var::Release))
    }

    pub(crate) fn render(&self, scope: &dyn Scope) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(Var::Release) => out.push_str(scope.release()),
                Piece::Var(Var::Role) => out.push_str(scope.role()),
                Piece::Var(Var::Index) => out.push_str(&scope.index().to_string()),
                Piece::Var(Var::Name) => {
                    out.push_str(&format!("{}-{}", scope.role(), scope.index()))
                }
                Piece::Var(Var::Replicas(r)) => out.push_str(&scope.replicas(r)),
                Piece::Var(Var::RoleRelease(r)) => out.push_str(&scope.role_release(r)),
            }
        }
        out
    }
}

fn parse_var(name: &str, known_roles: &[&str]) -> Result<Var, TemplateError> {
    let role_ref = |role: &str, make: fn(String) -> Var| {
        if known_roles.contains(&role) {
            Ok(make(role.to_string()))
        } else {
            Err(TemplateError::UnknownRole {
                var: name.to_string(),
                roles: known_roles.iter().map(|r| r.to_string()).collect(),
            })
        }
    };
    match name {
        "release" => Ok(Var::Release),
        "role" => Ok(Var::Role),
        "index" => Ok(Var::Index),
        "name" => Ok(Var::Name),
        _ => {
            if let Some(role) = name.strip_prefix("replicas.") {
                role_ref(role, Var::Replicas)
            } else if let Some(role) = name.strip_prefix("release.") {
                role_ref(role, Var::RoleRelease)
            } else {
                Err(TemplateError::UnknownVariable(name.to_string()))
            }
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct S;
    impl Scope for S {
        fn release(&self) -> &str {
            "0.23"
        }
        fn role(&self) -> &str {
            "master"
        }
        fn index(&self) -> u32 {
            2
        }
        fn replicas(&self, role: &str) -> String {
            format!("{role}-0,{role}-1")
        }
        fn role_release(&self, _: &str) -> String {
            "0.22".into()
        }
    }

    #[test]
    fn renders_variables_and_escapes() {
        let t = Template::parse(
            "x/{role}:{release} {name} {replicas.agent} {release.agent} {{lit}}",
            &["agent"],
        )
        .unwrap();
        assert_eq!(
            t.render(&S),
            "x/master:0.23 master-2 agent-0,agent-1 0.22 {lit}"
        );
        assert!(t.uses_release());
    }

    #[test]
    fn rejects_unknown_variables_and_roles() {
        assert!(Template::parse("{relase}", &[])
            .unwrap_err()
            .to_string()
            .contains("unknown template variable `{relase}`"));
        assert!(Template::parse("{replicas.mastr}", &["master"])
            .unwrap_err()
            .to_string()
            .contains("`{replicas.mastr}` names no role; roles are: master"));
        assert!(Template::parse("{release", &[]).is_err());
        assert!(Template::parse("a}b", &[]).is_err());
    }
}
