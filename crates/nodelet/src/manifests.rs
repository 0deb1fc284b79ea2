//! Reading manifests the way every command does: load each file (or
//! stdin), apply the API server's defaults, validate, and report every
//! problem of every object before anything is acted on — so a bad input is
//! never half-applied.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nodelet_spec::{Manifest, Object, defaults, load, validate};

/// The manifests of `files`, defaulted and valid; or `Err` after every
/// problem was printed to stderr.
pub fn load_valid(files: &[PathBuf]) -> anyhow::Result<Result<Vec<Manifest>, Invalid>> {
    let (mut manifests, mut failed) = load_all(files)?;
    for m in &mut manifests {
        defaults::default_object(&mut m.object);
    }
    for m in &manifests {
        let errs = validate::validate_object(&m.object);
        if !errs.is_empty() {
            failed = true;
            eprintln!(
                "{}: document {}: The {} {:?} is invalid:",
                m.source,
                m.index,
                m.object.kind(),
                object_name(&m.object)
            );
            for e in errs.iter() {
                eprintln!("* {e}");
            }
        }
        if let Object::Pod(pod) = &m.object {
            for w in validate::pod_warnings(pod) {
                eprintln!("Warning: {w}");
            }
        }
    }
    Ok(if failed { Err(Invalid) } else { Ok(manifests) })
}

/// Some input was invalid; the details are already on stderr.
#[derive(Debug, Clone, Copy)]
pub struct Invalid;

fn load_all(files: &[PathBuf]) -> anyhow::Result<(Vec<Manifest>, bool)> {
    let mut manifests = Vec::new();
    let mut failed = false;
    for path in files {
        let loaded = if path == Path::new("-") {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading manifests from stdin")?;
            load::load_bytes("<stdin>", &buf)
        } else {
            load::load_file(path)
        };
        match loaded {
            Ok(ms) => manifests.extend(ms),
            Err(e) => {
                failed = true;
                eprintln!("error: {e}");
            }
        }
    }
    Ok((manifests, failed))
}

pub fn object_name(obj: &Object) -> String {
    meta(obj).name.clone().unwrap_or_default()
}

pub fn object_namespace(obj: &Object) -> String {
    meta(obj)
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into())
}

fn meta(obj: &Object) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    obj.metadata()
}
