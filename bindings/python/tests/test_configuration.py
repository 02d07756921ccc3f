"""Configuration parity: swift-conductor-client's worker.ini and environment examples and
conductor-python 2.0.0's environment spellings, resolved by Baton's configuration (environment
over worker.ini over the Worker arguments), read back as the effective settings.

Each case runs a small program in a fresh working directory (where ``worker.ini`` is looked
for) with an environment holding only the variables the case sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Dict, List, Optional

from baton_conductor import Configuration, Task, TaskHandler, Worker
from mock import Mock, eventually

# swift-conductor-client's example file (its worker docs, "Example File"), verbatim.
SWIFT_WORKER_INI = """\
[DEFAULT]
domain = nice
polling_interval = 2000

[python_annotated_task_1]
domain = cool
polling_interval = 500

[python_annotated_task_2]
domain = hot
polling_interval = 300
"""

# swift-conductor-client's environment example ("Using Environment Variables"), verbatim.
SWIFT_ENV = {
    "conductor_worker_polling_interval": "2000",
    "conductor_worker_domain": "nice",
    "conductor_worker_python_annotated_task_1_polling_interval": "500",
    "conductor_worker_python_annotated_task_1_domain": "cool",
    "conductor_worker_python_annotated_task_2_polling_interval": "300",
    "conductor_worker_python_annotated_task_2_domain": "hot",
}

# Workers as the seeds write them: code values that the file and the environment override
# (domain 'test' and poll_interval 250 as in swift-conductor-client's WorkerImpl example).
PROGRAM = textwrap.dedent("""
    import json
    from baton_conductor import Task, TaskHandler, TaskResult, Worker, WorkerInterface

    class SimplePythonWorker(WorkerInterface):
        def execute(self, task: Task) -> TaskResult:
            return self.get_task_result_from_task(task)

        def get_polling_interval_in_seconds(self) -> float:
            # poll every 500ms
            return 0.5

    def execute(task):
        return {}

    workers = [
        Worker(task_definition_name="python_annotated_task_1", execute_function=execute,
               poll_interval=250, domain="test"),
        Worker(task_definition_name="python_annotated_task_2", execute_function=execute,
               poll_interval=250, domain="test"),
        SimplePythonWorker(task_definition_name="python_task_example"),
        Worker(task_definition_name="process_order", execute_function=execute,
               poll_interval=1000, domain="dev", thread_count=2),
    ]
    handler = TaskHandler(workers, scan_for_annotated_workers=False)
    print(json.dumps(handler.worker_settings()))
