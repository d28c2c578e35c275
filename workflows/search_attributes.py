"""Custom search attributes the incident workflow keeps current for operators.

Register them on any server the workflow runs on (dev server, time-skipping server, cluster):
a workflow that upserts an unregistered attribute fails its task and stalls.
"""

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

INCIDENT_KIND = SearchAttributeKey.for_keyword("IncidentKind")
INCIDENT_PHASE = SearchAttributeKey.for_keyword("IncidentPhase")
INCIDENT_OUTCOME = SearchAttributeKey.for_keyword("IncidentOutcome")
INCIDENT_SECTOR = SearchAttributeKey.for_keyword("IncidentSector")
# Every sector the response covers (reports of one offensive join it).
INCIDENT_SECTORS = SearchAttributeKey.for_keyword_list("IncidentSectors")
AWAITING = SearchAttributeKey.for_keyword("IncidentAwaiting")
PLAN_ID = SearchAttributeKey.for_keyword("PlanId")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
EXERCISE = SearchAttributeKey.for_bool("Exercise")
# Everything the incident waits on, acknowledgements of escalation notices included
# ("acknowledgement:level-2"). A list of its own: an existing cluster refuses to change the type
# of IncidentAwaiting, which stays the one keyword it always was.
AWAITS = SearchAttributeKey.for_keyword_list("IncidentAwaits")

ALL = (
    INCIDENT_KIND,
    INCIDENT_PHASE,
    INCIDENT_OUTCOME,
    INCIDENT_SECTOR,
    AWAITING,
    PLAN_ID,
    ESCALATION_LEVEL,
    NEXT_DEADLINE,
    EXERCISE,
    AWAITS,
    INCIDENT_SECTORS,
)


async def ensure_search_attributes(
    client: Client, namespace: str, keys: tuple[SearchAttributeKey, ...] = ALL
) -> list[str]:
    """Register any missing custom search attribute; returns the names it added."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as exc:
        # The time-skipping test server can add attributes but not list them.
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in keys
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
