"""The edge's checks of a merge before it reaches the workflow: the incident named in ``into``
exists in the same world, is open and follows the same plan and version. The absorbing
incident's workflow checks all of it again when it takes the handover (the database may lag
behind it); these give the caller a clear answer without a refused merge in the ledger."""

from __future__ import annotations

from api.context import ApiContext
from api.errors import ApiError
from db.models import Incident
from db.repository import IncidentRepository
from foundation.ids import is_exercise_id


async def check_merge_target(context: ApiContext, incident: Incident, into: str) -> None:
    if into == incident.id:
        raise ApiError(422, "invalid", "into: an incident cannot absorb itself", "into")
    if is_exercise_id(into) != is_exercise_id(incident.id):
        raise ApiError(404, "not_found", f"into: no incident {into!r}", "into")
    async with context.sessions() as session:
        target = await IncidentRepository(session).get(into)
    if target is None:
        raise ApiError(404, "not_found", f"into: no incident {into!r}", "into")
    if target.closed_at is not None:
        raise ApiError(
            409, "conflict", f"into: incident {into} has ended ({target.outcome})", "into"
        )
    if (target.plan_id, target.plan_version) != (incident.plan_id, incident.plan_version):
        raise ApiError(
            409,
            "conflict",
            f"into: incident {into} follows plan {target.plan_id} v{target.plan_version}, this "
            f"one {incident.plan_id} v{incident.plan_version}; only incidents of one plan and "
            "version are merged",
            "into",
        )
