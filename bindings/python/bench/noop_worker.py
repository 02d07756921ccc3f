"""The no-op worker the load harness runs on baton_conductor (``bench/src/bin/harness``):
one ``Worker`` of ``--concurrency`` threads for ``--task-type``, against
``CONDUCTOR_SERVER_URL``, until SIGTERM or SIGINT (then it drains, as TaskHandler does)."""

import argparse

from baton_conductor import (Configuration, Task, TaskHandler, TaskResult,
                             TaskResultStatus, Worker)


def noop(task: Task) -> TaskResult:
    result = TaskResult(task_id=task.task_id, workflow_instance_id=task.workflow_instance_id)
    result.status = TaskResultStatus.COMPLETED
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task-type", required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    worker = Worker(args.task_type, noop, poll_interval=1, thread_count=args.concurrency)
    with TaskHandler([worker], Configuration(), scan_for_annotated_workers=False) as handler:
        handler.start_processes()
        handler.join_processes()


if __name__ == "__main__":
    main()
