//! Fuzz target: API request bodies. The first byte picks the path: a pod
//! body of POST/PUT (JSON, YAML or the protobuf envelope, decoded
//! strictly, defaulted, validated), or one of the four PATCH types
//! (JSON patch, JSON merge, strategic merge, apply) applied to a stored
//! pod and validated as a pod update. Every body must end in an answer
//! (the object or a 4xx/5xx), never a panic or a hang.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use nodelet_api::fuzzing::{patch_type, pod_body, pod_patch};
use serde_json::Value;

/// A stored pod as the API server keeps it (defaulted, with status).
static STORED: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../seeds/stored_pod.json")).expect("seed pod")
});

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let res = if sel < 0x40 {
        pod_body(body)
    } else {
        pod_patch(&STORED, patch_type(sel), body)
    };
    if let Err(e) = res {
        // Every refusal is an HTTP error the client can show.
        assert!((400..600).contains(&e.code), "status {} for {e:?}", e.code);
    }
});
