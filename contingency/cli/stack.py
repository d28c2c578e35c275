"""`contingency up`, `contingency api` and `contingency setup-cluster`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from foundation.logging import configure_logging
from foundation.settings import Settings


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command line's options on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def register(app: typer.Typer) -> None:
    @app.command()
    def up(
        api_port: Annotated[
            int | None, typer.Option(help="Default 8000 (CONTINGENCY_API_PORT)")
        ] = None,
        api_host: Annotated[
            str | None, typer.Option(help="Default 127.0.0.1 (CONTINGENCY_API_HOST)")
        ] = None,
        temporal_port: Annotated[
            int | None, typer.Option(help="Default 7233 (CONTINGENCY_TEMPORAL_PORT)")
        ] = None,
        ui_port: Annotated[
            int | None, typer.Option(help="Default 8233 (CONTINGENCY_TEMPORAL_UI_PORT)")
        ] = None,
        data_dir: Annotated[
            Path | None, typer.Option(help="Default .contingency (CONTINGENCY_DATA_DIR)")
        ] = None,
    ) -> None:
        """Run the whole engine locally: Temporal dev server and Web UI, migrations, worker, API.

        With TEMPORAL_ADDRESS set, uses that server instead of starting one; with DATABASE_URL
        set, that database instead of the embedded SQLite file."""
        from contingency.stack import run_stack

        settings = _settings(
            api_port=api_port,
            api_host=api_host,
            temporal_port=temporal_port,
            temporal_ui_port=ui_port,
            data_dir=data_dir,
        )
        configure_logging(settings.log_format, "WARNING")
        raise typer.Exit(asyncio.run(run_stack(settings)))

    @app.command("api")
    def serve_api(
        port: Annotated[
            int | None, typer.Option(help="Default 8000 (CONTINGENCY_API_PORT)")
        ] = None,
        host: Annotated[
            str | None, typer.Option(help="Default 127.0.0.1 (CONTINGENCY_API_HOST)")
        ] = None,
    ) -> None:
        """Serve the HTTP API alone (Temporal and the database configured by the environment)."""
        from api.serving import serve

        serve(_settings(api_port=port, api_host=host))

    @app.command("setup-cluster")
    def setup_cluster() -> None:
        """Register the engine's search attributes on an existing Temporal cluster (TEMPORAL_ADDRESS,
        TEMPORAL_NAMESPACE, TLS settings)."""
        from foundation.temporal import connect
        from workflows.search_attributes import ensure_search_attributes

        settings = Settings()

        async def _setup() -> list[str]:
            client = await connect(settings)
            return await ensure_search_attributes(client, settings.temporal_namespace)

        try:
            added = asyncio.run(_setup())
        except Exception as exc:  # noqa: BLE001 (one line for any connection or permission failure)
            typer.echo(f"error: {settings.temporal_address}: {exc}", err=True)
            raise typer.Exit(1) from None
        namespace = f"{settings.temporal_address}/{settings.temporal_namespace}"
        typer.echo(
            f"registered on {namespace}: {', '.join(added)}"
            if added
            else f"{namespace}: already set up"
        )
