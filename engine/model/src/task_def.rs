//! [`TaskDef`]: a task definition, with the server's defaults for every omitted field.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::JsonMap;

/// What happens when a task exceeds `timeoutSeconds`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TimeoutPolicy {
    /// Time the task out and retry it.
    Retry,
    /// Time out the whole workflow (the default).
    #[default]
    TimeOutWf,
    /// Only log.
    AlertOnly,
}

/// How the delay before a retry grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryLogic {
    /// `retryDelaySeconds` every time (the default).
    #[default]
    Fixed,
    /// `retryDelaySeconds × 2^attempt`.
    ExponentialBackoff,
    /// `retryDelaySeconds × backoffScaleFactor × (attempt + 1)`.
    LinearBackoff,
}

/// A task definition (`POST /api/metadata/taskdefs`). Omitted fields take the server's
/// defaults, which `GET` echoes back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct TaskDef {
    /// The task type this definition describes.
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How many times a failed task is retried (default 3).
    pub retry_count: i32,
    /// Overall timeout per attempt in seconds; 0 = none.
    pub timeout_seconds: i64,
    /// Documented input keys.
    pub input_keys: Vec<String>,
    /// Documented output keys.
    pub output_keys: Vec<String>,
    /// What a `timeoutSeconds` breach does.
    pub timeout_policy: TimeoutPolicy,
    /// How retry delays grow.
    pub retry_logic: RetryLogic,
    /// Base delay before a retry (default 60).
    pub retry_delay_seconds: i64,
    /// How long a polled task may go without an update (default 3600, minimum 1).
    pub response_timeout_seconds: i64,
    /// Most tasks of this type in progress at once; `None` or 0 = no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrent_exec_limit: Option<i32>,
    /// Defaults merged into each task's input.
    pub input_template: JsonMap,
    /// Rate limit: hand-outs per window; `None` or 0 = no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_frequency: Option<i32>,
    /// Rate limit: window length in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_frequency_in_seconds: Option<i32>,
    /// System tasks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation_group_id: Option<String>,
    /// System tasks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_name_space: Option<String>,
    /// The owner's e-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
    /// How long a task may wait in its queue; `None` or 0 = no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_timeout_seconds: Option<i64>,
    /// Multiplier for LINEAR_BACKOFF (default 1).
    pub backoff_scale_factor: i32,
    /// Cap on a retry delay; 0 = none.
    pub max_retry_delay_seconds: i64,
    /// Random extra delay, 0..=this many ms, added to each retry.
    pub backoff_jitter_ms: i64,
    /// Cap on all attempts together; 0 = none.
    pub total_timeout_seconds: i64,
    /// When the definition was created (epoch ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<i64>,
    /// When the definition was last updated (epoch ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<i64>,
    /// Who created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who last updated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// The owning application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_app: Option<String>,
    /// Input JSON schema reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// Output JSON schema reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Whether the schemas are enforced.
    pub enforce_schema: bool,
}

impl Default for TaskDef {
    fn default() -> Self {
        Self {
            name: String::new(),
            description: None,
            retry_count: 3,
            timeout_seconds: 0,
            input_keys: Vec::new(),
            output_keys: Vec::new(),
            timeout_policy: TimeoutPolicy::TimeOutWf,
            retry_logic: RetryLogic::Fixed,
            retry_delay_seconds: 60,
            response_timeout_seconds: 3600,
            concurrent_exec_limit: None,
            input_template: JsonMap::new(),
            rate_limit_per_frequency: None,
            rate_limit_frequency_in_seconds: None,
            isolation_group_id: None,
            execution_name_space: None,
            owner_email: None,
            poll_timeout_seconds: None,
            backoff_scale_factor: 1,
            max_retry_delay_seconds: 0,
            backoff_jitter_ms: 0,
            total_timeout_seconds: 0,
            create_time: None,
            update_time: None,
            created_by: None,
            updated_by: None,
            owner_app: None,
            input_schema: None,
            output_schema: None,
            enforce_schema: false,
        }
    }
}

impl TaskDef {
    /// A definition named `name` with every other field at the server's default (what the
    /// server uses for a SIMPLE task that has no registered definition).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The delay before retrying an attempt whose `retryCount` was `attempt`, without jitter,
    /// as the server computes it (seconds).
    pub fn retry_delay_seconds_for(&self, attempt: i32) -> i64 {
        let base = self.retry_delay_seconds.max(0);
        let attempt = i64::from(attempt.max(0));
        let delay = match self.retry_logic {
            RetryLogic::Fixed => base,
            RetryLogic::LinearBackoff => base
                .saturating_mul(i64::from(self.backoff_scale_factor))
                .saturating_mul(attempt + 1),
            RetryLogic::ExponentialBackoff => {
                base.saturating_mul(1_i64.checked_shl(attempt as u32).unwrap_or(i64::MAX))
            }
        };
        if self.max_retry_delay_seconds > 0 {
            delay.min(self.max_retry_delay_seconds)
        } else {
            delay
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn omitted_fields_take_the_server_defaults() {
        let def: TaskDef = serde_json::from_value(json!({"name": "encode"})).unwrap();
        assert_eq!(def, TaskDef::new("encode"));
        let echoed = serde_json::to_value(&def).unwrap();
        assert_eq!(echoed["retryCount"], 3);
        assert_eq!(echoed["retryDelaySeconds"], 60);
        assert_eq!(echoed["responseTimeoutSeconds"], 3600);
        assert_eq!(echoed["timeoutPolicy"], "TIME_OUT_WF");
        assert_eq!(echoed["retryLogic"], "FIXED");
        assert_eq!(echoed["inputKeys"], json!([]));
        assert!(echoed.get("concurrentExecLimit").is_none());
    }

    #[test]
    fn retry_delays_follow_the_retry_logic() {
        let mut def = TaskDef::new("x");
        def.retry_delay_seconds = 2;
        assert_eq!(def.retry_delay_seconds_for(3), 2);
        def.retry_logic = RetryLogic::LinearBackoff;
        def.backoff_scale_factor = 3;
        assert_eq!(def.retry_delay_seconds_for(0), 6);
        assert_eq!(def.retry_delay_seconds_for(2), 18);
        def.retry_logic = RetryLogic::ExponentialBackoff;
        assert_eq!(def.retry_delay_seconds_for(0), 2);
        assert_eq!(def.retry_delay_seconds_for(3), 16);
        def.max_retry_delay_seconds = 10;
        assert_eq!(def.retry_delay_seconds_for(3), 10);
        assert!(def.retry_delay_seconds_for(500) <= 10);
    }
}
