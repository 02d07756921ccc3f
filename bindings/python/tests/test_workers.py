"""conductor-python's worker styles on baton_conductor, against baton-mock over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from typing import Iterator, List

from baton_conductor import (
    Configuration,
    NonRetryableException,
    Task,
    TaskHandler,
    TaskInProgress,
    TaskResult,
    TaskResultStatus,
    Worker,
    WorkerInterface,
    worker_task,
)
from baton_conductor import decorator
from mock import Mock, eventually


@contextlib.contextmanager
def running(mock: Mock, workers: list, scan: bool = False) -> Iterator[TaskHandler]:
    """A started TaskHandler, stopped (drained) on exit."""
    handler = TaskHandler(workers, Configuration(server_api_url=mock.api),
                          scan_for_annotated_workers=scan)
    handler.start_processes()
    try:
        yield handler
    finally:
        handler.stop_processes()


def enqueue_one(mock: Mock, task_type: str, input: dict, **extra) -> str:
    return mock.enqueue(task_type, 1, input, **extra)["firstTaskId"]


def ended(mock: Mock, task_id: str) -> dict:
    """The task once it has left SCHEDULED/IN_PROGRESS."""
    def check():
        task = mock.task(task_id)
        return task if task["status"] not in ("SCHEDULED", "IN_PROGRESS") else None
    return eventually(check, f"task {task_id} to end")


# The seeds' function worker, as written there.
def execute(task: Task) -> TaskResult:
    task_result = TaskResult(
        task_id=task.task_id,
        workflow_instance_id=task.workflow_instance_id,
        worker_id='your_custom_id'
    )
    task_result.add_output_data('worker_style', 'function')
    task_result.status = TaskResultStatus.COMPLETED
    return task_result


# The seeds' class worker, as written there.
class SimplePythonWorker(WorkerInterface):
    def execute(self, task: Task) -> TaskResult:
        task_result = self.get_task_result_from_task(task)
        task_result.add_output_data('worker_style', 'class')
        task_result.add_output_data('secret_number', 1234)
        task_result.add_output_data('is_it_true', False)
        task_result.status = TaskResultStatus.COMPLETED
        return task_result

    def get_polling_interval_in_seconds(self) -> float:
        return 0.5


def test_seed_function_worker(mock: Mock) -> None:
    ids = [enqueue_one(mock, "py_fn", {"i": i}) for i in range(5)]
    worker = Worker(task_definition_name='py_fn', execute_function=execute, poll_interval=0.25)
    with running(mock, [worker]):
        for task_id in ids:
            task = ended(mock, task_id)
            assert task["status"] == "COMPLETED"
            assert task["outputData"] == {"worker_style": "function"}
            assert task["workerId"] == "your_custom_id"


def test_seed_class_worker(mock: Mock) -> None:
    ids = [enqueue_one(mock, "py_class", {}) for _ in range(3)]
    with running(mock, [SimplePythonWorker(task_definition_name='py_class')]):
        for task_id in ids:
            task = ended(mock, task_id)
            assert task["status"] == "COMPLETED"
            assert task["outputData"] == {
                "worker_style": "class", "secret_number": 1234, "is_it_true": False}


@dataclass
class Address:
    city: str
    zip: str


@dataclass
class Order:
    id: int
    address: Address
    items: List[str]


@dataclass
class Receipt:
    order_id: int
    city: str
    count: int
    note: str


def test_typed_worker_task_binds_input_and_dataclasses(mock: Mock) -> None:
    decorator._decorated.clear()

    @worker_task(task_definition_name='py_typed', thread_count=2)
    def typed(order: Order, factor: int, note: str = "none") -> Receipt:
        assert isinstance(order, Order) and isinstance(order.address, Address), order
        return Receipt(order.id * factor, order.address.city, len(order.items), note)

    @worker_task(task_definition_name='py_scalar')
    def scalar(n: int, missing: str) -> int:
        return n + (1 if missing is None else 0)

    order = {"id": 21, "address": {"city": "Lyon", "zip": "69001"}, "items": ["a", "b"]}
    typed_id = enqueue_one(mock, "py_typed", {"order": order, "factor": 2})
    scalar_id = enqueue_one(mock, "py_scalar", {"n": 41})
    with running(mock, [], scan=True):
        task = ended(mock, typed_id)
        assert task["status"] == "COMPLETED", task.get("reasonForIncompletion")
        assert task["outputData"] == {"order_id": 42, "city": "Lyon", "count": 2, "note": "none"}
        assert ended(mock, scalar_id)["outputData"] == {"result": 42}
    # The decorated function still runs as a plain function.
    assert scalar(1, "x") == 1
    decorator._decorated.clear()


def test_errors_fail_the_task_terminal_or_with_traceback(mock: Mock) -> None:
    def terminal(task: Task) -> dict:
        raise NonRetryableException("card declined")

    def broken(task: Task) -> dict:
        raise ValueError("no such customer")

    no_retry = {"taskDef": {"retryCount": 0}}
    terminal_id = enqueue_one(mock, "py_terminal", {}, **no_retry)
    broken_id = enqueue_one(mock, "py_broken", {}, **no_retry)
    workers = [Worker("py_terminal", terminal), Worker("py_broken", broken)]
    with running(mock, workers):
        task = ended(mock, terminal_id)
        assert task["status"] == "FAILED_WITH_TERMINAL_ERROR"
        assert task["reasonForIncompletion"] == "card declined"
        task = ended(mock, broken_id)
        assert task["status"] == "FAILED"
        assert task["reasonForIncompletion"] == "no such customer"
    logs = "\n".join(entry["log"] for entry in mock.task_logs(broken_id))
    assert "Traceback" in logs and "ValueError: no such customer" in logs, logs


def test_async_def_workers_run_concurrently_on_the_event_loop(mock: Mock) -> None:
    state = {"running": 0, "most": 0}

    async def slow(n: int) -> dict:
        state["running"] += 1
        state["most"] = max(state["most"], state["running"])
        await asyncio.sleep(0.3)
        state["running"] -= 1
        return {"n": n, "thread": threading.current_thread().name}

    ids = [enqueue_one(mock, "py_async", {"n": i}) for i in range(8)]
    with running(mock, [Worker("py_async", slow, thread_count=8)]):
        for i, task_id in enumerate(ids):
            task = ended(mock, task_id)
            assert task["status"] == "COMPLETED"
            assert task["outputData"] == {"n": i, "thread": "baton-asyncio"}
    assert state["most"] > 1, state


def test_in_progress_with_callback(mock: Mock) -> None:
    def long_running(task: Task):
        if task.poll_count < 2:
            return TaskInProgress(callback_after_seconds=1, output={"polls": task.poll_count})
        return {"polls": task.poll_count, "done": True}

    task_id = enqueue_one(mock, "py_long", {})
    with running(mock, [Worker("py_long", long_running)]):
        task = ended(mock, task_id)
        assert task["status"] == "COMPLETED"
        assert task["outputData"] == {"polls": 2, "done": True}
    assert mock.ledger()["in_progress_updates"] == 1


def test_unserializable_output_becomes_its_text(mock: Mock) -> None:
    class Opaque:
        __slots__ = ()

        def __str__(self) -> str:
            return "opaque!"

    task_id = enqueue_one(mock, "py_opaque", {})
    with running(mock, [Worker("py_opaque", lambda task: Opaque())]):
        task = ended(mock, task_id)
        assert task["status"] == "COMPLETED"
        assert task["outputData"]["result"] == "opaque!"
        assert task["outputData"]["type"] == "Opaque"


def test_a_result_the_engine_cannot_read_fails_the_task(mock: Mock) -> None:
    def bogus(task: Task) -> TaskResult:
        result = TaskResult(task_id=task.task_id, workflow_instance_id=task.workflow_instance_id)
        result.status = "DONE-ISH"
        return result

    task_id = enqueue_one(mock, "py_bogus", {}, taskDef={"retryCount": 0})
    with running(mock, [Worker("py_bogus", bogus)]):
        task = ended(mock, task_id)
        assert task["status"] == "FAILED"
        assert "not a TaskResult" in task["reasonForIncompletion"], task
