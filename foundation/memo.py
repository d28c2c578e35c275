"""A memo of one: the last argument's result, kept by identity."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

A = TypeVar("A")
R = TypeVar("R")


def last_by_identity(fn: Callable[[A], R]) -> Callable[[A], R]:
    """``fn`` of the last argument it was given, kept while the same object comes again: for
    what is worked out from a frozen object that a caller asks about thousands of times in a
    row (a sweep's scenario, its plan). The pair is replaced in one assignment, so threads
    sharing it see either the old pair or the new one."""
    last: tuple[A, R] | None = None

    @wraps(fn)
    def remembered(arg: A) -> R:
        nonlocal last
        kept = last
        if kept is not None and kept[0] is arg:
            return kept[1]
        result = fn(arg)
        last = (arg, result)
        return result

    return remembered
