//! The system tasks the decider runs itself: SET_VARIABLE and TERMINATE.

use baton_model::{TaskResult, TaskResultStatus};
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::common::Fixture;

async fn complete(f: &Fixture, task_type: &str, output: Value) -> String {
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
    task.task_id
}

#[tokio::test]
async fn set_variable_merges_its_input_into_the_workflow_variables() {
    let f = Fixture::start().await;
    f.register_workflow(&json!({
        "name": "vars", "ownerEmail": "a@b.c", "variables": {"keep": 1, "over": "old"},
        "tasks": [
            {"name": "fetch", "taskReferenceName": "fetch"},
            {"name": "set", "taskReferenceName": "set", "type": "SET_VARIABLE",
             "inputParameters": {"over": "${fetch.output.v}", "added": [1, 2]}},
            {"name": "use", "taskReferenceName": "use",
             "inputParameters": {"v": "${workflow.variables.over}", "k": "${workflow.variables.keep}"}}
        ]
    }))
    .await;
    let id = f.start_workflow("vars", "", &json!({})).await;
    complete(&f, "fetch", json!({"v": "new"})).await;
    // The SET_VARIABLE task ran inside the update; the next worker task sees the variables.
    let use_task = f.take("use", "").await;
    assert_eq!(
        Value::Object(use_task.input_data.clone()),
        json!({"v": "new", "k": 1})
    );
    let wf = f.workflow(&id).await;
    assert_eq!(
        wf["variables"],
        json!({"keep": 1, "over": "new", "added": [1, 2]})
    );
    let set = &wf["tasks"][1];
    assert_eq!(set["taskType"], "SET_VARIABLE");
    assert_eq!(set["referenceTaskName"], "set");
    assert_eq!(set["status"], "COMPLETED");
    assert_eq!(set["seq"], 2);
    assert_eq!(set["inputData"], json!({"over": "new", "added": [1, 2]}));
    // Nothing but the worker tasks was ever queued.
    let task = f
        .client
        .get(&f.api(&format!("/tasks/{}", set["taskId"].as_str().unwrap())))
        .await;
    assert_eq!(task.json()["status"], "COMPLETED");
    assert_eq!(f.mock.ledger().queued, 0);
}

fn terminating(status: &str, extra: Value) -> Value {
    let mut terminate = json!({
        "name": "stop", "taskReferenceName": "stop", "type": "TERMINATE",
        "inputParameters": {"terminationStatus": status,
                            "workflowOutput": {"got": "${work.output.r}"}}
    });
    if let (Some(params), Value::Object(extra)) =
        (terminate["inputParameters"].as_object_mut(), extra)
    {
        params.extend(extra);
    }
    json!({
        "name": format!("term-{status}"), "ownerEmail": "a@b.c",
        "outputParameters": {"ignored": true},
        "tasks": [
            {"name": "work", "taskReferenceName": "work"},
            terminate,
            {"name": "never", "taskReferenceName": "never"}
        ]
    })
}

#[tokio::test]
async fn terminate_completed_ends_the_workflow_with_its_output() {
    let f = Fixture::start().await;
    f.register_workflow(&terminating("COMPLETED", json!({})))
        .await;
    let id = f.start_workflow("term-COMPLETED", "", &json!({})).await;
    complete(&f, "work", json!({"r": 42})).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "COMPLETED");
    assert_eq!(wf["output"], json!({"got": 42}));
    let tasks = wf["tasks"].as_array().unwrap();
    assert_eq!(
        tasks.len(),
        2,
        "the task after TERMINATE is never scheduled"
    );
    let stop = &tasks[1];
    assert_eq!(stop["taskType"], "TERMINATE");
    assert_eq!(stop["status"], "COMPLETED");
    assert_eq!(stop["outputData"], json!({"got": 42}));
    assert_eq!(
        wf["reasonForIncompletion"],
        format!(
            "Workflow is COMPLETED by TERMINATE task: {}",
            stop["taskId"].as_str().unwrap()
        )
    );
    assert!(wf["endTime"].as_i64().unwrap() > 0);
    let never = f.batch("never", 1, 0, "").await;
    assert!(never.is_empty());
}

