"""A conductor-python 2.0.0 no-op worker for Baton's benchmark harness (bench/src/bin/harness).

Returns {"ok": true} for every task of --task-type. --processes workers of that type, each
in its own process (the SDK gives every worker one), each with --threads tasks at once; --mode
async makes the function `async def` (the SDK then runs it on an event loop, update-v2 only).
The server comes from CONDUCTOR_SERVER_URL. Runs until its stdin closes, then kills its whole
process group (tests/python/_watchdog.py on PYTHONPATH).
"""

import argparse

import _watchdog
from conductor.client.automator.task_handler import TaskHandler
from conductor.client.configuration.configuration import Configuration
from conductor.client.http.models.task import Task
from conductor.client.worker.worker import Worker


def noop(task: Task) -> dict:
    return {"ok": True}


async def noop_async(task: Task) -> dict:
    return {"ok": True}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task-type", default="bench")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mode", choices=["sync", "async"], default="sync")
    parser.add_argument("--poll-interval-ms", type=float, default=1)
    args = parser.parse_args()
    function = noop_async if args.mode == "async" else noop
    workers = [
        Worker(
            task_definition_name=args.task_type,
            execute_function=function,
            poll_interval=args.poll_interval_ms,
            thread_count=args.threads,
        )
        for _ in range(args.processes)
    ]
    configuration = Configuration()  # reads CONDUCTOR_SERVER_URL
    with TaskHandler(
        workers=workers, configuration=configuration, scan_for_annotated_workers=False
    ) as handler:
        handler.start_processes()
        _watchdog.start()
        handler.join_processes()


if __name__ == "__main__":
    main()
