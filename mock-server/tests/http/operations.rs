//! Workflow operations: pause and resume, and finding workflows (running, correlated, search).

use baton_model::{TaskResult, TaskResultStatus};
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::common::{Answer, Fixture};

fn two_steps() -> Value {
    json!({
        "name": "steps", "ownerEmail": "a@b.c",
        "tasks": [{"name": "s1", "taskReferenceName": "s1"},
                  {"name": "s2", "taskReferenceName": "s2"}]
    })
}

async fn put(f: &Fixture, path: &str) -> Answer {
    f.client.put_json(&f.api(path), &json!({})).await
}

async fn search(f: &Fixture, query: &str) -> Answer {
    f.client
        .get(&f.api(&format!("/workflow/search?{query}")))
        .await
}

async fn complete(f: &Fixture, task_type: &str) {
    let task = f.take(task_type, "").await;
    let result = TaskResult::new(
        task.task_id.clone(),
        task.workflow_id().to_owned(),
        TaskResultStatus::Completed,
    );
    assert_eq!(f.update(&result).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_paused_workflow_decides_nothing_until_resumed() {
    let f = Fixture::start().await;
    f.register_workflow(&two_steps()).await;
    let id = f.start_workflow("steps", "", &json!({})).await;
    assert_eq!(
        put(&f, &format!("/workflow/{id}/pause")).await.status,
        StatusCode::OK
    );
    // Pausing again is a no-op.
    assert_eq!(
        put(&f, &format!("/workflow/{id}/pause")).await.status,
        StatusCode::OK
    );
    assert_eq!(f.workflow(&id).await["status"], "PAUSED");
    // Its open task is still pollable and updatable, but nothing follows it.
    complete(&f, "s1").await;
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "PAUSED");
    assert_eq!(wf["tasks"].as_array().map(Vec::len), Some(1));
    assert!(f.batch("s2", 1, 0, "").await.is_empty());
    // Resume decides what ended meanwhile.
    assert_eq!(
        put(&f, &format!("/workflow/{id}/resume")).await.status,
        StatusCode::OK
    );
    assert_eq!(f.workflow(&id).await["status"], "RUNNING");
    complete(&f, "s2").await;
    assert_eq!(f.workflow(&id).await["status"], "COMPLETED");

    let resume = put(&f, &format!("/workflow/{id}/resume")).await;
    assert_eq!(resume.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        resume.json()["message"],
        format!("The workflow {id} is not PAUSED so cannot resume. Current status is COMPLETED")
    );
    let pause = put(&f, &format!("/workflow/{id}/pause")).await;
    assert_eq!(pause.status, StatusCode::CONFLICT);
    assert_eq!(
        pause.json()["message"],
        format!("Workflow steps.1/{id} has ended, status cannot be updated.")
    );
    let unknown = put(&f, "/workflow/nope/pause").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_task_that_ended_while_paused_is_decided_on_resume() {
    let f = Fixture::start().await;
    f.register_workflow(&json!({
        "name": "forked", "ownerEmail": "a@b.c",
        "tasks": [
            {"name": "fork", "taskReferenceName": "fork", "type": "FORK_JOIN",
             "forkTasks": [[{"name": "a1", "taskReferenceName": "a1"},
                            {"name": "a2", "taskReferenceName": "a2"}],
                           [{"name": "b1", "taskReferenceName": "b1"},
                            {"name": "b2", "taskReferenceName": "b2"}]]},
            {"name": "join", "taskReferenceName": "join", "type": "JOIN",
             "joinOn": ["a2", "b2"]}]
    }))
    .await;
    let id = f.start_workflow("forked", "", &json!({})).await;
    put(&f, &format!("/workflow/{id}/pause")).await;
    // Both branches' first tasks end while the workflow is paused.
    complete(&f, "a1").await;
    complete(&f, "b1").await;
    assert!(f.batch("a2", 1, 0, "").await.is_empty());
    assert!(f.batch("b2", 1, 0, "").await.is_empty());
    assert_eq!(
        put(&f, &format!("/workflow/{id}/resume")).await.status,
        StatusCode::OK
    );
    // Both go on: neither branch is left waiting forever.
    complete(&f, "a2").await;
    complete(&f, "b2").await;
    assert_eq!(f.workflow(&id).await["status"], "COMPLETED");
}

#[tokio::test]
async fn running_correlated_and_search_find_workflows_as_the_server_does() {
    let f = Fixture::start().await;
    f.register_workflow(&two_steps()).await;
    f.register_workflow(&json!({
        "name": "quick", "ownerEmail": "a@b.c",
        "tasks": [{"name": "v", "taskReferenceName": "v", "type": "SET_VARIABLE",
                   "inputParameters": {"x": 1}}],
        "outputParameters": {"x": "${workflow.variables.x}"}
    }))
    .await;
    let a = f
        .start_workflow("steps", "?correlationId=c1", &json!({"n": 1}))
        .await;
    let b = f
        .start_workflow("steps", "?correlationId=c2", &json!({}))
        .await;
    let done = f
        .start_workflow("steps", "?correlationId=c1", &json!({}))
        .await;
    f.client.delete(&f.api(&format!("/workflow/{done}"))).await;
    let quick = f
        .start_workflow("quick", "?correlationId=c1", &json!({}))
        .await;

    let running = f.client.get(&f.api("/workflow/running/steps")).await;
    assert_eq!(running.json(), json!([a, b]));
    let none = f
        .client
        .get(&f.api("/workflow/running/steps?version=2"))
        .await;
    assert_eq!(none.json(), json!([]));

    let open = f
        .client
        .get(&f.api("/workflow/steps/correlated/c1"))
        .await
        .json();
    assert_eq!(open.as_array().map(Vec::len), Some(1));
    assert_eq!(open[0]["workflowId"], a.as_str());
    assert_eq!(open[0]["tasks"], json!([]));
    // Without `includeClosed` only RUNNING workflows are listed: not a paused one.
    put(&f, &format!("/workflow/{a}/pause")).await;
    let paused = f.client.get(&f.api("/workflow/steps/correlated/c1")).await;
    assert_eq!(paused.json(), json!([]));
    put(&f, &format!("/workflow/{a}/resume")).await;
    let all = f
        .client
        .get(&f.api("/workflow/steps/correlated/c1?includeClosed=true&includeTasks=true"))
        .await
        .json();
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["workflowId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str(), done.as_str()]);
    assert_eq!(all[0]["tasks"].as_array().map(Vec::len), Some(1));

    let everything = search(&f, "freeText=*").await.json();
    assert_eq!(everything["totalHits"], 4);
    let page = search(&f, "start=1&size=2").await.json();
    assert_eq!(page["totalHits"], 4);
    let page_ids: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["workflowId"].as_str().unwrap())
        .collect();
    assert_eq!(page_ids, [b.as_str(), done.as_str()]);

    let found = search(&f, "query=workflowType%3D'steps'%20AND%20status%20IN%20(RUNNING,TERMINATED)%20AND%20correlationId%3Dc1")
        .await
        .json();
    assert_eq!(found["totalHits"], 2);
    let first = &found["results"][0];
    assert_eq!(first["workflowId"], a.as_str());
    assert_eq!(first["workflowType"], "steps");
    assert_eq!(first["version"], 1);
    assert_eq!(first["status"], "RUNNING");
    assert_eq!(first["correlationId"], "c1");
    assert_eq!(first["input"], "{n=1}");
    assert_eq!(first["output"], "{}");
    assert!(first["startTime"].as_str().unwrap().ends_with('Z'));
    assert!(first.get("endTime").is_none());
    let second = &found["results"][1];
    assert_eq!(second["status"], "TERMINATED");
    assert!(second["endTime"].as_str().unwrap().ends_with('Z'));

    let completed = search(&f, "query=status%3DCOMPLETED").await.json();
    assert_eq!(completed["totalHits"], 1);
    assert_eq!(completed["results"][0]["workflowId"], quick.as_str());
    assert_eq!(completed["results"][0]["output"], "{x=1}");

    for bad in [
        "query=input.n%3D1",
        "freeText=hello",
        "query=status%20%3E%201",
    ] {
        let answer = search(&f, bad).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            answer.json()["message"]
                .as_str()
                .unwrap()
                .contains("does not understand")
        );
    }
}

async fn post(f: &Fixture, path: &str) -> Answer {
    f.client.post_json(&f.api(path), &json!({})).await
}

#[tokio::test]
async fn retry_reschedules_the_failed_task_and_runs_the_workflow_again() {
    let f = Fixture::start().await;
    f.register_workflow(&json!({
        "name": "fragile", "ownerEmail": "a@b.c",
        "tasks": [{"name": "ok", "taskReferenceName": "ok"},
                  {"name": "weak", "taskReferenceName": "weak", "retryCount": 0}]
    }))
    .await;
    let id = f.start_workflow("fragile", "", &json!({})).await;
    let running = post(&f, &format!("/workflow/{id}/retry")).await;
    assert_eq!(running.status, StatusCode::NOT_FOUND);
    assert_eq!(
        running.json()["message"],
        "Workflow is still running.  status=RUNNING"
    );
    complete(&f, "ok").await;
    let weak = f.take("weak", "").await;
    let result = TaskResult::new(weak.task_id.clone(), id.clone(), TaskResultStatus::Failed);
    f.update(&result).await;
    assert_eq!(f.workflow(&id).await["status"], "FAILED");

    let retry = post(&f, &format!("/workflow/{id}/retry")).await;
    assert_eq!(retry.status, StatusCode::NO_CONTENT, "{}", retry.text());
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "RUNNING");
    assert!(wf.get("reasonForIncompletion").is_none());
    assert_eq!(wf["endTime"], 0);
    assert_eq!(wf["tasks"][1]["retried"], true);
    let again = f.take("weak", "").await;
    assert_eq!(again.retry_count, 1);
    assert_eq!(
        again.retried_task_id.as_deref(),
        Some(weak.task_id.as_str())
    );
    assert_eq!(again.seq, 3);
    let result = TaskResult::new(
        again.task_id.clone(),
        id.clone(),
        TaskResultStatus::Completed,
    );
    f.update(&result).await;
    assert_eq!(f.workflow(&id).await["status"], "COMPLETED");

    let nothing = post(&f, &format!("/workflow/{id}/retry")).await;
    assert_eq!(nothing.status, StatusCode::CONFLICT);
    assert_eq!(
        nothing.json()["message"],
        "There are no retryable tasks! Use restart if you want to attempt entire workflow execution again."
    );
}

