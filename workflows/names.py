"""Names shared by the workflow, its worker and its clients: the workflow type, its updates and
query, and the activities it schedules (by name, so the workflow needs no activity code)."""

INCIDENT_WORKFLOW = "IncidentResponse"

UPDATE_EVIDENCE = "submit_evidence"
UPDATE_COMMITMENT = "submit_commitment"
UPDATE_DECISION = "submit_decision"
# An escalation notice acknowledged, by a recipient's link or by an operator.
UPDATE_ACKNOWLEDGE = "acknowledge"
# The crisis cell's journal: a note or a shift handover, in the ledger, deciding nothing.
UPDATE_NOTE = "add_note"

# A committed party's report after activation: assets deployed or withdrawn.
UPDATE_DEPLOYMENT = "report_deployment"
# Another report of the same offensive joins an open response.
UPDATE_JOIN = "join_report"
# An absorbed incident's handover to the incident that absorbs it (a merge).
UPDATE_ABSORB = "absorb_incident"
QUERY_STATE = "state"

# The ApplicationError type of a refused input; its details carry a messages.Refusal.
REFUSAL_ERROR = "Rejected"
# The ApplicationError type of an update refused while a run hands over to the next
# (continue-as-new): retryable, and the API retries it.
CONTINUING_ERROR = "IncidentContinuing"

ACTIVITY_RECORD_DECISIONS = "record_decisions"
ACTIVITY_DISPATCH_STEP = "dispatch_step"
# One notice (workflows/notices.py) fanned out to every recipient of its audiences.
ACTIVITY_SEND_NOTICE = "send_notice"
# A merge: the absorbed incident's content handed to the absorbing one (its UPDATE_ABSORB).
ACTIVITY_HAND_OVER = "hand_over_incident"
# The ApplicationError type the handover raises when the absorbing incident refused it (or is
# not open): not retried; its details carry a messages.Refusal.
MERGE_REFUSED = "MergeRefused"
# The ApplicationError type the notice activity raises while a recipient is still undelivered
# and attempts remain: retried with backoff by the activity's policy.
NOTICE_UNDELIVERED = "NoticeUndelivered"

# The ApplicationError type of a ledger batch the database refused for good (a NUL in text on
# PostgreSQL, a row already there with other content): not retried by the activity's policy.
LEDGER_REFUSED = "LedgerRefused"
