"""Violation intake: one report, one incident, one workflow, however often it is posted.

The incident row is written first, keyed by the report id and carrying the digest of the report,
then the workflow is started with the USE_EXISTING conflict policy. Every request, the first or a
retry, ends by (re)starting the workflow, so a crash between the insert and the start is mended
by the client's retry; concurrent duplicates all land on the one row and the one workflow.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.context import ApiContext
from api.errors import ApiError
from api.schemas.violations import ViolationIn
from api.updates import submit
from db.base import utcnow
from db.models import Incident
from db.plan_versions import registered_digest
from db.reports import insert_report, remove_report, report_by_id, report_values
from db.repository import IncidentRepository, row_values
from db.texts import carried
from db.tokens import Principal
from db.upsert import per_dialect
from foundation.ids import is_exercise_id
from plans.digest import plan_digest
from plans.loader import get_plan
from plans.model import Plan
from workflows.decisions import DecisionKind
from workflows.incident import IncidentWorkflow
from workflows.messages import Evidence, IncidentInput, IncidentSnapshot, ViolationReport
from workflows.starting import build_input, incident_id_for, start_incident
from workflows.state import IncidentState, Rejected

log = structlog.get_logger(__name__)

# A report older than this is refused: its response window closed long ago, and a typo in the
# year should not open an incident.
MAX_REPORT_AGE = timedelta(days=365)


@dataclass(frozen=True)
class Intake:
    incident: Incident
    created: bool
    joined: bool = False  # the report joined an open response instead of opening one


def resolve_plan(plan_id: str) -> Plan:
    try:
        return get_plan(plan_id)
    except KeyError as exc:
        raise ApiError(422, "invalid", f"plan_id: {exc.args[0]}", "plan_id") from None


def check_observed_at(observed_at: datetime, now: datetime, skew: timedelta) -> None:
    if observed_at > now + skew:
        raise ApiError(
            422,
            "invalid",
            f"observed_at: {observed_at.isoformat()} is in the future (server time {now.isoformat()})",
            "observed_at",
        )
    if observed_at < now - MAX_REPORT_AGE:
        raise ApiError(422, "invalid", "observed_at: more than a year ago", "observed_at")


async def check_plan_version(context: ApiContext, plan: Plan) -> None:
    """The plan's content is the one its version was first used with (db.plan_versions)."""
    digest = plan_digest(plan)
    if (plan.id, plan.version, digest) in context.plans_confirmed:
        return
    registered = await context.transactions.run(
        partial(registered_digest, plan_id=plan.id, version=plan.version, digest=digest)
    )
    if registered == digest:
        context.plans_confirmed.add((plan.id, plan.version, digest))
    else:
        raise ApiError(
            409,
            "conflict",
            f"plan_id: plan {plan.id!r} version {plan.version} was first used with other content; "
            "an edited plan needs a new version number",
            "plan_id",
        )


