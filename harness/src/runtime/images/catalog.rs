//! Which images the matrix wants (its roles and services) and defines (its `[[image]]` tables), and
//! whether the engine has them: what `images list`, `doctor` and the tests ask before anything is built.

use std::collections::HashSet;

use crate::model::{Matrix, Release, Scope};
use crate::runtime::backend::{Backend as _, EngineError};
use crate::runtime::engine::Engine;

/// An image some role or service of the matrix runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedImage {
    pub name: String,
    /// The first role (or service) that needs it.
    pub role: String,
    /// The release that role runs it at.
    pub release: Release,
}

/// Every image the matrix's roles need (each role at each release) and its services (at their fixed
/// release), without duplicates, in role order.
pub fn wanted_images(m: &Matrix) -> Vec<WantedImage> {
    let mut out: Vec<WantedImage> = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |name: String, role: &str, release: &Release| {
        if seen.insert(name.clone()) {
            out.push(WantedImage {
                name,
                role: role.to_string(),
                release: release.clone(),
            });
        }
    };
    for role in &m.roles {
        for release in &m.releases {
            add(m.image_of(role, release), &role.name, release);
        }
    }
    for service in &m.services {
        if let Some(release) = &service.fixed_release {
            add(m.image_of(service, release), &service.name, release);
        }
    }
    out
}

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

/// Each wanted image and whether the engine has it. Never pulls.
pub async fn image_status(
    engine: &Engine,
    m: &Matrix,
) -> Result<Vec<(WantedImage, bool)>, EngineError> {
    let mut out = Vec::new();
    for w in wanted_images(m) {
        let present = engine.image_exists(&w.name).await?;
        out.push((w, present));
    }
    Ok(out)
}

/// Template scope for image definitions: only `{release}` has a value.
pub(super) struct ReleaseScope<'a>(pub(super) &'a str);

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
    use std::path::Path;

    use indexmap::IndexMap;

    use super::*;
    use crate::model::{ImageRef, Role, Template};
    use crate::runtime::images::testing::matrix;

    #[test]
    fn image_names() {
        assert_eq!(normalize_image("x"), "x:latest");
        assert_eq!(normalize_image("a/x"), "a/x:latest");
        assert_eq!(normalize_image("a/b:1.0"), "a/b:1.0");
    }

    #[test]
    fn wanted_images_cover_roles_and_services_once() {
        let role = |name: &str, image: &str, fixed: Option<&str>| Role {
            name: name.into(),
            image: ImageRef::Template(Template::parse(image, &[]).unwrap()),
            replicas: 1,
            entrypoint: None,
            command: None,
            env: IndexMap::new(),
            data: None,
            ready: None,
            leader: None,
            actions: IndexMap::new(),
            stop_timeout: std::time::Duration::from_secs(1),
            error_lines: None,
            fixed_release: fixed.map(|r| Release::parse(r).unwrap()),
        };
        let mut m = matrix(Path::new("/x"), vec![], None);
        m.releases = vec![
            Release::parse("1.0").unwrap(),
            Release::parse("2.0").unwrap(),
        ];
        m.roles = vec![
            role("server", "sys/server:{release}", None),
            role("client", "sys/server:{release}", None),
            role("tool", "sys/tool:1", None),
        ];
        m.services = vec![role("zk", "zookeeper:{release}", Some("3.8"))];
        let got: Vec<(String, String, String)> = wanted_images(&m)
            .into_iter()
            .map(|w| (w.name, w.role, w.release.to_string()))
            .collect();
        let want = [
            ("sys/server:1.0", "server", "1.0"),
            ("sys/server:2.0", "server", "2.0"),
            ("sys/tool:1", "tool", "1.0"),
            ("zookeeper:3.8", "zk", "3.8"),
        ];
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}
