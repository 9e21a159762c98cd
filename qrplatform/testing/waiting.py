"""Waiting in a test for what another thread or process does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, message: str = "the condition",
               interval: float = 0.05) -> T:
    """``predicate()``'s first truthy value, asked every ``interval`` seconds; AssertionError
    naming ``message`` when ``timeout`` seconds pass without one."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(interval)
    return value
