"""A plan's digest: sha256 of its canonical content, the same wherever the plan is read.

The workflow seals it in the incident's ``reported`` decision, and the intake registers it per
plan version, so an edited plan file that kept its version number is noticed. Canonical: keys
sorted, no whitespace, text as is, and a number by its value (a file's ``48`` and the ``48.0``
the plan holds once it has travelled through Temporal's JSON are the same number).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from plans.model import NO_COMMUNICATIONS, Plan


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return str(value)  # the plan's enums


def plan_digest(plan: Plan) -> str:
    content = _canonical(dataclasses.asdict(plan))
    if plan.communications == NO_COMMUNICATIONS:
        # A section added after plans were first sealed: a plan without it keeps the digest its
        # running incidents sealed.
        del content["communications"]
    if plan.after_activation is None:
        # Likewise: a plan without an after_activation section keeps its digest.
        del content["after_activation"]
    if plan.reports is None:
        del content["reports"]
    elif plan.reports.confirm_observed_beyond_hours is None:
        del content["reports"]["confirm_observed_beyond_hours"]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
