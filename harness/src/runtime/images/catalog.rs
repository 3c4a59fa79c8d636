//! Which images the matrix defines (its `[[image]]` tables). Which images a selection of trials runs
//! is the plan's to say (`plan::images`).

use crate::model::{Matrix, ReleaseScope};

/// The names the matrix's `[[image]]` definitions make, each once.
pub fn defined_images(m: &Matrix) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for def in &m.images {
        for release in &def.releases {
            let name = def.name.render(&ReleaseScope(release.as_str()));
            if !out
                .iter()
                .any(|o| normalize_image(o) == normalize_image(&name))
            {
                out.push(name);
            }
        }
    }
    out
}

/// `name:latest` for an untagged name, so that `x` and `x:latest` compare equal.
pub(super) fn normalize_image(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.contains('@') || last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert_eq!(normalize_image("x"), "x:latest");
        assert_eq!(normalize_image("a/x"), "a/x:latest");
        assert_eq!(normalize_image("a/b:1.0"), "a/b:1.0");
    }
}
