//! [`ErrorResponse`]: the JSON body of every error answer from the server.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The server's error body, e.g. `{"status":404,"message":"...","retryable":false}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorResponse {
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The server host that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Whether the same request may succeed later.
    pub retryable: bool,
    /// A machine-readable error code (Orkes: `EXPIRED_TOKEN`, `INVALID_TOKEN`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Orkes auth errors carry their code here (`{"error": "EXPIRED_TOKEN"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bean-validation failures, for 400 answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_errors: Option<Vec<ValidationError>>,
    /// Extra details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl ErrorResponse {
    /// An error body with `status` and `message`, not retryable.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: Some(message.into()),
            ..Self::default()
        }
    }
}

/// One bean-validation failure inside an [`ErrorResponse`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ValidationError {
    /// The offending property path, e.g. `updateTask.taskResult.taskId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The rejected value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_value: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_error_body_round_trips() {
        let body = json!({
            "status": 400,
            "message": "Validation failed, check below errors for detail.",
            "retryable": false,
            "validationErrors": [
                {"path": "updateTask.taskResult.taskId", "message": "Task ID cannot be null or empty"}
            ]
        });
        let parsed: ErrorResponse = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(parsed.validation_errors.as_ref().unwrap().len(), 1);
        assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
    }
}
