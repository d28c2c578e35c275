"""Names shared by the workflow, its worker and its clients."""

TASK_QUEUE = "contingency-response"
EXERCISE_TASK_QUEUE = "contingency-exercise"

INCIDENT_WORKFLOW = "IncidentResponse"

UPDATE_EVIDENCE = "submit_evidence"
UPDATE_COMMITMENT = "submit_commitment"
UPDATE_DECISION = "submit_decision"
QUERY_STATE = "state"


def workflow_id_for(incident_id: str) -> str:
    return f"incident-{incident_id}"


def incident_id_from_workflow_id(workflow_id: str) -> str:
    return workflow_id.removeprefix("incident-")
