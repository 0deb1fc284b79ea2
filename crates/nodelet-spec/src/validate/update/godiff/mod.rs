//! The diff the API server appends to "pod updates may not change fields
//! other than …": `cmp.Diff(oldPod.Spec, mungedPodSpec)` from go-cmp over
//! the internal `core.PodSpec`. [`types`] describes the Go types,
//! [`value`] turns v1 JSON into those values, [`report`] prints them the
//! way go-cmp's default reporter does.

mod report;
mod types;
mod value;

use serde_json::Value;

/// `cmp.Diff(old, new)` of two v1 pod specs (JSON): empty when equal, else
/// the report, ending in a newline.
pub fn pod_spec_diff(old: &Value, new: &Value) -> String {
    report::diff(&value::pod_spec(old), &value::pod_spec(new))
}

#[cfg(test)]
mod tests;
