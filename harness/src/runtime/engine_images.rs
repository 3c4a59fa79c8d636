//! The engine's side of making images: a classic-builder build of a context archive, and the import
//! of a root filesystem. A second `impl Engine` beside engine.rs, so that the images modules speak
//! to the engine in their own types and never see bollard.

use std::collections::HashMap;
use std::io;

use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, BuilderVersion, CreateImageOptionsBuilder,
};
use futures_util::{Stream, StreamExt};

use super::backend::EngineError;
use super::engine::{engine_error, Engine};

/// One image to build from a context archive.
#[derive(Debug, Clone)]
pub(crate) struct ImageBuild {
    /// The name the image is tagged with.
    pub(crate) tag: String,
    /// The Dockerfile's name inside the context archive.
    pub(crate) dockerfile: String,
    /// The build context: a tar archive.
    pub(crate) context: Vec<u8>,
    pub(crate) build_args: HashMap<String, String>,
    /// Labels on the image. They must tell this build from others (crossgrade's carry the build's
    /// content hash): when the engine's answer breaks off, a tag carrying them proves that the
    /// build finished.
    pub(crate) labels: HashMap<String, String>,
}

/// Why a build failed.
#[derive(Debug)]
pub(crate) enum ImageBuildError {
    /// The engine ran the build and says it failed (a `RUN` step exited non-zero, a file to `COPY`
    /// is missing, ...), in these words.
    Failed(String),
    /// The engine could not be asked, or its answer broke off before the build was done.
    Engine(EngineError),
}

impl Engine {
    /// Builds with the classic builder (never BuildKit, which needs what this engine's host lacks,
    /// and never a pull), handing each line of the build's output to `on_line` as it comes.
    pub(crate) async fn build_image(
        &self,
        build: ImageBuild,
        on_line: &mut (dyn FnMut(String) + Send),
    ) -> Result<(), ImageBuildError> {
        let options = BuildImageOptionsBuilder::default()
            .dockerfile(&build.dockerfile)
            .t(&build.tag)
            .buildargs(&build.build_args)
            .labels(&build.labels)
            .rm(true)
            .forcerm(true)
            .version(BuilderVersion::BuilderV1)
            .build();
        let context = bollard::body_full(build.context.into());
        let mut stream = self.docker.build_image(options, None, Some(context));
        let mut lines = Lines::default();
        while let Some(item) = stream.next().await {
            let failure = match item {
                Ok(info) => {
                    if let Some(text) = info.stream.as_deref() {
                        lines.push(text, on_line);
                    }
                    if let Some(status) = info.status.as_deref() {
                        lines.push(&format!("{status}\n"), on_line);
                    }
                    info.error_detail
                        .and_then(|e| e.message)
                        .map(ImageBuildError::Failed)
                }
                Err(BollardError::DockerStreamError { error }) => {
                    Some(ImageBuildError::Failed(error))
                }
                Err(source) => {
                    // The answer's stream broke (seen once in CI: "bytes remaining on stream" after
                    // "Successfully tagged"). The engine may still have finished the build: if the
                    // tag now carries this build's labels, it did.
                    if self.carries_labels(&build.tag, &build.labels).await {
                        lines.push(
                            &format!(
                                "(the build's answer broke off: {source}; the engine has the \
                                 image with this build's labels)\n"
                            ),
                            on_line,
                        );
                        break;
                    }
                    Some(ImageBuildError::Engine(engine_error(
                        format!("building image {}", build.tag),
                        source,
                    )))
                }
            };
            if let Some(failure) = failure {
                lines.finish(on_line);
                return Err(failure);
            }
        }
        lines.finish(on_line);
        Ok(())
    }

    /// Whether the image exists and carries every one of `labels` (never, for no labels).
    async fn carries_labels(&self, image: &str, labels: &HashMap<String, String>) -> bool {
        !labels.is_empty()
            && self
                .image_labels(image)
                .await
                .ok()
                .flatten()
                .is_some_and(|have| labels.iter().all(|(k, v)| have.get(k) == Some(v)))
    }

    /// Makes the image `image` from a root filesystem streamed as a tar archive (like `docker
    /// import`), with Dockerfile `changes` such as `CMD ["bash"]`. An `Err` in `tar` fails the
    /// import, rather than leave an image of a truncated file system.
    pub(crate) async fn import_image(
        &self,
        image: &str,
        changes: Vec<String>,
        tar: impl Stream<Item = io::Result<Vec<u8>>> + Send + 'static,
    ) -> Result<(), EngineError> {
        let (repo, tag) = split_tag(image);
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(changes)
            .build();
        let body = bollard::body_try_stream(tar.map(|chunk| chunk.map(Into::into)));
        let mut stream = self.docker.create_image(Some(options), Some(body), None);
        while let Some(item) = stream.next().await {
            if let Err(source) = item {
                return Err(engine_error(format!("importing {image}"), source));
            }
        }
        Ok(())
    }

    /// Removes an image, even one that containers use.
    #[cfg(test)]
    pub(crate) async fn remove_image(&self, image: &str) -> Result<(), EngineError> {
        let opts = bollard::query_parameters::RemoveImageOptionsBuilder::default()
            .force(true)
            .build();
        match self.docker.remove_image(image, Some(opts), None).await {
            Ok(_) => Ok(()),
            Err(source) => Err(engine_error(format!("removing image {image}"), source)),
        }
    }

    /// The image's environment (`NAME=value`), if it exists.
    #[cfg(test)]
    pub(crate) async fn image_env(&self, image: &str) -> Result<Vec<String>, EngineError> {
        let inspect = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|source| engine_error(format!("inspecting image {image}"), source))?;
        Ok(inspect.config.and_then(|c| c.env).unwrap_or_default())
    }
}

/// Output that arrives in pieces, handed on a line at a time.
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn push(&mut self, text: &str, on_line: &mut (dyn FnMut(String) + Send)) {
        self.0.push_str(text);
        while let Some(nl) = self.0.find('\n') {
            let line = self.0[..nl].trim_end_matches('\r').to_string();
            self.0.drain(..=nl);
            on_line(line);
        }
    }

    /// Hands on the last line when it did not end in a newline.
    fn finish(&mut self, on_line: &mut (dyn FnMut(String) + Send)) {
        if !self.0.is_empty() {
            let rest = std::mem::take(&mut self.0);
            on_line(rest.trim_end_matches('\r').to_string());
        }
    }
}

/// (`repo`, `tag`) of an image name; `latest` when it has none.
fn split_tag(name: &str) -> (&str, &str) {
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], &name[slash + i + 1..]),
        None => (name, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags() {
        assert_eq!(
            split_tag("debian:bookworm-slim"),
            ("debian", "bookworm-slim")
        );
        assert_eq!(split_tag("a/b"), ("a/b", "latest"));
        assert_eq!(split_tag("a/b:2"), ("a/b", "2"));
    }

    #[test]
    fn output_is_handed_on_by_lines() {
        let mut got = Vec::new();
        let mut on_line = |l: String| got.push(l);
        let mut lines = Lines::default();
        lines.push("Step 1/2 : FROM x\r\nStep", &mut on_line);
        lines.push(" 2/2 : RUN y\n", &mut on_line);
        lines.push("no newline\r", &mut on_line);
        lines.finish(&mut on_line);
        lines.finish(&mut on_line);
        assert_eq!(got, ["Step 1/2 : FROM x", "Step 2/2 : RUN y", "no newline"]);
    }
}
