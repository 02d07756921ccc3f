//! The system tasks that shape a workflow: SWITCH, FORK_JOIN + JOIN, DYNAMIC, SUB_WORKFLOW,
//! WAIT, DO_WHILE and INLINE, through real HTTP.

use std::time::Duration;

use baton_model::{TaskResult, TaskResultStatus};
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::common::{Fixture, eventually};

/// Polls one `task_type` task, completes it with `output`; returns the task's input.
async fn complete(f: &Fixture, task_type: &str, output: Value) -> Value {
    end(f, task_type, TaskResultStatus::Completed, output).await
}

/// Polls one `task_type` task and ends it with `status` and `output`; returns its input.
async fn end(f: &Fixture, task_type: &str, status: TaskResultStatus, output: Value) -> Value {
    let task = f.take(task_type, "").await;
    let mut result = TaskResult::new(task.task_id.clone(), task.workflow_id().to_owned(), status);
    if let Value::Object(map) = output {
        result.output_data = map;
    }
    assert_eq!(f.update(&result).await.status, StatusCode::OK);
    Value::Object(task.input_data)
}

/// The task of `wf` (a workflow's JSON) whose reference name is `reference`.
fn task<'a>(wf: &'a Value, reference: &str) -> &'a Value {
    wf["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["referenceTaskName"] == reference))
        .unwrap_or_else(|| panic!("no task {reference} in {wf}"))
}

/// The reference names of `wf`'s tasks, in schedule order.
fn references(wf: &Value) -> Vec<String> {
    wf["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["referenceTaskName"].as_str().unwrap().to_owned())
        .collect()
}

fn switch_def() -> Value {
    json!({
        "name": "router", "ownerEmail": "a@b.c",
        "tasks": [
            {"name": "pick", "taskReferenceName": "pick", "type": "SWITCH",
             "evaluatorType": "value-param", "expression": "kind",
             "inputParameters": {"kind": "${workflow.input.kind}"},
             "decisionCases": {
                 "card": [{"name": "charge", "taskReferenceName": "charge"},
                          {"name": "receipt", "taskReferenceName": "receipt"}],
                 "2": [{"name": "numbered", "taskReferenceName": "numbered"}],
                 "none": []},
             "defaultCase": [{"name": "manual", "taskReferenceName": "manual"}]},
            {"name": "ship", "taskReferenceName": "ship",
             "inputParameters": {"case": "${pick.output.selectedCase}"}}
        ]
    })
}

#[tokio::test]
async fn switch_runs_the_matching_case_then_the_task_after_it() {
    let f = Fixture::start().await;
    f.register_workflow(&switch_def()).await;
    let id = f
        .start_workflow("router", "", &json!({"kind": "card"}))
        .await;
    let wf = f.workflow(&id).await;
    let pick = task(&wf, "pick");
    assert_eq!(pick["taskType"], "SWITCH");
    assert_eq!(pick["status"], "COMPLETED");
    assert_eq!(
        pick["outputData"],
        json!({"evaluationResult": ["card"], "selectedCase": "card"})
    );
    assert_eq!(pick["inputData"]["case"], "card");
    complete(&f, "charge", json!({})).await;
    complete(&f, "receipt", json!({})).await;
    assert_eq!(
        complete(&f, "ship", json!({"done": true})).await,
        json!({"case": "card"})
    );
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "COMPLETED");
    assert_eq!(references(&wf), ["pick", "charge", "receipt", "ship"]);
    assert_eq!(f.mock.ledger().queued, 0);
}

