"""The no-op Python worker of python_vs_conductor_python.py: one program for both SDKs, only
the imports differ (``SDK``). ``WORKERS`` Worker objects of ``THREADS`` threads each for task
type ``noop``; runs until SIGTERM."""

import os

if os.environ.get("SDK") == "conductor-python":
    from conductor.client.automator.task_handler import TaskHandler
    from conductor.client.configuration.configuration import Configuration
    from conductor.client.http.models import Task, TaskResult
    from conductor.client.http.models.task_result_status import TaskResultStatus
    from conductor.client.worker.worker import Worker
else:
    from baton_conductor import (Configuration, Task, TaskHandler, TaskResult,
                                 TaskResultStatus, Worker)


def noop(task: Task) -> TaskResult:
    result = TaskResult(task_id=task.task_id, workflow_instance_id=task.workflow_instance_id)
    result.status = TaskResultStatus.COMPLETED
    return result


def main() -> None:
    threads = int(os.environ.get("THREADS", "1"))
    workers = [Worker("noop", noop, poll_interval=1, thread_count=threads)
               for _ in range(int(os.environ.get("WORKERS", "2")))]
    with TaskHandler(workers, Configuration(), scan_for_annotated_workers=False) as handler:
        handler.start_processes()
        handler.join_processes()


if __name__ == "__main__":
    main()
