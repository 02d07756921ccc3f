use baton_model::{BulkResponse, TaskDef, WorkflowDef};
use hyper::StatusCode;
use serde_json::json;

use crate::common::Fixture;

const VALIDATION: &str = "Validation failed, check below errors for detail.";

#[tokio::test]
async fn task_defs_are_upserted_read_with_defaults_replaced_and_deleted() {
    let f = Fixture::start().await;
    let url = f.api("/metadata/taskdefs");
    let answer = f
        .client
        .post_json(&url, &json!([{"name": "encode", "ownerEmail": "a@b.c"}]))
        .await;
    assert_eq!((answer.status, answer.body.len()), (StatusCode::OK, 0));
    let stored = f
        .client
        .get(&f.api("/metadata/taskdefs/encode"))
        .await
        .json();
    assert_eq!(stored["retryCount"], 3);
    assert_eq!(stored["timeoutSeconds"], 0);
    assert_eq!(stored["timeoutPolicy"], "TIME_OUT_WF");
    assert_eq!(stored["retryLogic"], "FIXED");
    assert_eq!(stored["retryDelaySeconds"], 60);
    assert_eq!(stored["responseTimeoutSeconds"], 3600);
    assert_eq!(stored["backoffScaleFactor"], 1);
    assert_eq!(stored["inputKeys"], json!([]));
    assert_eq!(stored["inputTemplate"], json!({}));
    assert!(stored.get("concurrentExecLimit").is_none());
    let created = stored["createTime"].as_i64().unwrap();
    assert!(created > 0);

    // POST again is an upsert, not a conflict.
    let again = f
        .client
        .post_json(&url, &json!([{"name": "encode", "retryCount": 1}]))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let def: TaskDef =
        serde_json::from_slice(&f.client.get(&f.api("/metadata/taskdefs/encode")).await.body)
            .unwrap();
    assert_eq!(def.retry_count, 1);
    let created = def.create_time.unwrap();

    // PUT replaces one def and keeps createTime; an unknown name is 404.
    let put = f
        .client
        .put_json(&url, &json!({"name": "encode", "retryCount": 5}))
        .await;
    assert_eq!(put.status, StatusCode::OK);
    let stored = f
        .client
        .get(&f.api("/metadata/taskdefs/encode"))
        .await
        .json();
    assert_eq!(
        (stored["retryCount"].as_i64(), stored["createTime"].as_i64()),
        (Some(5), Some(created))
    );
    let unknown = f.client.put_json(&url, &json!({"name": "nope"})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["message"], "No such task by name nope");

    f.client.post_json(&url, &json!([{"name": "decode"}])).await;
    let all = f.client.get(&url).await.json();
    assert_eq!(all.as_array().map(Vec::len), Some(2));

    let missing = f.client.get(&f.api("/metadata/taskdefs/nope")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json()["message"],
        "No such taskType found by name: nope"
    );
    let delete = f.client.delete(&f.api("/metadata/taskdefs/encode")).await;
    assert_eq!(delete.status, StatusCode::OK);
    let delete = f.client.delete(&f.api("/metadata/taskdefs/encode")).await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_task_defs_are_400_with_validation_errors() {
    let f = Fixture::start().await;
    let url = f.api("/metadata/taskdefs");
    let empty = f.client.post_json(&url, &json!([])).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let body = empty.json();
    assert_eq!(body["message"], VALIDATION);
    assert_eq!(
        body["validationErrors"][0]["message"],
        "TaskDefList is empty"
    );

    // timeoutSeconds alone fails: the default responseTimeoutSeconds (3600) exceeds it.
    let short = f
        .client
        .post_json(&url, &json!([{"name": "t", "timeoutSeconds": 10}]))
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let message = short.json()["validationErrors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("responseTimeoutSeconds: 3600"),
        "{message}"
    );

    let bad = f
        .client
        .post_json(
            &url,
            &json!([{"name": "", "retryCount": -1, "responseTimeoutSeconds": 0}]),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.json()["validationErrors"].as_array().map(Vec::len),
        Some(3)
    );
    // Nothing of a failed call is stored.
    assert_eq!(f.client.get(&url).await.json(), json!([]));

    let put = f
        .client
        .put_json(&url, &json!({"name": "x", "retryCount": -2}))
        .await;
    assert_eq!(put.status, StatusCode::BAD_REQUEST);
    let malformed = f.client.post_raw(&url, "[{").await;
    assert_eq!(malformed.status, StatusCode::INTERNAL_SERVER_ERROR);
}

fn media(version: i32) -> serde_json::Value {
    json!({
        "name": "media", "version": version, "ownerEmail": "a@b.c",
        "tasks": [{"name": "encode", "taskReferenceName": "enc",
                   "inputParameters": {"file": "${workflow.input.file}"}}]
    })
}

#[tokio::test]
async fn workflow_defs_conflict_unless_overwritten_and_are_read_by_version() {
    let f = Fixture::start().await;
    let url = f.api("/metadata/workflow");
    f.register_workflow(&media(1)).await;
    let duplicate = f.client.post_json(&url, &media(1)).await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(
        duplicate.json()["message"],
        "Workflow with media.1 already exists!"
    );
    let overwrite = f
        .client
        .post_json(&f.api("/metadata/workflow?overwrite=true"), &media(1))
        .await;
    assert_eq!(overwrite.status, StatusCode::OK);
    f.register_workflow(&media(2)).await;

    let latest: WorkflowDef =
        serde_json::from_slice(&f.client.get(&f.api("/metadata/workflow/media")).await.body)
            .unwrap();
    assert_eq!(latest.version, 2);
    assert_eq!(latest.schema_version, 2);
    assert_eq!(latest.tasks[0].task_type, "SIMPLE");
    let first = f
        .client
        .get(&f.api("/metadata/workflow/media?version=1"))
        .await
        .json();
    assert_eq!(first["version"], 1);
    assert_eq!(first["timeoutPolicy"], "ALERT_ONLY");
    let missing = f.client.get(&f.api("/metadata/workflow/nope")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json()["message"],
        "No such workflow found by name: nope, version: null"
    );
    let missing = f
        .client
        .get(&f.api("/metadata/workflow/media?version=7"))
        .await;
    assert_eq!(
        missing.json()["message"],
        "No such workflow found by name: media, version: 7"
    );

    let other = json!({"name": "other", "tasks": [{"name": "x", "taskReferenceName": "x"}]});
    let put = f.client.put_json(&url, &json!([media(3), other])).await;
    assert_eq!(put.status, StatusCode::OK);
    let bulk: BulkResponse = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(bulk.bulk_successful_results, ["media", "other"]);
    assert!(bulk.bulk_error_results.is_empty());
    assert_eq!(
        bulk.message.as_deref(),
        Some("Bulk Request has been processed.")
    );
    let all = f.client.get(&url).await.json();
    assert_eq!(all.as_array().map(Vec::len), Some(4));

    assert_eq!(
        f.client
            .delete(&f.api("/metadata/workflow/media/2"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        f.client
            .delete(&f.api("/metadata/workflow/media/2"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let latest = f
        .client
        .get(&f.api("/metadata/workflow/media"))
        .await
        .json();
    assert_eq!(latest["version"], 3);
}

#[tokio::test]
async fn invalid_workflow_defs_are_400() {
    let f = Fixture::start().await;
    let url = f.api("/metadata/workflow");
    let cases = [
        (
            json!({"name": "w", "tasks": []}),
            "WorkflowTask list cannot be empty",
        ),
        (
            json!({"name": "w", "tasks": [{"name": "a", "taskReferenceName": "r"},
                                          {"name": "b", "taskReferenceName": "r"}]}),
            "taskReferenceName: r should be unique across tasks for a given workflowDefinition: w",
        ),
        (
            json!({"name": "w", "tasks": [{"name": "a", "taskReferenceName": "r",
                    "inputParameters": {"x": "${ghost.output.y}"}}]}),
            "taskReferenceName: r for given task: a input value: x of input parameter: ${ghost.output.y} is not defined in workflow definition.",
        ),
        (
            json!({"tasks": [{"name": "a", "taskReferenceName": "r"}]}),
            "WorkflowDef name cannot be null or empty",
        ),
        (
            json!({"name": "w", "tasks": [{"name": "a"}]}),
            "WorkflowTask taskReferenceName name cannot be empty or null",
        ),
    ];
    for (def, message) in cases {
        let answer = f.client.post_json(&url, &def).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{def}");
        let body = answer.json();
        assert_eq!(body["message"], VALIDATION);
        assert_eq!(body["validationErrors"][0]["message"], message, "{def}");
    }
    // One invalid def fails the whole PUT list; nothing is stored.
    let put = f
        .client
        .put_json(&url, &json!([media(1), {"name": "w", "tasks": []}]))
        .await;
    assert_eq!(put.status, StatusCode::BAD_REQUEST);
    assert_eq!(f.client.get(&url).await.json(), json!([]));
    // References to workflow fields and to task refs of the same def are fine.
    let good = json!({"name": "w", "tasks": [
        {"name": "a", "taskReferenceName": "r1", "inputParameters": {"x": "${workflow.input.y}"}},
        {"name": "b", "taskReferenceName": "r2", "inputParameters": {"x": "${r1.output.y} $${literal}"}}
    ]});
    f.register_workflow(&good).await;
}