""")


def effective(tmp_path: Path, env: Dict[str, str], ini: Optional[str] = None) -> Dict[str, dict]:
    """The program's effective settings by task type, with ``env`` (and nothing else of the
    worker settings) in the environment and ``ini`` as ./worker.ini."""
    if ini is not None:
        (tmp_path / "worker.ini").write_text(ini)
    base = {k: v for k, v in os.environ.items()
            if not k.lower().startswith(("conductor_worker", "conductor.worker"))}
    done = subprocess.run([sys.executable, "-c", PROGRAM], cwd=tmp_path, env={**base, **env},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    settings: List[dict] = json.loads(done.stdout)
    return {s["task_type"]: s for s in settings}


def test_code_values_without_file_or_environment(tmp_path: Path) -> None:
    s = effective(tmp_path, {})
    one = s["python_annotated_task_1"]
    assert (one["domain"], one["polling_interval"]) == ("test", 250)
    assert one["sources"]["domain"] == "code" and one["sources"]["polling_interval"] == "code"
    # A WorkerInterface's get_polling_interval_in_seconds is its code value.
    assert s["python_task_example"]["polling_interval"] == 500
    assert s["python_task_example"]["domain"] is None
    assert s["process_order"]["concurrency"] == 2


def test_swift_worker_ini_overrides_code(tmp_path: Path) -> None:
    s = effective(tmp_path, {}, SWIFT_WORKER_INI)
    assert (s["python_annotated_task_1"]["domain"],
            s["python_annotated_task_1"]["polling_interval"]) == ("cool", 500)
    assert (s["python_annotated_task_2"]["domain"],
            s["python_annotated_task_2"]["polling_interval"]) == ("hot", 300)
    # No section of its own: [DEFAULT] applies.
    assert (s["python_task_example"]["domain"],
            s["python_task_example"]["polling_interval"]) == ("nice", 2000)
    assert "[python_annotated_task_1]" in s["python_annotated_task_1"]["sources"]["domain"]
    assert "[DEFAULT]" in s["python_task_example"]["sources"]["polling_interval"]
    # What the file does not set stays the code's.
    assert s["process_order"]["concurrency"] == 2


def test_swift_environment_example(tmp_path: Path) -> None:
    s = effective(tmp_path, SWIFT_ENV)
    assert (s["python_annotated_task_1"]["domain"],
            s["python_annotated_task_1"]["polling_interval"]) == ("cool", 500)
    assert (s["python_annotated_task_2"]["domain"],
            s["python_annotated_task_2"]["polling_interval"]) == ("hot", 300)
    assert (s["python_task_example"]["domain"],
            s["python_task_example"]["polling_interval"]) == ("nice", 2000)
    assert s["python_annotated_task_1"]["sources"]["domain"] == \
        "env:conductor_worker_python_annotated_task_1_domain"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {"conductor_worker_python_annotated_task_1_domain": "from_env",
           "CONDUCTOR_WORKER_POLLING_INTERVAL": "700"}
    s = effective(tmp_path, env, SWIFT_WORKER_INI)
    one = s["python_annotated_task_1"]
    # Per-task variable over [task]; a global variable still beats any file value.
    assert one["domain"] == "from_env"
    assert one["polling_interval"] == 700
    assert s["python_annotated_task_2"]["domain"] == "hot"
    assert s["python_task_example"]["domain"] == "nice"


def test_conductor_python_spellings(tmp_path: Path) -> None:
    # The spellings conductor-python 2.0.0 reads (worker_config.py), strongest first:
    # conductor.worker.<task>.<prop>, conductor_worker_<task>_<prop>,
    # CONDUCTOR_WORKER_<TASK>_<PROP> (also the task as written, and POLLING_INTERVAL),
    # conductor.worker.all.<prop>, CONDUCTOR_WORKER_ALL_<PROP>, conductor_worker_<prop>,
    # CONDUCTOR_WORKER_<PROP>.
    env = {
        # The docstring's example: poll_interval=500 for all, domain 'production' for one.
        "conductor.worker.all.poll_interval": "500",
        "conductor.worker.process_order.domain": "production",
        # A weaker spelling of the same property loses to the dotted per-task one.
        "conductor_worker_process_order_domain": "loses",
        "CONDUCTOR_WORKER_ALL_THREAD_COUNT": "3",
        "CONDUCTOR_WORKER_PYTHON_ANNOTATED_TASK_2_POLLING_INTERVAL": "42",
        "CONDUCTOR_WORKER_python_annotated_task_1_PAUSED": "true",
        "CONDUCTOR_WORKER_DOMAIN": "global_upper",
    }
    s = effective(tmp_path, env)
    order = s["process_order"]
    assert order["domain"] == "production"
    assert order["sources"]["domain"] == "env:conductor.worker.process_order.domain"
    assert order["polling_interval"] == 500
    assert order["concurrency"] == 3 and order["batch_size"] == 3
    assert s["python_annotated_task_2"]["polling_interval"] == 42
    assert s["python_annotated_task_1"]["paused"] is True
    assert s["python_annotated_task_2"]["paused"] is False
    assert s["python_task_example"]["domain"] == "global_upper"


def test_an_invalid_value_is_refused_with_its_variable(tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(PROGRAM)
    env = {**os.environ, "conductor_worker_python_task_example_thread_count": "zero"}
    done = subprocess.run([sys.executable, "prog.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "conductor_worker_python_task_example_thread_count" in done.stderr


def test_threads_follow_the_resolved_concurrency(mock: Mock, monkeypatch) -> None:
    # thread_count=1 in code, 3 from the environment: three tasks must run at once.
    monkeypatch.setenv("conductor_worker_py_conc_thread_count", "3")
    mock.enqueue("py_conc", 3, {})
    barrier = threading.Barrier(3, timeout=20)

    def wait_for_all_three(task: Task) -> dict:
        barrier.wait()
        return {"ok": True}

    worker = Worker(task_definition_name="py_conc", execute_function=wait_for_all_three,
                    thread_count=1)
    handler = TaskHandler([worker], Configuration(server_api_url=mock.api),
                          scan_for_annotated_workers=False)
    handler.start_processes()
    try:
        assert handler.worker_settings()[0]["concurrency"] == 3
        eventually(lambda: mock.ledger()["completed"] == 3, "3 tasks completed together")
    finally:
        handler.stop_processes()
    assert mock.ledger()["failed"] == 0
