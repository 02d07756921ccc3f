"""A swift-conductor-client 1.2.0 no-op worker for Baton's benchmark harness.

Returns {"ok": true} for every task of --task-type, with --processes WorkerImpl workers (the
SDK's WorkerHost runs each in its own process) and a --poll-interval-ms sleep after every task
(the SDK's default is 100 ms). The server comes from CONDUCTOR_SERVER_URL. Runs until its stdin
closes, then kills its whole process group (tests/python/_watchdog.py on PYTHONPATH).
"""

import argparse
import os

import _watchdog
from swift_conductor.automation.worker_host import WorkerHost
from swift_conductor.configuration import Configuration
from swift_conductor.http.models.task import Task
from swift_conductor.http.models.task_result import TaskResult
from swift_conductor.http.models.task_result_status import TaskResultStatus
from swift_conductor.worker.worker_impl import WorkerImpl


def noop(task: Task) -> TaskResult:
    result = TaskResult(
        task_id=task.task_id,
        workflow_instance_id=task.workflow_instance_id,
        worker_id="swift-noop",
    )
    result.status = TaskResultStatus.COMPLETED
    result.output_data = {"ok": True}
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task-type", default="bench")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--poll-interval-ms", type=float, default=1)
    args = parser.parse_args()
    configuration = Configuration(server_api_url=os.environ["CONDUCTOR_SERVER_URL"])
    workers = [
        WorkerImpl(
            task_definition_name=args.task_type,
            execute_function=noop,
            poll_interval=args.poll_interval_ms,
        )
        for _ in range(args.processes)
    ]
    with WorkerHost(workers=workers, configuration=configuration) as host:
        host.start_processes()
        # Only after the fork: a child forked while this thread holds stdin would hang.
        _watchdog.start()
        host.join_processes()


if __name__ == "__main__":
    main()
