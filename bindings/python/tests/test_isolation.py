"""Process isolation: each worker in OS processes of its own (a new interpreter, never a
fork), a dead process's tasks posted FAILED with the cause and the process restarted, and
SIGTERM draining every process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from mock import Mock, eventually

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs",
                       "isolated_workers.py")


def start(mock: Mock, *args: str, env: dict | None = None) -> subprocess.Popen:
    program = subprocess.Popen(
        [sys.executable, PROGRAM, mock.api, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CONDUCTOR_WORKER_ALL_PROCESS_RESTART_DELAY": "100", **(env or {})},
    )
    line = program.stdout.readline() if program.stdout else ""
    assert line.startswith("supervisor "), (line, program.stderr.read() if program.stderr else "")
    return program


def stop(program: subprocess.Popen) -> str:
    program.send_signal(signal.SIGTERM)
    try:
        out, err = program.communicate(timeout=60)
    finally:
        program.kill()
    assert program.returncode == 0, err
    assert "drained" in out
    return err


def ended(mock: Mock, task_id: str) -> dict:
    def check():
        task = mock.task(task_id)
        return task if task["status"] not in ("SCHEDULED", "IN_PROGRESS") else None
    return eventually(check, f"task {task_id} to end")


def test_each_worker_runs_in_a_process_of_its_own(mock: Mock) -> None:
    program = start(mock, env={"CONDUCTOR_WORKER_ISOLATION": "process"})
    try:
        pid_ids = [mock.enqueue("py_iso_pid", 1, {})["firstTaskId"] for _ in range(4)]
        crash_id = mock.enqueue("py_iso_crash", 1, {})["firstTaskId"]
        pid_tasks = [ended(mock, i) for i in pid_ids]
        crash_task = ended(mock, crash_id)
    finally:
        stop(program)
    assert all(t["status"] == "COMPLETED" for t in pid_tasks + [crash_task])
    pids = {t["outputData"]["pid"] for t in pid_tasks}
    parents = {t["outputData"]["parent"] for t in pid_tasks}
    # One process for the worker, a child of the supervising program, which executes nothing.
    assert len(pids) == 1 and parents == {program.pid}, (pids, parents)
    assert program.pid not in pids
    assert crash_task["outputData"]["pid"] not in pids | {program.pid}


def test_a_dead_process_fails_its_tasks_and_is_restarted(mock: Mock, tmp_path: Path) -> None:
    marker = tmp_path / "crashed"
    program = start(mock, "--isolation", "process")
    try:
        # Three slow tasks in hand, then one that aborts the process holding all four.
        slow = [mock.enqueue("py_iso_crash", 1, {"sleep": 5})["firstTaskId"] for _ in range(3)]
        eventually(lambda: mock.ledger()["handed_out"] == 3, "3 slow tasks handed out")
        crash = mock.enqueue("py_iso_crash", 1, {"crash": True, "marker": str(marker)})
        held = [ended(mock, i) for i in slow + [crash["firstTaskId"]]]
        # The restarted process takes new work.
        after = mock.enqueue("py_iso_crash", 1, {})["firstTaskId"]
        done = ended(mock, after)
    finally:
        stop(program)
    assert marker.exists()
    for task in held:
        assert task["status"] == "FAILED", task
        assert "worker process exited" in task["reasonForIncompletion"], task
        assert "SIGABRT" in task["reasonForIncompletion"], task
    assert done["status"] == "COMPLETED"
    assert done["outputData"]["pid"] != int(marker.read_text())


def test_thread_isolation_is_one_process(mock: Mock) -> None:
    program = start(mock, "--isolation", "thread")
    try:
        task_id = mock.enqueue("py_iso_pid", 1, {})["firstTaskId"]
        task = ended(mock, task_id)
    finally:
        stop(program)
    assert task["outputData"]["pid"] == program.pid
