"""Building an incident's input from a report: the one place its incident id is derived, shared
by the client side (workflows/starting.py) and the runs that need no Temporal (exercises/fastpath.py)."""

from __future__ import annotations

import hashlib
import re

from foundation.ids import EXERCISE_ID_PREFIX, is_exercise_id
from plans.model import Plan
from workflows.messages import IncidentInput, ViolationReport


def slug(text: str, limit: int = 24) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned[:limit].strip("-") or "x"


# Before a real incident's sector when the sector itself reads "exercise...": a real report
# must never get an id of the exercise world.
REAL_SECTOR_PREFIX = "real-"


def incident_id_for(report_id: str, sector: str, exercise: bool = False) -> str:
    """Readable and deterministic: the same report always maps to the same incident."""
    digest = hashlib.sha256(report_id.encode()).hexdigest()[:8]
    name = f"{slug(sector)}-{digest}"
    if exercise:
        return f"{EXERCISE_ID_PREFIX}{name}"
    return f"{REAL_SECTOR_PREFIX}{name}" if is_exercise_id(name) else name


def build_input(
    report: ViolationReport, plan: Plan, *, exercise: bool = False, time_scale: float = 1.0
) -> IncidentInput:
    return IncidentInput(
        incident_id=incident_id_for(report.report_id, report.sector, exercise),
        report=report,
        plan=plan,
        exercise=exercise,
        time_scale=time_scale,
    )
