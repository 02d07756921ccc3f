"""A conductor-python 2.0.0 worker for `sdk_double`, written with the SDK's documented API.

Started by mock-server/tests/python_sdks.rs with CONDUCTOR_SERVER_URL pointing at baton-mock.
It doubles `n` and runs until killed.
"""

import _watchdog
from conductor.client.automator.task_handler import TaskHandler
from conductor.client.configuration.configuration import Configuration
from conductor.client.worker.worker_task import worker_task


@worker_task(task_definition_name="sdk_double", thread_count=4, poll_interval_millis=10)
def double(n: int) -> dict:
    return {"doubled": n * 2}


def main() -> None:
    configuration = Configuration()  # reads CONDUCTOR_SERVER_URL
    with TaskHandler(configuration=configuration, scan_for_annotated_workers=True) as handler:
        handler.start_processes()
        _watchdog.start()
        handler.join_processes()


if __name__ == "__main__":
    main()
