//! API errors rendered as the API server renders them: a `Status` object
//! with the HTTP code, a machine reason and the exact message kubectl prints.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nodelet_spec::FieldErrors;
use serde_json::{Value, json};

/// One `Status.details.causes` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// `Status.details`, boxed so `Result<_, ApiError>` stays small.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Details {
    /// `details.name` / `details.kind` (resource plural for most reasons).
    pub name: Option<String>,
    pub kind: Option<String>,
    /// `details.group` (the API group of a forbidden resource).
    pub group: Option<String>,
    pub causes: Vec<Cause>,
    pub retry_after: Option<u32>,
}

/// An error answer of the API (also used for serving failures).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `BadRequest` ...
    pub reason: String,
    pub message: String,
    pub details: Box<Details>,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: Box::default(),
        }
    }

    fn with_details(mut self, plural: &str, name: &str) -> Self {
        self.details.kind = Some(plural.to_string());
        self.details.name = Some(name.to_string());
        self
    }

    /// `pods "x" not found`
    pub fn not_found(plural: &str, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{plural} \"{name}\" not found"))
            .with_details(plural, name)
    }

    /// `pods "x" already exists`
    pub fn already_exists(plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{plural} \"{name}\" already exists"),
        )
        .with_details(plural, name)
    }

    /// An optimistic-concurrency failure, worded as the API server does.
    pub fn conflict(plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
        .with_details(plural, name)
    }

    /// 422 with one cause per field error: `Pod "x" is invalid: [...]`.
    pub fn invalid(kind: &str, name: &str, errs: &FieldErrors) -> Self {
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {errs}"),
        );
        e.details.kind = Some(kind.to_string());
        e.details.name = Some(name.to_string());
        e.details.causes = errs
            .iter()
            .map(|fe| Cause {
                reason: fe.error_type.cause_reason().to_string(),
                message: cause_message(fe),
                field: fe.field.to_string(),
            })
            .collect();
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// Watch from a resourceVersion that was compacted away.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `Status` object (also used inside watch ERROR events).
    pub fn status_json(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let mut details = serde_json::Map::new();
        let d = &self.details;
        if let Some(n) = &d.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &d.group {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &d.kind {
            details.insert("kind".into(), json!(k));
        }
        if !d.causes.is_empty() {
            let causes: Vec<Value> = d
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(r) = d.retry_after {
            details.insert("retryAfterSeconds".into(), json!(r));
        }
        if !details.is_empty() {
            v["details"] = Value::Object(details);
        }
        v
    }
}

/// The API server's cause message: the error without the field prefix.
fn cause_message(fe: &nodelet_spec::FieldError) -> String {
    let full = fe.to_string();
    let prefix = format!("{}: ", fe.field);
    full.strip_prefix(&prefix)
        .map(str::to_string)
        .unwrap_or(full)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.status_json().to_string();
        if code == StatusCode::SERVICE_UNAVAILABLE || code == StatusCode::TOO_MANY_REQUESTS {
            // client-go retries a 503 or 429 that says when (kubectl included).
            let after = self.details.retry_after.unwrap_or(1).to_string();
            return (
                code,
                [
                    ("content-type", "application/json"),
                    ("retry-after", after.as_str()),
                ],
                body,
            )
                .into_response();
        }
        (code, [("content-type", "application/json")], body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodelet_spec::{FieldError, FieldPath};

    #[test]
    fn invalid_has_causes_and_apiserver_message() {
        let mut errs = FieldErrors::default();
        errs.push(FieldError::required(
            FieldPath::new("spec.containers[0].image"),
            "",
        ));
        let e = ApiError::invalid("Pod", "x", &errs);
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Pod \"x\" is invalid: spec.containers[0].image: Required value"
        );
        let s = e.status_json();
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueRequired");
        assert_eq!(
            s["details"]["causes"][0]["field"],
            "spec.containers[0].image"
        );
        assert_eq!(s["details"]["causes"][0]["message"], "Required value");
    }

    #[test]
    fn not_found_message() {
        let e = ApiError::not_found("pods", "web");
        assert_eq!(e.status_json()["message"], "pods \"web\" not found");
        assert_eq!(e.status_json()["details"]["kind"], "pods");
    }
}
