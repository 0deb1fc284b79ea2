//! What every real-container test of the workspace needs before it starts:
//! a check of the host that fails naming what is missing (the project's
//! rule: never skip silently, unless `NODELET_SKIP_REAL=1`), and the
//! artefacts built once per target dir and shared by concurrently running
//! test binaries (test images, the monitor binary), and a real registry
//! for pull tests ([`registry`]).
//!
//! It depends on no nodelet crate, so any crate can take it as a
//! dev-dependency without a cycle; checks that need nodelet code (e.g. the
//! runtime's `host_check`) are passed in with [`Needs::problems`].

mod artefacts;
mod bounded;
mod host;
pub mod registry;

pub use artefacts::{monitor_binary, target_dir, test_images};
pub use bounded::{run_bounded, run_e2e_script};
pub use host::{Needs, skipped, which};
pub use registry::{RegistryOptions, TestRegistry};
