//! Finding workflows: `GET /api/workflow/running/{name}`, `GET /api/workflow/{name}/correlated/
//! {correlationId}` and `GET /api/workflow/search`, with the server's answers.
//!
//! Search understands the query clauses `field = value` and `field IN (a, b)` joined by `AND`,
//! on `workflowType`, `status`, `correlationId` and `workflowId` (values may be quoted), and
//! the free text `*` (or empty). Anything else is a 400 naming what it did not understand.
//! Results come in start order, as WorkflowSummary objects (conductor-oss `WorkflowSummary`).

use baton_model::{Workflow, WorkflowStatus};
use serde_json::{Value, json};

use super::{Instance, WorkflowRecord};
use crate::core::Core;
use crate::error::ApiError;
use crate::ids;

/// The fields a search query may name.
const SEARCH_FIELDS: [&str; 4] = ["workflowType", "status", "correlationId", "workflowId"];

/// One `field = value` or `field IN (...)` clause.
#[derive(Debug, PartialEq, Eq)]
struct Clause {
    field: String,
    values: Vec<String>,
}

impl Clause {
    fn matches(&self, id: u64, instance: &Instance) -> bool {
        let actual = match self.field.as_str() {
            "workflowType" => Some(instance.def.name.clone()),
            "status" => Some(instance.status.to_string()),
            "correlationId" => instance.correlation_id.clone(),
            _ => Some(ids::workflow_id(id)),
        };
        actual.is_some_and(|actual| self.values.contains(&actual))
    }
}

/// Parses a search query; `Err` names what is not understood.
fn parse_query(query: &str) -> Result<Vec<Clause>, String> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    split_and(query)
        .into_iter()
        .map(|clause| {
            let clause = clause.trim();
            let (field, values) = if let Some((field, value)) = clause.split_once('=') {
                (field.trim(), vec![unquote(value)])
            } else {
                let upper = clause.to_ascii_uppercase();
                let at = upper.find(" IN ").ok_or_else(|| {
                    format!("clause '{clause}' is neither 'field = value' nor 'field IN (a, b)'")
                })?;
                let list = clause[at + 4..].trim();
                let inner = list
                    .strip_prefix('(')
                    .and_then(|l| l.strip_suffix(')'))
                    .ok_or_else(|| format!("clause '{clause}': IN needs a list in parentheses"))?;
                (clause[..at].trim(), inner.split(',').map(unquote).collect())
            };
            if !SEARCH_FIELDS.contains(&field) {
                return Err(format!(
                    "field '{field}' (searchable fields: {})",
                    SEARCH_FIELDS.join(", ")
                ));
            }
            Ok(Clause {
                field: field.to_owned(),
                values,
            })
        })
        .collect()
}

/// Splits on the word AND (any case) outside quotes.
fn split_and(query: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if i + 5 <= bytes.len() && query[i..i + 5].eq_ignore_ascii_case(" AND ") => {
                parts.push(&query[start..i]);
                start = i + 5;
                i += 5;
                continue;
            }
            None => {}
        }
        i += 1;
    }
    parts.push(&query[start..]);
    parts
}

fn unquote(value: &str) -> String {
    let value = value.trim();
    let inner = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
        .unwrap_or(value);
    inner.to_owned()
}

