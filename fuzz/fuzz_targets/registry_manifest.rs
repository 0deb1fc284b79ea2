//! Fuzz target: what a registry (or an image archive) answers for a
//! manifest, an index or an image config. Parsing, platform choice and the
//! manifest checks must give a result or an error for any bytes, never a
//! panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nodelet_runtime::image::ImageConfig;
use nodelet_runtime::image::config::parse_config;
use nodelet_runtime::image::registry::manifest::{Document, check_manifest, parse, pick_platform};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(Document::Manifest(m)) => {
            let _ = check_manifest(&m);
        }
        Ok(Document::Index(i)) => {
            for arch in ["amd64", "arm64", "arm"] {
                let _ = pick_platform(&i, arch);
            }
        }
        Err(e) => {
            let _ = e.len();
        }
    }
    // The same bytes as the config blob a manifest names.
    if let Ok(c) = parse_config(data, "sha256:fuzz") {
        let _ = ImageConfig::from(&c);
    }
    // And as an image reference (a tag or digest a manifest lists).
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = nodelet_runtime::image::normalize_reference(s);
    }
});
