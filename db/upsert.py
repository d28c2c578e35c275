"""INSERT ... ON CONFLICT for the two databases the engine runs on."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

_DIALECTS: dict[str, ModuleType] = {"postgresql": postgresql, "sqlite": sqlite}


class UnsupportedDatabase(RuntimeError):
    """The engine runs on SQLite and PostgreSQL only."""


def dialect_of(name: str) -> ModuleType:
    """The SQLAlchemy dialect module (with its ``insert`` that knows ``on_conflict_*``)."""
    try:
        return _DIALECTS[name]
    except KeyError:
        raise UnsupportedDatabase(f"the engine supports SQLite and PostgreSQL, not {name}") from None