#[tokio::test]
async fn switch_falls_back_to_the_default_case_and_reads_numbers_as_text() {
    let f = Fixture::start().await;
    f.register_workflow(&switch_def()).await;
    let other = f
        .start_workflow("router", "", &json!({"kind": "cash"}))
        .await;
    complete(&f, "manual", json!({})).await;
    complete(&f, "ship", json!({})).await;
    assert_eq!(
        references(&f.workflow(&other).await),
        ["pick", "manual", "ship"]
    );
    // A number picks the case of its text; a missing value is the case "null" (default).
    let numbered = f.start_workflow("router", "", &json!({"kind": 2})).await;
    complete(&f, "numbered", json!({})).await;
    let wf = f.workflow(&numbered).await;
    assert_eq!(
        task(&wf, "pick")["outputData"]["evaluationResult"],
        json!(["2"])
    );
    let missing = f.start_workflow("router", "", &json!({})).await;
    let wf = f.workflow(&missing).await;
    assert_eq!(task(&wf, "pick")["outputData"]["selectedCase"], "null");
    assert_eq!(references(&wf), ["pick", "manual"]);
    // An empty case runs nothing (not the default): the task after the SWITCH comes next.
    let none = f
        .start_workflow("router", "", &json!({"kind": "none"}))
        .await;
    assert_eq!(references(&f.workflow(&none).await), ["pick", "ship"]);
}

#[tokio::test]
async fn fork_runs_its_branches_in_parallel_and_the_join_waits_for_them() {
    let f = Fixture::start().await;
    f.register_workflow(&json!({
        "name": "fan", "ownerEmail": "a@b.c",
        "tasks": [
            {"name": "split", "taskReferenceName": "split", "type": "FORK_JOIN",
             "forkTasks": [[{"name": "left", "taskReferenceName": "left"},
                            {"name": "left2", "taskReferenceName": "left2"}],
                           [{"name": "right", "taskReferenceName": "right"}]]},
            {"name": "merge", "taskReferenceName": "merge", "type": "JOIN",
             "joinOn": ["left2", "right"]},
            {"name": "after", "taskReferenceName": "after",
             "inputParameters": {"joined": "${merge.output}"}}
        ]
    }))
    .await;
    let id = f.start_workflow("fan", "", &json!({})).await;
    let wf = f.workflow(&id).await;
    assert_eq!(references(&wf), ["split", "left", "right", "merge"]);
    assert_eq!(task(&wf, "split")["taskType"], "FORK");
    assert_eq!(task(&wf, "split")["status"], "COMPLETED");
    let join = task(&wf, "merge");
    assert_eq!(join["taskType"], "JOIN");
    assert_eq!(join["status"], "IN_PROGRESS");
    assert_eq!(join["inputData"], json!({"joinOn": ["left2", "right"]}));
    // Both branches' first tasks are pollable at once.
    complete(&f, "right", json!({"r": 1})).await;
    complete(&f, "left", json!({})).await;
    let wf = f.workflow(&id).await;
    assert_eq!(task(&wf, "merge")["status"], "IN_PROGRESS");
    complete(&f, "left2", json!({"l": 2})).await;
    let wf = f.workflow(&id).await;
    let join = task(&wf, "merge");
    assert_eq!(join["status"], "COMPLETED");
    let joined = json!({"left2": {"l": 2}, "right": {"r": 1}});
    assert_eq!(join["outputData"], joined);
    assert_eq!(
        complete(&f, "after", json!({})).await,
        json!({"joined": joined})
    );
    assert_eq!(f.workflow(&id).await["status"], "COMPLETED");
}

#[tokio::test]
async fn a_failed_branch_fails_the_workflow_and_cancels_the_join() {
    let f = Fixture::start().await;
    f.register_task_def("solo", 0).await;
    f.register_workflow(&json!({
        "name": "fan-fail", "ownerEmail": "a@b.c",
        "tasks": [
            {"name": "split", "taskReferenceName": "split", "type": "FORK_JOIN",
             "forkTasks": [[{"name": "solo", "taskReferenceName": "a"}],
                           [{"name": "other", "taskReferenceName": "b"}]]},
            {"name": "merge", "taskReferenceName": "merge", "type": "JOIN", "joinOn": ["a", "b"]}
        ]
    }))
    .await;
    let id = f.start_workflow("fan-fail", "", &json!({})).await;
    end(&f, "solo", TaskResultStatus::Failed, json!({})).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "FAILED");
    assert_eq!(wf["failedReferenceTaskNames"], json!(["a"]));
    assert_eq!(task(&wf, "merge")["status"], "CANCELED");
    assert_eq!(task(&wf, "b")["status"], "CANCELED");
    // A retry runs the failed and the canceled tasks again, the JOIN included.
    let retry = f
        .client
        .post_json(&f.api(&format!("/workflow/{id}/retry")), &json!({}))
        .await;
    assert_eq!(retry.status, StatusCode::NO_CONTENT);
    complete(&f, "solo", json!({"a": 1})).await;
    complete(&f, "other", json!({"b": 2})).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "COMPLETED");
    assert_eq!(wf["output"], json!({"a": {"a": 1}, "b": {"b": 2}}));
}

