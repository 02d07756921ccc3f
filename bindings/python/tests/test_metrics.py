"""Metrics: conductor-python's MetricsSettings (a text file rewritten every update_interval,
or an HTTP port) and CONDUCTOR_METRICS_ADDR, served by the engine's operations endpoint with
conductor-python's canonical names."""

from __future__ import annotations

import os
import re
import socket
import urllib.request
from pathlib import Path
from typing import Optional

from baton_conductor import Configuration, MetricsSettings, Task, TaskHandler, Worker
from mock import Mock, eventually


def sample(text: str, name: str, task_type: str) -> Optional[float]:
    """The value of ``name{taskType="<task_type>"}`` in a Prometheus text rendering."""
    pattern = rf'^{re.escape(name)}\{{taskType="{re.escape(task_type)}"\}} (\S+)$'
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else None


def scrape(addr: str) -> str:
    host, _, port = addr.rpartition(":")
    host = "127.0.0.1" if host == "0.0.0.0" else host
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as answer:
        return answer.read().decode()


def handler_for(mock: Mock, task_type: str, settings: Optional[MetricsSettings]) -> TaskHandler:
    def execute(task: Task) -> dict:
        return {"n": task.input_data.get("n")}

    worker = Worker(task_definition_name=task_type, execute_function=execute)
    return TaskHandler([worker], Configuration(server_api_url=mock.api),
                       metrics_settings=settings, scan_for_annotated_workers=False)


def test_metrics_file_is_written_at_the_update_interval(mock: Mock, tmp_path: Path,
                                                        monkeypatch) -> None:
    monkeypatch.delenv("CONDUCTOR_METRICS_ADDR", raising=False)
    monkeypatch.delenv("WORKER_CANONICAL_METRICS", raising=False)
    directory = tmp_path / "metrics"
    settings = MetricsSettings(directory=str(directory), file_name="worker.prom",
                               update_interval=0.05)
    handler = handler_for(mock, "py_metrics_file", settings)
    handler.start_processes()
    try:
        # The endpoint is on loopback, on a port of its own.
        assert handler.operations_address is not None
        assert handler.operations_address.startswith("127.0.0.1:")
        path = directory / "worker.prom"
        eventually(path.exists, "the metrics file")
        mock.enqueue("py_metrics_file", 5, {"n": 1})

        def five_in_file() -> bool:
            text = path.read_text()
            return sample(text, "task_execution_started_total", "py_metrics_file") == 5
        # Rewritten as tasks run: the count written must reach 5.
        eventually(five_in_file, "5 executions in the metrics file")
        text = path.read_text()
        assert sample(text, "task_poll_total", "py_metrics_file") >= 1
        assert 'task_execute_time_seconds_count{taskType="py_metrics_file",status="COMPLETED"} 5' \
            in text
        assert "# TYPE task_poll_time_seconds histogram" in text
    finally:
        handler.stop_processes()
    assert mock.ledger()["completed"] == 5


def test_canonical_metrics_go_to_the_canonical_subdirectory(tmp_path: Path,
                                                            monkeypatch) -> None:
    monkeypatch.setenv("WORKER_CANONICAL_METRICS", "true")
    settings = MetricsSettings(directory=str(tmp_path))
    assert settings.is_canonical
    assert settings.file_path == os.path.join(str(tmp_path), "canonical", "metrics.log")


def test_conductor_metrics_addr_turns_on_the_endpoint(mock: Mock, monkeypatch) -> None:
    monkeypatch.setenv("CONDUCTOR_METRICS_ADDR", "127.0.0.1:0")
    handler = handler_for(mock, "py_metrics_env", None)
    handler.start_processes()
    try:
        addr = handler.operations_address
        assert addr is not None and addr.startswith("127.0.0.1:")
        mock.enqueue("py_metrics_env", 3, {"n": 2})
        eventually(lambda: sample(scrape(addr), "task_execution_started_total",
                                  "py_metrics_env") == 3, "3 executions scraped")
        text = scrape(addr)
        assert sample(text, "active_workers", "py_metrics_env") is not None
        assert sample(text, "baton_results_given_up_total", "py_metrics_env") == 0
    finally:
        handler.stop_processes()


def test_http_port_serves_the_endpoint_and_writes_no_file(mock: Mock, tmp_path: Path,
                                                          monkeypatch) -> None:
    monkeypatch.delenv("CONDUCTOR_METRICS_ADDR", raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = MetricsSettings(directory=str(tmp_path), http_port=port)
    handler = handler_for(mock, "py_metrics_port", settings)
    handler.start_processes()
    try:
        assert handler.operations_address == f"0.0.0.0:{port}"
        mock.enqueue("py_metrics_port", 2, {"n": 3})
        eventually(lambda: sample(scrape(f"127.0.0.1:{port}"), "task_execution_started_total",
                                  "py_metrics_port") == 2, "2 executions scraped")
    finally:
        handler.stop_processes()
    assert not (tmp_path / "metrics.log").exists()


def test_without_settings_or_variable_there_is_no_endpoint(mock: Mock, monkeypatch) -> None:
    monkeypatch.delenv("CONDUCTOR_METRICS_ADDR", raising=False)
    handler = handler_for(mock, "py_metrics_off", None)
    handler.start_processes()
    try:
        assert handler.operations_address is None
    finally:
        handler.stop_processes()
