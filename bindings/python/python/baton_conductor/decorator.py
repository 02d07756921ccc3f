"""The ``worker_task`` decorator: a function becomes a worker that ``TaskHandler`` finds."""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional, Tuple

# (task type, domain) -> the Worker settings given to the decorator.
_decorated: Dict[Tuple[str, Optional[str]], Dict[str, Any]] = {}


def decorated_workers() -> List[Any]:
    """A ``Worker`` for every decorated function, in the order they were decorated."""
    from baton_conductor.worker import Worker

    return [Worker(**settings) for settings in _decorated.values()]


def worker_task(
    task_definition_name: str,
    poll_interval_millis: int = 100,
    domain: Optional[str] = None,
    worker_id: Optional[str] = None,
    thread_count: int = 1,
    register_task_def: bool = False,
    poll_timeout: int = 100,
    lease_extend_enabled: bool = False,
    task_def: Any = None,
    overwrite_task_def: bool = True,
    strict_schema: bool = False,
    register_schema: Optional[bool] = None,
) -> Callable[[Callable], Callable]:
    """Registers the decorated function as the worker for ``task_definition_name``; its
    parameters are bound from the task's input by name (and converted by type hint)."""

    def register(function: Callable) -> Callable:
        _decorated[(task_definition_name, domain)] = {
            "task_definition_name": task_definition_name,
            "execute_function": function,
            "poll_interval": poll_interval_millis,
            "domain": domain,
            "worker_id": worker_id,
            "thread_count": thread_count,
            "register_task_def": register_task_def,
            "poll_timeout": poll_timeout,
            "lease_extend_enabled": lease_extend_enabled,
            "task_def_template": task_def,
            "overwrite_task_def": overwrite_task_def,
            "strict_schema": strict_schema,
            "register_schema": bool(register_schema),
        }

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

        return call

    return register


def WorkerTask(  # noqa: N802 - conductor-python's older name
    task_definition_name: str,
    poll_interval: int = 100,
    domain: Optional[str] = None,
    worker_id: Optional[str] = None,
    poll_interval_seconds: int = 0,
    thread_count: int = 1,
    register_task_def: bool = False,
    poll_timeout: int = 100,
    lease_extend_enabled: bool = False,
) -> Callable[[Callable], Callable]:
    """The older decorator: ``poll_interval_seconds``, when given, wins over milliseconds."""
    millis = poll_interval_seconds * 1000 if poll_interval_seconds else poll_interval
    return worker_task(task_definition_name, millis, domain, worker_id, thread_count,
                       register_task_def, poll_timeout, lease_extend_enabled)
