//! Workflows: instances of workflows of worker and system tasks (conductor-api.md
//! §7.3–§7.5), the Core operations that start, read and terminate them, and their wire form.
//! A definition's task tree is flattened in [`plan`]; what happens when one of a workflow's
//! tasks ends is decided in [`decider`]; the system tasks run in [`system`] (SET_VARIABLE,
//! TERMINATE, INLINE, WAIT), [`flow`] (SWITCH, FORK_JOIN / JOIN, DO_WHILE) and [`subworkflow`]
//! (SUB_WORKFLOW) and [`wait`] (WAIT); failure workflows start in [`failure`], pause / resume / retry / restart /
//! rerun are in [`control`] and the searches in [`search`].
//!
//! A workflow is started with its definition snapshotted (task definitions embedded), its first
//! task scheduled before the start call returns. Ended workflows are kept readable up to
//! [`CoreConfig::keep_workflows`](super::CoreConfig::keep_workflows), then evicted with their
//! tasks.

mod control;

pub use control::RerunRequest;
mod decider;
mod failure;
mod flow;
mod plan;
mod search;
mod subworkflow;
mod system;
mod wait;
pub(crate) use wait::waits_for_signal;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use baton_model::{
    JsonMap, StartWorkflowRequest, ValidationError, Workflow, WorkflowDef, WorkflowStatus,
};

use super::metadata::{no_such_workflow, unsupported_task_types, version_text};
use super::queue::QueueKey;
use super::record::{TaskRecord, TaskSpec};
use super::{Core, State};
use crate::error::ApiError;
use crate::ids;

/// A workflow known to the mock: a synthetic one made by bulk enqueue, or a real one started
/// from a definition.
#[derive(Debug)]
pub(super) enum WorkflowRecord {
    /// One bulk enqueue call: all its tasks share `spec`.
    Bulk {
        /// The settings of every task in it.
        spec: Arc<TaskSpec>,
    },
    /// A workflow started through `/api/workflow`.
    Instance(Box<Instance>),
}

impl WorkflowRecord {
    /// The queue all its tasks go to, for a bulk workflow (update-v2 polls it next).
    pub(super) fn queue(&self) -> Option<&QueueKey> {
        match self {
            Self::Bulk { spec } => Some(&spec.key),
            Self::Instance(_) => None,
        }
    }
}

/// One workflow instance.
#[derive(Debug)]
pub(crate) struct Instance {
    /// The definition as it was at start, task definitions embedded.
    pub(crate) def: Arc<WorkflowDef>,
    pub(crate) status: WorkflowStatus,
    pub(crate) input: JsonMap,
    pub(crate) output: JsonMap,
    pub(crate) correlation_id: Option<String>,
    pub(crate) priority: i32,
    pub(crate) task_to_domain: BTreeMap<String, String>,
    pub(crate) reason: Option<String>,
    pub(crate) failed_refs: Vec<String>,
    pub(crate) failed_names: Vec<String>,
    pub(crate) variables: JsonMap,
    /// Times in µs on the core's clock; `end_time` 0 while running.
    pub(crate) create_time: u64,
    pub(crate) update_time: u64,
    pub(crate) end_time: u64,
    /// Task sequence numbers in schedule order.
    pub(crate) tasks: Vec<u64>,
    /// The records of its ended tasks (live ones are in the core's live map).
    pub(crate) ended: HashMap<u64, TaskRecord>,
    /// The last `seq` given to one of its tasks.
    last_task_seq: i32,
    /// The workflow-timeout deadline registered with the sweeper, if any.
    deadline: Option<u64>,
    /// Whether it is already counted among the ended workflows awaiting eviction.
    listed_as_ended: bool,
    /// The tasks that ended while the workflow was paused, in the order they ended: each is
    /// decided on resume, as the server's full decide follows every ended task.
    pending_decisions: Vec<u64>,
    /// The definition's task tree.
    pub(crate) plan: Arc<plan::Plan>,
    /// For a sub-workflow: the parent workflow and its SUB_WORKFLOW task's sequence number.
    pub(crate) parent: Option<(u64, u64)>,
    /// What follows at once from the last decision, not yet worked off.
    agenda: VecDeque<decider::Step>,
    /// Whether the top-level task list has run to its end.
    flow_done: bool,
}

