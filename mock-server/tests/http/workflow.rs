use std::time::Duration;

use baton_mock::MockServer;
use baton_model::{JsonMap, TaskResult, TaskResultStatus, Workflow, WorkflowStatus};
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::common::{Fixture, eventually};

fn output(value: Value) -> JsonMap {
    match value {
        Value::Object(map) => map,
        _ => JsonMap::new(),
    }
}

fn complete(task: &baton_model::Task, out: Value) -> TaskResult {
    let mut result = TaskResult::new(
        task.task_id.clone(),
        task.workflow_id().to_owned(),
        TaskResultStatus::Completed,
    );
    result.output_data = output(out);
    result
}

fn two_steps() -> Value {
    json!({
        "name": "media", "ownerEmail": "a@b.c",
        "tasks": [
            {"name": "encode", "taskReferenceName": "enc",
             "inputParameters": {"file": "${workflow.input.file}", "n": "${workflow.input.n}",
                                 "fixed": 5, "id": "${workflow.workflowId}"}},
            {"name": "publish", "taskReferenceName": "pub",
             "inputParameters": {"url": "${enc.output.url}", "first": "${enc.output.list[0]}",
                                 "mixed": "x-${enc.output.size}-$${lit}", "none": "${enc.output.nope}"}}
        ],
        "outputParameters": {"published": "${pub.output.done}", "n": "${workflow.input.n}"}
    })
}

