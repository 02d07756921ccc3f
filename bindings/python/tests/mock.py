"""baton-mock as a subprocess, and a small client for its HTTP API (stdlib only)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from typing import Any, Callable, Optional

DEADLINE_SECONDS = 30.0


def eventually(condition: Callable[[], Any], what: str, timeout: float = DEADLINE_SECONDS) -> Any:
    """Polls ``condition`` until it returns something truthy, failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Mock:
    """A running baton-mock on a free port of 127.0.0.1."""

    def __init__(self, binary: str, *args: str):
        self.process = subprocess.Popen(
            [binary, "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.process.stdout.readline().strip() if self.process.stdout else ""
        prefix = "baton-mock listening on "
        if not line.startswith(prefix):
            self.stop()
            raise RuntimeError(f"baton-mock did not start: {line!r}")
        self.api = line[len(prefix):]
        self.root = self.api.removesuffix("/api")

    def stop(self) -> None:
        """Stops the mock."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)

    def request(self, method: str, url: str, body: Any = None) -> Any:
        """One request; the answer decoded as JSON (text when it is not JSON; None if empty)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as answer:
            text = answer.read().decode()
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    def reset(self) -> None:
        """Forgets every task, workflow and definition."""
        self.request("POST", f"{self.root}/admin/reset")

    def enqueue(self, task_type: str, count: int = 1, input: Optional[dict] = None,
                **extra: Any) -> dict:
        """Enqueues ``count`` tasks of ``task_type``."""
        body = {"count": count, "taskType": task_type, "input": input or {}, **extra}
        return self.request("POST", f"{self.root}/admin/enqueue", body)

    def ledger(self) -> dict:
        """The mock's counts of what happened to tasks."""
        return self.request("GET", f"{self.root}/admin/ledger")

    def task(self, task_id: str) -> dict:
        """One task as the server keeps it."""
        return self.request("GET", f"{self.api}/tasks/{task_id}")

    def task_logs(self, task_id: str) -> list:
        """A task's execution logs."""
        return self.request("GET", f"{self.api}/tasks/{task_id}/log") or []

    def define_workflow(self, definition: dict) -> None:
        """Registers (or replaces) a workflow definition."""
        self.request("POST", f"{self.api}/metadata/workflow?overwrite=true", definition)

    def start_workflow(self, name: str, input: dict) -> str:
        """Starts a workflow; its id."""
        return self.request("POST", f"{self.api}/workflow/{name}", input)

    def workflow(self, workflow_id: str) -> dict:
        """A workflow with its tasks."""
        return self.request("GET", f"{self.api}/workflow/{workflow_id}?includeTasks=true")


def mock_binary() -> str:
    """The baton-mock binary: ``BATON_MOCK_BIN``, else the debug build of the target dir."""
    if "BATON_MOCK_BIN" in os.environ:
        return os.environ["BATON_MOCK_BIN"]
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(here, "..", "..", "..", "target"))
    return os.path.join(target, "debug", "baton-mock")