async def receive_violation(context: ApiContext, body: ViolationIn, principal: Principal) -> Intake:
    plan = resolve_plan(body.plan_id)
    await check_plan_version(context, plan)
    now = await context.clock()
    skew = timedelta(seconds=context.settings.api_clock_skew_seconds)
    if body.observed_at is not None:
        check_observed_at(body.observed_at, now, skew)
    digest = body.digest()
    incident_id = incident_id_for(body.report_id, body.sector)
    if is_exercise_id(incident_id):  # incident_id_for never makes one; the world depends on it
        raise ApiError(
            422, "invalid", f"report_id: would open exercise incident {incident_id}", "report_id"
        )
    bound = log.bind(incident_id=incident_id, report_id=body.report_id, principal=principal.name)

    # Long text is stored in the database; the workflow carries its first characters.
    summary, summary_ref = await carried(context.transactions, body.summary)
    evidence = []
    for item in body.evidence:
        text, ref = await carried(context.transactions, item.summary)
        evidence.append(Evidence(source=item.source, summary=text, summary_ref=ref))

    def incident_for(observed_at: datetime, reported_at: datetime) -> IncidentInput:
        report = ViolationReport(
            report_id=body.report_id,
            kind=body.kind,
            sector=body.sector,
            reported_by=body.reported_by,
            summary=summary,
            observed_at=observed_at,
            reported_at=reported_at,
            evidence=tuple(evidence),
            submitted_by=principal.name,
            summary_ref=summary_ref,
        )
        # time_scale is 1 unless a test or exercise deployment compresses the plan clock.
        return build_input(report, plan, time_scale=context.settings.time_scale)

    if body.joins is not None:
        report = incident_for(body.observed_at or now, now).report
        return await _join(context, body, report, digest, bound)
    async with context.sessions() as session:
        joined = await report_by_id(session, body.report_id)
    if joined is not None and joined.joined:
        # This report id joined a response before: a retry of that post left out `joins`.
        raise ApiError(
            409,
            "conflict",
            f"report_id: {body.report_id!r} joined incident {joined.incident_id}; post it "
            f'again with "joins": "{joined.incident_id}", or use a new report_id',
            "report_id",
        )
    incident_input = incident_for(body.observed_at or now, now)
    try:
        # The state machine's own checks of a report, and its snapshot of the incident it opens
        # (already closed if the report comes after its window): the row written before the
        # workflow exists is the one the workflow's first ledger batch would write.
        snapshot = IncidentState(incident_input, now).snapshot()
    except Rejected as exc:
        raise ApiError(422, "invalid", str(exc), exc.field) from None
    incident, created = await _record(context, body, snapshot, incident_input.report, digest)
    if not created:
        # The stored times, not this request's: a retry restarts exactly the first report (its
        # own row: the incident's T0 moves when an earlier report joins).
        async with context.sessions() as session:
            first = await report_by_id(session, body.report_id)
        observed_at = incident.observed_at if first is None else first.observed_at
        incident_input = incident_for(observed_at, incident.reported_at)
    try:
        await start_incident(
            context.client, incident_input, context.task_queue, now=incident.reported_at
        )
    except WorkflowAlreadyStartedError:
        pass  # the incident has already run to its end: the retry finds it closed
    bound.info(
        "violation.received" if created else "violation.repeated", workflow_id=incident.workflow_id
    )
    return Intake(incident=incident, created=created)


async def _join(
    context: ApiContext,
    body: ViolationIn,
    report: ViolationReport,
    digest: str,
    bound: Any,
) -> Intake:
    """The report joins the open response ``body.joins``: its row first (the report id is
    claimed once), then the workflow's update, named after the report, so a retry joins once.
    A report the response refuses leaves no row behind."""
    target_id = body.joins
    assert target_id is not None
    async with context.sessions() as session:
        target = (
            None
            if is_exercise_id(target_id)  # exercises and real incidents never mix
            else await IncidentRepository(session).get(target_id)
        )
    if target is None:
        raise ApiError(404, "not_found", f"joins: no incident {target_id!r}", "joins")
    if target.merged_into is not None:
        raise ApiError(
            409,
            "conflict",
            f"joins: incident {target.id} was merged into {target.merged_into}, which carries "
            f"the response on; join {target.merged_into}",
            "joins",
        )
    if target.plan_id != body.plan_id:
        raise ApiError(
            409,
            "conflict",
            f"plan_id: incident {target.id} follows plan {target.plan_id}, not {body.plan_id}; "
            "a report joins a response of its own plan",
            "plan_id",
        )
    values = report_values(report, incident_id=target.id, joined=True, digest=digest, now=utcnow())
    created = await context.transactions.run(partial(insert_report, values=values))
    if not created:
        async with context.sessions() as session:
            existing = await report_by_id(session, report.report_id)
        if existing is None or existing.incident_id != target.id or existing.digest != digest:
            where = "" if existing is None else f" (incident {existing.incident_id})"
            raise ApiError(
                409,
                "conflict",
                f"report_id: {report.report_id!r} was already received with different content"
                f"{where}; use a new report_id for a new report",
                "report_id",
            )
        # A retry: the row is the first post's, and so is the report it sends again (its times).
        report = replace(report, observed_at=existing.observed_at, reported_at=existing.reported_at)
    try:
        await submit(
            context,
            target,
            IncidentWorkflow.join_report,
            report,
            f"join:{report.report_id}",
        )
    except ApiError:
        if created:
            await context.transactions.run(partial(remove_report, report_id=report.report_id))
            raise
        if not await _joined_before(context, target.id, report.report_id):
            raise  # the first post's update never reached the response, and this one is refused
    async with context.sessions() as session:
        incident = await IncidentRepository(session).get(target.id)
    assert incident is not None
    bound.info("violation.joined" if created else "violation.rejoined", joins=target.id)
    return Intake(incident=incident, created=created, joined=True)


