"""Malformed messages sent straight to an incident's workflow through the Temporal client, past
the API: wrong types, unknown and missing fields, garbage payloads that are not even JSON,
unknown update, signal and query names, extra arguments. Each is refused (or, for a signal no
handler takes, ignored); the workflow never fails a task, loses nothing, and still takes the
next valid input and runs to its outcome."""

from __future__ import annotations

import asyncio
import random
import string
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RawValue
from temporalio.service import RPCError

from activities.sinks import ExerciseSink
from foundation.settings import Settings
from plans.loader import get_plan
from worker import WorkerDependencies, build_worker
from workflows.messages import (
    Action,
    DecisionInput,
    DecisionReceipt,
    Evidence,
    EvidenceInput,
    IncidentView,
    Outcome,
    ViolationReport,
)
from workflows.names import QUERY_STATE, UPDATE_COMMITMENT, UPDATE_DECISION, UPDATE_EVIDENCE
from workflows.starting import build_input, start_incident

CALL_TIMEOUT = 20.0  # a malformed call must be answered, not left hanging
SEED = 6
# Non-ASCII, each class of control character, bidi overrides and isolates, a line separator, a
# lone surrogate, CR: what the text rules refuse in the validators, mixed into the garbage.
HOSTILE = "éЖ漢🛰\x00\x1b\x7f\x85\x9b\u202a\u202e\u2066\u2069\u2028\ud800\r"


