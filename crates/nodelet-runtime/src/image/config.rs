//! The parts of an image config that running a container needs.

use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

use crate::error::{Result, RuntimeError};

/// ENTRYPOINT, CMD, ENV... from the image config (`config` object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `KEY=VALUE`, in image order.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub stop_signal: Option<String>,
    /// `80/tcp`-style keys of `ExposedPorts`, sorted.
    pub exposed_ports: Vec<String>,
}

/// Parses config bytes (already known to hash to `digest`).
pub fn parse_config(bytes: &[u8], digest: &str) -> Result<ImageConfiguration> {
    ImageConfiguration::from_reader(bytes).map_err(|e| RuntimeError::InvalidImage {
        image: digest.to_string(),
        reason: format!("image config: {e}"),
    })
}

impl From<&ImageConfiguration> for ImageConfig {
    fn from(c: &ImageConfiguration) -> Self {
        let Some(cfg) = c.config() else {
            return ImageConfig::default();
        };
        let mut exposed_ports = cfg.exposed_ports().clone().unwrap_or_default();
        exposed_ports.sort();
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        ImageConfig {
            entrypoint: cfg.entrypoint().clone(),
            cmd: cfg.cmd().clone(),
            env: cfg.env().clone().unwrap_or_default(),
            working_dir: nonempty(cfg.working_dir()),
            user: nonempty(cfg.user()),
            stop_signal: nonempty(cfg.stop_signal()),
            exposed_ports,
        }
    }
}
