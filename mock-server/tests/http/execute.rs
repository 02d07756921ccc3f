//! Synchronous execution (`POST /api/workflow/execute/{name}/{version}`) and the 400 for task
//! types the mock does not run.

use std::time::{Duration, Instant};

use baton_model::{TaskResult, TaskResultStatus};
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::common::Fixture;

fn two_steps(version: i32) -> Value {
    json!({
        "name": "sync", "version": version, "ownerEmail": "a@b.c",
        "tasks": [
            {"name": "first", "taskReferenceName": "one",
             "inputParameters": {"x": "${workflow.input.x}"}},
            {"name": "second", "taskReferenceName": "two",
             "inputParameters": {"y": "${one.output.y}"}}
        ],
        "outputParameters": {"result": "${two.output.z}", "version": version}
    })
}

/// Polls one task of `task_type` and completes it with `output`.
async fn work(f: &Fixture, task_type: &str, output: Value) {
    let task = f.take(task_type, "").await;
    let mut result = TaskResult::new(
        task.task_id.clone(),
        task.workflow_id().to_owned(),
        TaskResultStatus::Completed,
    );
    if let Value::Object(map) = output {
        result.output_data = map;
    }
    assert_eq!(f.update(&result).await.status, StatusCode::OK);
}

#[tokio::test]
async fn execute_waits_for_the_end_and_answers_a_workflow_run() {
    let f = Fixture::start().await;
    f.register_workflow(&two_steps(1)).await;
    f.register_workflow(&two_steps(2)).await;
    let request = json!({"input": {"x": 7}, "correlationId": "c-9"});
    // Version 0 is the latest.
    let url = f.api("/workflow/execute/sync/0?requestId=r-1&waitForSeconds=20");
    let (answer, ()) = tokio::join!(f.client.post_json(&url, &request), async {
        work(&f, "first", json!({"y": 8})).await;
        work(&f, "second", json!({"z": "done"})).await;
    });
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert!(answer.content_type().starts_with("application/json"));
    let run = answer.json();
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["output"], json!({"result": "done", "version": 2}));
    assert_eq!(run["input"], json!({"x": 7}));
    assert_eq!(run["correlationId"], "c-9");
    assert_eq!(run["requestId"], "r-1");
    assert_eq!(run["responseType"], "TARGET_WORKFLOW");
    assert_eq!(run["signalTimeout"], false);
    assert_eq!(run["targetWorkflowId"], run["workflowId"]);
    assert_eq!(run["targetWorkflowStatus"], "COMPLETED");
    assert_eq!(run["priority"], 0);
    assert_eq!(run["variables"], json!({}));
    assert!(run["createTime"].as_i64().unwrap() > 0);
    assert!(run["updateTime"].as_i64().unwrap() >= run["createTime"].as_i64().unwrap());
    let tasks = run["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[1]["inputData"], json!({"y": 8}));
    assert!(run.get("workflowDefinition").is_none());
    // The workflow it ran is the one the answer names.
    let id = run["workflowId"].as_str().unwrap();
    assert_eq!(f.workflow(id).await["status"], "COMPLETED");
}

#[tokio::test]
async fn execute_returns_when_an_awaited_task_ends() {
    let f = Fixture::start().await;
    f.register_workflow(&two_steps(1)).await;
    let url = f.api("/workflow/execute/sync/1?waitUntilTaskRef=nope,%20one&waitForSeconds=20");
    let empty = json!({});
    let (answer, ()) = tokio::join!(f.client.post_json(&url, &empty), async {
        work(&f, "first", json!({"y": 1})).await;
    });
    let run = answer.json();
    assert_eq!(run["status"], "RUNNING", "{run}");
    assert_eq!(run["signalTimeout"], false);
    assert_eq!(run["tasks"][0]["status"], "COMPLETED");
    assert_eq!(run["tasks"][1]["status"], "SCHEDULED");
    // No requestId given: a fresh UUID.
    assert_eq!(run["requestId"].as_str().map(str::len), Some(36));
    assert!(run.get("correlationId").is_none());
}

