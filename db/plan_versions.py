"""The registry of plan versions: the digest of each (plan id, version) as first used.

A plan is pinned into every incident it opens, under its id and version number; an edit of the
file that kept the number would run new rules under an old name, so the intake registers each
version's digest on first use and refuses a plan whose content no longer matches it.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from db.base import utcnow
from db.models import PlanVersion
from db.upsert import per_dialect

_register = per_dialect(
    lambda dialect: dialect.insert(PlanVersion.__table__).on_conflict_do_nothing(
        index_elements=["plan_id", "version"]
    )
)


def registered_digest(connection: Connection, plan_id: str, version: int, digest: str) -> str:
    """The digest this plan version is registered with: ``digest`` if it is the first use."""
    connection.execute(
        _register(connection.dialect.name),
        {"plan_id": plan_id, "version": version, "digest": digest, "registered_at": utcnow()},
    )
    stored = connection.scalar(
        select(PlanVersion.digest).where(
            PlanVersion.plan_id == plan_id, PlanVersion.version == version
        )
    )
    assert stored is not None  # inserted above, or already there
    return stored
