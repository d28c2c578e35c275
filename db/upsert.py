"""INSERT ... ON CONFLICT for the two databases the engine runs on."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import TypeVar

from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")

_DIALECTS: dict[str, ModuleType] = {"postgresql": postgresql, "sqlite": sqlite}


class UnsupportedDatabase(RuntimeError):
    """The engine runs on SQLite and PostgreSQL only."""


def dialect_of(name: str) -> ModuleType:
    """The SQLAlchemy dialect module (with its ``insert`` that knows ``on_conflict_*``)."""
    try:
        return _DIALECTS[name]
    except KeyError:
        raise UnsupportedDatabase(
            f"the engine supports SQLite and PostgreSQL, not {name}"
        ) from None


def per_dialect(build: Callable[[ModuleType], T]) -> Callable[[str], T]:
    """``build(dialect)`` once per database name, the same statement ever after: one whose
    values travel as parameters is compiled once and then served from SQLAlchemy's cache."""
    return cache(lambda name: build(dialect_of(name)))
