"""conductor-python's worker API on Baton, a task-worker engine in Rust.

Change the imports of a conductor-python worker program to ``baton_conductor`` and it runs as
before: the Rust engine polls, batches, posts results and retries; Python only executes.
"""

from baton_conductor.configuration import AuthenticationSettings, Configuration
from baton_conductor.exception import NonRetryableException
from baton_conductor.metrics_settings import MetricsSettings
from baton_conductor.task import Task
from baton_conductor.task_handler import TaskHandler
from baton_conductor.task_result import (
    TaskExecLog,
    TaskInProgress,
    TaskResult,
    TaskResultStatus,
)
from baton_conductor.worker import Worker, WorkerInterface
from baton_conductor.decorator import WorkerTask, worker_task

__all__ = [
    "AuthenticationSettings",
    "Configuration",
    "MetricsSettings",
    "NonRetryableException",
    "Task",
    "TaskExecLog",
    "TaskHandler",
    "TaskInProgress",
    "TaskResult",
    "TaskResultStatus",
    "Worker",
    "WorkerInterface",
    "WorkerTask",
    "worker_task",
]
