"""A workflow that cannot take input answers FAILED_PRECONDITION: the API says why, as a 409 (its
workflow task failing) or a 503 with Retry-After (over Temporal's limit on updates), never 500."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.errors import temporal_refusal
from foundation.ids import workflow_id_for
from tests.api.conftest import report
from workflows.incident import IncidentWorkflow
from workflows.messages import EvidenceInput
from workflows.names import INCIDENT_WORKFLOW
from workflows.servers import start_dev_server
from workflows.starting import incident_id_for

MAX_UPDATES = 3


@pytest.fixture(scope="module")
async def capped_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server that lets one execution take only a few updates (2,000 by default)."""
    env = await start_dev_server(
        extra_args=["--dynamic-config-value", f"history.maxTotalUpdates={MAX_UPDATES}"]
    )
    yield env
    await env.shutdown()


async def test_past_the_update_limit_the_incident_continues_as_new(
    capped_env, run_worker, api, tokens
):
    """Temporal allows this execution only a few updates: the incident hands over to a new run
    before each limit, so every input is taken, none refused for the limit."""
    async with run_worker(capped_env.client), api(capped_env.client) as http:
        opened = await http.post("/v1/violations", json=report(), headers=tokens.auth("reporter"))
        incident = opened.json()["incident_id"]
        try:
            answers = [
                await http.post(
                    f"/v1/incidents/{incident}/evidence",
                    json={"source": f"source-{n}"},
                    headers=tokens.auth("reporter"),
                )
                for n in range(MAX_UPDATES * 3)
            ]
            assert [a.status_code for a in answers] == [200] * (MAX_UPDATES * 3), [
                a.text for a in answers if a.status_code != 200
            ]
            stand_down = await http.post(
                f"/v1/incidents/{incident}/decisions",
                json={"action": "stand_down", "rationale": "noise"},
                headers=tokens.auth("operator"),
            )
            assert stand_down.status_code == 200, stand_down.text
            shown = await http.get(f"/v1/incidents/{incident}", headers=tokens.auth("observer"))
            assert shown.status_code == 200 and shown.json()["run"] >= 3, shown.text
        finally:
            handle = capped_env.client.get_workflow_handle(workflow_id_for(incident))
            if (await handle.describe()).status.name == "RUNNING":
                # It may complete meanwhile (the stand-down's close notice going out).
                with contextlib.suppress(RPCError):
                    await handle.terminate()


def test_the_update_limit_itself_is_a_503_with_retry_after():
    """Should an incident reach Temporal's limit all the same (a hand-over held up by its
    ledger), the refusal asks the caller to retry, with the same key."""
    refused = temporal_refusal(
        RPCError(
            "limit on the total number of distinct updates in this workflow execution has "
            "been reached (2000)",
            RPCStatusCode.FAILED_PRECONDITION,
            b"",
        )
    )
    assert refused is not None and refused.status == 503
    assert refused.headers == {"Retry-After": "5"}
    assert "limit on the total number of distinct updates" in refused.message


@pytest.fixture(scope="module")
async def broken_incident(capped_env) -> AsyncIterator[tuple[dict[str, object], str]]:
    """A report, and its incident's execution started beforehand with an input the workflow
    cannot decode: its task fails on every attempt. Both databases' tests land on it."""
    body = report()
    incident = incident_id_for(str(body["report_id"]), str(body["sector"]))
    queue = f"broken-{uuid.uuid4().hex[:8]}"
    async with Worker(capped_env.client, task_queue=queue, workflows=[IncidentWorkflow]):
        broken = await capped_env.client.start_workflow(
            INCIDENT_WORKFLOW,
            {"not": "an incident"},
            id=workflow_id_for(incident),
            task_queue=queue,
        )
        try:
            await until_a_task_failed(broken)
            # Temporal holds the first update until the task's next (backed-off) attempt fails
            # too, about 20 s; from then on it refuses at once. Pay that wait once, here.
            with pytest.raises(RPCError) as first:
                await broken.execute_update(
                    IncidentWorkflow.submit_evidence,
                    EvidenceInput(source="primer", summary="", actor="test"),
                )
            assert first.value.status is RPCStatusCode.FAILED_PRECONDITION
            yield body, incident
        finally:
            await broken.terminate()


async def test_a_workflow_whose_task_fails_refuses_input_with_409(
    capped_env, broken_incident, run_worker, api, tokens
):
    """The report lands on the broken execution (USE_EXISTING); its evidence is refused by
    Temporal, and the API says the incident cannot take input."""
    body, incident = broken_incident
    async with run_worker(capped_env.client), api(capped_env.client) as http:
        opened = await http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
        assert opened.json()["incident_id"] == incident
        refused = await http.post(
            f"/v1/incidents/{incident}/evidence",
            json={"source": "allied-isr"},
            headers=tokens.auth("reporter"),
        )
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "conflict"
    assert refused.json()["message"].startswith("the incident cannot take input: ")
    assert "failed state" in refused.json()["message"]


async def until_a_task_failed(handle: WorkflowHandle) -> None:
    for _ in range(200):
        described = await handle.describe()
        if described.raw_description.pending_workflow_task.attempt >= 2:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the workflow task never failed")


@pytest.mark.parametrize(
    ("message", "reading", "status"),
    [
        ("The limit on the total number of distinct updates ... has been reached (2000).", False, 503),
        ("maximum number of updates exceeded", False, 503),
        ("Unable to perform workflow execution update due to Workflow Task in failed state.", False, 409),
        ("Unable to query workflow due to Workflow Task in failed state.", True, 409),
        # A read is never told to wait for an update limit: reads are not limited.
        ("The limit on the total number of distinct updates ... has been reached (2000).", True, 409),
    ],
)  # fmt: skip
def test_failed_precondition_is_a_409_or_a_503(message: str, reading: bool, status: int) -> None:
    refused = temporal_refusal(
        RPCError(message, RPCStatusCode.FAILED_PRECONDITION, b""), reading=reading
    )
    assert refused is not None and refused.status == status
    assert message in refused.message
    assert ("Retry-After" in (refused.headers or {})) is (status == 503)


def test_other_statuses_are_left_to_the_generic_handler() -> None:
    assert temporal_refusal(RPCError("gone", RPCStatusCode.UNAVAILABLE, b"")) is None
