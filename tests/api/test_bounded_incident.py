"""A busy incident stays answerable: thousands of inputs, long non-ASCII text, several runs.

The soak sends 5,000 inputs to one incident through the API, some with 8 KB of Cyrillic text,
and then stands it down: the query still answers within a second, the stand-down is accepted,
the incident closes stood down, every run replays and the ledger verifies, on both databases.
Idempotency keys outlive a run: on a dev server whose update limit is lowered (dynamic config),
a retried key that reaches the next run is answered with its first receipt.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from db.audit import audited_ledger, find_incident
from exercises.histories import replayer
from foundation.converter import DATA_CONVERTER
from foundation.settings import Settings
from tests.api.conftest import report
from tests.workflows.test_continue_as_new import PAYLOAD_WARNING, runs_of
from workflows.incident import IncidentWorkflow
from workflows.servers import start_dev_server

INPUTS = int(os.environ.get("SOAK_INPUTS", "5000"))
# ~8 KB in UTF-8: 4,000 Cyrillic characters (two bytes each), the longest summary the API takes.
CYRILLIC = ("Колонна бронетехники пересекла линию соприкосновения у села. " * 70)[:4000]
# Fewer than the 10 updates Temporal holds in flight per execution: none is refused for that.
CLIENTS = 8
ALLIES = ("uk", "us", "pl", "fr")


@pytest.fixture
def settings(database_url: str, task_queue: str) -> Settings:
    # One cell sending as fast as it can: the per-token limits of a real deployment would (rightly)
    # slow it down; this test is about what the incident holds, not about pacing callers.
    return Settings(
        database_url=database_url,
        task_queue=task_queue,
        intake_rate_per_minute=1_000_000,
        write_rate_per_minute=1_000_000,
        write_burst=1_000_000,
    )


async def _send_all(http, incident_id: str, tokens) -> tuple[int, int, list[float]]:
    """5,000 inputs from 8 clients at once: evidence (every 25th with 8 KB of Cyrillic) and
    allies changing their answers. Returns (evidence accepted, long texts sent, query times)."""
    path = f"/v1/incidents/{incident_id}"
    jobs = []
    for i in range(INPUTS):
        if i % 12 == 11:
            party = ALLIES[(i // 12) % len(ALLIES)]
            commit = (i // 48) % 2 == 0
            body = {"answer": "commit", "assets": ["air"]} if commit else {"answer": "decline"}
            jobs.append((f"{path}/commitments", body, f"ally:{party}"))
        else:
            summary = CYRILLIC if i % 25 == 0 else f"донесение {i}"
            body = {"source": f"sector-observer-{i % 40}", "summary": summary}
            jobs.append((f"{path}/evidence", body, "reporter"))
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    accepted_evidence = 0
    query_times: list[float] = []

    async def client() -> None:
        nonlocal accepted_evidence
        while not queue.empty():
            url, body, role = queue.get_nowait()
            key = uuid.uuid4().hex
            for _ in range(5):  # a 503 asks to retry with the same key
                response = await http.post(
                    url, json=body, headers={**tokens.auth(role), "Idempotency-Key": key}
                )
                if response.status_code != 503:
                    break
                await asyncio.sleep(0.5)
            assert response.status_code == 200, (url, response.status_code, response.text)
            if url.endswith("/evidence"):
                accepted_evidence += 1

    async def watcher(done: asyncio.Event) -> None:
        while not done.is_set():
            started = time.perf_counter()
            response = await http.get(path, headers=tokens.auth("observer"))
            query_times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            await asyncio.sleep(1)

    done = asyncio.Event()
    watching = asyncio.create_task(watcher(done))
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    done.set()
    await watching
    long_texts = sum(1 for _, body, _ in jobs if body.get("summary") == CYRILLIC)
    return accepted_evidence, long_texts, query_times


@pytest.mark.timeout(900)
async def test_five_thousand_inputs_one_incident(dev_env, run_worker, api, tokens, sessions):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        accepted = (
            await http.post("/v1/violations", json=report(), headers=tokens.auth("reporter"))
        ).json()
        incident_id = accepted["incident_id"]
        evidence, long_texts, during = await _send_all(http, incident_id, tokens)

        # After the load, the incident answers as fast as a new one.
        times = []
        for _ in range(5):
            started = time.perf_counter()
            detail = await http.get(f"/v1/incidents/{incident_id}", headers=tokens.auth("observer"))
            times.append(time.perf_counter() - started)
        assert detail.status_code == 200
        assert statistics.median(times) < 1.0, times
        handle = dev_env.client.get_workflow_handle_for(
            IncidentWorkflow.run, accepted["workflow_id"]
        )
        view = await handle.query(IncidentWorkflow.state)
        assert len(DATA_CONVERTER.payload_converter.to_payloads([view])[0].data) < PAYLOAD_WARNING

        stand_down = await http.post(
            f"/v1/incidents/{incident_id}/decisions",
            json={"action": "stand_down", "rationale": "the soak is over"},
            headers=tokens.auth("operator"),
        )
        assert stand_down.status_code == 200, stand_down.text
        assert stand_down.json()["outcome"] == "stood_down"
        result = await handle.result()
        verify = await http.get(
            f"/v1/incidents/{incident_id}/ledger/verify", headers=tokens.auth("observer")
        )
        pages, after = [], 0
        while after is not None:
            page = (
                await http.get(
                    f"/v1/incidents/{incident_id}/decisions",
                    params={"after": after, "limit": 1000},
                    headers=tokens.auth("observer"),
                )
            ).json()
            pages.append(page)
            after = page["next_after"]

    assert result.outcome == "stood_down" and result.run >= 5, (result.outcome, result.run)
    rows = list(itertools.chain.from_iterable(p["decisions"] for p in pages))
    assert [r["seq"] for r in rows] == list(range(1, result.decisions_total + 1))
    kinds = [r["kind"] for r in rows]
    assert kinds.count("evidence_accepted") == evidence == INPUTS - INPUTS // 12
    # The close notice's result follows the outcome; nothing the plan decides does.
    assert [k for k in kinds if k not in ("notified", "delivery_failed")][-1] == "stood_down"
    whole = [r for r in rows if r["text"] is not None]
    assert len(whole) == long_texts and all(r["text"] == CYRILLIC for r in whole)
    assert all(len(r["rationale"]) <= 280 for r in rows)
    assert verify.status_code == 200 and verify.json()["intact"], verify.text
    incident = await find_incident(sessions, incident_id)
    audit, _ = await audited_ledger(sessions, incident, dev_env.client)
    assert audit.intact and audit.checked_against_workflow, audit

    histories = await runs_of(dev_env.client, handle.id)
    # A query that reached a run in its last task went unanswered for 20 s (the server's long
    # poll) before workflows.updating asked again; now no query waits on a closed run.
    assert max(during) < 10, sorted(during)[-5:]
    assert len(histories) == result.run
    for history in histories:
        await replayer().replay_workflow(history)
        assert len(history.events) < 10_240  # Temporal's history warning, in every run
    print(
        f"soak: {INPUTS} inputs, {result.run} runs, {result.decisions_total} decisions; query "
        f"during load max {max(during):.3f}s median {statistics.median(during):.3f}s, "
        f"after {statistics.median(times):.3f}s"
    )


@pytest.fixture(scope="module")
async def limited_env() -> AsyncIterator:
    """A dev server that allows 10 updates per execution: Temporal itself suggests continuing
    after 9, so a test reaches a hand-over within seconds."""
    env = await start_dev_server(
        extra_args=["--dynamic-config-value", "history.maxTotalUpdates=10"]
    )
    yield env
    await env.shutdown()


async def test_an_idempotency_key_outlives_the_run(limited_env, run_worker, api, tokens):
    async with run_worker(limited_env.client), api(limited_env.client) as http:
        accepted = (
            await http.post("/v1/violations", json=report(), headers=tokens.auth("reporter"))
        ).json()
        path = f"/v1/incidents/{accepted['incident_id']}/evidence"
        first_body = {"source": "first-source", "summary": "первое донесение"}
        key = {"Idempotency-Key": "evidence-0001"}
        first = await http.post(path, json=first_body, headers={**tokens.auth("reporter"), **key})
        assert first.status_code == 200, first.text
        for i in range(25):  # past the server's limit: the incident continues as new
            response = await http.post(
                path, json={"source": f"s-{i}"}, headers=tokens.auth("reporter")
            )
            assert response.status_code == 200, response.text
        detail = (
            await http.get(
                f"/v1/incidents/{accepted['incident_id']}", headers=tokens.auth("observer")
            )
        ).json()
        retry = await http.post(path, json=first_body, headers={**tokens.auth("reporter"), **key})
        other = await http.post(
            path, json={"source": "another"}, headers={**tokens.auth("reporter"), **key}
        )
        ledger = (
            await http.get(
                f"/v1/incidents/{accepted['incident_id']}/decisions",
                headers=tokens.auth("observer"),
            )
        ).json()
        await limited_env.client.get_workflow_handle(accepted["workflow_id"]).terminate("over")

    assert detail["run"] >= 3, detail["run"]
    assert retry.status_code == 200 and retry.json() == first.json()
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"
    firsts = [d for d in ledger["decisions"] if d["payload"].get("source") == "first-source"]
    assert len(firsts) == 1
