//! Which images the matrix defines (its `[[image]]` tables). Which images a selection of trials runs
//! is the plan's to say (`plan::images`).

use crate::model::{ImageDef, Matrix, ReleaseScope};
use crate::runtime::ReachChoice;

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

/// Makes `m` define the helper images that reaching replicas as `reach` says runs (the relay
/// helper, through the engine), unless it defines them itself: what `images build` builds and
/// `images list` lists on such an engine.
pub fn define_helper_images(m: &mut Matrix, reach: &ReachChoice) {
    let Some(helper) = reach.helper_image() else {
        return;
    };
    let defined = defined_images(m)
        .iter()
        .any(|i| normalize_image(i) == normalize_image(helper));
    if let (false, Some(first)) = (defined, m.releases.first().cloned()) {
        m.images.push(ImageDef::relay(&first));
    }
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
