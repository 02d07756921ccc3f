//! [`ApiError`]: every error answer the mock gives, with the server's status codes and messages.

use baton_model::{ErrorResponse, ValidationError};

/// An error answer: each variant knows its HTTP status and renders the server's
/// [`ErrorResponse`] JSON body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// An update named a workflow the mock does not know (404).
    #[error("No such workflow found by id: {0}")]
    WorkflowNotFound(String),
    /// An update named a task the mock does not know (404).
    #[error("No such task found by id: {0}")]
    TaskNotFound(String),
    /// `GET /tasks/{taskId}` of an unknown (or evicted) task (404).
    #[error("Task not found for taskId: {0}")]
    TaskNotFoundById(String),
    /// A definition or workflow that does not exist (404), with the server's message.
    #[error("{0}")]
    NotFound(String),
    /// A conflicting request, e.g. a duplicate workflow definition (409).
    #[error("{0}")]
    Conflict(String),
    /// Bean validation failed (400 with `validationErrors`).
    #[error("Validation failed, check below errors for detail.")]
    Validation(Vec<ValidationError>),
    /// An invalid argument, e.g. a long-poll timeout above 5000 ms (400).
    #[error("{0}")]
    BadRequest(String),
    /// No such route (404).
    #[error("{0}")]
    NoRoute(String),
    /// The request body is over the configured limit (413).
    #[error("Request body of {size} bytes is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The body size, as far as it was read.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// Missing, unknown or expired auth token (401); `code` is `INVALID_TOKEN` or
    /// `EXPIRED_TOKEN`, as Orkes answers.
    #[error("{message}")]
    Unauthorized {
        /// The Orkes error code, sent in the body's `error` field.
        code: &'static str,
        /// Human-readable text.
        message: String,
    },
    /// Anything the server answers with 500, e.g. malformed JSON.
    #[error("{0}")]
    Internal(String),
    /// A status code injected by a fault rule.
    #[error("Injected fault: HTTP {0}")]
    Injected(u16),
}

impl ApiError {
    /// The HTTP status code of this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::WorkflowNotFound(_)
            | Self::TaskNotFound(_)
            | Self::TaskNotFoundById(_)
            | Self::NotFound(_)
            | Self::NoRoute(_) => 404,
            Self::Conflict(_) => 409,
            Self::Validation(_) | Self::BadRequest(_) => 400,
            Self::PayloadTooLarge { .. } => 413,
            Self::Unauthorized { .. } => 401,
            Self::Internal(_) => 500,
            Self::Injected(status) => *status,
        }
    }

    /// The JSON body the server sends for this error.
    pub fn to_response(&self) -> ErrorResponse {
        let mut body = ErrorResponse::new(self.status(), self.to_string());
        body.instance = Some("baton-mock".to_owned());
        match self {
            Self::Validation(errors) => body.validation_errors = Some(errors.clone()),
            Self::Unauthorized { code, .. } => body.error = Some((*code).to_owned()),
            Self::Injected(status) => body.retryable = *status >= 500,
            _ => {}
        }
        body
    }

    /// The two validation failures of an update without ids (only the missing ones).
    pub(crate) fn missing_ids(workflow_missing: bool, task_missing: bool) -> Self {
        let error = |path: &str, message: &str| ValidationError {
            path: Some(format!("updateTask.taskResult.{path}")),
            message: Some(message.to_owned()),
            invalid_value: None,
        };
        let mut errors = Vec::new();
        if workflow_missing {
            errors.push(error(
                "workflowInstanceId",
                "Workflow Id cannot be null or empty",
            ));
        }
        if task_missing {
            errors.push(error("taskId", "Task ID cannot be null or empty"));
        }
        Self::Validation(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_render_the_server_bodies() {
        let body = ApiError::TaskNotFound("x".into()).to_response();
        assert_eq!(body.status, 404);
        assert_eq!(body.message.as_deref(), Some("No such task found by id: x"));
        let body = ApiError::missing_ids(true, true).to_response();
        assert_eq!(body.status, 400);
        assert_eq!(body.validation_errors.map(|v| v.len()), Some(2));
        let body = ApiError::Unauthorized {
            code: "EXPIRED_TOKEN",
            message: "Token expired".into(),
        }
        .to_response();
        assert_eq!(
            (body.status, body.error.as_deref()),
            (401, Some("EXPIRED_TOKEN"))
        );
        assert!(ApiError::Injected(503).to_response().retryable);
    }
}
