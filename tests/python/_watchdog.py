"""Ends the worker's whole process group when the test that started it goes away.

Call it after the SDK has started its worker processes. The test keeps the worker's stdin open; when the test process exits (even by a signal, when
its own cleanup cannot run), stdin reaches EOF and this kills the group, SDK children included.
"""

import os
import signal
import sys
import threading


def _watch() -> None:
    sys.stdin.read()
    os.killpg(os.getpgid(0), signal.SIGKILL)


def start() -> None:
    threading.Thread(target=_watch, daemon=True).start()
