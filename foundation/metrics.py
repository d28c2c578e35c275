"""Prometheus plumbing: the Temporal SDK runtime's metrics and this process's registry (where the
engine's own metrics live, ``activities/metrics.py``), served together on one port.

The SDK's metrics come from its Rust core, which serves them on an HTTP endpoint of its own; the
worker binds that endpoint to a private loopback port and :class:`SdkMetricsCollector` re-exposes
it through ``prometheus_client``, so Prometheus scrapes one target per worker process.
"""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import REGISTRY, Collector
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig


class SdkMetricsCollector(Collector):
    """Re-exposes the Temporal SDK core's Prometheus endpoint through this process's registry."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self._url = url
        self._timeout = timeout

    def describe(self) -> Iterable[Metric]:
        # Registration must not scrape the core (it may not be serving yet); its names are its own.
        return []

    def collect(self) -> Iterable[Metric]:
        try:
            with urllib.request.urlopen(self._url, timeout=self._timeout) as response:
                text = response.read().decode()
        except OSError:
            return []  # the core is not serving yet (or has stopped): the engine's metrics still go out
        return list(text_string_to_metric_families(text))


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sdk_runtime(sdk_port: int | None = None) -> tuple[Runtime, str]:
    """A Temporal runtime whose metrics the core serves on a private loopback port; returns the
    runtime (pass it to ``Client.connect(runtime=...)``) and the URL it serves on."""
    port = sdk_port or _free_loopback_port()
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"127.0.0.1:{port}",
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
            )
        )
    )
    return runtime, f"http://127.0.0.1:{port}/metrics"


@dataclass
class MetricsServer:
    """The HTTP endpoint ``serve`` started; ``close()`` stops it and forgets the SDK's metrics."""

    server: WSGIServer
    registry: CollectorRegistry
    sdk: SdkMetricsCollector | None

    @property
    def port(self) -> int:
        return self.server.server_port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.sdk is not None:
            self.registry.unregister(self.sdk)


def serve(
    port: int,
    host: str = "127.0.0.1",
    *,
    sdk_url: str | None = None,
    registry: CollectorRegistry = REGISTRY,
) -> MetricsServer:
    """Serve ``registry`` (plus the SDK's metrics, when given) on ``host:port`` from a daemon
    thread; ``.port`` is the bound port (useful with port 0)."""
    sdk = SdkMetricsCollector(sdk_url) if sdk_url is not None else None
    if sdk is not None:
        registry.register(sdk)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server, registry, sdk)
