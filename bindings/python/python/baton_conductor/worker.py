"""``WorkerInterface`` and ``Worker``: what executes a task, as in conductor-python."""

from __future__ import annotations

import abc
import inspect
import socket
import time
import traceback
from typing import Any, Callable, Optional, Union

from baton_conductor import _convert
from baton_conductor.exception import NonRetryableException
from baton_conductor.task import Task
from baton_conductor.task_result import TaskExecLog, TaskInProgress, TaskResult, TaskResultStatus

DEFAULT_POLLING_INTERVAL = 100  # ms


class WorkerInterface(abc.ABC):
    """A worker for one task type (or several: a list of names). Override ``execute``; every
    ``get_*`` method and attribute may be overridden too."""

    def __init__(self, task_definition_name: Union[str, list]):
        self.task_definition_name = task_definition_name
        self.next_task_index = 0
        self._task_definition_name_cache = None
        self._domain = None
        self._poll_interval = DEFAULT_POLLING_INTERVAL
        self.thread_count = 1
        self.register_task_def = False
        self.poll_timeout = 100  # ms
        self.lease_extend_enabled = False
        self.overwrite_task_def = True
        self.strict_schema = False
        self.paused = False

    @abc.abstractmethod
    def execute(self, task: Task) -> TaskResult:
        """Executes ``task``; ``async def`` overrides run on the event loop."""

    def get_identity(self) -> str:
        """The worker id reported with results: the host name."""
        return socket.gethostname()

    def get_polling_interval_in_seconds(self) -> float:
        """How long to wait between polls that found nothing."""
        return (self.poll_interval if self.poll_interval else DEFAULT_POLLING_INTERVAL) / 1000

    def get_task_definition_name(self) -> str:
        """The task type (rotating through a list of them)."""
        return self.task_definition_name_cache

    @property
    def task_definition_names(self) -> list:
        """Every task type this worker executes."""
        if isinstance(self.task_definition_name, list):
            return self.task_definition_name
        return [self.task_definition_name]

    @property
    def task_definition_name_cache(self) -> str:
        """The current task type, computed once."""
        if self._task_definition_name_cache is None:
            self._task_definition_name_cache = self.compute_task_definition_name()
        return self._task_definition_name_cache

    def clear_task_definition_name_cache(self) -> None:
        """Forgets the current task type."""
        self._task_definition_name_cache = None

    def compute_task_definition_name(self) -> str:
        """The next task type of a list, or the one task type."""
        if isinstance(self.task_definition_name, list):
            name = self.task_definition_name[self.next_task_index]
            self.next_task_index = (self.next_task_index + 1) % len(self.task_definition_name)
            return name
        return self.task_definition_name

    def get_task_result_from_task(self, task: Task) -> TaskResult:
        """An empty result for ``task``, carrying its ids and this worker's identity."""
        return TaskResult(
            task_id=task.task_id,
            workflow_instance_id=task.workflow_instance_id,
            worker_id=self.get_identity(),
        )

    def get_domain(self) -> Optional[str]:
        """The task domain polled (``None``: no domain)."""
        return self.domain

    def is_paused(self) -> bool:
        """Whether the worker starts paused (not polling)."""
        return bool(getattr(self, "paused", False))

    @property
    def domain(self) -> Optional[str]:
        """The task domain polled."""
        return self._domain

    @domain.setter
    def domain(self, value: Optional[str]) -> None:
        self._domain = value

    @property
    def poll_interval(self) -> float:
        """Milliseconds between polls that found nothing."""
        return self._poll_interval

    @poll_interval.setter
    def poll_interval(self, value: float) -> None:
        self._poll_interval = value


