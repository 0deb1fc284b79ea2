//! Images on this node: a content-addressed store fed by `load` (OCI image
//! layouts and `docker save` archives) and by registry pulls
//! ([`registry`]), with layers unpacked once, safely, into directories
//! that overlayfs uses directly as lowerdirs.
//!
//! Trust boundary: everything read from an archive is untrusted. Blobs are
//! hashed before use ([`blob`]), uncompressed layers are checked against
//! the config's `diff_ids`, and unpacking cannot escape the layer directory
//! ([`unpack`]).

pub mod blob;
pub mod config;
pub mod docker_archive;
pub mod ensure;
pub mod gc;
pub mod import;
pub mod ingest;
pub mod layers;
pub mod layout;
pub mod pins;
pub mod reference;
pub mod registry;
pub mod source;
pub mod state;
pub mod store;
pub mod unpack;

pub use config::ImageConfig;
pub use reference::{Reference, normalize_reference, parse_reference};
pub use store::{ImageDetails, ImageStore, ImageSummary, LayerDetails, ResolvedImage};
pub use unpack::{UnpackLimits, UnpackStats, unpack_layer};
