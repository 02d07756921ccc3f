"""``TaskResult`` and what goes in it: status, logs, in-progress answers."""

from __future__ import annotations

import time
from enum import Enum
from typing import Any, Dict, List, Optional


class TaskResultStatus(str, Enum):
    """The status a worker reports."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    FAILED_WITH_TERMINAL_ERROR = "FAILED_WITH_TERMINAL_ERROR"
    IN_PROGRESS = "IN_PROGRESS"

    def __str__(self) -> str:
        return self.name


class TaskExecLog:
    """One execution log line."""

    def __init__(self, log: Optional[str] = None, task_id: Optional[str] = None,
                 created_time: Optional[int] = None):
        self.log = log
        self.task_id = task_id
        self.created_time = created_time

    def to_dict(self) -> Dict[str, Any]:
        """The server's JSON form."""
        return {"log": self.log, "taskId": self.task_id, "createdTime": self.created_time}


class TaskInProgress:
    """Returned by a worker: not done yet, hand the task out again after a delay."""

    def __init__(self, callback_after_seconds: int = 60, output: Optional[dict] = None):
        self.callback_after_seconds = callback_after_seconds
        self.output = output or {}

    def __repr__(self) -> str:
        return (f"TaskInProgress(callback_after={self.callback_after_seconds}s, "
                f"output={self.output})")


class TaskResult:
    """The result of one execution of a task."""

    def __init__(
        self,
        workflow_instance_id: Optional[str] = None,
        task_id: Optional[str] = None,
        reason_for_incompletion: Optional[str] = None,
        callback_after_seconds: Optional[int] = None,
        worker_id: Optional[str] = None,
        status: Optional[TaskResultStatus] = None,
        output_data: Optional[Dict[str, Any]] = None,
        logs: Optional[List[TaskExecLog]] = None,
        external_output_payload_storage_path: Optional[str] = None,
        sub_workflow_id: Optional[str] = None,
        extend_lease: bool = False,
    ):
        self.workflow_instance_id = workflow_instance_id
        self.task_id = task_id
        self.reason_for_incompletion = reason_for_incompletion
        self.callback_after_seconds = callback_after_seconds
        self.worker_id = worker_id
        self.status = status
        self.output_data = output_data
        self.logs = logs
        self.external_output_payload_storage_path = external_output_payload_storage_path
        self.sub_workflow_id = sub_workflow_id
        self.extend_lease = extend_lease

    def add_output_data(self, key: str, value: Any) -> None:
        """Sets one output field."""
        if self.output_data is None:
            self.output_data = {}
        self.output_data[key] = value

    def log(self, log: str) -> None:
        """Appends an execution log line."""
        if self.logs is None:
            self.logs = []
        self.logs.append(TaskExecLog(log, self.task_id, int(time.time())))

    def to_dict(self) -> Dict[str, Any]:
        """The server's JSON form (unset fields left out)."""
        status = self.status
        if isinstance(status, TaskResultStatus):
            status = status.value
        fields = {
            "workflowInstanceId": self.workflow_instance_id,
            "taskId": self.task_id,
            "reasonForIncompletion": self.reason_for_incompletion,
            "callbackAfterSeconds": self.callback_after_seconds,
            "workerId": self.worker_id,
            "status": status,
            "outputData": self.output_data,
            "logs": [
                log.to_dict() if isinstance(log, TaskExecLog) else {"log": str(log)}
                for log in self.logs or []
            ],
            "externalOutputPayloadStoragePath": self.external_output_payload_storage_path,
            "subWorkflowId": self.sub_workflow_id,
            "extendLease": self.extend_lease,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def __repr__(self) -> str:
        return (f"TaskResult(task_id={self.task_id!r}, status={self.status!r}, "
                f"output_data={self.output_data!r})")