#[tokio::test]
async fn execute_returns_at_a_wait_for_a_signal_even_inside_a_sub_workflow() {
    let f = Fixture::start().await;
    f.register_workflow(&json!({
        "name": "approval", "ownerEmail": "a@b.c",
        "tasks": [{"name": "approve", "taskReferenceName": "approve", "type": "WAIT"}]
    }))
    .await;
    f.register_workflow(&json!({
        "name": "outer", "ownerEmail": "a@b.c",
        "tasks": [
            {"name": "timed", "taskReferenceName": "timed", "type": "WAIT",
             "inputParameters": {"duration": "1 s"}},
            {"name": "child", "taskReferenceName": "child", "type": "SUB_WORKFLOW",
             "subWorkflowParam": {"name": "approval", "version": 1}}]
    }))
    .await;
    // A WAIT with a duration does not block; the child's WAIT without one does: the answer
    // comes once the child waits, long before the 20 s wait would run out.
    let started = Instant::now();
    let answer = f
        .client
        .post_json(
            &f.api("/workflow/execute/outer/1?waitForSeconds=20"),
            &json!({}),
        )
        .await;
    let run = answer.json();
    assert!(started.elapsed() < Duration::from_secs(15), "{run}");
    assert_eq!(run["signalTimeout"], false, "{run}");
    assert_eq!(run["status"], "RUNNING");
    assert_eq!(run["tasks"][0]["status"], "COMPLETED");
    assert_eq!(run["tasks"][1]["taskType"], "SUB_WORKFLOW");
    let child = run["tasks"][1]["subWorkflowId"].as_str().unwrap();
    let child = f.workflow(child).await;
    assert_eq!(child["tasks"][0]["taskType"], "WAIT");
    assert_eq!(child["tasks"][0]["status"], "IN_PROGRESS");
}

#[tokio::test]
async fn execute_answers_the_current_state_when_the_wait_runs_out() {
    let f = Fixture::start().await;
    f.register_workflow(&two_steps(1)).await;
    let started = Instant::now();
    let answer = f
        .client
        .post_json(
            &f.api("/workflow/execute/sync/1?waitForSeconds=1"),
            &json!({}),
        )
        .await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    let run = answer.json();
    assert_eq!(run["status"], "RUNNING");
    assert_eq!(run["signalTimeout"], true);
    assert_eq!(run["tasks"][0]["status"], "SCHEDULED");
    // The workflow goes on after the answer.
    work(&f, "first", json!({})).await;
    work(&f, "second", json!({"z": 3})).await;
    let id = run["workflowId"].as_str().unwrap();
    assert_eq!(f.workflow(id).await["output"]["result"], 3);
}

#[tokio::test]
async fn execute_errors_are_clear() {
    let f = Fixture::start().await;
    let unknown = f
        .client
        .post_json(&f.api("/workflow/execute/nope/1"), &json!({}))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json()["message"],
        "No such workflow defined. name=nope, version=1"
    );
    f.register_workflow(&two_steps(1)).await;
    let bad_version = f
        .client
        .post_json(&f.api("/workflow/execute/sync/one"), &json!({}))
        .await;
    assert_eq!(bad_version.status, StatusCode::BAD_REQUEST);
    let strategy = f
        .client
        .post_json(
            &f.api("/workflow/execute/sync/1?returnStrategy=BLOCKING_TASK"),
            &json!({}),
        )
        .await;
    assert_eq!(strategy.status, StatusCode::BAD_REQUEST);
    assert!(
        strategy.json()["message"]
            .as_str()
            .unwrap()
            .contains("BLOCKING_TASK")
    );
    let null_input = f
        .client
        .post_json(&f.api("/workflow/execute/sync/1"), &json!({"input": null}))
        .await;
    assert_eq!(null_input.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn workflows_with_task_types_the_mock_does_not_run_get_a_400_naming_them() {
    let f = Fixture::start().await;
    let def = json!({
        "name": "branchy", "ownerEmail": "a@b.c",
        "tasks": [
            {"name": "a", "taskReferenceName": "a", "type": "SIMPLE"},
            {"name": "call", "taskReferenceName": "call", "type": "HTTP"},
            {"name": "f", "taskReferenceName": "f", "type": "FORK_JOIN",
             "forkTasks": [[{"name": "b", "taskReferenceName": "b"}],
                           [{"name": "emit", "taskReferenceName": "emit", "type": "EVENT"}]]},
            {"name": "j", "taskReferenceName": "j", "type": "JOIN", "joinOn": ["b"]}
        ]
    });
    let registered = f.client.post_json(&f.api("/metadata/workflow"), &def).await;
    assert_eq!(registered.status, StatusCode::BAD_REQUEST);
    let errors = registered.json()["validationErrors"].clone();
    let messages: Vec<&str> = errors
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(messages.len(), 2, "{errors}");
    assert!(messages[0].contains("task type HTTP (taskReferenceName: call)"));
    assert!(messages[1].contains("task type EVENT (taskReferenceName: emit)"));
    assert_eq!(errors[0]["path"], "create.workflowDef.tasks[1].type");
    assert_eq!(
        errors[1]["path"],
        "create.workflowDef.tasks[2].forkTasks[1][0].type"
    );
    // Nothing was registered.
    let get = f.client.get(&f.api("/metadata/workflow/branchy")).await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
    // Inline definitions are refused at start, by either start endpoint, before anything runs.
    let request = json!({"name": "branchy", "workflowDef": def});
    for path in ["/workflow", "/workflow/execute/branchy/1"] {
        let answer = f.client.post_json(&f.api(path), &request).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(answer.text().contains("task type HTTP"), "{path}");
    }
    assert_eq!(f.mock.ledger().queued, 0);
}
