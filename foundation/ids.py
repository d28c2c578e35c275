"""How an incident is named in Temporal: the workflow id is derived from the incident id, so a
duplicate report can never start a second execution and every log line can name its incident."""

INCIDENT_WORKFLOW_PREFIX = "incident-"
# Exercise incidents, and only they, have ids that start with this: the world an incident belongs
# to is read from its id, which no database edit can change.
EXERCISE_ID_PREFIX = "exercise-"


def workflow_id_for(incident_id: str) -> str:
    return f"{INCIDENT_WORKFLOW_PREFIX}{incident_id}"


def incident_id_from_workflow_id(workflow_id: str) -> str | None:
    """The incident an execution belongs to; None for a workflow that is not an incident's."""
    if not workflow_id.startswith(INCIDENT_WORKFLOW_PREFIX):
        return None
    return workflow_id.removeprefix(INCIDENT_WORKFLOW_PREFIX)


def is_exercise_id(incident_id: str) -> bool:
    return incident_id.startswith(EXERCISE_ID_PREFIX)
