"""A slow worker (1 s a task, 4 threads) for the drain test; runs until SIGTERM/SIGINT."""

import sys
import time

from baton_conductor import Configuration, Task, TaskHandler, Worker


def slow(task: Task) -> dict:
    time.sleep(1.0)
    return {"slept": True}


def main() -> None:
    worker = Worker("py_drain", slow, thread_count=4, poll_interval=20)
    handler = TaskHandler([worker], Configuration(server_api_url=sys.argv[1]),
                          scan_for_annotated_workers=False)
    handler.start_processes()
    handler.join_processes()
    print("drained", flush=True)


if __name__ == "__main__":
    main()
