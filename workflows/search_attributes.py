"""Custom search attributes the incident workflow keeps current for operators.

Register them on any server the workflow runs on (dev server, time-skipping server, cluster):
a workflow that upserts an unregistered attribute fails its task and stalls.
"""

from temporalio.common import SearchAttributeKey

INCIDENT_KIND = SearchAttributeKey.for_keyword("IncidentKind")
INCIDENT_PHASE = SearchAttributeKey.for_keyword("IncidentPhase")
INCIDENT_OUTCOME = SearchAttributeKey.for_keyword("IncidentOutcome")
INCIDENT_SECTOR = SearchAttributeKey.for_keyword("IncidentSector")
AWAITING = SearchAttributeKey.for_keyword("IncidentAwaiting")
PLAN_ID = SearchAttributeKey.for_keyword("PlanId")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
EXERCISE = SearchAttributeKey.for_bool("Exercise")

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
)
