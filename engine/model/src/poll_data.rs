//! [`PollData`]: the server's record of the most recent poll per task type and domain.

use serde::{Deserialize, Serialize};

/// The last poll of a task type in a domain (`GET /api/tasks/queue/polldata`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PollData {
    /// The bare task type (not the prefixed queue name).
    pub queue_name: String,
    /// The domain polled; `None` for polls without a domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The `workerid` of the last poll.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// When the last poll returned (epoch ms).
    pub last_poll_time: i64,
}