impl Fixture {
    /// Registers task definition `name` with `retries` retries.
    async fn register_task_def(&self, name: &str, retries: i32) {
        let def = json!([{"name": name, "retryCount": retries, "retryDelaySeconds": 0,
                          "ownerEmail": "a@b.c"}]);
        let answer = self
            .client
            .post_json(&self.api("/metadata/taskdefs"), &def)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
}

#[tokio::test]
async fn dynamic_runs_the_task_its_input_names() {
    let f = Fixture::start().await;
    f.register_task_def("resize", 1).await;
    f.register_workflow(&json!({
        "name": "dyn", "ownerEmail": "a@b.c",
        "tasks": [{"name": "d", "taskReferenceName": "job", "type": "DYNAMIC",
                   "dynamicTaskNameParam": "which",
                   "inputParameters": {"which": "${workflow.input.op}", "size": 3}}]
    }))
    .await;
    let id = f.start_workflow("dyn", "", &json!({"op": "resize"})).await;
    let input = complete(&f, "resize", json!({"ok": true})).await;
    assert_eq!(input, json!({"which": "resize", "size": 3}));
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "COMPLETED");
    let job = task(&wf, "job");
    assert_eq!(job["taskType"], "resize");
    assert_eq!(job["taskDefName"], "resize");
    assert_eq!(wf["output"], json!({"ok": true}));
    // A name with no task definition fails the workflow, as on the server.
    let bad = f.start_workflow("dyn", "", &json!({"op": "nope"})).await;
    let wf = f.workflow(&bad).await;
    assert_eq!(wf["status"], "FAILED");
    assert_eq!(
        wf["reasonForIncompletion"],
        "Invalid task specified.  Cannot find task by name nope in the task definitions"
    );
}

fn parent_def() -> Value {
    json!({
        "name": "parent", "ownerEmail": "a@b.c",
        "tasks": [
            {"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
             "subWorkflowParam": {"name": "child"},
             "inputParameters": {"n": "${workflow.input.n}"}},
            {"name": "after", "taskReferenceName": "after",
             "inputParameters": {"doubled": "${sub.output.doubled}"}}
        ]
    })
}

fn child_def() -> Value {
    json!({
        "name": "child", "ownerEmail": "a@b.c",
        "tasks": [{"name": "double", "taskReferenceName": "double",
                   "inputParameters": {"n": "${workflow.input.n}"}}],
        "outputParameters": {"doubled": "${double.output.v}"}
    })
}

#[tokio::test]
async fn sub_workflow_runs_the_child_and_takes_its_output() {
    let f = Fixture::start().await;
    f.register_workflow(&child_def()).await;
    f.register_workflow(&parent_def()).await;
    let id = f
        .start_workflow("parent", "?correlationId=c1", &json!({"n": 4}))
        .await;
    let wf = f.workflow(&id).await;
    let sub = task(&wf, "sub");
    assert_eq!(sub["taskType"], "SUB_WORKFLOW");
    assert_eq!(sub["status"], "IN_PROGRESS");
    let child_id = sub["subWorkflowId"].as_str().unwrap().to_owned();
    assert_eq!(sub["outputData"]["subWorkflowId"], child_id.as_str());
    assert_eq!(sub["inputData"]["subWorkflowName"], "child");
    let child = f.workflow(&child_id).await;
    assert_eq!(child["parentWorkflowId"], id.as_str());
    assert_eq!(child["correlationId"], "c1");
    assert_eq!(child["input"], json!({"n": 4}));
    assert_eq!(
        complete(&f, "double", json!({"v": 8})).await,
        json!({"n": 4})
    );
    assert_eq!(f.workflow(&child_id).await["status"], "COMPLETED");
    let wf = f.workflow(&id).await;
    let sub = task(&wf, "sub");
    assert_eq!(sub["status"], "COMPLETED");
    assert_eq!(
        sub["outputData"],
        json!({"doubled": 8, "subWorkflowId": child_id})
    );
    assert_eq!(
        complete(&f, "after", json!({})).await,
        json!({"doubled": 8})
    );
    assert_eq!(f.workflow(&id).await["status"], "COMPLETED");
}

