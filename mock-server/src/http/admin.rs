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
    request.validate()?;
    Ok(body::json(&app.core.enqueue(request)))
}

/// The core's ledger with the fault counters filled in.
pub(crate) fn ledger(core: &Core, faults: &Faults) -> LedgerSnapshot {
    let mut snapshot = core.ledger();
    (snapshot.faults_fired, snapshot.drop_after_fired) = faults.fired();
    snapshot
}

/// `POST /admin/faults`: adds one rule or a list; answers `{"installed": n}`.
///
/// The shape is told by the first byte, not by `#[serde(untagged)]`: an untagged enum buffers
/// its input, and with serde_json's `arbitrary_precision` (on in this workspace) a buffered
/// fraction such as `0.5` no longer reads as an `f64`.
pub(crate) fn add_faults(app: &App, body: Bytes) -> Result<Resp, ApiError> {
    let is_list = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let rules = if is_list {
        serde_json::from_slice::<Vec<FaultRule>>(&body).map_err(|e| bad_json(&e))?
    } else {
        vec![serde_json::from_slice::<FaultRule>(&body).map_err(|e| bad_json(&e))?]
    };
    let installed = rules.len();
    app.faults.install(rules);
    Ok(body::json(&serde_json::json!({ "installed": installed })))
}
