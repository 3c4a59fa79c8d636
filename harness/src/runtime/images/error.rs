//! What can go wrong making the matrix's images: one error type for the whole operation, each
//! variant saying which step failed and for which image. An underlying error is kept as the
//! variant's `#[source]`, not copied into its message, so that a report prints the whole chain
//! (`cannot start the prepare command …`, then `No such file or directory`).

use std::io;
use std::path::{Path, PathBuf};

use crate::runtime::backend::EngineError;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    /// An engine call failed (says what it was doing, then the engine's words).
    #[error(transparent)]
    Engine(#[from] EngineError),

    #[error(
        "cannot build `{image}`: the matrix defines no such image; it defines: {}",
        .known.join(", ")
    )]
    UnknownImage { image: String, known: Vec<String> },

    #[error("cannot start the prepare command `{command}`")]
    PrepareSpawn {
        command: String,
        #[source]
        source: io::Error,
    },

    #[error(
        "the prepare command `{command}` failed ({}); its last output:\n{output_tail}",
        exit_text(*.code)
    )]
    Prepare {
        command: String,
        code: Option<i32>,
        output_tail: String,
    },

    #[error("{action} `{}`", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("Dockerfile `{}` of image `{image}`: {message}", .path.display())]
    Dockerfile {
        image: String,
        path: PathBuf,
        message: String,
    },

    #[error("images are built FROM each other in a cycle: {}", .images.join(" -> "))]
    Cycle { images: Vec<String> },

    #[error(
        "image `{image}` needs the base image `{base}`, which is not in the Docker engine: {hint}"
    )]
    MissingBase {
        image: String,
        base: String,
        hint: String,
    },

    /// A host tool is missing; `hint` says how to install it (or why it was not installed).
    #[error("`{tool}` is needed to make the base image `{base}` but is not installed; {hint}")]
    MissingTool {
        tool: &'static str,
        base: String,
        hint: String,
    },

    #[error("cannot run `{command}` to install `{tool}`")]
    ToolInstallSpawn {
        tool: &'static str,
        command: String,
        #[source]
        source: io::Error,
    },

    #[error(
        "installing `{tool}` failed: `{command}` ended with {}; its last output:\n{output_tail}",
        exit_text(*.code)
    )]
    ToolInstall {
        tool: &'static str,
        command: String,
        code: Option<i32>,
        output_tail: String,
    },

    #[error("cannot run debootstrap to make the base image `{base}`")]
    BootstrapSpawn {
        base: String,
        #[source]
        source: io::Error,
    },

    #[error(
        "bootstrapping base image `{base}` failed: debootstrap {suite} ended with {}; last \
         output:\n{output_tail}",
        exit_text(*.code)
    )]
    Bootstrap {
        base: String,
        suite: String,
        code: Option<i32>,
        output_tail: String,
    },

    /// The engine ran the build and says it failed; `message` is its words.
    #[error("building image `{image}` failed: {message}; last build output:\n{log_tail}")]
    Build {
        image: String,
        message: String,
        log_tail: String,
    },

    /// The engine could not be asked to build, or its answer broke off.
    #[error("building image `{image}` failed; last build output:\n{log_tail}")]
    BuildEngine {
        image: String,
        log_tail: String,
        #[source]
        source: Box<EngineError>,
    },
}

/// How a command ended, for messages.
pub(super) fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".to_string(),
    }
}

/// `map_err` for file system calls: what was being done, to which path.
pub(super) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Io {
        action,
        path,
        source,
    }
}
