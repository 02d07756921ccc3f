"""Fixtures: one baton-mock for the session, reset before every test."""

from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mock import Mock, mock_binary  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    """With ``BATON_EXPECT_INSTALLED=1`` (CI), the package must come from an installed wheel
    (site-packages), not from the source tree."""
    if os.environ.get("BATON_EXPECT_INSTALLED") == "1":
        import baton_conductor

        location = os.path.dirname(baton_conductor.__file__)
        if "site-packages" not in location.split(os.sep):
            raise pytest.UsageError(f"baton_conductor imported from {location}, not a wheel")


@pytest.fixture(scope="session")
def mock_server() -> Iterator[Mock]:
    server = Mock(mock_binary())
    yield server
    server.stop()


@pytest.fixture
def mock(mock_server: Mock) -> Mock:
    mock_server.reset()
    return mock_server
