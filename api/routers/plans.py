"""Plans, read only, and the dry run: the absolute timeline a violation observed at a given time
would run to. Nothing is started."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.auth import Permission, require
from api.context import ApiContext, get_context
from api.errors import ApiError, documented
from api.routes import AuthenticatedRoute
from api.schemas.common import PlanName
from api.schemas.plans import KindOut, PlanList, PlanSummary, PlanTimeline, TimelineItem
from db.tokens import Principal
from plans.loader import get_plan, load_plans
from plans.model import Plan
from workflows.clock import format_offset
from workflows.messages import IncidentInput, ViolationReport
from workflows.state import IncidentState

router = APIRouter(prefix="/v1/plans", tags=["plans"], route_class=AuthenticatedRoute)

Reader = Annotated[Principal, Depends(require(Permission.READ))]
PlanPath = Annotated[PlanName, Path(description="A plan id, e.g. allied-72h")]
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def summary_of(plan: Plan) -> PlanSummary:
    return PlanSummary(
        id=plan.id,
        title=plan.title,
        version=plan.version,
        activation_window_hours=plan.activation_window_hours,
        kinds=[
            KindOut(
                kind=k.kind,
                title=k.title,
                when_unverified=str(k.when_unverified),
                consultation=k.consultation,
                military_response=k.military_response,
                diplomatic_steps=list(k.diplomatic_steps),
            )
            for k in plan.kinds
        ],
        parties=list(plan.parties),
        assets=list(plan.assets),
        min_committed=plan.quorum.min_committed,
        required_assets=list(plan.quorum.required_assets),
        steps={s.id: s.title for s in plan.steps},
        escalation_levels={str(e.level): e.authority for e in plan.escalation_levels},
    )


def _plan(plan_id: str) -> Plan:
    try:
        return get_plan(plan_id)
    except KeyError:
        raise ApiError(404, "not_found", f"plan_id: no plan {plan_id!r}", "plan_id") from None


@router.get(
    "",
    response_model=PlanList,
    responses=documented(401, 403),
    summary="The plans incidents can run under",
)
async def list_plans(_: Reader) -> PlanList:
    return PlanList(plans=[summary_of(plan) for _, plan in sorted(load_plans().items())])


@router.get(
    "/{plan_id}",
    response_model=PlanSummary,
    responses=documented(401, 403, 404, 422),
    summary="One plan",
)
async def show_plan(plan_id: PlanPath, _: Reader) -> PlanSummary:
    return summary_of(_plan(plan_id))


class TimelineQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    observed_at: AwareDatetime | None = Field(
        default=None, description="T0, with a time zone; now when absent"
    )
    kind: PlanName | None = Field(default=None, description="Only what applies to this kind")


@router.get(
    "/{plan_id}/timeline",
    response_model=PlanTimeline,
    responses=documented(401, 403, 404, 422),
    summary="Dry run: the absolute deadlines of a violation observed at a given time",
)
async def plan_timeline(
    plan_id: PlanPath,
    context: Annotated[ApiContext, Depends(get_context)],
    _: Reader,
    query: Annotated[TimelineQuery, Query()],
) -> PlanTimeline:
    observed_at, kind = query.observed_at, query.kind
    plan = _plan(plan_id)
    t0 = observed_at or await context.clock()
    if not EARLIEST <= t0 <= LATEST:
        raise ApiError(
            422, "invalid", "observed_at: must fall between 1970 and 9000", "observed_at"
        )
    if kind is not None and not plan.has_kind(kind):
        raise ApiError(
            422,
            "invalid",
            f"kind: {kind!r} is not a kind of plan {plan.id} ({', '.join(plan.kind_names)})",
            "kind",
        )
    return PlanTimeline(
        plan_id=plan.id,
        plan_version=plan.version,
        observed_at=t0,
        kind=kind,
        items=timeline(plan, t0, kind),
    )


def timeline(plan: Plan, t0: datetime, kind: str | None) -> list[TimelineItem]:
    """The schedule an incident of each kind would start with (the state machine's own, so the
    dry run cannot disagree with the engine), merged over the kinds it applies to."""
    items: dict[str, TimelineItem] = {}
    for name in [kind] if kind else list(plan.kind_names):
        report = ViolationReport(
            report_id="dry-run",
            kind=name,
            sector="dry-run",
            reported_by="dry-run",
            observed_at=t0,
            reported_at=t0,
        )
        state = IncidentState(IncidentInput(incident_id="dry-run", report=report, plan=plan), t0)
        for entry in state.schedule():
            item = items.get(entry.name)
            if item is None:
                items[entry.name] = TimelineItem(
                    at=entry.due_at,
                    t_plus_hours=entry.due_hours,
                    label=format_offset(entry.due_hours),
                    event=str(entry.kind),
                    name=entry.name,
                    title=entry.title,
                    applies_to=[name],
                )
            else:
                item.applies_to.append(name)
                if item.title != entry.title:  # the window's close, named per kind
                    item.title = f"Response window closes {item.label}"
    return list(items.values())
