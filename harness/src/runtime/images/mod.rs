//! The matrix's images: which ones the roles need, which are in the engine, and building the
//! ones the matrix defines (`[[image]]`) from their Dockerfiles.
//!
//! Nothing here ever pulls: no registry is reachable. A build is skipped when the image in the
//! engine carries the content hash of its inputs (label [`LABEL_BUILD_HASH`]), so calling
//! [`build_images`] before every test run costs the `prepare` command, a hash of the build
//! contexts and one inspect per image. Base images the engine lacks are made locally:
//! `debian:SUITE[-slim]` by `debootstrap` (installed on the host only when
//! [`BuildOptions::install_tools`] asks for it); anything else is an error that says how to provide
//! it.

mod build;
mod catalog;
mod context;
mod debian;
mod dockerfile;
mod dockerignore;
mod error;
mod hash;
mod process;
#[cfg(test)]
mod testing;

pub use build::{build_images, image_states, BuildEvent, BuildOptions, ImageState};

pub use build::BuildReport;
pub use catalog::{define_helper_images, defined_images};
pub use error::BuildError;
