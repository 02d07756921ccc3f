"""Fixtures: one baton-mock for the session, reset before every test."""

from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mock import Mock, mock_binary  # noqa: E402


@pytest.fixture(scope="session")
def mock_server() -> Iterator[Mock]:
    server = Mock(mock_binary())
    yield server
    server.stop()


@pytest.fixture
def mock(mock_server: Mock) -> Mock:
    mock_server.reset()
    return mock_server