def garbage(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON-able value: the shapes a confused or hostile client might send."""
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 2**63, 3.5, float("1e308")])
    if choice == 3:
        return "".join(rng.choice(string.printable + HOSTILE) for _ in range(rng.randrange(0, 40)))
    if choice == 4:
        return rng.choice(["", " ", "uk", "commit", "authorize", "air", "\x00", "uk\x1b", "\u202e"])
    if choice == 5:
        return "x" * rng.choice([1000, 20000])
    if choice == 6:
        return [garbage(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    fields = [
        "source",
        "summary",
        "actor",
        "party",
        "answer",
        "assets",
        "action",
        "rationale",
        "new_kind",
        "extra",
    ]
    return {rng.choice(fields): garbage(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def raw(encoding: bytes, data: bytes) -> RawValue:
    return RawValue(Payload(metadata={"encoding": encoding}, data=data))


MALFORMED: list[tuple[str, list[Any]]] = [
    (UPDATE_EVIDENCE, []),  # no argument
    (UPDATE_EVIDENCE, [None]),
    (UPDATE_EVIDENCE, [42]),
    (UPDATE_EVIDENCE, ["allied-isr"]),
    (UPDATE_EVIDENCE, [{"source": 5}]),
    (UPDATE_EVIDENCE, [{}]),
    (UPDATE_EVIDENCE, [{"source": "   "}]),
    (UPDATE_EVIDENCE, [{"source": "x"}, {"source": "y"}]),  # one argument too many
    (UPDATE_COMMITMENT, [{"party": "uk", "answer": "maybe", "assets": ["air"]}]),
    (UPDATE_COMMITMENT, [{"party": "uk", "answer": "commit", "assets": "air"}]),
    (UPDATE_COMMITMENT, [{"party": "mordor", "answer": "commit", "assets": ["air"]}]),
    (UPDATE_COMMITMENT, [{"party": "uk", "answer": "commit", "assets": ["carrier-pigeon"]}]),
    (UPDATE_COMMITMENT, [{"party": "uk", "answer": "commit", "assets": ["air", "air"]}]),
    (UPDATE_COMMITMENT, [{"party": ["uk"], "answer": "commit"}]),
    # Well-formed but for their text: each refused by the text rules, naming the field.
    (UPDATE_EVIDENCE, [{"source": "osce\x00smm"}]),
    (UPDATE_EVIDENCE, [{"source": "osce-smm\x1b[2J"}]),
    (UPDATE_EVIDENCE, [{"source": "\u202eosce-smm"}]),
    (UPDATE_EVIDENCE, [{"source": "osce-smm", "summary": "seen\x9b"}]),
    (UPDATE_EVIDENCE, [{"source": "osce-smm", "summary": "one\r\ntwo"}]),
    (UPDATE_EVIDENCE, [{"source": "osce-smm", "summary": "Kyi\u0308v"}]),
    (UPDATE_EVIDENCE, [{"source": "osce-smm", "summary": "\ud800"}]),
    (UPDATE_EVIDENCE, [{"source": "osce-smm", "actor": "osce\u2066"}]),
    (UPDATE_EVIDENCE, [{"source": "x" * 201}]),
    (UPDATE_COMMITMENT, [{"party": "uk", "answer": "decline", "rationale": "no\x00"}]),
    (UPDATE_COMMITMENT, [{"party": "uk", "answer": "decline", "actor": "uk\x85"}]),
    (UPDATE_DECISION, [{"action": "stand_down", "actor": "duty\x1b", "rationale": "r"}]),
    (UPDATE_DECISION, [{"action": "stand_down", "actor": "duty", "rationale": "r\x00"}]),
    (UPDATE_DECISION, [{"action": "stand_down", "actor": "duty", "rationale": "\u202er"}]),
    (UPDATE_DECISION, [{"action": "nuke", "actor": "x", "rationale": "y"}]),
    (UPDATE_DECISION, [{"action": "authorize"}]),
    (UPDATE_DECISION, [{"action": "authorize", "actor": "duty", "rationale": "no quorum yet"}]),
    (
        UPDATE_DECISION,
        [{"action": "reclassify", "actor": "duty", "rationale": "r", "new_kind": "alien_invasion"}],
    ),
    (UPDATE_DECISION, [{"action": "confirm", "actor": "", "rationale": "r"}]),
    (UPDATE_DECISION, [{"action": "stand_down", "actor": "duty", "rationale": 7}]),
    ("self_destruct", [{}]),  # an update the workflow does not define
    ("", [None]),
    (UPDATE_EVIDENCE, [raw(b"json/plain", b"{not json")]),
    (UPDATE_EVIDENCE, [raw(b"binary/garbage", b"\x00\xff\xfe")]),
    (UPDATE_DECISION, [raw(b"json/protobuf", b"\x08\x96\x01")]),
    (
        UPDATE_COMMITMENT,
        [raw(b"json/plain", b'{"party": "uk", "answer": "commit", "assets": ["air"]')],
    ),
]


async def _answered(coro: Any) -> str:
    """How a malformed call was answered: an error name. A hang fails the test."""
    try:
        await asyncio.wait_for(coro, CALL_TIMEOUT)
    except TimeoutError:
        raise AssertionError(f"a malformed call went unanswered for {CALL_TIMEOUT} s") from None
    except (RPCError, Exception) as exc:  # noqa: BLE001 (any refusal is the right answer)
        return type(exc).__name__
    return "accepted"


async def _failed_tasks(handle: WorkflowHandle) -> Counter[str]:
    history = await handle.fetch_history()
    return Counter(EventType.Name(e.event_type) for e in history.events)


async def _settled(handle: WorkflowHandle) -> IncidentView:
    """The state once the three diplomatic steps started at verification have gone out."""
    for _ in range(100):
        view = await handle.query(QUERY_STATE, result_type=IncidentView)
        if len(view.dispatched) == 3 and view.persisted_seq == len(view.timeline):
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"the incident did not settle: {view.dispatched}, persisted {view.persisted_seq}"
    )


@pytest.fixture
async def incident(dev_env, sqlite_url: str) -> Any:
    client: Client = dev_env.client
    settings = Settings(database_url=sqlite_url, task_queue=f"fuzz-{uuid.uuid4().hex[:8]}")
    sink = ExerciseSink()
    deps = WorkerDependencies.build(settings, sink=sink, exercise_sink=sink)
    worker = build_worker(client, settings.task_queue, deps, settings)
    now = datetime.now(UTC)
    report = ViolationReport(
        report_id=f"fuzz-{uuid.uuid4().hex}", kind="large_scale_offensive", sector="kherson",
        reported_by="ua-general-staff", observed_at=now, reported_at=now,
        evidence=(Evidence("allied-isr", "imagery"),),
    )  # fmt: skip
    async with worker:
        # Real time (time_scale 1): no deadline falls due while the test runs.
        handle = await start_incident(
            client, build_input(report, get_plan()), settings.task_queue, now=now
        )
        yield handle
    await deps.close()


async def test_malformed_messages_never_fail_a_task_nor_lose_state(incident: WorkflowHandle):
    handle = incident
    before = await _settled(handle)
    answers: Counter[str] = Counter()

    for name, args in MALFORMED:
        answers[await _answered(handle.execute_update(name, args=args))] += 1
    rng = random.Random(SEED)
    for _ in range(60):
        name = rng.choice([UPDATE_EVIDENCE, UPDATE_COMMITMENT, UPDATE_DECISION, "unknown_update"])
        args = [garbage(rng) for _ in range(rng.choice([0, 1, 1, 1, 2]))]
        answers[await _answered(handle.execute_update(name, args=args))] += 1
    # Signals: the workflow defines none, so every one is buffered and never handled.
    for name, args in [
        ("submit_evidence", [{"source": "osce-smm"}]),
        ("stand_down", []),
        ("x", [raw(b"binary/garbage", b"\x00")]),
    ]:
        await asyncio.wait_for(handle.signal(name, args=args), CALL_TIMEOUT)
    # Queries: unknown names and unexpected arguments are the caller's error, not the workflow's.
    for name, args in [("no_such_query", []), (QUERY_STATE, [raw(b"binary/garbage", b"\x00")])]:
        answers[f"query:{await _answered(handle.query(name, args=args))}"] += 1
    # Extra arguments to the state query are ignored: it still answers, unchanged.
    assert (
        await handle.query(QUERY_STATE, args=[1, 2, 3], result_type=IncidentView)
    ).timeline == before.timeline

    assert answers["accepted"] == 0, f"a malformed update was accepted: {answers}"
    events = await _failed_tasks(handle)
    assert events["EVENT_TYPE_WORKFLOW_TASK_FAILED"] == 0, events
    assert events["EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"] == 0, (
        "a malformed update reached the history"
    )
    after = await handle.query(QUERY_STATE, result_type=IncidentView)
    assert after.timeline == before.timeline and after.phase == before.phase, "the state changed"

    # Still alive and well: a valid input is taken, and the incident runs to its outcome.
    receipt = await handle.execute_update(
        UPDATE_EVIDENCE,
        EvidenceInput("osce-smm", "monitors confirm", "osce"),
        result_type=DecisionReceipt,
    )
    assert receipt.decisions == ("evidence_accepted",)
    # Unknown fields are dropped by the SDK's JSON converter, not refused (the API refuses them
    # at the edge): the update counts for its known fields only, and nothing else is kept.
    lenient = await handle.execute_update(
        UPDATE_EVIDENCE, args=[{"source": "sentinel-2", "admin": True}], result_type=DecisionReceipt
    )
    assert lenient.decisions == ("evidence_accepted",)
    last = (await handle.query(QUERY_STATE, result_type=IncidentView)).timeline[-1]
    assert last.payload["source"] == "sentinel-2" and "admin" not in str(last.payload)
    done = await handle.execute_update(
        UPDATE_DECISION,
        DecisionInput(Action.STAND_DOWN, "duty-officer", "columns withdrew"),
        result_type=DecisionReceipt,
    )
    assert done.outcome is Outcome.STOOD_DOWN
    view = await asyncio.wait_for(handle.result(), CALL_TIMEOUT)
    assert view.outcome is Outcome.STOOD_DOWN
    assert [d.kind for d in view.timeline][: len(before.timeline)] == [
        d.kind for d in before.timeline
    ]
    events = await _failed_tasks(handle)
    assert events["EVENT_TYPE_WORKFLOW_TASK_FAILED"] == 0, events
    total = len(MALFORMED) + 60
    assert sum(n for k, n in answers.items() if not k.startswith("query:")) == total
    print(f"\n{total} malformed updates, 3 signals, 3 queries: {dict(answers)}")
