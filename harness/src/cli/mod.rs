//! The command line's own parts: its arguments and one function per subcommand. Everything they
//! do is the library's; what they add is the printing.

pub mod args;
pub mod build_display;
pub mod commands;

use std::path::PathBuf;

use crossgrade::api::ApiError;
use crossgrade::baseline::StoreError;
use crossgrade::history::HistoryError;
use crossgrade::model::LoadError;
use crossgrade::risk::RiskError;
use crossgrade::runtime::{BuildError, EngineError};
use crossgrade::session::SelectError;
use miette::Diagnostic;

/// How a command that ran to its end ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nothing red.
    Green,
    /// Something red (already shown).
    Red,
    /// Stopped by SIGINT/SIGTERM after cleaning up.
    Interrupted,
}

impl Status {
    pub fn red_if(red: bool) -> Status {
        if red {
            Status::Red
        } else {
            Status::Green
        }
    }
}

/// Why a command could not do its work. Printed once, with its causes, by `main`.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum Failure {
    /// Bad input: a matrix or scenario file.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] LoadError),
    /// Bad input: a release's API definition (a .proto file that does not parse, a missing folder).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Api(#[from] ApiError),
    /// Bad input: a matrix's API definitions (a .proto file that does not parse, an interface
    /// naming what no release defines).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Risk(#[from] RiskError),
    /// Bad input: a selection that names what the matrix does not have.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Select(#[from] SelectError),
    /// Bad input: a history file that cannot be read, parsed or checked with the model.
    #[error(transparent)]
    #[diagnostic(transparent)]
    History(#[from] HistoryError),
    /// Bad input: an argument.
    #[error("{message}")]
    BadArgument {
        message: String,
        #[help]
        help: Option<String>,
    },
    /// No engine answers where crossgrade looks for one: said once, before anything starts.
    #[error("the Docker engine is unreachable")]
    #[diagnostic(help(
        "start it (e.g. `dockerd &` as root) or set DOCKER_HOST=unix:///path/to/docker.sock; `crossgrade doctor` checks"
    ))]
    Unreachable(#[source] EngineError),
    /// The engine answered, but refused what was asked (the unreachable case is
    /// [`Failure::Unreachable`]).
    #[error("the Docker engine cannot be used")]
    #[diagnostic(help("`crossgrade doctor` shows the engine's state and what runs left in it"))]
    Engine(#[source] EngineError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Build(BuildError),
    /// The images the selected trials run are not all in the engine: said once, before anything
    /// starts or is written.
    #[error("{} the selected trials run {} missing: {}", plural_images(.images.len()), if .images.len() == 1 { "is" } else { "are" }, .images.join(", "))]
    #[diagnostic(help("build them with `{build}` (images are never pulled)"))]
    MissingImages { images: Vec<String>, build: String },
    #[error("writing the report to {}", .dir.display())]
    Report {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recording the baseline")]
    Baseline(#[source] StoreError),
    /// stdout was closed (`crossgrade plan | head`): stop quietly.
    #[error("stdout is closed")]
    BrokenPipe,
}

impl Failure {
    /// Bad input, found before anything started: exit code 2.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Failure::Load(_)
                | Failure::Select(_)
                | Failure::Api(_)
                | Failure::History(_)
                | Failure::Risk(_)
                | Failure::BadArgument { .. }
        )
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Failure {
        Failure::Engine(e)
    }
}

/// Writes a line to stdout; a closed stdout ends the command quietly instead of panicking.
pub fn out(line: impl std::fmt::Display) -> Result<(), Failure> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    match writeln!(o, "{line}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::BrokenPipe),
        _ => Ok(()),
    }
}

fn plural_images(n: usize) -> String {
    if n == 1 {
        "1 image".into()
    } else {
        format!("{n} images")
    }
}
