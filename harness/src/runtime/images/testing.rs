//! What the images modules' tests share: a matrix with nothing but images, build arguments, and a
//! small build context.

use std::path::Path;

use indexmap::IndexMap;

use crate::model::{CellSpec, ImageDef, Matrix, Release, Template};

pub(super) fn args(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn matrix(root: &Path, images: Vec<ImageDef>, prepare: Option<Vec<String>>) -> Matrix {
    Matrix {
        file: root.join("matrix.toml"),
        root: root.to_path_buf(),
        system: "imagestest".into(),
        releases: vec![Release::parse("1.1").unwrap()],
        roles: vec![],
        services: vec![],
        images,
        prepare,
        api: None,
        cells: CellSpec {
            vary: vec![],
            releases: vec![],
            fixed: IndexMap::new(),
            exclude: vec![],
            scenarios: vec![],
            strategy: crate::model::Strategy::All,
            seed: 0,
            rules: vec![],
            interchangeable: vec![],
            include: vec![],
            order: vec![],
        },
        paths: vec![],
        random: None,
        scenarios: vec![],
        subsets: vec![],
    }
}

pub(super) fn image_def(
    name: &str,
    context: &Path,
    args: &[(&str, &str)],
    release: &str,
) -> ImageDef {
    ImageDef {
        name: Template::parse(name, &[]).unwrap(),
        context: context.to_path_buf(),
        dockerfile: "Dockerfile".into(),
        args: args
            .iter()
            .map(|(k, v)| (k.to_string(), Template::parse(v, &[]).unwrap()))
            .collect(),
        releases: vec![Release::parse(release).unwrap()],
        include: vec![],
        inline: None,
    }
}

/// A build context in `dir`: a Dockerfile (with the build argument `R`), `bin/app` and a
/// `.dockerignore` that leaves out `junk`.
pub(super) fn sample_context(dir: &Path) {
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nARG R\nCOPY . /\n").unwrap();
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(dir.join("bin/app"), b"v1").unwrap();
    std::fs::write(dir.join(".dockerignore"), "junk\n").unwrap();
}
