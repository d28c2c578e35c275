"""Connecting to Temporal: a client for the configured server, traced when tracing is on."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from foundation.converter import DATA_CONVERTER
from foundation.settings import Settings
from foundation.tracing import provider_for, temporal_interceptors


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A client for the settings' server; traced when tracing is on (foundation/tracing.py),
    on ``runtime`` when given (the worker's, which serves the SDK's metrics)."""
    tls: TLSConfig | bool = False
    if settings.temporal_tls or settings.temporal_tls_cert or settings.temporal_tls_ca:
        tls = TLSConfig(
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes()
            if settings.temporal_tls_ca
            else None,
            client_cert=settings.temporal_tls_cert.read_bytes()
            if settings.temporal_tls_cert
            else None,
            client_private_key=settings.temporal_tls_key.read_bytes()
            if settings.temporal_tls_key
            else None,
        )
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=tls,
        api_key=settings.temporal_api_key,
        interceptors=temporal_interceptors(provider_for(settings.tracing_export)),
        runtime=runtime,
        data_converter=DATA_CONVERTER,
    )
