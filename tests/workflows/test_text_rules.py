"""The text rules in the workflow itself: a Temporal client that bypasses the API is refused the
very text the API refuses (a refused update naming the field, nothing in the history), and text
the API would have normalised (CRLF, NFD, surrounding spaces) is refused, not rewritten."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from db.models import Incident, LedgerDecision
from plans.loader import get_plan
from tests.workflows.support import REPORTER, assert_ledger_matches, ledger_rows, start_drill
from tests.workflows.test_validators import accepted_updates
from workflows.incident import IncidentWorkflow
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    DecisionInput,
    Evidence,
    EvidenceInput,
    ViolationReport,
)
from workflows.starting import build_input, start_incident
from workflows.text import FIELDS, SOURCE, check_normalised, normalise

NUL, ESC, CSI, RLO, LRI = "\x00", "\x1b", "\x9b", "\u202e", "\u2066"

EVIDENCE = EvidenceInput(source="allied-isr", summary="imagery", actor="isr-cell")
COMMITMENT = CommitmentInput(party="uk", answer=Answer.COMMIT, assets=("air",), actor="ally-uk")
DECISION = DecisionInput(action=Action.CONFIRM, actor="duty-officer", rationale="seen")

REFUSED = [
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, source=f"allied{NUL}isr"), "source", "control character (U+0000) at position 6"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, source=f"isr{ESC}[2J"), "source", "control character (U+001B)"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, source=f"isr{CSI}"), "source", "control character (U+009B)"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, source=f"{RLO}rsi"), "source", "bidirectional control character (U+202E)"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, source="isr\ncell"), "source", "a label is one line"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, source="x" * 201), "source", "201 characters long"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, source=" allied-isr"), "source", "leading or trailing whitespace"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, summary=f"seen{NUL}"), "summary", "U+0000"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, summary=f"{LRI}seen"), "summary", "bidirectional"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, summary="one\r\ntwo"), "summary", "carriage return (U+000D) at position 3"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, summary="Kyi\u0308v"), "summary", "not in Unicode normalisation form NFC"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, summary="\ud800"), "summary", "lone surrogate (U+D800)"),
    (IncidentWorkflow.submit_evidence, replace(EVIDENCE, actor=f"isr{ESC}"), "actor", "U+001B"),
    (IncidentWorkflow.submit_commitment, replace(COMMITMENT, party=f"uk{NUL}"), "party", "U+0000"),
    (IncidentWorkflow.submit_commitment, replace(COMMITMENT, actor=f"{RLO}ku"), "actor", "U+202E"),
    (IncidentWorkflow.submit_commitment, replace(COMMITMENT, rationale=f"ok{ESC}"), "rationale", "U+001B"),
    (IncidentWorkflow.submit_decision, replace(DECISION, actor=f"duty{CSI}"), "actor", "U+009B"),
    (IncidentWorkflow.submit_decision, replace(DECISION, rationale=f"seen{NUL}"), "rationale", "U+0000"),
    (IncidentWorkflow.submit_decision, replace(DECISION, rationale="seen\r"), "rationale", "carriage return"),
    (IncidentWorkflow.submit_decision, replace(DECISION, rationale="x" * 4001), "rationale", "4001 characters"),
    (IncidentWorkflow.submit_decision, DecisionInput(Action.RECLASSIFY, "duty", "r", new_kind=f"limited_incursion{RLO}"), "new_kind", "U+202E"),
]  # fmt: skip


async def test_bad_text_sent_past_the_api_is_refused_naming_the_field(
    ts_env, run_worker, sessions, task_queue
):
    async with run_worker(ts_env.client):
        drill = await start_drill(ts_env, task_queue, "large_scale_offensive")
        await drill.at(1)
        before = await drill.view()
        for update, argument, field, words in REFUSED:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await drill.handle.execute_update(update, argument)
            cause = refused.value.cause
            assert isinstance(cause, ApplicationError) and cause.type == "Rejected", cause
            assert cause.details[0] == {"field": field, "reason": "invalid"}, (field, cause)
            assert cause.message.startswith(f"{field}: ") and words in cause.message, cause
        assert (await drill.view()).timeline == before.timeline
        assert await accepted_updates(drill.handle) == 0

        # Text that follows the rules, non-ASCII and multi-line included, goes in as it was sent.
        summary = "Колони бронетехніки\n\tперетнули лінію — «Запоріжжя»"
        await drill.handle.execute_update(
            IncidentWorkflow.submit_evidence,
            EvidenceInput(source="Збройні сили", summary=summary, actor="isr-cell"),
        )
        await drill.decide(Action.STAND_DOWN, "Withdrawn.\nConfirmed by OSCE")
        view = await drill.result()
    rows = await assert_ledger_matches(sessions, view)
    evidence = next(r for r in rows if r.kind == "evidence_accepted")
    assert evidence.rationale == summary and evidence.payload["source"] == "Збройні сили"
    stand_down = next(r for r in rows if r.kind == "stand_down")
    assert stand_down.rationale == "Withdrawn.\nConfirmed by OSCE"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: replace(r, sector=f"kherson{NUL}"), "sector"),
        (lambda r: replace(r, reported_by=f"{RLO}ffats"), "reported_by"),
        (lambda r: replace(r, report_id=f"{r.report_id}{ESC}"), "report_id"),
        (lambda r: replace(r, summary="a\r\nb"), "summary"),
        (lambda r: replace(r, evidence=(Evidence(f"isr{CSI}"),)), "evidence[0].source"),
    ],
)
async def test_a_report_started_past_the_api_with_bad_text_fails_at_once(
    ts_env, run_worker, sessions, task_queue, change, field
):
    """The start of a workflow has no validator: the incident fails for good, before its first
    ledger write, with the field named."""
    now = await ts_env.get_current_time()
    report = ViolationReport(
        report_id=f"text-{uuid.uuid4().hex}", kind="large_scale_offensive", sector="kherson",
        reported_by=REPORTER, observed_at=now, reported_at=now,
    )  # fmt: skip
    incident = build_input(change(report), get_plan())
    async with run_worker(ts_env.client):
        handle = await start_incident(ts_env.client, incident, task_queue, now=now)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidIncident"
    assert cause.message.startswith(f"{field}: ")
    assert await ledger_rows(sessions, incident.incident_id) == []


def test_the_limits_fit_the_database_columns():
    columns = {
        "report_id": Incident.__table__.c.report_id,
        "sector": Incident.__table__.c.sector,
        "reported_by": Incident.__table__.c.reported_by,
        # A source or a party is the actor of its decision when none is named.
        "actor": LedgerDecision.__table__.c.actor,
        "source": LedgerDecision.__table__.c.actor,
        "party": LedgerDecision.__table__.c.actor,
        "summary": Incident.__table__.c.summary,
        "rationale": LedgerDecision.__table__.c.rationale,
        "text": LedgerDecision.__table__.c.rationale,  # a journal note is its row's rationale
    }
    assert {spec.name for spec in FIELDS} == set(columns)
    for spec in FIELDS:
        length = getattr(columns[spec.name].type, "length", None)
        assert length is None or spec.max_chars <= length, spec
        assert spec.max_chars <= 4000, spec


def test_normalisation_and_its_check_agree():
    assert normalise("  Kyi\u0308v ", SOURCE) == "Kyïv"
    check_normalised("Kyïv", SOURCE)
    # NFC may change a string's length: the limit counts the normalised characters.
    assert len(normalise("e\u0301" * 200, SOURCE)) == 200
    with pytest.raises(ValueError, match="at most 200"):
        normalise("x" * 201, SOURCE)