#[tokio::test]
async fn restart_runs_an_ended_workflow_again_from_its_first_task() {
    let f = Fixture::start().await;
    f.register_workflow(&two_steps()).await;
    let id = f.start_workflow("steps", "", &json!({})).await;
    let running = post(&f, &format!("/workflow/{id}/restart")).await;
    assert_eq!(running.status, StatusCode::CONFLICT);
    assert_eq!(
        running.json()["message"],
        format!("Workflow: steps.1/{id}.RUNNING is not in terminal state, unable to restart.")
    );
    complete(&f, "s1").await;
    complete(&f, "s2").await;
    let old_first = f.workflow(&id).await["tasks"][0]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();

    // The latest definition, on request: version 2 has one more task.
    let mut v2 = two_steps();
    v2["version"] = json!(2);
    v2["tasks"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "s3", "taskReferenceName": "s3"}));
    f.register_workflow(&v2).await;
    let restart = post(
        &f,
        &format!("/workflow/{id}/restart?useLatestDefinitions=true"),
    )
    .await;
    assert_eq!(restart.status, StatusCode::NO_CONTENT, "{}", restart.text());
    let wf = f.workflow(&id).await;
    assert_eq!(wf["status"], "RUNNING");
    assert_eq!(wf["workflowVersion"], 2);
    assert_eq!(wf["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(wf["tasks"][0]["seq"], 1);
    assert_eq!(wf["output"], json!({}));
    // The old tasks are gone.
    let old = f.client.get(&f.api(&format!("/tasks/{old_first}"))).await;
    assert_eq!(old.status, StatusCode::NOT_FOUND);
    complete(&f, "s1").await;
    complete(&f, "s2").await;
    complete(&f, "s3").await;
    assert_eq!(f.workflow(&id).await["status"], "COMPLETED");

    // A non-restartable definition cannot restart once COMPLETED.
    f.register_workflow(&json!({
        "name": "once", "ownerEmail": "a@b.c", "restartable": false,
        "tasks": [{"name": "v", "taskReferenceName": "v", "type": "SET_VARIABLE"}]
    }))
    .await;
    let once = f.start_workflow("once", "", &json!({})).await;
    let refused = post(&f, &format!("/workflow/{once}/restart")).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    assert_eq!(
        refused.json()["message"],
        format!("Workflow: once.1/{once}.COMPLETED is non-restartable")
    );
}
