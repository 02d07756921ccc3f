"""Whole programs: SIGTERM drains, and one program gives the same workflow outputs under
conductor-python 2.0.0 and under baton_conductor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from mock import Mock, eventually

PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs")
WORKFLOWS = 20


def test_sigterm_drains_the_tasks_in_hand(mock: Mock) -> None:
    mock.enqueue("py_drain", 8, {})
    program = subprocess.Popen(
        [sys.executable, os.path.join(PROGRAMS, "drain_worker.py"), mock.api],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # 4 slots: 4 tasks in hand, 4 left queued.
        eventually(lambda: mock.ledger()["handed_out"] == 4, "4 tasks handed out")
        program.send_signal(signal.SIGTERM)
        out, err = program.communicate(timeout=30)
    finally:
        program.kill()
    assert program.returncode == 0, err
    assert "drained" in out
    ledger = mock.ledger()
    assert ledger["handed_out"] == 4, ledger
    assert ledger["completed"] == 4, ledger
    assert ledger["lost"] == 0 and ledger["in_flight"] == 0, ledger
    assert ledger["queued"] == 4, ledger


def _run_pipeline(mock: Mock, sdk: str) -> list:
    mock.reset()
    mock.define_workflow({
        "name": "py_pipeline", "ownerEmail": "tests@baton.invalid",
        "tasks": [
            {"name": "py_pipe_double", "taskReferenceName": "d",
             "inputParameters": {"n": "${workflow.input.n}", "tag": "${workflow.input.tag}"}},
            {"name": "py_pipe_describe", "taskReferenceName": "c",
             "inputParameters": {"tag": "${workflow.input.tag}",
                                 "doubled": "${d.output.doubled}"}},
            {"name": "py_pipe_summary", "taskReferenceName": "s",
             "inputParameters": {"text": "${c.output.text}"}},
        ],
        "outputParameters": {"doubled": "${d.output.doubled}", "tags": "${d.output.tags}",
                             "nested": "${c.output.nested}", "summary": "${s.output}"},
    })
    env = dict(os.environ, SDK=sdk, CONDUCTOR_SERVER_URL=mock.api)
    program = subprocess.Popen(
        [sys.executable, os.path.join(PROGRAMS, "pipeline.py")], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        ids = [mock.start_workflow("py_pipeline", {"n": n, "tag": f"t{n}"})
               for n in range(WORKFLOWS)]
        workflows = [
            eventually(lambda i=i: (w := mock.workflow(i))["status"] != "RUNNING" and w,
                       f"{sdk}: workflow {i} to end", timeout=60)
            for i in ids
        ]
    finally:
        os.killpg(program.pid, signal.SIGTERM)
        try:
            program.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(program.pid, signal.SIGKILL)
            program.wait()
    return [(w["status"], w["output"]) for w in workflows]


def test_same_workflow_outputs_as_conductor_python(mock: Mock) -> None:
    baton = _run_pipeline(mock, "baton_conductor")
    conductor = _run_pipeline(mock, "conductor-python")
    assert baton[0] == ("COMPLETED", {
        "doubled": 0, "tags": ["x", "t0"], "nested": {"ok": True, "none": None, "pi": 3.25},
        "summary": {"text": "T0=0", "length": 6}})
    assert baton == conductor