/// What started a workflow, for the not-found message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartedBy {
    /// `POST /api/workflow/{name}`.
    Name,
    /// `POST /api/workflow` with a StartWorkflowRequest.
    Request,
}

/// A validated start: the definition to run and the request's settings.
#[derive(Debug)]
pub(crate) struct Start {
    pub(crate) def: WorkflowDef,
    pub(crate) input: JsonMap,
    pub(crate) correlation_id: Option<String>,
    pub(crate) priority: i32,
    pub(crate) task_to_domain: BTreeMap<String, String>,
    /// For a sub-workflow: the parent workflow and its SUB_WORKFLOW task's sequence number.
    pub(crate) parent: Option<(u64, u64)>,
}

/// Why a terminate was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TerminateError {
    /// No such (real) workflow.
    NotFound,
    /// It has completed: 409.
    Completed,
}

impl Core {
    /// Starts a workflow as `POST /api/workflow/{name}` does; returns its id.
    pub fn start_workflow_by_name(
        &self,
        name: &str,
        version: Option<i32>,
        correlation_id: Option<String>,
        priority: i32,
        input: JsonMap,
    ) -> Result<String, ApiError> {
        let mut request = StartWorkflowRequest::new(name, input);
        request.version = version;
        request.correlation_id = correlation_id;
        request.priority = priority;
        self.start(request, StartedBy::Name)
    }

    /// Starts a workflow from a StartWorkflowRequest (`POST /api/workflow`); returns its id.
    pub fn start_workflow(&self, request: StartWorkflowRequest) -> Result<String, ApiError> {
        self.start(request, StartedBy::Request)
    }

    fn start(&self, request: StartWorkflowRequest, by: StartedBy) -> Result<String, ApiError> {
        let Some(name) = request.name.filter(|name| !name.is_empty()) else {
            return Err(ApiError::Validation(vec![ValidationError {
                path: Some("startWorkflow.startWorkflowRequest.name".to_owned()),
                message: Some("Workflow name cannot be null or empty".to_owned()),
                invalid_value: None,
            }]));
        };
        if !(0..=99).contains(&request.priority) {
            let bound = if request.priority < 0 {
                "minimum 0"
            } else {
                "maximum 99"
            };
            return Err(ApiError::Validation(vec![ValidationError {
                path: Some("startWorkflow.startWorkflowRequest.priority".to_owned()),
                message: Some(format!("priority: {} should be {bound}", request.priority)),
                invalid_value: Some(request.priority.into()),
            }]));
        }
        let now = self.clock.now();
        let mut state = self.lock();
        let def = match request.workflow_def {
            Some(def) => {
                let errors =
                    unsupported_task_types(&def, "startWorkflow.startWorkflowRequest.workflowDef");
                if !errors.is_empty() {
                    return Err(ApiError::Validation(errors));
                }
                def
            }
            None => {
                let found = state.metadata.workflow(&name, request.version);
                let Some(def) = found else {
                    let message = match by {
                        StartedBy::Name => no_such_workflow(&name, request.version),
                        StartedBy::Request => format!(
                            "No such workflow defined. name={name}, version={}",
                            version_text(request.version)
                        ),
                    };
                    return Err(ApiError::NotFound(message));
                };
                WorkflowDef::clone(&def)
            }
        };
        let id = state.start_workflow(
            Start {
                def,
                input: request.input,
                correlation_id: request.correlation_id,
                priority: request.priority,
                task_to_domain: request.task_to_domain,
                parent: None,
            },
            now,
        );
        Ok(ids::workflow_id(id))
    }

