//! Fuzz target: any bytes through the whole manifest pipeline (load,
//! default, validate, warnings) must never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nodelet_spec::Object;
use nodelet_spec::defaults::default_object;
use nodelet_spec::load::load_bytes;
use nodelet_spec::validate::{pod_warnings, validate_object};

fuzz_target!(|data: &[u8]| {
    let Ok(manifests) = load_bytes("fuzz.yaml", data) else {
        return;
    };
    for mut m in manifests {
        default_object(&mut m.object);
        let errors = validate_object(&m.object);
        // Rendering is part of the contract too (API error bodies, CLI output).
        let _ = errors.to_string();
        if let Object::Pod(pod) = &m.object {
            let _ = pod_warnings(pod);
        }
    }
});
