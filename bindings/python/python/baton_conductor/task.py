"""``Task``: a polled task, with conductor-python's snake_case attribute names."""

from __future__ import annotations

import re
from typing import Any, Dict

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

# The attributes every Task has, None unless the server sent them.
_FIELDS = (
    "task_type", "status", "input_data", "reference_task_name", "retry_count", "seq",
    "correlation_id", "poll_count", "task_def_name", "scheduled_time", "start_time",
    "end_time", "update_time", "start_delay_in_seconds", "retried_task_id", "retried",
    "executed", "callback_from_worker", "response_timeout_seconds", "workflow_instance_id",
    "workflow_type", "task_id", "reason_for_incompletion", "callback_after_seconds",
    "worker_id", "output_data", "workflow_task", "domain", "rate_limit_per_frequency",
    "rate_limit_frequency_in_seconds", "external_input_payload_storage_path",
    "external_output_payload_storage_path", "workflow_priority", "execution_name_space",
    "isolation_group_id", "iteration", "sub_workflow_id", "subworkflow_changed",
    "loop_over_task", "task_definition", "queue_wait_time", "first_start_time",
    "parent_task_id",
)
_FIELD_SET = frozenset(_FIELDS)


# camelCase name -> snake_case name, filled as names are met (the server's are few).
_SNAKE: Dict[str, str] = {}


def _snake(name: str) -> str:
    snake = _SNAKE.get(name)
    if snake is None:
        snake = _SNAKE[name] = _CAMEL.sub("_", name).lower()
    return snake


class Task:
    """A task as polled. Keyword arguments set attributes (``task_id=...``); every field of
    the server's Task reads as ``None`` when it was not sent."""

    def __init__(self, **kwargs: Any):
        self.input_data = {}
        self.output_data = {}
        self.__dict__.update(kwargs)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Task":
        """A Task from the server's JSON object (camelCase keys)."""
        snake = _SNAKE
        return cls(**{snake.get(k) or _snake(k): v for k, v in data.items()})

    def to_dict(self) -> Dict[str, Any]:
        """The task's attributes, snake_case."""
        return dict(vars(self))

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not set: the server's fields default to None.
        if name in _FIELD_SET:
            return None
        raise AttributeError(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"Task(task_id={self.task_id!r}, task_def_name={self.task_def_name!r})"
