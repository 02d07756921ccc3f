"""One worker program for both SDKs: only the import lines differ (chosen by ``SDK``).

Three worker styles of conductor-python (a function, a class, a typed ``@worker_task``) for
the ``py_pipeline`` workflow; runs until SIGTERM.
"""

import os
from dataclasses import dataclass

if os.environ.get("SDK") == "conductor-python":
    from conductor.client.automator.task_handler import TaskHandler
    from conductor.client.configuration.configuration import Configuration
    from conductor.client.http.models import Task, TaskResult
    from conductor.client.http.models.task_result_status import TaskResultStatus
    from conductor.client.worker.worker import Worker
    from conductor.client.worker.worker_interface import WorkerInterface
    from conductor.client.worker.worker_task import worker_task
else:
    from baton_conductor import (Configuration, Task, TaskHandler, TaskResult,
                                 TaskResultStatus, Worker, WorkerInterface, worker_task)


def double(task: Task) -> TaskResult:
    result = TaskResult(task_id=task.task_id, workflow_instance_id=task.workflow_instance_id,
                        worker_id="pipeline")
    result.add_output_data("doubled", task.input_data["n"] * 2)
    result.add_output_data("tags", ["x", task.input_data["tag"]])
    result.status = TaskResultStatus.COMPLETED
    return result


class Describe(WorkerInterface):
    def execute(self, task: Task) -> TaskResult:
        result = self.get_task_result_from_task(task)
        result.add_output_data("text", f"{task.input_data['tag']}={task.input_data['doubled']}")
        result.add_output_data("nested", {"ok": True, "none": None, "pi": 3.25})
        result.status = TaskResultStatus.COMPLETED
        return result

    def get_polling_interval_in_seconds(self) -> float:
        return 0.05


@dataclass
class Summary:
    text: str
    length: int


@worker_task(task_definition_name="py_pipe_summary", poll_interval_millis=50)
def summarize(text: str, scale: float = 1.5) -> Summary:
    return Summary(text=text.upper(), length=int(len(text) * scale))


def main() -> None:
    workers = [
        Worker(task_definition_name="py_pipe_double", execute_function=double, poll_interval=50),
        Describe(task_definition_name="py_pipe_describe"),
    ]
    with TaskHandler(workers, Configuration(), scan_for_annotated_workers=True) as handler:
        handler.start_processes()
        print("started", flush=True)
        handler.join_processes()


if __name__ == "__main__":
    main()