#[tokio::test]
async fn terminate_failed_and_terminated_set_the_status_and_reason() {
    let f = Fixture::start().await;
    f.register_workflow(&terminating(
        "FAILED",
        json!({"terminationReason": "bad input ${work.output.r}", "workflowOutput": "plain"}),
    ))
    .await;
    let id = f.start_workflow("term-FAILED", "", &json!({})).await;
    complete(&f, "work", json!({"r": 1})).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "FAILED");
    assert_eq!(wf["reasonForIncompletion"], "bad input 1");
    // A workflowOutput that is not a map is wrapped.
    assert_eq!(wf["output"], json!({"output": "plain"}));

    f.register_workflow(&terminating("TERMINATED", json!({})))
        .await;
    let id = f.start_workflow("term-TERMINATED", "", &json!({})).await;
    complete(&f, "work", json!({})).await;
    assert_eq!(f.workflow(&id).await["status"], "TERMINATED");
}

#[tokio::test]
async fn terminate_with_an_invalid_status_fails_the_task_and_the_workflow() {
    let f = Fixture::start().await;
    f.register_workflow(&terminating("DONE", json!({}))).await;
    let id = f.start_workflow("term-DONE", "", &json!({})).await;
    complete(&f, "work", json!({})).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "FAILED");
    let stop = &wf["tasks"][1];
    assert_eq!(stop["status"], "FAILED");
    assert_eq!(
        stop["reasonForIncompletion"],
        "given termination status is not valid"
    );
    assert_eq!(
        wf["reasonForIncompletion"],
        format!(
            "Task {} failed with status: FAILED and reason: 'given termination status is not valid'",
            stop["taskId"].as_str().unwrap()
        )
    );
    assert_eq!(wf["failedReferenceTaskNames"], json!(["stop"]));
}

#[tokio::test]
async fn a_workflow_of_system_tasks_only_ends_before_the_start_call_answers() {
    let f = Fixture::start().await;
    let request = json!({
        "input": {"who": "me"},
        "workflowDef": {"name": "instant", "tasks": [
            {"name": "v", "taskReferenceName": "v", "type": "SET_VARIABLE",
             "inputParameters": {"who": "${workflow.input.who}"}},
            {"name": "t", "taskReferenceName": "t", "type": "TERMINATE",
             "inputParameters": {"terminationStatus": "COMPLETED",
                                 "workflowOutput": {"who": "${workflow.variables.who}"}}}
        ]}
    });
    let answer = f
        .client
        .post_json(&f.api("/workflow/execute/instant/1"), &request)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let run = answer.json();
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["output"], json!({"who": "me"}));
    assert_eq!(run["variables"], json!({"who": "me"}));
}

fn failing(name: &str, failure_workflow: &str, first: Value) -> Value {
    json!({
        "name": name, "ownerEmail": "a@b.c", "failureWorkflow": failure_workflow,
        "tasks": [first]
    })
}

fn cleanup() -> Value {
    json!({
        "name": "cleanup", "ownerEmail": "a@b.c",
        "tasks": [{"name": "undo", "taskReferenceName": "undo", "inputParameters": {
            "wf": "${workflow.input.workflowId}", "why": "${workflow.input.reason}",
            "status": "${workflow.input.failureStatus}", "orig": "${workflow.input.orig}",
            "task": "${workflow.input.failureTaskId}",
            "failedName": "${workflow.input.failedWorkflow.workflowName}",
            "failedStatus": "${workflow.input.failedWorkflow.status}"}}]
    })
}

