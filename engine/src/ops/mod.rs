//! Operations: what an operator scrapes and probes. The metric catalog ([`metrics`]), the
//! health rule ([`health`]) and the HTTP endpoint serving `/metrics`, `/status` and `/health`
//! ([`server`]), off unless `CONDUCTOR_METRICS_ADDR` (or `metrics_addr` in code) is set.

mod health;
mod metrics;
mod server;

pub(crate) use health::{Vitals, longest_gap};
pub(crate) use metrics::{
    Figures, HostMetrics, WorkerMetrics, counters_only, encode_rows, figures_of,
};
pub(crate) use server::{OpsEndpoint, OpsState};