#[tokio::test]
async fn a_failed_child_fails_its_parent_and_a_terminated_parent_terminates_its_child() {
    let f = Fixture::start().await;
    f.register_task_def("double", 0).await;
    f.register_workflow(&child_def()).await;
    f.register_workflow(&parent_def()).await;
    let id = f.start_workflow("parent", "", &json!({"n": 1})).await;
    end(&f, "double", TaskResultStatus::Failed, json!({})).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "FAILED");
    let sub = task(&wf, "sub");
    assert_eq!(sub["status"], "FAILED");
    let child_id = sub["subWorkflowId"].as_str().unwrap();
    let reason = sub["reasonForIncompletion"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!(
            "Sub workflow child.1/{child_id} failure reason: Task "
        )),
        "{reason}"
    );

    let id = f.start_workflow("parent", "", &json!({"n": 1})).await;
    let wf = f.workflow(&id).await;
    let child_id = task(&wf, "sub")["subWorkflowId"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = f
        .client
        .delete(&f.api(&format!("/workflow/{id}?reason=stop")))
        .await;
    assert_eq!(gone.status, StatusCode::OK);
    let child = f.workflow(&child_id).await;
    assert_eq!(child["status"], "TERMINATED");
    assert_eq!(
        child["reasonForIncompletion"],
        "Parent workflow has been terminated with reason: stop"
    );
    // A child with no definition fails the parent at once.
    f.register_workflow(&json!({
        "name": "orphan", "ownerEmail": "a@b.c",
        "tasks": [{"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
                   "subWorkflowParam": {"name": "nowhere"}}]
    }))
    .await;
    let orphan = f.start_workflow("orphan", "", &json!({})).await;
    assert_eq!(f.workflow(&orphan).await["status"], "FAILED");
}

#[tokio::test]
async fn wait_with_a_duration_completes_when_it_is_due() {
    let f =
        Fixture::with(baton_mock::MockServer::builder().sweeper_period(Duration::from_millis(20)))
            .await;
    f.register_workflow(&json!({
        "name": "pause", "ownerEmail": "a@b.c",
        "tasks": [{"name": "w", "taskReferenceName": "w", "type": "WAIT",
                   "inputParameters": {"duration": "${workflow.input.d}"}},
                  {"name": "next", "taskReferenceName": "next"}]
    }))
    .await;
    let id = f.start_workflow("pause", "", &json!({"d": "1 s"})).await;
    let wf = f.workflow(&id).await;
    let wait = task(&wf, "w");
    assert_eq!(wait["taskType"], "WAIT");
    assert_eq!(wait["status"], "IN_PROGRESS");
    assert_eq!(wait["callbackAfterSeconds"], 1);
    assert_eq!(f.mock.ledger().queued, 0);
    let completed = eventually(Duration::from_secs(5), async || {
        task(&f.workflow(&id).await, "w")["status"] == "COMPLETED"
    })
    .await;
    assert!(completed);
    let wf = f.workflow(&id).await;
    let waited = task(&wf, "w")["endTime"].as_i64().unwrap() - wf["startTime"].as_i64().unwrap();
    assert!(waited >= 1000, "waited {waited} ms");
    complete(&f, "next", json!({})).await;
    assert_eq!(f.workflow(&id).await["status"], "COMPLETED");
}