/// Epoch milliseconds as the server's `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'` (UTC).
fn iso_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// A value as Java's `toString` of the map it came from prints it (`{a=1, b=[x, y]}`), the
/// server's default for a summary's input and output.
fn java_text(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(java_text).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{k}={}", java_text(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// A workflow's WorkflowSummary.
fn summary(workflow: &Workflow) -> Value {
    let mut out = json!({
        "workflowType": workflow.workflow_name,
        "version": workflow.workflow_version,
        "workflowId": workflow.workflow_id,
        "priority": workflow.priority,
        "startTime": iso_time(workflow.create_time),
        "updateTime": iso_time(workflow.update_time),
        "status": workflow.status,
        "input": java_text(&Value::Object(workflow.input.clone())),
        "output": java_text(&Value::Object(workflow.output.clone())),
        "executionTime": 0,
        "failedReferenceTaskNames": workflow.failed_reference_task_names.join(","),
        "failedTaskNames": workflow.failed_task_names,
        "taskToDomain": workflow.task_to_domain,
        "parentWorkflowId": "",
    });
    if let Some(map) = out.as_object_mut() {
        if let Some(correlation_id) = &workflow.correlation_id {
            map.insert("correlationId".to_owned(), json!(correlation_id));
        }
        if let Some(reason) = &workflow.reason_for_incompletion {
            map.insert("reasonForIncompletion".to_owned(), json!(reason));
        }
        if workflow.end_time > 0 {
            map.insert("endTime".to_owned(), json!(iso_time(workflow.end_time)));
            map.insert(
                "executionTime".to_owned(),
                json!(workflow.end_time - workflow.start_time),
            );
        }
    }
    out
}

impl Core {
    /// The ids of the workflows `name` at `version` that have not ended (RUNNING or PAUSED),
    /// oldest first (`GET /api/workflow/running/{name}`).
    pub fn running_workflows(&self, name: &str, version: i32) -> Vec<String> {
        let state = self.lock();
        state
            .instances()
            .filter(|(_, i)| {
                i.def.name == name && i.def.version == version && !i.status.is_terminal()
            })
            .map(|(id, _)| ids::workflow_id(id))
            .collect()
    }

    /// The workflows `name` with `correlation_id`, oldest first: every one with
    /// `include_closed`, else only the RUNNING ones, as the server's
    /// `ExecutionService.getWorkflowInstances` filters (a PAUSED workflow is left out too)
    /// (`GET /api/workflow/{name}/correlated/{correlationId}`).
    pub fn correlated_workflows(
        &self,
        name: &str,
        correlation_id: &str,
        include_closed: bool,
        include_tasks: bool,
    ) -> Vec<Workflow> {
        let state = self.lock();
        state
            .instances()
            .filter(|(_, i)| {
                i.def.name == name
                    && i.correlation_id.as_deref() == Some(correlation_id)
                    && (include_closed || i.status == WorkflowStatus::Running)
            })
            .map(|(id, i)| state.render_instance(id, i, include_tasks))
            .collect()
    }

    /// `GET /api/workflow/search`: `{totalHits, results}` of WorkflowSummary, `size` of them
    /// from `start`.
    pub fn search_workflows(
        &self,
        start: usize,
        size: usize,
        free_text: &str,
        query: &str,
    ) -> Result<Value, ApiError> {
        let free_text = free_text.trim();
        if !free_text.is_empty() && free_text != "*" {
            return Err(ApiError::BadRequest(format!(
                "baton-mock's search does not understand freeText '{free_text}' (only '*')"
            )));
        }
        let clauses = parse_query(query).map_err(|what| {
            ApiError::BadRequest(format!(
                "baton-mock's search does not understand the query: {what}"
            ))
        })?;
        let state = self.lock();
        let hits: Vec<(u64, &Instance)> = state
            .instances()
            .filter(|(id, i)| clauses.iter().all(|c| c.matches(*id, i)))
            .collect();
        let results: Vec<Value> = hits
            .iter()
            .skip(start)
            .take(size)
            .map(|(id, i)| summary(&state.render_instance(*id, i, false)))
            .collect();
        Ok(json!({"totalHits": hits.len(), "results": results}))
    }
}

impl crate::core::State {
    /// Every real workflow instance, oldest first.
    fn instances(&self) -> impl Iterator<Item = (u64, &Instance)> {
        let mut found: Vec<(u64, &Instance)> = self
            .workflows
            .iter()
            .filter_map(|(id, record)| match record {
                WorkflowRecord::Instance(instance) => Some((*id, &**instance)),
                WorkflowRecord::Bulk { .. } => None,
            })
            .collect();
        found.sort_unstable_by_key(|(id, _)| *id);
        found.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_equality_and_in_clauses() {
        let clauses =
            parse_query("workflowType = 'media' and status IN (RUNNING, \"FAILED\")").unwrap();
        assert_eq!(
            clauses,
            vec![
                Clause {
                    field: "workflowType".into(),
                    values: vec!["media".into()]
                },
                Clause {
                    field: "status".into(),
                    values: vec!["RUNNING".into(), "FAILED".into()]
                },
            ]
        );
        assert_eq!(parse_query("  ").unwrap(), vec![]);
        assert!(parse_query("input.x = 1").unwrap_err().contains("input.x"));
        assert!(parse_query("status > 3").is_err());
        assert!(parse_query("status IN RUNNING").is_err());
        // AND inside quotes is part of the value.
        assert_eq!(
            parse_query("correlationId = 'a AND b'").unwrap()[0].values,
            vec!["a AND b".to_owned()]
        );
    }

    #[test]
    fn times_print_as_the_server_prints_them() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso_time(1_764_378_245_678), "2025-11-29T01:04:05.678Z");
    }

    #[test]
    fn summaries_print_maps_as_java_does() {
        let value = json!({"a": 1, "b": ["x", null], "c": {"d": true}});
        assert_eq!(java_text(&value), "{a=1, b=[x, null], c={d=true}}");
    }
}
