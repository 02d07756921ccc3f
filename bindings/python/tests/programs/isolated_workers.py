"""Two workers, each in worker processes of its own (CONDUCTOR_WORKER_ISOLATION=process, or
``--isolation process``); runs until SIGTERM/SIGINT. ``py_iso_crash`` aborts its process (once:
it leaves a marker file first) for a task whose input says ``crash``."""

import os
import sys
import time
from pathlib import Path

from baton_conductor import Configuration, Task, TaskHandler, Worker


def whoami(task: Task) -> dict:
    return {"pid": os.getpid(), "parent": os.getppid()}


def maybe_crash(task: Task) -> dict:
    marker = Path(task.input_data.get("marker", ""))
    if task.input_data.get("crash") and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.abort()
    time.sleep(float(task.input_data.get("sleep", 0)))
    return {"pid": os.getpid()}


def main() -> None:
    isolation = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--isolation" else None
    workers = [
        Worker("py_iso_pid", whoami, thread_count=2, poll_interval=20),
        Worker("py_iso_crash", maybe_crash, thread_count=4, poll_interval=20),
    ]
    handler = TaskHandler(workers, Configuration(server_api_url=sys.argv[1]),
                          scan_for_annotated_workers=False, isolation=isolation)
    handler.start_processes()
    if os.environ.get("BATON_WORKER_PROCESS") is None:
        print(f"supervisor {os.getpid()}", flush=True)
    handler.join_processes()
    if os.environ.get("BATON_WORKER_PROCESS") is None:
        print("drained", flush=True)


if __name__ == "__main__":
    main()
