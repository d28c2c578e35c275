"""OpenTelemetry: one trace from the API request through the workflow to its activities, and
tracing off (no interceptor, no instrumentation) unless the one setting asks for it."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from api.app import create_app
from foundation.ids import workflow_id_for
from foundation.settings import Settings
from foundation.tracing import (
    TracingConfigError,
    exporter_for,
    instrument_api,
    provider_for,
    temporal_interceptors,
)
from tests.api.conftest import report


async def test_one_trace_from_the_request_to_the_activities(
    dev_env, run_worker, settings, sessions, tokens
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = Client(**{**dev_env.client.config(), "interceptors": temporal_interceptors(provider)})
    app = create_app(settings, client=client, sessions=sessions)
    instrument_api(app, provider)

    observed = datetime.now(UTC) - timedelta(hours=80)  # the window has closed: it ends at once
    body = report(kind="ceasefire_breach", sector="Luhansk", observed_at=observed.isoformat())
    async with run_worker(client):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            accepted = await http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
        assert accepted.status_code == 202, accepted.text
        await client.get_workflow_handle(workflow_id_for(accepted.json()["incident_id"])).result()

    traces: dict[int, set[str]] = defaultdict(set)
    for span in exporter.get_finished_spans():
        traces[span.context.trace_id].add(span.name)
    request = [names for names in traces.values() if "POST /v1/violations" in names]
    assert len(request) == 1, dict(traces)
    assert {
        "POST /v1/violations",
        "StartWorkflow:IncidentResponse",
        "RunWorkflow:IncidentResponse",
        "StartActivity:record_decisions",
        "RunActivity:record_decisions",
    } <= request[0]


def test_tracing_is_off_unless_set() -> None:
    assert Settings().tracing_export == ""
    assert provider_for("") is None and temporal_interceptors(None) == []
    assert isinstance(exporter_for("console"), ConsoleSpanExporter)
    otlp = exporter_for("http://collector:4318")
    assert (
        type(otlp).__name__ == "OTLPSpanExporter"
        and otlp._endpoint == "http://collector:4318/v1/traces"
    )
    with pytest.raises(TracingConfigError, match="CONTINGENCY_TRACING_EXPORT"):
        exporter_for("jaeger")
