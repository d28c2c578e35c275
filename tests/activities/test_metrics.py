"""Prometheus metrics after a scripted incident: the engine's counters move by exactly what the
incident did (a retried ledger batch adds nothing), the API counts its requests by route, and a
worker started with CONTINGENCY_METRICS_PORT serves the SDK's metrics and the engine's on one port."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from foundation.settings import Settings
from plans.loader import get_plan
from tests.serving import free_port
from tests.workflows.support import start_drill
from worker import run as run_worker_process
from workflows.activity_inputs import RecordDecisionsInput
from workflows.messages import Action, IncidentSnapshot, IncidentView, ViolationReport
from workflows.starting import build_input, start_incident


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite only: the counters are process-wide, and the dialects are covered elsewhere."""
    return sqlite_url


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, frozenset], float]:
    response = await http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def snapshot_of(view: IncidentView, run_id: str) -> IncidentSnapshot:
    """The view's header (the snapshot it extends), as a ledger batch carries it."""
    header = {f.name: getattr(view, f.name) for f in fields(IncidentSnapshot)}
    return replace(IncidentSnapshot(**header), run_id=run_id)


async def test_engine_metrics_after_a_scripted_activation(
    ts_env, run_worker, api, tokens, task_queue, sessions, ledger_writer
):
    async with run_worker(ts_env.client), api(ts_env.client, clock=ts_env.get_current_time) as http:
        before = await scrape(http)
        drill = await start_drill(ts_env, task_queue, "large_scale_offensive")
        await drill.at(13)  # not verified by T0+12h: presumed, escalated to level 2
        await drill.commit("uk", "air", "naval")
        await drill.commit("pl", "ground")
        await drill.commit("us", "air")
        await drill.at(30)
        await drill.decide(Action.AUTHORIZE, "quorum reached")
        final = await drill.result()
        incident = final.incident_id
        assert (
            await http.get(f"/v1/incidents/{incident}", headers=tokens.auth("observer"))
        ).status_code == 200
        after = await scrape(http)

        # The ledger activity retried with a batch it already wrote: nothing is counted again.
        run_id = drill.handle.result_run_id or ""
        retry = RecordDecisionsInput(
            incident=snapshot_of(final, run_id), decisions=final.timeline[-2:]
        )
        result = await ActivityEnvironment().run(ledger_writer.record_decisions, retry)
        assert result.written == 0
        again = await scrape(http)

    def delta(name: str, scraped=after, **labels: str) -> float:
        return value(scraped, name, **labels) - value(before, name, **labels)

    real = {"exercise": "false"}
    assert delta("contingency_incidents_closed_total", outcome="activated", **real) == 1
    assert delta("contingency_escalations_total", level="2", **real) == 1
    assert delta("contingency_decisions_total", kind="authorize", **real) == 1
    assert delta("contingency_decisions_total", kind="commitment", **real) == 3
    assert delta("contingency_time_to_activation_hours_count", **real) == 1
    assert 29.9 < delta("contingency_time_to_activation_hours_sum", **real) < 30.1
    assert delta("contingency_time_to_activation_hours_bucket", le="36.0", **real) == 1
    assert delta("contingency_time_to_activation_hours_bucket", le="24.0", **real) == 0
    assert (
        delta("contingency_ledger_write_seconds_count") >= 5
    )  # reported, presumed+escalated, 3 commitments, ...
    assert delta("contingency_ledger_write_seconds_sum") > 0
    assert (
        delta(
            "contingency_api_requests_total",
            method="GET",
            route="/v1/incidents/{incident_id}",
            status="200",
        )
        == 1
    )
    assert (
        delta(
            "contingency_api_request_seconds_count",
            method="GET",
            route="/v1/incidents/{incident_id}",
        )
        == 1
    )
    assert not [key for key in after if incident in str(key)], "no incident id may become a label"

    # The retried batch was timed, but none of its decisions was counted again.
    assert delta("contingency_decisions_total", again, kind="authorize", **real) == 1
    assert delta("contingency_incidents_closed_total", again, outcome="activated", **real) == 1
    assert (
        delta("contingency_ledger_write_seconds_count", again)
        == delta("contingency_ledger_write_seconds_count") + 1
    )


async def test_unknown_paths_are_one_series(api, ts_env) -> None:
    async with api(ts_env.client) as http:
        for junk in ("/wp-admin", "/.env", f"/{uuid.uuid4().hex}"):
            assert (await http.get(junk)).status_code == 404
        scraped = await scrape(http)
    assert (
        value(
            scraped, "contingency_api_requests_total", method="GET", route="unmatched", status="404"
        )
        >= 3
    )
    assert not [key for key in scraped if "wp-admin" in str(key)]


async def test_worker_serves_sdk_and_engine_metrics_on_one_port(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    port = free_port()
    settings = Settings(
        database_url=sqlite_url,
        temporal_address=dev_env.client.service_client.config.target_host,
        task_queue=f"tq-metrics-{uuid.uuid4().hex[:8]}",
        metrics_port=port,
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker_process(settings, stop))
    try:
        now = datetime.now(UTC)
        report = ViolationReport(
            report_id=f"metrics-{uuid.uuid4().hex}", kind="ceasefire_breach", sector="Luhansk",
            reported_by="osce", observed_at=now - timedelta(hours=80), reported_at=now,
        )  # fmt: skip
        handle = await start_incident(
            dev_env.client, build_input(report, get_plan()), settings.task_queue, now=now
        )
        await asyncio.wait_for(handle.result(), 30)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            text = (await http.get("/metrics")).text
    finally:
        stop.set()
        await worker
    names = {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }
    # The SDK core's, re-exposed: workflow and activity latencies, counters with _total.
    assert "temporal_workflow_completed_total" in names, sorted(
        n for n in names if n.startswith("temporal")
    )
    assert "temporal_activity_execution_latency_seconds_bucket" in names, sorted(
        n for n in names if n.startswith("temporal")
    )
    assert "temporal_workflow_task_execution_latency_seconds_bucket" in names
    # The engine's own, from the same endpoint.
    assert (
        "contingency_incidents_closed_total" in names
        and "contingency_ledger_write_seconds_bucket" in names
    )
    # Stopped with the worker.
    async with httpx.AsyncClient() as http:
        try:
            await http.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
            raise AssertionError("the metrics endpoint outlived the worker")
        except httpx.ConnectError:
            pass
