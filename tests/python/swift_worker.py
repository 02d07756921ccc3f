"""A swift-conductor-client 1.2.0 worker for `sdk_increment`, written with the SDK's documented
WorkerHost / WorkerImpl API.

Started by mock-server/tests/python_sdks.rs with CONDUCTOR_SERVER_URL pointing at baton-mock.
It adds one to `x` and runs until killed. WorkerHost runs each worker in its own process.
"""

import os

import _watchdog
from swift_conductor.automation.worker_host import WorkerHost
from swift_conductor.configuration import Configuration
from swift_conductor.http.models.task import Task
from swift_conductor.http.models.task_result import TaskResult
from swift_conductor.http.models.task_result_status import TaskResultStatus
from swift_conductor.worker.worker_impl import WorkerImpl


def increment(task: Task) -> TaskResult:
    result = TaskResult(
        task_id=task.task_id,
        workflow_instance_id=task.workflow_instance_id,
        worker_id="swift-worker",
    )
    result.status = TaskResultStatus.COMPLETED
    result.output_data = {"plus_one": task.input_data["x"] + 1}
    return result


def main() -> None:
    configuration = Configuration(server_api_url=os.environ["CONDUCTOR_SERVER_URL"])
    # Two worker processes; a short poll interval (ms), since this SDK sleeps after every task.
    workers = [
        WorkerImpl(task_definition_name="sdk_increment", execute_function=increment, poll_interval=5)
        for _ in range(2)
    ]
    with WorkerHost(workers=workers, configuration=configuration) as host:
        host.start_processes()
        # Only after the fork: a child forked while this thread holds stdin would hang.
        _watchdog.start()
        host.join_processes()


if __name__ == "__main__":
    main()
