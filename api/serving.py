"""Serving the API with uvicorn, slow clients bounded (``api.slow_clients``): the one way
``contingency api`` and ``contingency up`` serve it. ``python -m api.serving --host --port``."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from api.slow_clients import header_timeout_protocol
from foundation.settings import Settings

# Idle keep-alive connections close after this many seconds (uvicorn's default, made explicit).
KEEP_ALIVE_SECONDS = 5


def uvicorn_config(
    settings: Settings, app: Any = "api.app:create_app_from_env", **overrides: Any
) -> uvicorn.Config:
    options: dict[str, Any] = {
        "factory": isinstance(app, str),
        "host": settings.api_host,
        "port": settings.api_port,
        "log_level": "warning",
        "http": header_timeout_protocol(settings.api_header_timeout_seconds),
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        **overrides,
    }
    return uvicorn.Config(app, **options)


def serve(settings: Settings) -> None:
    uvicorn.Server(uvicorn_config(settings)).run()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m api.serving")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    overrides = {"api_host": args.host, "api_port": args.port}
    serve(Settings(**{k: v for k, v in overrides.items() if v is not None}))


if __name__ == "__main__":
    main()
