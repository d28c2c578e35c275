"""The attack rerun of issue 12 at suite size, on SQLite and PostgreSQL: hostile traffic from 16
racing clients against a real stack (dev server, worker process SIGKILLed half-way, the API
under uvicorn), then the stuck-workflow sweep and the forgery catalogue. The targets: no 5xx,
no wrong answer, no stuck incident, every forgery detected, no false alarm.

``python -m tests.security.attack_rerun`` runs the same code at full size (25,000 requests).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

from tests.security.attack_client import Answer, Attacker
from tests.security.attack_rerun import run_attack
from tests.security.attacks import (
    FREE_POISON,
    LABEL_POISON,
    MAX_BODY_BYTES,
    Call,
    Expect,
    Generator,
    Race,
)

REQUESTS = 1_500


async def test_the_attack_classes_meet_every_target(database_url, tmp_path):
    summary = await run_attack(
        database_url, requests=REQUESTS, seed=12, clients=16, kill_worker=True, workdir=tmp_path
    )
    print(summary.table())
    assert summary.tally.calls >= REQUESTS and summary.kills == 1
    assert len(summary.tally.opened) >= 40 and len(summary.forgeries.tried) >= 12
    assert not summary.missed, summary.table()


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _calls(seed: int, n: int) -> list[Call]:
    out: list[Call] = []
    for script in Generator(seed, ("exercise-drill-00000000",), now=NOW).scripts(n):
        for step in script.steps:
            out.extend(step.calls if isinstance(step, Race) else (step,))
    return out


def test_the_generator_covers_every_attack_class_and_is_seeded():
    calls = _calls(12, REQUESTS)
    assert [c.content() for c in calls] == [c.content() for c in _calls(12, REQUESTS)]
    labels = Counter(c.label.split(":")[-1] for c in calls)
    for poison in {*LABEL_POISON, *FREE_POISON}:
        assert labels[poison] > 0, f"no {poison} sent"
    for attack in (
        "oversize", "oversize-body", "unknown-field", "unknown-param", "no-token", "bad-token",
        "other-party", "wrong-role", "key-replayed", "key-other-body", "key-raced", "after-close",
        "same-id-other-body", "real-as-exercise", "exercise-as-real", "long", "raced", "future",
    ):  # fmt: skip
        assert labels[attack] > 0, f"no {attack} attack"
    bodies = [c.content() or b"" for c in calls]
    assert any(b"\\ud800" in b for b in bodies), "lone surrogates go as JSON escapes"
    assert any(len(b) > MAX_BODY_BYTES for b in bodies)
    assert any("\r\n" in json.loads(b).get("summary", "") for b in bodies if b.startswith(b"{"))
    assert {c.expect for c in calls} == set(Expect)


def _answer(call: Call, status: int, body: object = None, retry_after: str | None = None):
    return Answer(call, status, body, json.dumps(body), retry_after, 1)


def test_the_judge_counts_wrong_answers_and_failures():
    nul = Call(
        "report.sector:nul", "POST", "/v1/violations", Expect.REFUSED, status=frozenset({422})
    )
    attacker = Attacker("http://unused", {})
    error = {"status": 422, "code": "invalid", "message": "sector: …", "field": "sector"}
    attacker._judge(_answer(nul, 422, error), {})
    assert attacker.tally.wrong == 0
    attacker._judge(_answer(nul, 202, {"incident_id": "x"}), {})  # a NUL accepted
    attacker._judge(_answer(nul, 409, {**error, "status": 409}), {})  # not the refusal it must be
    attacker._judge(_answer(nul, 422, {**error, "field": None}), {})  # no field named
    assert attacker.tally.wrong == 3
    attacker._judge(_answer(nul, 500, {"status": 500}), {})
    attacker._judge(_answer(nul, 503, {"status": 503}), {})  # a 503 without Retry-After
    assert attacker.tally.failures == 2
    attacker._judge(_answer(nul, 503, {"status": 503}, retry_after="1"), {})
    assert attacker.tally.failures == 2 and attacker.tally.retried_out[503] == 1
    first = Call("evidence", "POST", "/x", Expect.OK, remember="k")
    memory: dict[str, object] = {}
    attacker._judge(_answer(first, 200, {"update_id": "u1", "seq": 3}), memory)
    replay = Call("evidence:key-replayed", "POST", "/x", Expect.OK, same_as="k")
    attacker._judge(_answer(replay, 200, {"update_id": "u2", "seq": 4}), memory)
    assert attacker.tally.wrong == 4
