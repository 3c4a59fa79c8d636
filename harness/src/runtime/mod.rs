//! The Docker engine side: containers, networks, volumes, images, and cleanup.

mod cleanup;
mod engine;
mod engine_images;
mod images;

pub use cleanup::{
    blocking_sweep, gc, labels, owner_alive, owner_id, sweep, SweepGuard, Swept, LABEL_OWNER,
    LABEL_RUN, LABEL_TRIAL,
};
pub use engine::{ContainerSpec, ContainerStatus, Engine, EngineError, ExecOutput, Labelled};
pub use images::{
    build_images, defined_images, image_status, wanted_images, BuildError, BuildEvent,
    BuildOptions, BuildReport, WantedImage, LABEL_BUILD_HASH, LABEL_SYSTEM,
};
