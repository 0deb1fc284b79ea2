//! What can go wrong talking to the agent, worded as kubectl words it: the
//! server's `Status` bodies become `Error from server (NotFound): ...`, an
//! absent socket says which command to start.

use std::path::PathBuf;

use serde_json::Value;

/// One `Status.details.causes` entry (a field error of a 422).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub field: String,
    pub message: String,
}

/// A `Status` error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiStatus {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// `details.kind` (`Pod`, or a plural for most reasons) and `details.name`.
    pub kind: String,
    pub name: String,
    pub causes: Vec<Cause>,
}

impl ApiStatus {
    /// Reads a `Status` body; anything else becomes a status with the body
    /// as its message, the way client-go reports non-Status errors.
    pub fn from_body(code: u16, body: &[u8]) -> Self {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if v.get("kind").and_then(Value::as_str) != Some("Status") {
            let text = String::from_utf8_lossy(body).trim().to_string();
            return ApiStatus {
                code,
                reason: reason_for_code(code).to_string(),
                message: if text.is_empty() {
                    format!("the server responded with status {code}")
                } else {
                    text
                },
                kind: String::new(),
                name: String::new(),
                causes: Vec::new(),
            };
        }
        let causes = v
            .pointer("/details/causes")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| Cause {
                        field: c["field"].as_str().unwrap_or("").to_string(),
                        message: c["message"].as_str().unwrap_or("").to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        ApiStatus {
            code,
            reason: s("/reason"),
            message: s("/message"),
            kind: s("/details/kind"),
            name: s("/details/name"),
            causes,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code == 404
    }

    pub fn is_already_exists(&self) -> bool {
        self.code == 409 && self.reason == "AlreadyExists"
    }

    /// The text kubectl prints for this error (without a trailing newline).
    pub fn kubectl_message(&self) -> String {
        if self.reason == "Invalid" {
            return self.invalid_message();
        }
        if self.reason.is_empty() {
            format!("Error from server: {}", self.message)
        } else {
            format!("Error from server ({}): {}", self.reason, self.message)
        }
    }

    /// kubectl's rendering of a 422: `The Pod "x" is invalid: field: msg`,
    /// or one `* field: msg` line per cause when there are several.
    fn invalid_message(&self) -> String {
        let head = if self.kind.is_empty() && self.name.is_empty() {
            "The request is invalid".to_string()
        } else {
            format!("The {} {:?} is invalid", self.kind, self.name)
        };
        let cause = |c: &Cause| {
            if c.field.is_empty() {
                c.message.clone()
            } else {
                format!("{}: {}", c.field, c.message)
            }
        };
        match self.causes.as_slice() {
            [] => head,
            [one] => format!("{head}: {}", cause(one)),
            many => {
                let mut s = format!("{head}: ");
                for c in many {
                    s.push_str("\n* ");
                    s.push_str(&cause(c));
                }
                s
            }
        }
    }
}

fn reason_for_code(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No socket file, or nobody listening on it.
    #[error(
        "cannot reach the nodelet agent at {}: is \"nodelet serve\" or \"nodelet run\" running?",
        .0.display()
    )]
    Unreachable(PathBuf),
    /// The socket exists but connecting failed otherwise (permissions...).
    #[error("cannot reach the nodelet agent at {}: {error}", .socket.display())]
    Connect {
        socket: PathBuf,
        error: std::io::Error,
    },
    #[error("{}", .0.kubectl_message())]
    Api(ApiStatus),
    #[error("talking to the nodelet agent: {0}")]
    Transport(String),
    #[error("unexpected answer from the nodelet agent: {0}")]
    Decode(String),
}

impl ClientError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Api(s) if s.is_not_found())
    }

    pub fn is_already_exists(&self) -> bool {
        matches!(self, ClientError::Api(s) if s.is_already_exists())
    }

    /// Whether kubectl would print this without an `error: ` prefix.
    pub fn is_server_error(&self) -> bool {
        matches!(self, ClientError::Api(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_reads_like_kubectl() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}"#;
        let s = ApiStatus::from_body(404, body);
        assert!(s.is_not_found());
        assert_eq!(
            s.kubectl_message(),
            "Error from server (NotFound): pods \"x\" not found"
        );
    }

    #[test]
    fn invalid_lists_each_cause() {
        let body = br#"{"kind":"Status","status":"Failure","message":"...","reason":"Invalid","details":{"name":"p","kind":"Pod","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.containers[0].image"},{"reason":"FieldValueInvalid","message":"Invalid value: \"A\"","field":"metadata.name"}]},"code":422}"#;
        let s = ApiStatus::from_body(422, body);
        assert_eq!(
            s.kubectl_message(),
            "The Pod \"p\" is invalid: \n* spec.containers[0].image: Required value\n* metadata.name: Invalid value: \"A\""
        );
        let one = br#"{"kind":"Status","reason":"Invalid","details":{"name":"p","kind":"Pod","causes":[{"message":"Required value","field":"spec.containers"}]}}"#;
        assert_eq!(
            ApiStatus::from_body(422, one).kubectl_message(),
            "The Pod \"p\" is invalid: spec.containers: Required value"
        );
    }

    #[test]
    fn non_status_body_keeps_the_text() {
        let s = ApiStatus::from_body(502, b"bad gateway");
        assert_eq!(s.kubectl_message(), "Error from server: bad gateway");
    }
}
