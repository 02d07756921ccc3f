#!/usr/bin/env python3
"""A no-op Python worker on baton_conductor beside conductor-python 2.0.0, same run.

Each run gets a fresh ``baton-mock --no-update-v2`` (release build) with 1,000,000 queued
``noop`` tasks and one worker program (python_noop_worker.py, same text for both SDKs); after
``--warmup`` seconds it counts completed tasks over ``--seconds``, the CPU (utime + stime) of
the program's whole process tree over that window, and the tree's PSS at its end. Rounds are
interleaved. Run with a Python that has both packages installed:

    cargo build --release -p baton-mock
    python -m pip install ./bindings/python conductor-python==2.0.0
    python bench/scripts/python_vs_conductor_python.py [--rounds 3]
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TICKS = os.sysconf("SC_CLK_TCK")

# (label, SDK, Worker objects, threads each)
CONFIGS = [
    ("conductor-python 2.0.0, 2 processes x 1 thread", "conductor-python", 2, 1),
    ("baton_conductor, same program (2 workers x 1 thread, one process)", "baton", 2, 1),
    ("baton_conductor, 1 worker x 8 threads", "baton", 1, 8),
]


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICKS


def pss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def completed(root: str) -> int:
    with urllib.request.urlopen(f"{root}/admin/ledger", timeout=10) as answer:
        return json.load(answer)["completed"]


def run(mock_bin: str, label: str, sdk: str, workers: int, threads: int, warmup: float,
        seconds: float) -> None:
    mock = subprocess.Popen([mock_bin, "--port", "0", "--no-update-v2"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    api = mock.stdout.readline().strip().removeprefix("baton-mock listening on ")
    root = api.removesuffix("/api")
    body = json.dumps({"count": 1_000_000, "taskType": "noop"}).encode()
    request = urllib.request.Request(f"{root}/admin/enqueue", data=body, method="POST",
                                     headers={"content-type": "application/json"})
    urllib.request.urlopen(request, timeout=60).read()
    env = dict(os.environ, SDK=sdk, WORKERS=str(workers), THREADS=str(threads),
               CONDUCTOR_SERVER_URL=api)
    program = subprocess.Popen([sys.executable, os.path.join(HERE, "python_noop_worker.py")],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        time.sleep(warmup)
        pids = tree(program.pid)
        done0, cpu0 = completed(root), cpu_seconds(pids)
        time.sleep(seconds)
        pids = tree(program.pid)
        done1, cpu1, memory = completed(root), cpu_seconds(pids), pss_mb(pids)
    finally:
        os.killpg(program.pid, signal.SIGTERM)
        try:
            program.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(program.pid, signal.SIGKILL)
            program.wait()
        mock.terminate()
        mock.wait()
    tasks = done1 - done0
    per_task = (cpu1 - cpu0) / tasks * 1e6 if tasks else float("nan")
    print(f"{label}: {tasks / seconds:,.0f} tasks/s, {per_task:,.0f} us CPU/task, "
          f"{memory:.0f} MB PSS ({len(pids)} processes)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    parser.add_argument("--mock", default=os.path.join(target, "release", "baton-mock"))
    args = parser.parse_args()
    for _ in range(args.rounds):
        for label, sdk, workers, threads in CONFIGS:
            run(args.mock, label, sdk, workers, threads, args.warmup, args.seconds)


if __name__ == "__main__":
    main()