def result_for(worker: WorkerInterface, task: Task, output: Any) -> TaskResult:
    """What a worker returned, as the result to post."""
    if isinstance(output, TaskResult):
        output.task_id = task.task_id
        output.workflow_instance_id = task.workflow_instance_id
        if output.worker_id is None:
            output.worker_id = worker.get_identity()
        if output.status is None:
            output.status = TaskResultStatus.COMPLETED
        if output.output_data is not None and not isinstance(output.output_data, dict):
            output.output_data = _convert.output_data(output.output_data)
        elif output.output_data is not None:
            output.output_data = _convert.sanitize(output.output_data)
        return output
    result = worker.get_task_result_from_task(task)
    if isinstance(output, TaskInProgress):
        result.status = TaskResultStatus.IN_PROGRESS
        result.callback_after_seconds = output.callback_after_seconds
        result.output_data = _convert.output_data(output.output)
    else:
        result.status = TaskResultStatus.COMPLETED
        result.output_data = _convert.output_data(output)
    return result


def failure_for(worker: WorkerInterface, task: Task, error: BaseException) -> TaskResult:
    """What a worker raised, as the result to post: ``NonRetryableException`` fails the task
    for good; anything else fails it (retried as its definition says) with the traceback in
    its logs."""
    result = worker.get_task_result_from_task(task)
    if isinstance(error, NonRetryableException):
        result.status = TaskResultStatus.FAILED_WITH_TERMINAL_ERROR
    else:
        result.status = TaskResultStatus.FAILED
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        result.logs = [TaskExecLog(trace, task.task_id, int(time.time()))]
    if error.args:
        result.reason_for_incompletion = str(error.args[0])
    return result


def _takes_task(function: Callable) -> bool:
    """Whether ``function`` takes the whole Task (one parameter, typed Task or untyped)."""
    parameters = inspect.signature(function).parameters
    if len(parameters) != 1:
        return False
    (parameter,) = parameters.values()
    return parameter.annotation in (Task, parameter.empty, object, "Task")


class Worker(WorkerInterface):
    """A worker around a function: it takes the ``Task``, or its input fields by name."""

    def __init__(
        self,
        task_definition_name: str,
        execute_function: Callable,
        poll_interval: Optional[float] = None,
        domain: Optional[str] = None,
        worker_id: Optional[str] = None,
        thread_count: int = 1,
        register_task_def: bool = False,
        poll_timeout: int = 100,
        lease_extend_enabled: bool = False,
        paused: bool = False,
        task_def_template: Any = None,
        overwrite_task_def: bool = True,
        strict_schema: bool = False,
        register_schema: bool = False,
    ):
        super().__init__(task_definition_name)
        self.poll_interval = DEFAULT_POLLING_INTERVAL if poll_interval is None else poll_interval
        self.domain = domain
        self.worker_id = super().get_identity() if worker_id is None else worker_id
        self.execute_function = execute_function
        self.thread_count = thread_count
        self.register_task_def = register_task_def
        self.poll_timeout = poll_timeout
        self.lease_extend_enabled = lease_extend_enabled
        self.paused = paused
        self.task_def_template = task_def_template
        self.overwrite_task_def = overwrite_task_def
        self.strict_schema = strict_schema
        self.register_schema = register_schema

    @property
    def execute_function(self) -> Callable:
        """The function executed."""
        return self._execute_function

    @execute_function.setter
    def execute_function(self, function: Callable) -> None:
        self._execute_function = function
        self._takes_task = _takes_task(function)

    def get_identity(self) -> str:
        """The worker id reported with results."""
        return self.worker_id

    def execute(self, task: Task) -> Any:
        """Runs the function on ``task``: a TaskResult, or for an ``async def`` function a
        coroutine that produces one."""
        try:
            if self._takes_task:
                output = self.execute_function(task)
            else:
                arguments = _convert.bind_arguments(self.execute_function, task.input_data or {})
                output = self.execute_function(**arguments)
        except Exception as error:  # noqa: BLE001 - every failure becomes a FAILED result
            return failure_for(self, task, error)
        if inspect.iscoroutine(output):
            return self._finish(task, output)
        return result_for(self, task, output)

    async def _finish(self, task: Task, coroutine: Any) -> TaskResult:
        try:
            output = await coroutine
        except Exception as error:  # noqa: BLE001 - every failure becomes a FAILED result
            return failure_for(self, task, error)
        return result_for(self, task, output)
