//! Load errors.
//!
//! Every message starts with the source name (and the document index when
//! one is known) so a user with several manifest files can tell at once
//! which file and which document to fix.

use std::fmt;

/// Why a manifest source could not be turned into objects.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{name}: cannot read: {error}")]
    Read {
        name: String,
        #[source]
        error: std::io::Error,
    },
    #[error("{name}: manifest is {size} bytes, more than the limit of {max} bytes")]
    TooLarge { name: String, size: u64, max: u64 },
    #[error("{name}: not valid UTF-8 (invalid byte at offset {offset})")]
    InvalidUtf8 { name: String, offset: usize },
    /// The text is not well-formed YAML/JSON (or breaks a parser limit); the
    /// parser cannot tell which document it was in.
    #[error("{name}: invalid {format}: {message}")]
    Syntax {
        name: String,
        format: Format,
        message: String,
    },
    /// One document parsed but is not an acceptable object.
    #[error("{name}: document {index}{}: {problem}", Described(.object))]
    Document {
        name: String,
        index: usize,
        /// `Pod "x"` when kind and name were readable.
        object: Option<String>,
        problem: DocumentProblem,
    },
    /// Several problems in one source, in document order.
    #[error("{}", Joined(.0))]
    Many(Vec<LoadError>),
}

impl LoadError {
    /// The individual errors (a `Many` flattened, anything else alone).
    pub fn errors(&self) -> Vec<&LoadError> {
        match self {
            LoadError::Many(v) => v.iter().flat_map(|e| e.errors()).collect(),
            e => vec![e],
        }
    }
}

/// Input syntax, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
        })
    }
}

/// What is wrong with one document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentProblem {
    #[error("expected a mapping (an object), found {0}")]
    NotAnObject(&'static str),
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("missing required field \"{0}\"")]
    MissingField(&'static str),
    #[error("field \"{field}\" must be a string")]
    NotAString { field: &'static str },
    #[error(
        "unknown kind {kind:?} (apiVersion {api_version:?}); supported kinds: Pod, Service, ConfigMap, Secret, ServiceAccount (apiVersion \"v1\") and their lists"
    )]
    UnknownKind { api_version: String, kind: String },
    #[error("apiVersion {api_version:?} is not supported for kind {kind:?}: expected \"v1\"")]
    WrongApiVersion { api_version: String, kind: String },
    #[error("a list item may not itself be a list")]
    NestedList,
    #[error("unknown field {0:?}")]
    UnknownField(String),
    /// A value of the wrong type or shape, e.g. a string where an integer goes.
    #[error("invalid value for field {path:?}: {message}")]
    InvalidValue { path: String, message: String },
}

/// Renders ` (Pod "x")` or nothing.
struct Described<'a>(&'a Option<String>);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(o) => write!(f, " ({o})"),
            None => Ok(()),
        }
    }
}

/// One error per line: each already names its source.
struct Joined<'a>(&'a [LoadError]);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
