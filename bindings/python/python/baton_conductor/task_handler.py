"""``TaskHandler``: runs workers on the Baton engine, in this process.

For every task type the engine polls (with its slots, batching, update retries, TLS and auth)
and hands each task to a queue; ``thread_count`` Python threads per worker take tasks from it
with the GIL released while they wait, execute them, and hand the results back. An
``async def`` worker's coroutines run on one asyncio event loop (a thread of its own), so they
do not hold a thread while they wait.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import inspect
import json
import logging
import os
import signal
import sys
import threading
from typing import Any, Dict, List, Optional

from baton_conductor._native import Host, Lease, TaskQueue, resolve_worker_settings
from baton_conductor.configuration import Configuration
from baton_conductor.metrics_settings import MetricsFileWriter, MetricsSettings
from baton_conductor.task import Task
from baton_conductor.worker import WorkerInterface, failure_for, result_for
from baton_conductor.decorator import decorated_workers

logger = logging.getLogger(__name__)

# How long a thread waits for a task before it checks whether the handler is stopping.
_TAKE_TIMEOUT_SECONDS = 0.25

# The name of the thread running the asyncio event loop of ``async def`` workers.
_LOOP_THREAD = "baton-asyncio"

# conductor-python's variable choosing the isolation mode, and its values.
WORKER_ISOLATION_ENV = "CONDUCTOR_WORKER_ISOLATION"
ISOLATION_PROCESS = "process"
ISOLATION_THREAD = "thread"

# Set by the engine in a worker process: the index of the worker it runs.
_CHILD_ENV = "BATON_WORKER_PROCESS"


def isolation_mode(requested: Optional[str] = None) -> str:
    """``requested`` (the ``TaskHandler`` argument), else ``CONDUCTOR_WORKER_ISOLATION``, else
    ``thread``: ``process`` runs each worker in OS processes of its own, ``thread`` every
    worker in this process. An unknown value is logged and taken as ``thread``."""
    raw = requested if requested is not None else os.environ.get(WORKER_ISOLATION_ENV, "")
    mode = raw.strip().lower() or ISOLATION_THREAD
    if mode not in (ISOLATION_PROCESS, ISOLATION_THREAD):
        logger.warning("ignoring isolation %r (valid: %r, %r); using %r",
                       raw, ISOLATION_PROCESS, ISOLATION_THREAD, ISOLATION_THREAD)
        mode = ISOLATION_THREAD
    return mode


class TaskHandler:
    """Runs ``workers`` (and, with ``scan_for_annotated_workers``, every ``@worker_task``
    function) against the server of ``configuration``, publishing metrics as
    ``metrics_settings`` says. With ``isolation="process"`` (or
    ``CONDUCTOR_WORKER_ISOLATION=process``) each worker runs in OS processes of its own
    (Baton's process placement); otherwise every worker runs in this process. The restart
    arguments are accepted and ignored: restarts follow Baton's ``process_restart_delay``
    settings."""

    def __init__(
        self,
        workers: Optional[List[WorkerInterface]] = None,
        configuration: Optional[Configuration] = None,
        metrics_settings: Optional[MetricsSettings] = None,
        scan_for_annotated_workers: bool = True,
        import_modules: Optional[List[str]] = None,
        event_listeners: Optional[List] = None,
        monitor_processes: bool = True,
        restart_on_failure: bool = True,
        monitor_interval_seconds: float = 5.0,
        restart_backoff_seconds: float = 1.0,
        restart_backoff_max_seconds: float = 60.0,
        restart_max_attempts: int = 0,
        isolation: Optional[str] = None,
    ):
        for module in import_modules or []:
            importlib.import_module(module)
        self.workers: List[WorkerInterface] = list(workers or [])
        if scan_for_annotated_workers:
            self.workers.extend(decorated_workers())
        self.configuration = configuration or Configuration()
        self.metrics_settings = metrics_settings
        self.isolation = isolation_mode(isolation)
        self._metrics_writer: Optional[MetricsFileWriter] = None
        self._settings: List[Dict[str, Any]] = []
        self._host: Optional[Host] = None
        self._threads: List[threading.Thread] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stopping = threading.Event()  # stop_processes has begun
        self._drained = threading.Event()  # the engine has drained: worker threads may end
        self._stopped = threading.Event()  # every thread has ended
        self._lock = threading.Lock()
        self._previous_handlers: Dict[int, Any] = {}

    def __enter__(self) -> "TaskHandler":
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        self.stop_processes()

    def worker_settings(self) -> List[Dict[str, Any]]:
        """The effective settings of every worker (one entry per task type), as the engine
        resolves them: the environment over ``worker.ini`` over the ``Worker`` arguments over
        Baton's defaults. Each is a dict with ``task_type``, every property by its canonical
        name (durations in milliseconds) and ``sources`` (where each value came from). Once
        started, the settings the engine runs with; before, resolved now."""
        if self._settings:
            return [dict(settings) for settings in self._settings]
        return [
            json.loads(resolve_worker_settings(task_type, **_code_options(worker)))
            for worker in self.workers
            for task_type in worker.task_definition_names
        ]

    def start_processes(self) -> None:
        """Starts polling and executing; configuration errors raise ``ValueError``."""
        # SIGTERM and SIGINT drain from before the first poll: a signal that arrives while the
        # engine starts asks for a stop that waits (on the lock) until the start is complete.
        with self._lock:
            self._install_signal_handlers()
            try:
                self._start()
            except BaseException:
                self._restore_signals()
                raise

    def _start(self) -> None:
        auth = self.configuration.authentication_settings
        metrics = self.metrics_settings
        if metrics is not None:
            metrics.clean_metrics_directory()
        host = Host(
            server_url=self.configuration.host,
            auth_key=auth.key_id if auth else None,
            auth_secret=auth.key_secret if auth else None,
            metrics_addr=metrics.endpoint_address() if metrics is not None else None,
            # A new interpreter running this program again (never a fork): the engine tells
            # each child its worker by BATON_WORKER_PROCESS.
            process_command=(
                [sys.executable, *sys.orig_argv[1:]]
                if self.isolation == ISOLATION_PROCESS else None
            ),
        )
        entries = []
        for worker in self.workers:
            for task_type in worker.task_definition_names:
                queue, settings_json = host.add_worker(task_type, **_code_options(worker))
                settings = json.loads(settings_json)
                self._settings.append(settings)
                entries.append((worker, task_type, queue, settings))
        child = os.environ.get(_CHILD_ENV)
        if child is not None:
            # A worker process: the engine runs only worker `child` here (it checks the index).
            entries = [entries[int(child)]] if child.isdigit() and int(child) < len(entries) \
                else []
        elif self.isolation == ISOLATION_PROCESS:
            entries = []  # the supervising process executes nothing itself
        if entries:
            self._loop = asyncio.new_event_loop()
            self._threads.append(
                threading.Thread(target=self._loop.run_forever, name=_LOOP_THREAD, daemon=True)
            )
        for worker, task_type, queue, settings in entries:
            # One Python thread per execution slot the engine will fill.
            for index in range(int(settings["concurrency"])):
                self._threads.append(threading.Thread(
                    target=self._serve, args=(worker, queue),
                    name=f"baton-{task_type}-{index}", daemon=True,
                ))
        host.start()
        self._host = host
        ops_addr = host.ops_addr()
        if ops_addr is not None:
            logger.info("operations endpoint (/metrics, /status, /health) on %s", ops_addr)
        if metrics is not None and metrics.http_port is None and ops_addr is not None:
            self._metrics_writer = MetricsFileWriter(
                ops_addr, metrics.file_path, metrics.update_interval)
            self._metrics_writer.start()
        for thread in self._threads:
            thread.start()
        # A thread still inside the engine when the interpreter finalizes would abort the
        # process: stop (drain, join) before that even if the program never calls
        # stop_processes.
        atexit.register(self.stop_processes)
        logger.info("started %d workers", len(self.workers))

    def join_processes(self) -> None:
        """Blocks until the handler stops: ``stop_processes``, SIGTERM or SIGINT (which drain:
        polling stops, the tasks in hand finish and their results are posted); in a worker
        process, also when the supervising process says to drain or goes away."""
        try:
            while not self._stopped.wait(0.25):
                host = self._host
                if host is not None and not self._stopping.is_set() and host.stop_requested():
                    self.stop_processes()
        finally:
            self._restore_signals()

    def stop_processes(self) -> None:
        """Drains and stops: no more polls, tasks in hand finish, their results are posted."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
        try:
            if self._metrics_writer is not None:
                self._metrics_writer.stop()  # a last write, while the endpoint still answers
            if self._host is not None:
                report = self._host.shutdown()
                logger.info("stopped: %s", report)
        finally:
            self._drained.set()
            for thread in self._threads:
                if thread.name != _LOOP_THREAD and thread is not threading.current_thread():
                    thread.join()
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
            for thread in self._threads:
                if thread.name == _LOOP_THREAD:
                    thread.join()
            self._stopped.set()
            atexit.unregister(self.stop_processes)
            self._restore_signals()

    @property
    def operations_address(self) -> Optional[str]:
        """Where the operations endpoint (``/metrics``, ``/status``, ``/health``) listens, as
        ``host:port``, while running; ``None`` when it is off."""
        return self._host.ops_addr() if self._host is not None else None

    def _install_signal_handlers(self) -> None:
        """Makes SIGTERM and SIGINT drain (main thread only: Python runs signal handlers
        there)."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signals(self) -> None:
        """Puts back the signal handlers start_processes replaced (main thread only)."""
        if threading.current_thread() is threading.main_thread():
            while self._previous_handlers:
                signum, handler = self._previous_handlers.popitem()
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        logger.info("signal %d: draining in-flight tasks", signum)
        threading.Thread(target=self.stop_processes, name="baton-stop", daemon=True).start()

    def _serve(self, worker: WorkerInterface, queue: TaskQueue) -> None:
        """One worker thread: take a task, execute it, hand back its result, until stopped."""
        while not self._drained.is_set():
            lease = queue.take(_TAKE_TIMEOUT_SECONDS)
            if lease is None:
                continue
            try:
                self._execute(worker, lease)
            except Exception:  # noqa: BLE001 - keep serving; the engine fails the dropped task
                logger.exception("task could not be handed back; it is reported FAILED")

    def _execute(self, worker: WorkerInterface, lease: Lease) -> None:
        task = Task.from_dict(json.loads(lease.task_json))
        try:
            output = worker.execute(task)
        except Exception as error:  # noqa: BLE001 - every failure becomes a FAILED result
            output = failure_for(worker, task, error)
        if inspect.iscoroutine(output) and self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._finish(worker, task, output, lease), self._loop)
            return
        _complete(worker, task, output, lease)

    async def _finish(self, worker: WorkerInterface, task: Task, coroutine: Any,
                      lease: Lease) -> None:
        try:
            output = await coroutine
        except Exception as error:  # noqa: BLE001 - every failure becomes a FAILED result
            output = failure_for(worker, task, error)
        _complete(worker, task, output, lease)


def _code_options(worker: WorkerInterface) -> Dict[str, Any]:
    """A worker's settings given in code (its ``Worker`` / ``@worker_task`` arguments): the
    weakest configuration layer, under ``worker.ini`` and the environment."""
    return {
        "concurrency": max(1, int(worker.thread_count or 1)),
        "poll_interval_ms": int(round(worker.get_polling_interval_in_seconds() * 1000)),
        "domain": worker.get_domain() or None,
        "worker_id": worker.get_identity(),
        "paused": worker.is_paused() if hasattr(worker, "is_paused") else None,
        "poll_timeout_ms": int(worker.poll_timeout) if worker.poll_timeout else None,
    }


def _complete(worker: WorkerInterface, task: Task, output: Any, lease: Lease) -> None:
    """Hands the result of ``output`` back; one that cannot be sent becomes FAILED."""
    try:
        text = json.dumps(result_for(worker, task, output).to_dict())
    except Exception as error:  # noqa: BLE001 - a result that cannot be encoded fails the task
        text = json.dumps(failure_for(worker, task, error).to_dict())
    lease.complete(text)