async def _joined_before(context: ApiContext, incident_id: str, report_id: str) -> bool:
    async with context.sessions() as session:
        rows = await IncidentRepository(session).ledger(incident_id)
    return any(
        r.kind == DecisionKind.REPORT_JOINED and r.payload.get("report_id") == report_id
        for r in rows
    )


async def _record(
    context: ApiContext,
    body: ViolationIn,
    snapshot: IncidentSnapshot,
    opening: ViolationReport,
    digest: str,
) -> tuple[Incident, bool]:
    """The incident row for this report: inserted now, or found from an earlier post."""
    values = row_values(snapshot, report_digest=digest)
    report = report_values(
        opening,
        incident_id=snapshot.incident_id,
        joined=False,
        digest=digest,
        now=snapshot.reported_at,
    )
    # Insert first, look up only on a conflict: a new report costs one round trip, and any
    # unique key taken (report id, incident id) means an earlier or concurrent post won.
    try:
        inserted = await context.transactions.run(
            partial(_insert_incident, values=values, report=report)
        )
    except _ReportIdTaken:
        raise ApiError(
            409,
            "conflict",
            f"report_id: {body.report_id!r} has joined another response; use a new report_id",
            "report_id",
        ) from None
    if inserted:
        return Incident(**values), True
    async with context.sessions() as session:
        existing = await IncidentRepository(session).by_report(body.report_id)
    if existing is None:
        # The incident id is taken by another report id (an 8-hex-digit digest collision).
        raise ApiError(
            409,
            "conflict",
            f"report_id: incident {snapshot.incident_id} belongs to another report",
            "report_id",
        )
    if is_exercise_id(existing.id):
        # An exercise run on this ledger used the report id: a real report needs its own.
        raise ApiError(
            409,
            "conflict",
            f"report_id: {body.report_id!r} belongs to an exercise incident; "
            "use a new report_id for a real report",
            "report_id",
        )
    if existing.report_digest != digest:
        raise ApiError(
            409,
            "conflict",
            f"report_id: {body.report_id!r} was already received with different content "
            f"(incident {existing.id}); use a new report_id for a new report",
            "report_id",
        )
    return existing, False


def _insert_incident(
    connection: Connection, *, values: dict[str, Any], report: dict[str, Any]
) -> bool:
    """The incident's row and its first report's, in one transaction."""
    inserted = (
        connection.execute(_insert_statement(connection.dialect.name), values).scalar_one_or_none()
        is not None
    )
    if inserted and not insert_report(connection, values=report):
        # A joining report took this report id in the meantime: neither row is written.
        raise _ReportIdTaken(report["report_id"])
    return inserted


class _ReportIdTaken(Exception):
    pass


_insert_statement = per_dialect(
    lambda dialect: (
        dialect.insert(Incident.__table__)
        .on_conflict_do_nothing()
        .returning(Incident.__table__.c.id)
    )
)