#[tokio::test]
async fn wait_until_a_past_time_completes_and_bad_inputs_fail_it() {
    let f =
        Fixture::with(baton_mock::MockServer::builder().sweeper_period(Duration::from_millis(20)))
            .await;
    f.register_workflow(&json!({
        "name": "until", "ownerEmail": "a@b.c",
        "tasks": [{"name": "w", "taskReferenceName": "w", "type": "WAIT",
                   "inputParameters": {"until": "${workflow.input.until}",
                                       "duration": "${workflow.input.duration}"}}]
    }))
    .await;
    let past = f
        .start_workflow("until", "", &json!({"until": "2020-01-01 10:00 UTC"}))
        .await;
    let done = eventually(Duration::from_secs(5), async || {
        f.workflow(&past).await["status"] == "COMPLETED"
    })
    .await;
    assert!(done);
    // A far-off time keeps it waiting, with the seconds left as its callback.
    let future = f
        .start_workflow("until", "", &json!({"until": "2999-01-01"}))
        .await;
    let wait = task(&f.workflow(&future).await, "w").clone();
    assert_eq!(wait["status"], "IN_PROGRESS");
    assert!(wait["callbackAfterSeconds"].as_i64().unwrap() > 30_000_000_000);
    for (input, reason) in [
        (
            json!({"until": "tomorrow"}),
            "Invalid/Unsupported Wait Until format.  Provided: tomorrow",
        ),
        (
            json!({"until": "2020-01-01", "duration": "1s"}),
            "Both 'duration' and 'until' specified. Please provide only one input",
        ),
    ] {
        let id = f.start_workflow("until", "", &input).await;
        let wf = f.workflow(&id).await;
        assert_eq!(wf["status"], "FAILED", "{input}");
        let wait = task(&wf, "w");
        assert_eq!(wait["status"], "FAILED_WITH_TERMINAL_ERROR");
        assert_eq!(wait["reasonForIncompletion"], reason);
    }
}

#[tokio::test]
async fn wait_without_a_time_waits_for_an_update() {
    let f = Fixture::start().await;
    f.register_workflow(&json!({
        "name": "approve", "ownerEmail": "a@b.c",
        "tasks": [{"name": "w", "taskReferenceName": "w", "type": "WAIT"},
                  {"name": "next", "taskReferenceName": "next",
                   "inputParameters": {"by": "${w.output.by}"}}]
    }))
    .await;
    let id = f.start_workflow("approve", "", &json!({})).await;
    let wf = f.workflow(&id).await;
    let wait = task(&wf, "w");
    assert_eq!(wait["callbackAfterSeconds"], 2_147_483_647);
    assert_eq!(f.mock.core().sweep(), 0);
    assert_eq!(task(&f.workflow(&id).await, "w")["status"], "IN_PROGRESS");
    // Nobody can poll it.
    assert!(f.batch("WAIT", 1, 0, "").await.is_empty());
    let task_id = wait["taskId"].as_str().unwrap();
    let mut result = TaskResult::new(task_id, id.clone(), TaskResultStatus::InProgress);
    result.output_data.insert("note".into(), json!("later"));
    assert_eq!(f.update(&result).await.status, StatusCode::OK);
    assert_eq!(task(&f.workflow(&id).await, "w")["status"], "IN_PROGRESS");
    let mut result = TaskResult::new(task_id, id.clone(), TaskResultStatus::Completed);
    result.output_data.insert("by".into(), json!("ann"));
    assert_eq!(f.update(&result).await.status, StatusCode::OK);
    assert_eq!(complete(&f, "next", json!({})).await, json!({"by": "ann"}));
    assert_eq!(f.workflow(&id).await["status"], "COMPLETED");
}

