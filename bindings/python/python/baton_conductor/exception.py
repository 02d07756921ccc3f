"""The exception that fails a task for good."""


class NonRetryableException(Exception):
    """Raised by a worker: the task becomes FAILED_WITH_TERMINAL_ERROR (never retried)."""