#[tokio::test]
async fn a_linear_workflow_resolves_inputs_advances_in_the_update_and_completes() {
    let f = Fixture::start().await;
    f.register_workflow(&two_steps()).await;
    let id = f
        .start_workflow(
            "media",
            "?correlationId=c1",
            &json!({"file": "a.mp4", "n": 3}),
        )
        .await;
    // The first task is scheduled before the start call answers.
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "RUNNING");
    assert_eq!(wf["workflowName"], "media");
    assert_eq!(wf["workflowVersion"], 1);
    assert_eq!(wf["correlationId"], "c1");
    assert_eq!(wf["endTime"], 0);
    assert_eq!(wf["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(wf["tasks"][0]["status"], "SCHEDULED");
    // The ad-hoc default def is snapshotted into the workflow.
    assert_eq!(
        wf["workflowDefinition"]["tasks"][0]["taskDefinition"]["retryCount"],
        3
    );

    let enc = f.take("encode", "").await;
    assert_eq!(enc.workflow_id(), id);
    assert_eq!(enc.reference_task_name.as_deref(), Some("enc"));
    assert_eq!(enc.workflow_type.as_deref(), Some("media"));
    assert_eq!(enc.correlation_id.as_deref(), Some("c1"));
    assert_eq!(enc.seq, 1);
    assert_eq!(
        Value::Object(enc.input_data.clone()),
        json!({"file": "a.mp4", "n": 3, "fixed": 5, "id": id})
    );
    let out = json!({"url": "s3://b/a", "size": 7, "list": ["p", "q"]});
    assert_eq!(f.update(&complete(&enc, out)).await.status, StatusCode::OK);

    // The update itself scheduled the next task.
    let wf = f.workflow(&id).await;
    assert_eq!(wf["tasks"][0]["status"], "COMPLETED");
    assert_eq!(wf["tasks"][1]["status"], "SCHEDULED");
    let publish = f.take("publish", "").await;
    assert_eq!(publish.seq, 2);
    assert_eq!(
        Value::Object(publish.input_data.clone()),
        json!({"url": "s3://b/a", "first": "p", "mixed": "x-7-${lit}", "none": null})
    );
    f.update(&complete(&publish, json!({"done": true}))).await;

    let wf: Workflow =
        serde_json::from_slice(&f.client.get(&f.api(&format!("/workflow/{id}"))).await.body)
            .unwrap();
    assert_eq!(wf.status, WorkflowStatus::Completed);
    assert_eq!(Value::Object(wf.output), json!({"published": true, "n": 3}));
    assert!(wf.end_time >= wf.start_time && wf.end_time > 0);
    assert_eq!(wf.tasks.len(), 2);
    let brief = f
        .client
        .get(&f.api(&format!("/workflow/{id}?includeTasks=false")))
        .await
        .json();
    assert_eq!(brief["tasks"], json!([]));
    let ledger = f.mock.ledger();
    assert_eq!(
        (ledger.completed, ledger.lost, ledger.unknown_ids),
        (2, 0, 0)
    );
}

#[tokio::test]
async fn without_output_parameters_the_output_is_the_last_tasks_output() {
    let f = Fixture::start().await;
    // Started by StartWorkflowRequest with an inline definition, nothing registered.
    let request = json!({
        "name": "inline", "input": {"a": 1},
        "workflowDef": {"name": "inline", "tasks": [{"name": "solo", "taskReferenceName": "s"}]}
    });
    let answer = f.client.post_json(&f.api("/workflow"), &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let id = answer.text();
    let task = f.take("solo", "").await;
    f.update(&complete(&task, json!({"r": [1, 2]}))).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "COMPLETED");
    assert_eq!(wf["output"], json!({"r": [1, 2]}));
    assert_eq!(wf["input"], json!({"a": 1}));
}

#[tokio::test]
async fn start_and_read_errors_use_the_server_codes_and_messages() {
    let f = Fixture::start().await;
    let by_name = f
        .client
        .post_json(&f.api("/workflow/nope"), &json!({}))
        .await;
    assert_eq!(by_name.status, StatusCode::NOT_FOUND);
    assert_eq!(
        by_name.json()["message"],
        "No such workflow found by name: nope, version: null"
    );
    let versioned = f
        .client
        .post_json(&f.api("/workflow/nope?version=2"), &json!({}))
        .await;
    assert_eq!(
        versioned.json()["message"],
        "No such workflow found by name: nope, version: 2"
    );
    let request = f
        .client
        .post_json(&f.api("/workflow"), &json!({"name": "nope"}))
        .await;
    assert_eq!(request.status, StatusCode::NOT_FOUND);
    assert_eq!(
        request.json()["message"],
        "No such workflow defined. name=nope, version=null"
    );
    let nameless = f
        .client
        .post_json(&f.api("/workflow"), &json!({"input": {}}))
        .await;
    assert_eq!(nameless.status, StatusCode::BAD_REQUEST);
    let null_input = f
        .client
        .post_json(&f.api("/workflow"), &json!({"name": "x", "input": null}))
        .await;
    assert_eq!(null_input.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        null_input.json()["message"],
        "NULL input passed when starting workflow"
    );
    f.register_workflow(&two_steps()).await;
    for priority in ["-1", "100"] {
        let answer = f
            .client
            .post_json(
                &f.api(&format!("/workflow/media?priority={priority}")),
                &json!({}),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "priority {priority}"
        );
    }
    let ok = f.start_workflow("media", "?priority=99", &json!({})).await;
    assert_eq!(f.workflow(&ok).await["priority"], 99);
    let task = f.take("encode", "").await;
    assert_eq!(task.workflow_priority, 99);

    let unknown = f.client.get(&f.api("/workflow/not-a-workflow")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json()["message"],
        "No such workflow found by id: not-a-workflow"
    );
    let unknown = f.client.delete(&f.api("/workflow/not-a-workflow")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_definition_is_snapshotted_at_start() {
    let f = Fixture::start().await;
    f.register_workflow(&two_steps()).await;
    let id = f.start_workflow("media", "", &json!({})).await;
    let changed = json!({"name": "media", "tasks": [{"name": "other", "taskReferenceName": "o"}]});
    let answer = f
        .client
        .post_json(&f.api("/metadata/workflow?overwrite=true"), &changed)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let enc = f.take("encode", "").await;
    f.update(&complete(&enc, json!({}))).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["tasks"][1]["taskType"], "publish");
    assert_eq!(wf["workflowDefinition"]["tasks"][0]["name"], "encode");
}

#[tokio::test]
async fn the_workflow_tasks_retry_count_overrides_the_def_then_the_workflow_fails() {
    let f = Fixture::start().await;
    let defs = json!([{"name": "flaky", "retryCount": 5, "retryDelaySeconds": 0}]);
    f.client
        .post_json(&f.api("/metadata/taskdefs"), &defs)
        .await;
    f.register_workflow(&json!({"name": "w", "tasks": [
        {"name": "flaky", "taskReferenceName": "f", "retryCount": 1}
    ]}))
    .await;
    let id = f.start_workflow("w", "", &json!({})).await;
    let first = f.take("flaky", "").await;
    f.update(&TaskResult::failed(&first, "boom")).await;
    let retry = f.take("flaky", "").await;
    assert_ne!(retry.task_id, first.task_id);
    assert_eq!(retry.retry_count, 1);
    assert_eq!(
        retry.retried_task_id.as_deref(),
        Some(first.task_id.as_str())
    );
    assert_eq!(retry.reason_for_incompletion.as_deref(), Some("boom"));
    f.update(&TaskResult::failed(&retry, "boom again")).await;

    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "FAILED");
    assert_eq!(
        wf["reasonForIncompletion"],
        format!(
            "Task {} failed with status: FAILED and reason: 'boom again'",
            retry.task_id
        )
    );
    assert_eq!(wf["failedReferenceTaskNames"], json!(["f"]));
    assert_eq!(wf["failedTaskNames"], json!(["flaky"]));
    assert_eq!(wf["tasks"][0]["retried"], true);
    assert!(f.batch("flaky", 1, 0, "").await.is_empty());
    // A late update after the workflow ended is a 200 no-op.
    let late = f.update(&TaskResult::failed(&retry, "boom again")).await;
    assert_eq!(late.status, StatusCode::OK);
    let terminal = f.update(&TaskResult::failed(&first, "x")).await;
    assert_eq!(terminal.status, StatusCode::OK);
}

#[tokio::test]
async fn terminal_errors_fail_at_once_and_optional_tasks_complete_with_errors() {
    let f = Fixture::start().await;
    f.register_workflow(&json!({"name": "w", "tasks": [
        {"name": "maybe", "taskReferenceName": "m", "optional": true, "retryCount": 0},
        {"name": "must", "taskReferenceName": "x"}
    ]}))
    .await;
    let id = f.start_workflow("w", "", &json!({})).await;
    let maybe = f.take("maybe", "").await;
    f.update(&TaskResult::failed(&maybe, "meh")).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["tasks"][0]["status"], "COMPLETED_WITH_ERRORS");
    assert_eq!(wf["status"], "RUNNING");
    let must = f.take("must", "").await;
    let mut terminal = TaskResult::failed(&must, "fatal");
    terminal.status = Some(TaskResultStatus::FailedWithTerminalError);
    f.update(&terminal).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "FAILED");
    assert_eq!(wf["tasks"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        wf["reasonForIncompletion"],
        format!(
            "Task {} failed with status: FAILED and reason: 'fatal'",
            must.task_id
        )
    );
}