#[tokio::test]
async fn inline_value_param_gives_the_named_input_as_result() {
    let f = Fixture::start().await;
    f.register_workflow(&json!({
        "name": "inline", "ownerEmail": "a@b.c",
        "tasks": [{"name": "i", "taskReferenceName": "i", "type": "INLINE",
                   "inputParameters": {"evaluatorType": "value-param", "expression": "v",
                                       "v": "${workflow.input.v}"}},
                  {"name": "bad", "taskReferenceName": "bad", "type": "INLINE",
                   "inputParameters": {"evaluatorType": "python", "expression": "1"}}]
    }))
    .await;
    let id = f
        .start_workflow("inline", "", &json!({"v": {"deep": [1, 2]}}))
        .await;
    let wf = f.workflow(&id).await;
    let inline = task(&wf, "i");
    assert_eq!(inline["taskType"], "INLINE");
    assert_eq!(inline["status"], "COMPLETED");
    assert_eq!(inline["outputData"], json!({"result": {"deep": [1, 2]}}));
    let bad = task(&wf, "bad");
    assert_eq!(bad["status"], "FAILED_WITH_TERMINAL_ERROR");
    assert_eq!(
        bad["outputData"],
        json!({"error": "Unknown evaluator 'python' in INLINE task."})
    );
    assert_eq!(wf["status"], "FAILED");
}

#[tokio::test]
async fn do_while_without_a_condition_runs_its_loop_once() {
    let f = Fixture::start().await;
    f.register_workflow(&json!({
        "name": "once", "ownerEmail": "a@b.c",
        "tasks": [{"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
                   "loopOver": [{"name": "step", "taskReferenceName": "step"}]}]
    }))
    .await;
    let id = f.start_workflow("once", "", &json!({})).await;
    let step = f.take("step", "").await;
    assert_eq!(step.reference_task_name.as_deref(), Some("step__1"));
    assert_eq!(step.iteration, 1);
    assert!(step.loop_over_task);
    let mut result = TaskResult::new(
        step.task_id.clone(),
        id.clone(),
        TaskResultStatus::Completed,
    );
    result.output_data.insert("x".into(), json!(1));
    assert_eq!(f.update(&result).await.status, StatusCode::OK);
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "COMPLETED");
    let lp = task(&wf, "loop");
    assert_eq!(lp["status"], "COMPLETED");
    assert_eq!(
        lp["outputData"],
        json!({"iteration": 1, "1": {"step": {"x": 1}}})
    );
}

#[cfg(not(feature = "javascript"))]
#[tokio::test]
async fn javascript_is_refused_with_a_400_without_the_feature() {
    let f = Fixture::start().await;
    let def = json!({
        "name": "js", "ownerEmail": "a@b.c",
        "tasks": [
            {"name": "i", "taskReferenceName": "i", "type": "INLINE",
             "inputParameters": {"expression": "1 + 1"}},
            {"name": "s", "taskReferenceName": "s", "type": "SWITCH",
             "evaluatorType": "graaljs", "expression": "'a'", "decisionCases": {}},
            {"name": "l", "taskReferenceName": "l", "type": "DO_WHILE",
             "loopCondition": "$.l.iteration < 3",
             "loopOver": [{"name": "x", "taskReferenceName": "x"}]}
        ]
    });
    let answer = f.client.post_json(&f.api("/metadata/workflow"), &def).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let errors = answer.json()["validationErrors"].clone();
    let messages: Vec<&str> = errors
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(messages.len(), 3, "{errors}");
    assert!(
        messages[0]
            .starts_with("task type INLINE with evaluatorType javascript (taskReferenceName: i)")
    );
    assert!(
        messages[1]
            .starts_with("task type SWITCH with evaluatorType graaljs (taskReferenceName: s)")
    );
    assert!(
        messages[2]
            .starts_with("task type DO_WHILE with evaluatorType javascript (taskReferenceName: l)")
    );
    assert!(messages[0].contains("`javascript` cargo feature"));
    let started = f
        .client
        .post_json(
            &f.api("/workflow"),
            &json!({"name": "js", "workflowDef": def}),
        )
        .await;
    assert_eq!(started.status, StatusCode::BAD_REQUEST);
    assert_eq!(f.mock.ledger().queued, 0);
}

#[cfg(feature = "javascript")]
mod javascript {
    use super::*;

