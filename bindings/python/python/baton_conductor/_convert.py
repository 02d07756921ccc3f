"""Task input into typed function arguments, and worker output into JSON-ready values."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import typing
from typing import Any, Callable, Dict

# Types handed over as the JSON value is, as conductor-python does.
SIMPLE_TYPES = {int, float, str, bool, datetime.date, datetime.datetime, object}


def _hints(obj: Any) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(obj)
    except Exception:  # noqa: BLE001 - unresolvable annotations: take them as written
        return dict(getattr(obj, "__annotations__", {}))


def convert(typ: Any, value: Any) -> Any:
    """``value`` (decoded JSON) as an instance of ``typ``, as far as the hint says how."""
    if value is None or typ in SIMPLE_TYPES or typ is inspect.Parameter.empty or typ is Any:
        return value
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin is typing.Union:
        concrete = [a for a in args if a is not type(None)]
        return convert(concrete[0], value) if len(concrete) == 1 else value
    if origin in (list, set, tuple, frozenset) and isinstance(value, list):
        item = args[0] if args else Any
        return origin(convert(item, v) for v in value)
    if origin is dict and isinstance(value, dict):
        item = args[1] if len(args) == 2 else Any
        return {k: convert(item, v) for k, v in value.items()}
    if isinstance(typ, type) and isinstance(value, dict):
        if dataclasses.is_dataclass(typ):
            hints = _hints(typ)
            names = {f.name for f in dataclasses.fields(typ) if f.init}
            return typ(**{k: convert(hints.get(k, Any), v) for k, v in value.items() if k in names})
        if typ is not dict:
            hints = _hints(typ.__init__)
            params = inspect.signature(typ).parameters
            return typ(**{k: convert(hints.get(k, Any), v) for k, v in value.items() if k in params})
    if isinstance(typ, type) and issubclass(typ, enum.Enum):
        return typ(value)
    return value


def bind_arguments(function: Callable, input_data: Dict[str, Any]) -> Dict[str, Any]:
    """The keyword arguments for ``function``: each parameter from the input field of its name
    (converted by its type hint), else its default, else ``None``."""
    hints = _hints(function)
    arguments = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if name in input_data:
            arguments[name] = convert(hints.get(name, parameter.annotation), input_data[name])
        elif parameter.default is not inspect.Parameter.empty:
            arguments[name] = parameter.default
        else:
            arguments[name] = None
    return arguments


def sanitize(value: Any) -> Any:
    """``value`` as plain JSON values: dataclasses, models with ``to_dict``, enums, dates and
    plain objects included."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, enum.Enum):
        return sanitize(value.value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [sanitize(v) for v in value]
    if isinstance(value, dict):
        return {str(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sanitize(dataclasses.asdict(value))
    if hasattr(value, "to_dict"):
        return sanitize(value.to_dict())
    if hasattr(value, "__dict__"):
        return sanitize({k: v for k, v in vars(value).items() if not k.startswith("_")})
    raise TypeError(f"{type(value).__name__} is not serializable")


def output_data(value: Any) -> Dict[str, Any]:
    """A worker's return value as a task's ``outputData``: an object as is, anything else
    under ``result``; what cannot be serialized becomes its text, as conductor-python does."""
    try:
        data = sanitize(value)
    except (RecursionError, TypeError, AttributeError):
        return {
            "result": str(value),
            "type": type(value).__name__,
            "error": "Object could not be serialized. Please return JSON-serializable data.",
        }
    return data if isinstance(data, dict) else {"result": data}
