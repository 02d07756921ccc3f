"""Unit tests: binding task input to typed parameters, and worker output to JSON values."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from baton_conductor import Task
from baton_conductor._convert import bind_arguments, output_data, sanitize


class Color(enum.Enum):
    RED = "red"


@dataclass
class Item:
    sku: str
    qty: int = 1


@dataclass
class Cart:
    items: List[Item]
    by_name: Dict[str, Item] = field(default_factory=dict)
    color: Optional[Color] = None


def test_nested_dataclasses_lists_dicts_and_enums_are_built_from_input() -> None:
    def f(cart: Cart, n: int, missing: str, default: str = "d"):
        return cart

    args = bind_arguments(f, {"cart": {"items": [{"sku": "a"}, {"sku": "b", "qty": 2}],
                                       "by_name": {"x": {"sku": "x"}}, "color": "red",
                                       "unknown": 1},
                              "n": 3})
    assert args["cart"] == Cart([Item("a"), Item("b", 2)], {"x": Item("x")}, Color.RED)
    assert args["n"] == 3 and args["missing"] is None and args["default"] == "d"


def test_outputs_become_json_objects() -> None:
    assert output_data({"a": 1}) == {"a": 1}
    assert output_data(5) == {"result": 5}
    assert output_data([Item("a")]) == {"result": [{"sku": "a", "qty": 1}]}
    assert output_data(Cart([Item("a")], color=Color.RED)) == {
        "items": [{"sku": "a", "qty": 1}], "by_name": {}, "color": "red"}
    assert sanitize(datetime.date(2026, 1, 2)) == "2026-01-02"
    assert output_data(None) == {"result": None}


def test_task_reads_server_json_with_snake_case_names() -> None:
    task = Task.from_dict({"taskId": "t1", "workflowInstanceId": "w1", "pollCount": 2,
                           "inputData": {"a": 1}, "someNewField": True})
    assert (task.task_id, task.workflow_instance_id, task.poll_count) == ("t1", "w1", 2)
    assert task.input_data == {"a": 1} and task.some_new_field is True
    assert task.domain is None and task.callback_after_seconds is None
