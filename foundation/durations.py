"""Offsets written the way exercise planners write them: ``2h``, ``90m``, ``1d6h``, ``-1h``, ``0.5h``."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT_HOURS = {"d": 24.0, "h": 1.0, "m": 1 / 60, "s": 1 / 3600}


def parse_hours(value: object) -> float:
    """Hours from ``2h``/``-1h``/``1h30m``/``45m``, or a bare number of hours."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 2h or 30m, not a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 2h or 30m, got {type(value).__name__}")
    text = value.strip().replace(" ", "")
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if not body:
        raise ValueError(f"{value!r} is not a duration (use e.g. 2h, 30m, 1d6h, -1h)")
    parts = _PART.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"{value!r} is not a duration (use e.g. 2h, 30m, 1d6h, -1h)")
    return sign * sum(float(n) * _UNIT_HOURS[u] for n, u in parts)


def format_hours(hours: float) -> str:
    """``26.5`` -> ``26h30m``; ``-1`` -> ``-1h``."""
    sign = "-" if hours < 0 else ""
    minutes = round(abs(hours) * 60)
    h, m = divmod(minutes, 60)
    if m == 0:
        return f"{sign}{h}h"
    return f"{sign}{h}h{m:02d}m" if h else f"{sign}{m}m"