#[tokio::test]
async fn terminate_cancels_open_tasks_refuses_completed_and_ignores_terminated() {
    let f = Fixture::start().await;
    f.register_workflow(&two_steps()).await;
    let id = f.start_workflow("media", "", &json!({})).await;
    let enc = f.take("encode", "").await;
    let second = f.start_workflow("media", "", &json!({})).await;
    assert_eq!(
        f.client
            .get(&f.api("/tasks/queue/size?taskType=encode"))
            .await
            .json(),
        1
    );

    let answer = f
        .client
        .delete(&f.api(&format!("/workflow/{second}?reason=stop%20it")))
        .await;
    assert_eq!((answer.status, answer.body.len()), (StatusCode::OK, 0));
    let wf = f.workflow(&second).await;
    assert_eq!(wf["status"], "TERMINATED");
    assert_eq!(wf["reasonForIncompletion"], "stop it");
    assert_eq!(wf["tasks"][0]["status"], "CANCELED");
    // The canceled task left its queue.
    assert_eq!(
        f.client
            .get(&f.api("/tasks/queue/size?taskType=encode"))
            .await
            .json(),
        0
    );
    let again = f
        .client
        .delete(&f.api(&format!("/workflow/{second}")))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        f.workflow(&second).await["reasonForIncompletion"],
        "stop it"
    );

    // An in-progress task is canceled too; its worker's late update is a 200 no-op.
    f.client.delete(&f.api(&format!("/workflow/{id}"))).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["tasks"][0]["status"], "CANCELED");
    assert!(wf.get("reasonForIncompletion").is_none());
    let late = f.update(&complete(&enc, json!({}))).await;
    assert_eq!(late.status, StatusCode::OK);
    assert_eq!(f.mock.ledger().lost, 0);

    // COMPLETED: 409. FAILED: becomes TERMINATED.
    let done = f
        .client
        .post_json(
            &f.api("/workflow"),
            &json!({"name": "x", "workflowDef":
            {"name": "x", "tasks": [{"name": "quick", "taskReferenceName": "q"}]}}),
        )
        .await
        .text();
    let quick = f.take("quick", "").await;
    f.update(&complete(&quick, json!({}))).await;
    let refused = f.client.delete(&f.api(&format!("/workflow/{done}"))).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(
        refused.json()["message"],
        "Cannot terminate a COMPLETED workflow."
    );

    let failing = f
        .client
        .post_json(&f.api("/workflow"), &json!({"name": "y", "workflowDef":
            {"name": "y", "tasks": [{"name": "doomed", "taskReferenceName": "d", "retryCount": 0}]}}))
        .await
        .text();
    let doomed = f.take("doomed", "").await;
    f.update(&TaskResult::failed(&doomed, "x")).await;
    assert_eq!(f.workflow(&failing).await["status"], "FAILED");
    f.client
        .delete(&f.api(&format!("/workflow/{failing}")))
        .await;
    let wf = f.workflow(&failing).await;
    assert_eq!(wf["status"], "TERMINATED");
    assert_eq!(wf["failedReferenceTaskNames"], json!(["d"]));
}