    #[tokio::test]
    async fn inline_javascript_evaluates_with_the_input_as_dollar() {
        let f = Fixture::start().await;
        f.register_workflow(&json!({
            "name": "js", "ownerEmail": "a@b.c",
            "tasks": [
                {"name": "i", "taskReferenceName": "i", "type": "INLINE",
                 "inputParameters": {"evaluatorType": "graaljs", "a": "${workflow.input.a}",
                     "expression": "(function () { return {sum: $.a.reduce((s, v) => s + v, 0), n: $.a.length}; })()"}},
                {"name": "use", "taskReferenceName": "use",
                 "inputParameters": {"sum": "${i.output.result.sum}"}},
                {"name": "oops", "taskReferenceName": "oops", "type": "INLINE",
                 "inputParameters": {"expression": "$.missing.field"}}
            ]
        }))
        .await;
        let id = f.start_workflow("js", "", &json!({"a": [1, 2, 3.5]})).await;
        let wf = f.workflow(&id).await;
        assert_eq!(
            task(&wf, "i")["outputData"],
            json!({"result": {"sum": 6.5, "n": 3}})
        );
        assert_eq!(complete(&f, "use", json!({})).await, json!({"sum": 6.5}));
        let wf = f.workflow(&id).await;
        let oops = task(&wf, "oops");
        assert_eq!(oops["status"], "FAILED_WITH_TERMINAL_ERROR");
        assert!(
            oops["reasonForIncompletion"]
                .as_str()
                .unwrap()
                .starts_with("Error evaluating the script")
        );
        assert_eq!(wf["status"], "FAILED");
    }

    #[tokio::test]
    async fn switch_javascript_picks_the_case_the_script_returns() {
        let f = Fixture::start().await;
        f.register_workflow(&json!({
            "name": "jsswitch", "ownerEmail": "a@b.c",
            "tasks": [{"name": "s", "taskReferenceName": "s", "type": "SWITCH",
                       "evaluatorType": "javascript",
                       "expression": "$.amount > 100 ? 'big' : 'small'",
                       "inputParameters": {"amount": "${workflow.input.amount}"},
                       "decisionCases": {"big": [{"name": "review", "taskReferenceName": "review"}],
                                         "small": [{"name": "auto", "taskReferenceName": "auto"}]}}]
        }))
        .await;
        f.start_workflow("jsswitch", "", &json!({"amount": 500}))
            .await;
        complete(&f, "review", json!({})).await;
        let small = f
            .start_workflow("jsswitch", "", &json!({"amount": 5}))
            .await;
        complete(&f, "auto", json!({})).await;
        let wf = f.workflow(&small).await;
        assert_eq!(wf["status"], "COMPLETED");
        assert_eq!(
            task(&wf, "s")["outputData"]["evaluationResult"],
            json!(["small"])
        );
    }

    #[tokio::test]
    async fn do_while_iterates_while_its_condition_holds() {
        let f = Fixture::start().await;
        f.register_workflow(&json!({
            "name": "loop3", "ownerEmail": "a@b.c",
            "tasks": [
                {"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
                 "inputParameters": {"max": "${workflow.input.max}"},
                 "loopCondition": "$.loop.iteration < $.max && $.work.more",
                 "loopOver": [
                     {"name": "work", "taskReferenceName": "work",
                      "inputParameters": {"i": "${loop.output.iteration}"}},
                     {"name": "count", "taskReferenceName": "count", "type": "INLINE",
                      "inputParameters": {"evaluatorType": "javascript",
                                          "w": "${work.output.got}", "expression": "$.w * 10"}}]},
                {"name": "after", "taskReferenceName": "after",
                 "inputParameters": {"last": "${count.output.result}"}}
            ]
        }))
        .await;
        let id = f.start_workflow("loop3", "", &json!({"max": 3})).await;
        for i in 1..=3 {
            let input = complete(&f, "work", json!({"got": i, "more": true})).await;
            assert_eq!(input, json!({"i": i}));
        }
        assert_eq!(complete(&f, "after", json!({})).await, json!({"last": 30}));
        let wf = f.workflow(&id).await;
        assert_eq!(wf["status"], "COMPLETED");
        assert_eq!(
            references(&wf),
            [
                "loop", "work__1", "count__1", "work__2", "count__2", "work__3", "count__3",
                "after"
            ]
        );
        let lp = task(&wf, "loop");
        assert_eq!(lp["outputData"]["iteration"], 3);
        assert_eq!(
            lp["outputData"]["2"],
            json!({"work": {"got": 2, "more": true}, "count": {"result": 20}})
        );
        assert_eq!(task(&wf, "count__3")["iteration"], 3);
    }

