"""OpenTelemetry tracing, off unless ``CONTINGENCY_TRACING_EXPORT`` is set.

One setting: ``console`` prints finished spans to stderr; an ``http(s)://host:4318`` URL sends
them to an OTLP/HTTP collector (Jaeger, Tempo, the OpenTelemetry Collector). The Temporal SDK's
``TracingInterceptor`` on the client carries the trace context in workflow and activity headers,
and the worker picks the same interceptor up from its client, so one trace runs from the API
request through the workflow to every activity it schedules.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.client import Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

if TYPE_CHECKING:
    from fastapi import FastAPI

SERVICE = "contingency-engine"


class TracingConfigError(ValueError):
    pass


def exporter_for(export: str) -> SpanExporter:
    if export == "console":
        return ConsoleSpanExporter()
    if export.startswith(("http://", "https://")):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = export.rstrip("/")
        return OTLPSpanExporter(
            endpoint=endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"
        )
    raise TracingConfigError(
        f"CONTINGENCY_TRACING_EXPORT: {export!r} is neither 'console' nor an http(s):// OTLP endpoint"
    )


@cache
def provider_for(export: str) -> TracerProvider | None:
    """One provider per process and export setting; None when tracing is off."""
    if not export:
        return None
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: SERVICE}))
    provider.add_span_processor(BatchSpanProcessor(exporter_for(export)))
    return provider


def temporal_interceptors(provider: TracerProvider | None) -> list[Interceptor]:
    """The client interceptors that put Temporal calls into the current trace (none when off)."""
    if provider is None:
        return []
    return [TracingInterceptor(provider.get_tracer("temporalio"))]


def instrument_api(app: FastAPI, provider: TracerProvider | None) -> None:
    """A server span per API request, the parent of the Temporal client spans it causes."""
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics"
    )
