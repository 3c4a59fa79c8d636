//! What the images modules' tests share: a matrix with nothing but images, and build arguments.

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
        cells: CellSpec {
            vary: vec![],
            releases: vec![],
            fixed: IndexMap::new(),
            exclude: vec![],
            scenarios: vec![],
        },
        paths: vec![],
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
    }
}