    #[tokio::test]
    async fn an_endless_loop_of_system_tasks_fails_instead_of_hanging() {
        let f = Fixture::with(baton_mock::MockServer::builder().max_system_steps(20)).await;
        f.register_workflow(&json!({
            "name": "forever", "ownerEmail": "a@b.c",
            "tasks": [{"name": "loop", "taskReferenceName": "loop", "type": "DO_WHILE",
                       "loopCondition": "true",
                       "loopOver": [{"name": "v", "taskReferenceName": "v", "type": "SET_VARIABLE",
                                     "inputParameters": {"x": 1}}]}]
        }))
        .await;
        let id = f.start_workflow("forever", "", &json!({})).await;
        let wf = f
            .client
            .get(&f.api(&format!("/workflow/{id}?includeTasks=false")))
            .await
            .json();
        assert_eq!(wf["status"], "FAILED");
        let reason = wf["reasonForIncompletion"].as_str().unwrap();
        assert!(reason.contains("after 20 system-task steps"), "{reason}");
    }
}

#[tokio::test]
async fn rerun_from_a_task_runs_it_again_under_its_id_and_forgets_what_followed() {
    let f = Fixture::start().await;
    f.register_task_def("second", 0).await;
    f.register_workflow(&json!({
        "name": "again", "ownerEmail": "a@b.c",
        "tasks": [{"name": "first", "taskReferenceName": "first",
                   "inputParameters": {"x": "${workflow.input.x}"}},
                  {"name": "second", "taskReferenceName": "second",
                   "inputParameters": {"y": "${first.output.y}"}}]
    }))
    .await;
    let id = f.start_workflow("again", "", &json!({"x": 1})).await;
    let url = f.api(&format!("/workflow/{id}/rerun"));
    let rerun = async |body: Value| f.client.post_json(&url, &body).await;
    // Only ended workflows can be rerun.
    let running = rerun(json!({"reRunFromWorkflowId": id})).await;
    assert_eq!(running.status, StatusCode::CONFLICT);
    assert!(
        running
            .text()
            .contains("is not in terminal state, unable to rerun.")
    );
    complete(&f, "first", json!({"y": "a"})).await;
    end(&f, "second", TaskResultStatus::Failed, json!({})).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "FAILED");
    let first_id = task(&wf, "first")["taskId"].as_str().unwrap().to_owned();
    let missing = rerun(json!({"reRunFromWorkflowId": id, "reRunFromTaskId": "nope"})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.text().contains("Task nope not found"));

    let answer = rerun(
        json!({"reRunFromWorkflowId": id, "reRunFromTaskId": first_id,
                              "taskInput": {"x": 2}}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.text(), id);
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "RUNNING");
    assert_eq!(wf["reasonForIncompletion"], Value::Null);
    assert_eq!(references(&wf), ["first"]);
    let again = f.take("first", "").await;
    assert_eq!(again.task_id, first_id);
    assert_eq!(Value::Object(again.input_data.clone()), json!({"x": 2}));
    let mut result = TaskResult::new(again.task_id, id.clone(), TaskResultStatus::Completed);
    result.output_data.insert("y".into(), json!("b"));
    assert_eq!(f.update(&result).await.status, StatusCode::OK);
    assert_eq!(complete(&f, "second", json!({})).await, json!({"y": "b"}));
    assert_eq!(f.workflow(&id).await["status"], "COMPLETED");

    // A rerun without a task starts the workflow over, with a new input if given. The
    // workflow is the one the path names: the body need not say it (the server sets
    // `reRunFromWorkflowId` from the path).
    let answer = rerun(json!({"workflowInput": {"x": 9}})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        complete(&f, "first", json!({"y": "c"})).await,
        json!({"x": 9})
    );
    let wf = f.workflow(&id).await;
    assert_eq!(wf["input"], json!({"x": 9}));
    assert_eq!(references(&wf), ["first", "second"]);
}