#[tokio::test]
async fn a_response_timeout_with_no_retries_left_times_the_workflow_out() {
    let f = Fixture::with(MockServer::builder().sweeper_period(Duration::from_millis(20))).await;
    let defs = json!([{"name": "slow", "retryCount": 0, "responseTimeoutSeconds": 1}]);
    f.client
        .post_json(&f.api("/metadata/taskdefs"), &defs)
        .await;
    f.register_workflow(
        &json!({"name": "w", "tasks": [{"name": "slow", "taskReferenceName": "s"}]}),
    )
    .await;
    let id = f.start_workflow("w", "", &json!({})).await;
    let task = f.take("slow", "").await;
    let core = f.mock.core();
    let timed_out = eventually(Duration::from_secs(5), async || {
        core.workflow(&id, false)
            .is_ok_and(|wf| wf.status == WorkflowStatus::TimedOut)
    })
    .await;
    assert!(timed_out);
    let wf = f.workflow(&id).await;
    assert_eq!(
        wf["reasonForIncompletion"],
        format!(
            "Task {0} failed with status: TIMED_OUT and reason: 'responseTimeout: 1 exceeded for the taskId: {0}'",
            task.task_id
        )
    );
    assert_eq!(wf["tasks"][0]["status"], "TIMED_OUT");
}

#[tokio::test]
async fn the_workflow_timeout_applies_with_time_out_wf_only() {
    let f = Fixture::with(MockServer::builder().sweeper_period(Duration::from_millis(20))).await;
    let def = |name: &str, policy: &str| {
        json!({"name": name, "timeoutSeconds": 1, "timeoutPolicy": policy,
               "tasks": [{"name": "idle", "taskReferenceName": "i"}]})
    };
    f.register_workflow(&def("strict", "TIME_OUT_WF")).await;
    f.register_workflow(&def("lenient", "ALERT_ONLY")).await;
    let strict = f.start_workflow("strict", "", &json!({})).await;
    let lenient = f.start_workflow("lenient", "", &json!({})).await;
    let started = std::time::Instant::now();
    let core = f.mock.core();
    let timed_out = eventually(Duration::from_secs(5), async || {
        core.workflow(&strict, false)
            .is_ok_and(|wf| wf.status == WorkflowStatus::TimedOut)
    })
    .await;
    assert!(timed_out);
    let wf = f.workflow(&strict).await;
    assert!(
        wf["reasonForIncompletion"]
            .as_str()
            .unwrap()
            .starts_with("Workflow timed out after"),
        "{wf}"
    );
    assert_eq!(wf["tasks"][0]["status"], "CANCELED");
    // ALERT_ONLY only logs: past its deadline and a sweep later, the lenient one still runs.
    assert!(
        eventually(Duration::from_secs(3), async || started.elapsed()
            > Duration::from_millis(1100))
        .await
    );
    core.sweep();
    assert_eq!(f.workflow(&lenient).await["status"], "RUNNING");
    assert_eq!(
        f.client
            .get(&f.api("/tasks/queue/size?taskType=idle"))
            .await
            .json(),
        1
    );
}

#[tokio::test]
async fn a_start_delay_holds_the_task_back() {
    let f = Fixture::start().await;
    f.register_workflow(&json!({"name": "w", "tasks": [
        {"name": "later", "taskReferenceName": "l", "startDelay": 1}
    ]}))
    .await;
    let id = f.start_workflow("w", "", &json!({})).await;
    assert!(f.batch("later", 1, 0, "").await.is_empty());
    let wf = f.workflow(&id).await;
    assert_eq!(wf["tasks"][0]["startDelayInSeconds"], 1);
    assert_eq!(wf["tasks"][0]["callbackAfterSeconds"], 1);
    let started = std::time::Instant::now();
    let task = f.batch("later", 1, 2000, "").await;
    assert_eq!(task.len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn ended_workflows_are_evicted_beyond_the_configured_number() {
    let f = Fixture::with(MockServer::builder().keep_workflows(2)).await;
    f.register_workflow(&json!({"name": "w", "tasks": [{"name": "t", "taskReferenceName": "t"}]}))
        .await;
    let mut ids = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        ids.push(f.start_workflow("w", "", &json!({})).await);
        let task = f.take("t", "").await;
        f.update(&complete(&task, json!({}))).await;
        tasks.push(task);
    }
    let evicted = f.client.get(&f.api(&format!("/workflow/{}", ids[0]))).await;
    assert_eq!(evicted.status, StatusCode::NOT_FOUND);
    assert_eq!(f.workflow(&ids[2]).await["status"], "COMPLETED");
    // A repeated update for the evicted workflow's task is still a 200 no-op, not unknown.
    let again = f.update(&complete(&tasks[0], json!({}))).await;
    assert_eq!(again.status, StatusCode::OK);
    let ledger = f.mock.ledger();
    assert_eq!((ledger.unknown_ids, ledger.duplicate_identical), (0, 1));
}
