"""Small typed helpers for assertions (so that mypy checks tests/ without casts)."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def present(value: T | None) -> T:
    """``value``, asserting it is there (a lookup that may answer None found something)."""
    assert value is not None, "expected a value, got None"
    return value
