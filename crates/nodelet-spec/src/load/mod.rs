//! Manifest loading: bytes or a file to typed objects.
//!
//! Accepts YAML (multi-document) or JSON, `kind: List` and typed lists,
//! and the kinds nodelet runs (Pod, Service, ConfigMap, Secret, ServiceAccount, all
//! `apiVersion: v1`). Strict like `kubectl --validate=strict`: unknown
//! fields are errors with their full path. Never panics on any input; every
//! error names the source and, when known, the document.

mod error;
mod parse;
mod quantity;
mod typed;
mod unknown;

use std::io::Read;
use std::path::Path;

pub use error::{DocumentProblem, Format, LoadError};
pub use parse::MAX_DEPTH;

use crate::object::Manifest;
use typed::{Parsed, describe, parse_document};

/// Largest manifest accepted, far above any real one; protects memory.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// Loads every object in `bytes`. `source` names the input in errors and in
/// [`Manifest::source`]. Errors of all documents are reported together.
pub fn load_bytes(source: &str, bytes: &[u8]) -> Result<Vec<Manifest>, LoadError> {
    let name = source.to_string();
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(LoadError::TooLarge {
            name,
            size: bytes.len() as u64,
            max: MAX_MANIFEST_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| LoadError::InvalidUtf8 {
        name: name.clone(),
        offset: e.valid_up_to(),
    })?;
    let docs = parse::documents(text).map_err(|(format, message)| LoadError::Syntax {
        name: name.clone(),
        format,
        message,
    })?;
    let mut loader = Loader {
        name,
        next_index: 0,
        manifests: Vec::new(),
        errors: Vec::new(),
    };
    for doc in &docs {
        loader.document(doc, false);
    }
    loader.finish()
}

/// Loads the file at exactly `path` (no `-` for stdin: that is the caller's).
pub fn load_file(path: &Path) -> Result<Vec<Manifest>, LoadError> {
    let name = path.display().to_string();
    let read_err = |error| LoadError::Read {
        name: name.clone(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    // Read one byte past the limit so an oversized (or growing) file is
    // detected without reading all of it.
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    load_bytes(&name, &bytes)
}

struct Loader {
    name: String,
    next_index: usize,
    manifests: Vec<Manifest>,
    errors: Vec<LoadError>,
}

impl Loader {
    fn document(&mut self, doc: &serde_json::Value, in_list: bool) {
        let index = self.next_index;
        if parse::depth_exceeds(doc, MAX_DEPTH) {
            self.next_index += 1;
            self.fail(index, None, vec![DocumentProblem::TooDeep(MAX_DEPTH)]);
            return;
        }
        match parse_document(doc) {
            Ok(Parsed::One(object)) => {
                self.next_index += 1;
                self.manifests.push(Manifest {
                    source: self.name.clone(),
                    index,
                    object,
                });
            }
            Ok(Parsed::List(_)) if in_list => {
                self.next_index += 1;
                self.fail(index, describe(doc), vec![DocumentProblem::NestedList]);
            }
            // Items take the indexes; the list itself does not count.
            Ok(Parsed::List(items)) => {
                for item in &items {
                    self.document(item, true);
                }
            }
            Err(problems) => {
                self.next_index += 1;
                self.fail(index, describe(doc), problems);
            }
        }
    }

    fn fail(&mut self, index: usize, object: Option<String>, problems: Vec<DocumentProblem>) {
        for problem in problems {
            self.errors.push(LoadError::Document {
                name: self.name.clone(),
                index,
                object: object.clone(),
                problem,
            });
        }
    }

    fn finish(mut self) -> Result<Vec<Manifest>, LoadError> {
        match self.errors.len() {
            0 => Ok(self.manifests),
            1 => Err(self.errors.remove(0)),
            _ => Err(LoadError::Many(self.errors)),
        }
    }
}
