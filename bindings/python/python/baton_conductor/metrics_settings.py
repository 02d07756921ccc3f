"""``MetricsSettings``, as conductor-python's: where and how often metrics are published.

The metrics themselves are the engine's (Baton's operations endpoint, conductor-python's
canonical names, ``docs/operations.md``). With ``http_port`` the endpoint is served on that
port of every interface; without it, the endpoint listens on a free loopback port and its
``/metrics`` rendering is written to ``directory/file_name`` every ``update_interval``
seconds, as conductor-python writes its text file. ``CONDUCTOR_METRICS_ADDR`` overrides the
address in both cases.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.request
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

# The subdirectory conductor-python uses when WORKER_CANONICAL_METRICS is on.
CANONICAL_SUBDIR = "canonical"

# The longest a scrape of the engine's own endpoint may take before the write is skipped.
_SCRAPE_TIMEOUT_SECONDS = 5.0


def get_default_temporary_folder() -> str:
    """conductor-python's default metrics directory: ``~/tmp/``."""
    return f"{Path.home()!s}/tmp/"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "")
    if not value:
        return default
    return value.strip().lower() in ("true", "1", "yes")


class MetricsSettings:
    """Metrics publication: a Prometheus text file (``directory``/``file_name``, rewritten every
    ``update_interval`` seconds) or, with ``http_port``, an HTTP endpoint on that port.
    ``clean_directory`` and ``clean_dead_pids`` are accepted and have nothing to clean: the
    engine keeps its metrics in memory, not in per-process ``.db`` files."""

    def __init__(
        self,
        directory: Optional[str] = None,
        file_name: str = "metrics.log",
        update_interval: float = 0.1,
        http_port: Optional[int] = None,
        clean_directory: bool = False,
        clean_dead_pids: bool = False,
    ):
        if directory is None:
            directory = get_default_temporary_folder()
        self.directory = directory
        self.file_name = file_name
        self.update_interval = update_interval
        self.http_port = http_port
        self.clean_directory = clean_directory
        self.clean_dead_pids = clean_dead_pids
        self._subdir = CANONICAL_SUBDIR if _env_bool("WORKER_CANONICAL_METRICS", False) else ""

    @property
    def is_canonical(self) -> bool:
        """Whether ``WORKER_CANONICAL_METRICS`` was on when the settings were made."""
        return self._subdir == CANONICAL_SUBDIR

    @property
    def metrics_directory(self) -> str:
        """Where the file goes: ``directory``, or its ``canonical/`` subdirectory."""
        if self._subdir:
            return os.path.join(self.directory, self._subdir)
        return self.directory

    @property
    def file_path(self) -> str:
        """The metrics file: ``metrics_directory``/``file_name``."""
        return os.path.join(self.metrics_directory, self.file_name)

    def endpoint_address(self) -> str:
        """The address the engine's endpoint is asked to listen on (the code value;
        ``CONDUCTOR_METRICS_ADDR`` overrides it)."""
        if self.http_port is not None:
            return f"0.0.0.0:{int(self.http_port)}"
        return "127.0.0.1:0"

    def clean_metrics_directory(self) -> None:
        """Makes sure the directory exists (there are no ``.db`` files to clean)."""
        os.makedirs(self.metrics_directory, exist_ok=True)


def _scrape_url(ops_addr: str) -> str:
    """The URL of ``/metrics`` at a bound address (an unspecified host is reached on
    loopback)."""
    host, _, port = ops_addr.rpartition(":")
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "[::]":
        host = "[::1]"
    return f"http://{host}:{port}/metrics"


class MetricsFileWriter:
    """Writes the endpoint's ``/metrics`` to a file every ``interval`` seconds (atomically:
    a temporary file renamed over it), on a daemon thread, until ``stop``."""

    def __init__(self, ops_addr: str, path: str, interval: float):
        self._url = _scrape_url(ops_addr)
        self._path = path
        self._interval = max(0.01, float(interval))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="baton-metrics-file", daemon=True)

    def start(self) -> None:
        """Writes the file once, then keeps it up to date on its own thread."""
        os.makedirs(os.path.dirname(self._path) or ".", exist_ok=True)
        self.write_once()
        self._thread.start()

    def stop(self) -> None:
        """Stops the thread after a last write."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.write_once()

    def write_once(self) -> None:
        """One scrape and write; a failure is logged and the next interval tries again."""
        try:
            with urllib.request.urlopen(self._url, timeout=_SCRAPE_TIMEOUT_SECONDS) as answer:
                text = answer.read()
            temporary = f"{self._path}.{os.getpid()}.tmp"
            with open(temporary, "wb") as out:
                out.write(text)
            os.replace(temporary, self._path)
        except Exception as error:  # noqa: BLE001 - retried at the next interval
            logger.debug("metrics file not written (will retry): %s", error)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.write_once()
