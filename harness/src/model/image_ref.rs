//! Image references as the engine reads them (`[registry[:port]/]path[:tag][@digest]`, the grammar
//! of distribution/reference): a name the engine would refuse is refused when the matrix loads, with
//! the role that names it, not when a trial starts.

use std::sync::LazyLock;

use regex::Regex;

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain = format!(r"{domain_component}(?:\.{domain_component})*(?::[0-9]+)?");
    let path_component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    let tag = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!(
        r"^(?:{domain}/)?{path_component}(?:/{path_component})*(?::{tag})?(?:@{digest})?$"
    ))
    .expect("the reference grammar is a valid regex")
});

/// Why `name` is not an image reference, if it is not one.
pub(crate) fn refusal(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    let path = name.split(['@']).next().unwrap_or(name);
    let without_tag = match path.rsplit_once(':') {
        Some((before, tag)) if !tag.contains('/') => before,
        _ => path,
    };
    if without_tag.len() > 255 {
        return Some("its name is longer than 255 characters");
    }
    if REFERENCE.is_match(name) {
        None
    } else if without_tag
        .rsplit('/')
        .next()
        .is_some_and(|last| last.chars().any(|c| c.is_ascii_uppercase()))
    {
        Some("repository names are lowercase")
    } else {
        Some("it does not follow [registry/]name[:tag]")
    }
}

/// The hint for a refused reference.
pub(crate) const HINT: &str = "an image is written `name:tag` or `registry/path/name:tag`: lowercase \
    letters, digits and `.`, `_`, `-` in names; a tag of letters, digits, `_`, `.`, `-` (at most 128)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_the_engine_accepts() {
        for ok in [
            "redis:7.0",
            "crossgrade/tinymesos-master:0.22",
            "localhost:5000/a/b_c__d-e:1.0-rc1",
            "registry.example.com/team/etcd",
            "debian:bookworm-slim",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(refusal(ok), None, "{ok}");
        }
    }

    #[test]
    fn refuses_what_it_refuses() {
        for (bad, why) in [
            ("", "empty"),
            ("Redis:7.0", "lowercase"),
            ("redis:7.0 ", "does not follow"),
            ("redis::7", "does not follow"),
            ("redis:-7", "does not follow"),
            ("a//b", "does not follow"),
            ("-redis", "does not follow"),
            ("redis:", "does not follow"),
        ] {
            assert!(
                refusal(bad).is_some_and(|w| w.contains(why)),
                "{bad:?}: {:?}",
                refusal(bad)
            );
        }
        let long = format!("a{}:1", "b".repeat(300));
        assert!(refusal(&long).unwrap().contains("255"));
    }
}
