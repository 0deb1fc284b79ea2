//! Entry points for the fuzz targets in `fuzz/` (cargo fuzz builds them
//! outside this workspace, so they can only call public items). Each one
//! runs untrusted bytes through the same functions a request takes, in the
//! same order, and returns what the request would answer; none of them
//! may panic, hang or allocate without bound, whatever the bytes.

use k8s_openapi::api::core::v1::Pod;
use nodelet_spec::Object;
use nodelet_spec::validate::update::{prepare_update, validate_pod_update};
use serde_json::Value;

use crate::error::ApiError;
use crate::kind::Kind;
use crate::patch::{self, PatchType};
use crate::{exec, logs, objects};

pub use crate::exec::Input;
pub use crate::logs::LogOpts;

/// A pod body of POST/PUT (JSON, YAML or protobuf): decoded strictly,
/// placed in `default`, defaulted and validated as a create is; the
/// PUT parser too. Returns the create's verdict.
pub fn pod_body(body: &[u8]) -> Result<(), ApiError> {
    let _ = objects::parse_value(Kind::Pod, body);
    let mut obj = objects::decode(Kind::Pod, body)?;
    objects::place(&mut obj, "default", None)?;
    crate::pod_update::prepare_create(&mut obj);
    nodelet_spec::defaults::default_object(&mut obj);
    let errs = nodelet_spec::validate::validate_object(&obj);
    if let Object::Pod(p) = &obj {
        let _ = nodelet_spec::validate::pod_warnings(p);
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(obj.kind(), "fuzz", &errs))
    }
}

/// The patch types by the first byte of a fuzz input.
pub fn patch_type(selector: u8) -> PatchType {
    match selector % 4 {
        0 => PatchType::Json,
        1 => PatchType::Merge,
        2 => PatchType::Strategic,
        _ => PatchType::Apply,
    }
}

/// A PATCH of `old` (a stored pod as JSON) with `body`: parsed, applied
/// and, when it still is an object, decoded and validated as a pod update.
pub fn pod_patch(old: &Value, pt: PatchType, body: &[u8]) -> Result<(), ApiError> {
    let p = patch::parse_body(pt, body)?;
    let mut doc = old.clone();
    patch::apply(pt, &mut doc, &p)?;
    let bytes = serde_json::to_vec(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut obj = objects::decode(Kind::Pod, &bytes)?;
    objects::place(&mut obj, "default", Some("fuzz"))?;
    nodelet_spec::defaults::default_object(&mut obj);
    let Object::Pod(mut new) = obj else {
        return Err(ApiError::internal("pod expected"));
    };
    let old: Pod =
        serde_json::from_value(old.clone()).map_err(|e| ApiError::internal(e.to_string()))?;
    prepare_update(&mut new, &old);
    let errs = validate_pod_update(&new, &old);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("Pod", "fuzz", &errs))
    }
}

/// The options of a `pods/log` request, from fuzz bytes.
pub fn log_opts(timestamps: bool, tail_lines: Option<i64>, limit_bytes: Option<i64>) -> LogOpts {
    LogOpts {
        timestamps,
        tail_lines,
        limit_bytes,
        since: Some(jiff::Timestamp::UNIX_EPOCH),
        ..Default::default()
    }
}

/// A CRI log file rendered as `pods/log` does: the whole lines first,
/// then (follow) the rest of `content` arriving in `chunk`-byte pieces.
pub fn cri_log(content: &[u8], split: usize, chunk: usize, opts: &LogOpts) -> Vec<u8> {
    let split = split.min(content.len());
    let mut fmt = logs::Formatter::new(opts);
    let r = logs::render_file(&content[..split], opts, &mut fmt);
    let mut out = r.out;
    let mut left = r.left;
    if r.done {
        return out;
    }
    let mut pending = content[r.consumed..split].to_vec();
    for piece in content[split..].chunks(chunk.max(1)) {
        pending.extend_from_slice(piece);
        let (more, done) = logs::render_more(&mut pending, &mut fmt, &mut left);
        out.extend_from_slice(&more);
        if done {
            break;
        }
    }
    out
}

/// One client message of exec/attach's channel protocol.
pub fn exec_input(data: &[u8], v5: bool) -> Input<'_> {
    exec::decode_input(data, v5)
}
