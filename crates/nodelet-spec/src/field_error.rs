//! API-server shaped field errors.
//!
//! The Kubernetes API server reports validation problems as a list of
//! `field.Error`s, each printed as `<path>: <type>: <detail>` (with the bad
//! value quoted for some types). kubectl users read these strings, and the
//! API layer returns them as `Status.details.causes`, so we reproduce the
//! exact shape here once and every validator builds on it.

use std::fmt;

/// The error kinds of `k8s.io/apimachinery/pkg/util/validation/field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
}

impl ErrorType {
    /// The human string the API server prints, e.g. `Required value`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
        }
    }

    /// The machine-readable cause reason used in `Status.details.causes`.
    pub fn cause_reason(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
        }
    }
}

/// A dotted/indexed field path such as `spec.containers[0].lifecycle`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldPath(String);

impl FieldPath {
    pub fn new(root: &str) -> Self {
        FieldPath(root.to_string())
    }
    /// `a` + `b` → `a.b`
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            FieldPath(name.to_string())
        } else {
            FieldPath(format!("{}.{}", self.0, name))
        }
    }
    /// `a` + 3 → `a[3]`
    pub fn index(&self, i: usize) -> Self {
        FieldPath(format!("{}[{}]", self.0, i))
    }
    /// `a` + "k" → `a[k]` (map keys are printed bare, as the API server does)
    pub fn key(&self, k: &str) -> Self {
        FieldPath(format!("{}[{}]", self.0, k))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One validation error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub error_type: ErrorType,
    pub field: FieldPath,
    /// The offending value, already rendered the way the API server renders
    /// it (strings quoted, numbers bare). `None` omits the value.
    pub bad_value: Option<String>,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: FieldPath, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, field, None, detail)
    }
    pub fn forbidden(field: FieldPath, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Forbidden, field, None, detail)
    }
    pub fn invalid(field: FieldPath, value: impl ValueRepr, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Invalid, field, Some(value.repr()), detail)
    }
    pub fn duplicate(field: FieldPath, value: impl ValueRepr) -> Self {
        Self::new(ErrorType::Duplicate, field, Some(value.repr()), "")
    }
    pub fn not_found(field: FieldPath, value: impl ValueRepr) -> Self {
        Self::new(ErrorType::NotFound, field, Some(value.repr()), "")
    }
    pub fn too_long(field: FieldPath, max: usize) -> Self {
        Self::new(
            ErrorType::TooLong,
            field,
            None,
            format!("must have at most {max} bytes"),
        )
    }
    /// `Unsupported value: "X": supported values: "A", "B"`
    pub fn not_supported(field: FieldPath, value: impl ValueRepr, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(ErrorType::NotSupported, field, Some(value.repr()), detail)
    }
    pub fn new(
        error_type: ErrorType,
        field: FieldPath,
        bad_value: Option<String>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            error_type,
            field,
            bad_value,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for FieldError {
    /// Mirrors `field.Error.Error()`: `<field>: <type>[: <value>][: <detail>]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.error_type.as_str())?;
        if let Some(v) = &self.bad_value {
            write!(f, ": {v}")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

/// How a bad value is shown: strings quoted like Go's `%q`, numbers bare.
pub trait ValueRepr {
    fn repr(&self) -> String;
}
impl ValueRepr for &str {
    fn repr(&self) -> String {
        format!("{self:?}")
    }
}
impl ValueRepr for String {
    fn repr(&self) -> String {
        format!("{self:?}")
    }
}
impl ValueRepr for &String {
    fn repr(&self) -> String {
        format!("{self:?}")
    }
}
/// A value already formatted as the API server prints it (Go's `%#v` of
/// a slice or struct).
#[derive(Debug, Clone)]
pub struct Raw(pub String);
impl ValueRepr for Raw {
    fn repr(&self) -> String {
        self.0.clone()
    }
}
macro_rules! bare_repr {
    ($($t:ty),*) => {$(
        impl ValueRepr for $t {
            fn repr(&self) -> String { self.to_string() }
        }
    )*};
}
bare_repr!(i32, i64, u16, u32, u64, usize);

/// All errors of one object, reported together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }
    pub fn extend(&mut self, other: FieldErrors) {
        self.0.extend(other.0);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &FieldError> {
        self.0.iter()
    }
}

impl fmt::Display for FieldErrors {
    /// Like the API server's aggregate: `[e1, e2]` for several, bare for one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            0 => Ok(()),
            1 => write!(f, "{}", self.0[0]),
            _ => {
                f.write_str("[")?;
                for (i, e) in self.0.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl std::error::Error for FieldErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_api_server() {
        let p = FieldPath::new("spec").child("containers").index(0);
        let e = FieldError::required(
            p.child("lifecycle").child("postStart"),
            "must specify a handler type",
        );
        assert_eq!(
            e.to_string(),
            "spec.containers[0].lifecycle.postStart: Required value: must specify a handler type"
        );
        let e = FieldError::not_supported(p.child("scheme"), "FTP", &["HTTP", "HTTPS"]);
        assert_eq!(
            e.to_string(),
            "spec.containers[0].scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\""
        );
        let e = FieldError::duplicate(p.child("name"), "a");
        assert_eq!(
            e.to_string(),
            "spec.containers[0].name: Duplicate value: \"a\""
        );
    }
}
