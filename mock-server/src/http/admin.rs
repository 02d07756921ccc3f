//! Handlers of the admin / test API under `/admin` (never under `/api`).

use bytes::Bytes;

use super::App;
use super::body::{self, Resp};
use crate::core::{Core, EnqueueRequest, LedgerSnapshot};
use crate::error::ApiError;
use crate::faults::{FaultRule, Faults};

fn bad_json(e: &serde_json::Error) -> ApiError {
    ApiError::BadRequest(format!("Invalid admin request: {e}"))
}

/// `POST /admin/enqueue`.
pub(crate) fn enqueue(app: &App, body: Bytes) -> Result<Resp, ApiError> {
    let request: EnqueueRequest = serde_json::from_slice(&body).map_err(|e| bad_json(&e))?;
    if request.task_type.is_empty() {
        return Err(ApiError::BadRequest(
            "taskType must not be empty".to_owned(),
        ));
    }
    Ok(body::json(&app.core.enqueue(request)))
}

/// The core's ledger with the fault counters filled in.
pub(crate) fn ledger(core: &Core, faults: &Faults) -> LedgerSnapshot {
    let mut snapshot = core.ledger();
    (snapshot.faults_fired, snapshot.drop_after_fired) = faults.fired();
    snapshot
}

/// One rule or a list of them.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Rules {
    Many(Vec<FaultRule>),
    One(FaultRule),
}

/// `POST /admin/faults`: adds one rule or a list; answers `{"installed": n}`.
pub(crate) fn add_faults(app: &App, body: Bytes) -> Result<Resp, ApiError> {
    let rules = match serde_json::from_slice::<Rules>(&body) {
        Ok(Rules::Many(rules)) => rules,
        Ok(Rules::One(rule)) => vec![rule],
        // Re-parse as a single rule for a precise message.
        Err(_) => vec![serde_json::from_slice::<FaultRule>(&body).map_err(|e| bad_json(&e))?],
    };
    let installed = rules.len();
    app.faults.install(rules);
    Ok(body::json(&serde_json::json!({ "installed": installed })))
}