#[tokio::test]
async fn a_failed_workflow_starts_its_failure_workflow() {
    let f = Fixture::start().await;
    f.register_workflow(&cleanup()).await;
    let risky = json!({"name": "risky", "taskReferenceName": "risky", "retryCount": 0});
    f.register_workflow(&failing("main", "cleanup", risky))
        .await;
    let id = f
        .start_workflow("main", "?correlationId=c-7", &json!({"orig": 5}))
        .await;
    let task = f.take("risky", "").await;
    let mut result = TaskResult::new(task.task_id.clone(), id.clone(), TaskResultStatus::Failed);
    result.reason_for_incompletion = Some("boom".to_owned());
    f.update(&result).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "FAILED");
    let failure_id = wf["output"]["conductor.failure_workflow"]
        .as_str()
        .unwrap()
        .to_owned();
    let undo = f.take("undo", "").await;
    assert_eq!(undo.workflow_id(), failure_id);
    assert_eq!(undo.correlation_id.as_deref(), Some("c-7"));
    assert_eq!(
        Value::Object(undo.input_data.clone()),
        json!({"wf": id, "why": wf["reasonForIncompletion"], "status": "FAILED", "orig": 5,
               "task": task.task_id, "failedName": "main", "failedStatus": "FAILED"})
    );
}

#[tokio::test]
async fn failure_workflows_start_for_terminate_tasks_but_not_for_rest_terminates() {
    let f = Fixture::start().await;
    f.register_workflow(&cleanup()).await;
    let stop = json!({"name": "stop", "taskReferenceName": "stop", "type": "TERMINATE",
                      "inputParameters": {"terminationStatus": "TERMINATED"}});
    f.register_workflow(&failing("stopper", "cleanup", stop))
        .await;
    let id = f.start_workflow("stopper", "", &json!({})).await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "TERMINATED");
    let undo = f.take("undo", "").await;
    assert_eq!(undo.input_data["status"], "TERMINATED");
    assert_eq!(undo.input_data["task"], wf["tasks"][0]["taskId"]);

    // A REST terminate does not start it.
    let waiting = json!({"name": "slow", "taskReferenceName": "slow"});
    f.register_workflow(&failing("manual", "cleanup", waiting))
        .await;
    let id = f.start_workflow("manual", "", &json!({})).await;
    let answer = f.client.delete(&f.api(&format!("/workflow/{id}"))).await;
    assert_eq!(answer.status, StatusCode::OK);
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "TERMINATED");
    assert!(wf["output"].get("conductor.failure_workflow").is_none());
    assert!(f.batch("undo", 1, 0, "").await.is_empty());

    // An unknown failure workflow is noted in the output.
    let stop = json!({"name": "stop", "taskReferenceName": "stop", "type": "TERMINATE",
                      "inputParameters": {"terminationStatus": "FAILED"}});
    f.register_workflow(&failing("lost", "${workflow.input.handler}", stop))
        .await;
    let id = f
        .start_workflow("lost", "", &json!({"handler": "nope"}))
        .await;
    assert_eq!(
        f.workflow(&id).await["output"]["conductor.failure_workflow"],
        "Error workflow nope failed to start.  reason: No such workflow found by name: nope, version: null"
    );
}

#[tokio::test]
async fn failure_workflows_that_fail_at_once_stop_after_a_bounded_chain() {
    let f = Fixture::start().await;
    let stop = json!({"name": "stop", "taskReferenceName": "stop", "type": "TERMINATE",
                      "inputParameters": {"terminationStatus": "FAILED"}});
    f.register_workflow(&failing("again", "again", stop)).await;
    let mut id = f.start_workflow("again", "", &json!({})).await;
    let mut hops = 0;
    loop {
        let note = f.workflow(&id).await["output"]["conductor.failure_workflow"].clone();
        let note = note.as_str().unwrap().to_owned();
        if note.starts_with("Error workflow again failed to start.") {
            assert!(
                note.contains("failure workflows failed one inside the other"),
                "{note}"
            );
            break;
        }
        id = note;
        hops += 1;
        assert!(hops <= 16, "the chain does not stop");
    }
    assert_eq!(hops, 16);
}