    /// The workflow `workflow_id` (`GET /api/workflow/{id}`), tasks included if asked.
    pub fn workflow(&self, workflow_id: &str, include_tasks: bool) -> Result<Workflow, ApiError> {
        let state = self.lock();
        ids::parse_workflow_id(workflow_id)
            .and_then(|id| state.render_workflow(id, include_tasks))
            .ok_or_else(|| ApiError::WorkflowNotFound(workflow_id.to_owned()))
    }

    /// Terminates the workflow `workflow_id` (`DELETE /api/workflow/{id}`): 409 when it has
    /// completed, a no-op when already terminated.
    pub fn terminate_workflow(
        &self,
        workflow_id: &str,
        reason: Option<String>,
    ) -> Result<(), ApiError> {
        let now = self.clock.now();
        let mut state = self.lock();
        let id = ids::parse_workflow_id(workflow_id)
            .ok_or_else(|| ApiError::WorkflowNotFound(workflow_id.to_owned()))?;
        state
            .terminate_workflow(id, reason, now)
            .map_err(|e| match e {
                TerminateError::NotFound => ApiError::WorkflowNotFound(workflow_id.to_owned()),
                TerminateError::Completed => {
                    ApiError::Conflict("Cannot terminate a COMPLETED workflow.".to_owned())
                }
            })
    }
}

impl State {
    /// The wire form of workflow `id`.
    pub(super) fn render_workflow(&self, id: u64, include_tasks: bool) -> Option<Workflow> {
        let Some(WorkflowRecord::Instance(instance)) = self.workflows.get(&id) else {
            return None;
        };
        Some(self.render_instance(id, instance, include_tasks))
    }

    /// The wire form of `instance`, workflow `id` (which may be out of the map while decided).
    pub(super) fn render_instance(
        &self,
        id: u64,
        instance: &Instance,
        include_tasks: bool,
    ) -> Workflow {
        let clock = &self.clock;
        let ms = |micros: u64| clock.epoch_ms_or_zero(micros);
        let mut workflow = Workflow::default();
        workflow.workflow_id = ids::workflow_id(id);
        workflow.status = instance.status;
        workflow.input = instance.input.clone();
        workflow.output = instance.output.clone();
        if include_tasks {
            workflow.tasks = instance
                .tasks
                .iter()
                .filter_map(|seq| {
                    let record = self.live.get(seq).or_else(|| instance.ended.get(seq))?;
                    Some(record.to_task(*seq, clock))
                })
                .collect();
        }
        workflow.correlation_id.clone_from(&instance.correlation_id);
        workflow.priority = instance.priority;
        workflow.task_to_domain.clone_from(&instance.task_to_domain);
        workflow
            .reason_for_incompletion
            .clone_from(&instance.reason);
        workflow
            .failed_reference_task_names
            .clone_from(&instance.failed_refs);
        workflow
            .failed_task_names
            .clone_from(&instance.failed_names);
        workflow.create_time = ms(instance.create_time);
        workflow.start_time = ms(instance.create_time);
        workflow.update_time = ms(instance.update_time);
        workflow.end_time = ms(instance.end_time);
        workflow.workflow_definition = Some(WorkflowDef::clone(&instance.def));
        workflow.workflow_name = Some(instance.def.name.clone());
        workflow.workflow_version = instance.def.version;
        workflow.variables.clone_from(&instance.variables);
        workflow.parent_workflow_id = instance.parent.map(|(parent, _)| ids::workflow_id(parent));
        workflow
    }

    /// The record of an ended task of a workflow, by sequence number.
    pub(super) fn workflow_task_record(&self, seq: u64) -> Option<&TaskRecord> {
        let id = self.task_workflow.get(&seq)?;
        match self.workflows.get(id)? {
            WorkflowRecord::Instance(instance) => instance.ended.get(&seq),
            WorkflowRecord::Bulk { .. } => None,
        }
    }
}
