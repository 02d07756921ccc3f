#!/usr/bin/env python3
"""A CPU-bound Python worker on baton_conductor: one process (threads share the GIL) against
worker processes (``CONDUCTOR_WORKER_ISOLATION=process``), to show throughput scaling with
processes on the machine's cores.

Each configuration gets a fresh ``baton-mock`` (release build) with ``--tasks`` queued
``cpu_burn`` tasks; the worker program (this file with ``--worker``) runs ``--loops`` × 1000
iterations of pure-Python arithmetic per task (a fixed amount of work: about 5 ms of one core
for the default 45 on the development machine). After ``--warmup`` seconds it counts completed tasks over
``--seconds``. Run with a Python that has the wheel installed:

    cargo build --release -p baton-mock
    python bindings/python/bench/cpu_bound.py --mock target/release/baton-mock
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

TASK_TYPE = "cpu_burn"


def burn(loops: int) -> int:
    """``loops`` × 1000 iterations of pure-Python arithmetic (holds the GIL throughout)."""
    n = 0
    for _ in range(loops):
        for i in range(1000):
            n = (n * 31 + i) % 1_000_003
    return n


def run_worker(threads: int, loops: int) -> None:
    """The worker program: one worker of ``threads`` threads (per process)."""
    from baton_conductor import Task, TaskHandler, Worker

    def execute(task: Task) -> dict:
        return {"n": burn(loops)}

    worker = Worker(TASK_TYPE, execute, poll_interval=1, thread_count=threads)
    with TaskHandler([worker], scan_for_annotated_workers=False) as handler:
        handler.start_processes()
        handler.join_processes()


def request(url: str, body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as answer:
        text = answer.read().decode()
    return json.loads(text) if text else None


def measure(mock_bin: str, label: str, env: dict, threads: int, args) -> float:
    """Tasks per second of one configuration."""
    mock = subprocess.Popen([mock_bin, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    program = None
    try:
        api = mock.stdout.readline().strip().removeprefix("baton-mock listening on ")
        root = api.removesuffix("/api")
        request(f"{root}/admin/enqueue", {"count": args.tasks, "taskType": TASK_TYPE,
                                          "input": {}})
        program = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", "--threads", str(threads),
             "--loops", str(args.loops)],
            env={**os.environ, "CONDUCTOR_SERVER_URL": api, **env},
        )
        time.sleep(args.warmup)
        start = request(f"{root}/admin/ledger")["completed"]
        began = time.monotonic()
        time.sleep(args.seconds)
        done = request(f"{root}/admin/ledger")["completed"] - start
        rate = done / (time.monotonic() - began)
        print(f"{label}: {rate:.1f} tasks/s ({done} tasks)", flush=True)
        return rate
    finally:
        if program is not None:
            program.send_signal(signal.SIGTERM)
            program.wait(timeout=60)
        mock.send_signal(signal.SIGTERM)
        mock.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--mock", default="target/release/baton-mock")
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--loops", type=int, default=45)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.threads, args.loops)
        return
    p = args.processes
    configs = [
        ("1 process x 1 thread", {}, 1),
        (f"1 process x {p} threads (one GIL)", {}, p),
        (f"{p} worker processes x 1 thread", {
            "CONDUCTOR_WORKER_ISOLATION": "process",
            f"CONDUCTOR_WORKER_{TASK_TYPE.upper()}_PROCESSES": str(p),
        }, 1),
    ]
    for label, env, threads in configs:
        measure(args.mock, label, env, threads, args)


if __name__ == "__main__":
    main()
