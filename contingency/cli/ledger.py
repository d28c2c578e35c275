"""`contingency ledger verify [INCIDENT]`: audit the ledger straight from the database, anchored
to what Temporal records.

`contingency ledger INCIDENT` keeps showing an incident's ledger over the API (the command of
``contingency.cli.incidents``, mounted here as ``ledger show``, the default when the first word
is not a sub-command). ``verify`` reads the database itself, not the API: an auditor checks the
rows where they are stored, and by default against the workflow Temporal keeps for each incident
(TEMPORAL_ADDRESS), which a rebuilt chain cannot fool; ``--chain-only`` checks the chain alone.
Without an incident it audits every incident the database holds and every one Temporal lists.

Exit status: 0 every ledger intact (with ``--chain-only``: every chain), 1 one was found wrong
(broken, vanished, terminated, forked), 3 one could not be anchored to Temporal (unanchored,
beyond retention), 2 an error (no such incident, no database).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from typer.core import TyperGroup

from foundation.settings import Settings

if TYPE_CHECKING:
    from db.audit import LedgerAudit

# The database and the audit are imported by `verify` alone: every other command of the CLI
# (a sweep's included) starts without loading SQLAlchemy.

# How long verify waits for Temporal before it reports the ledgers it could not anchor.
CONNECT_TIMEOUT_S = 10.0


class LedgerGroup(TyperGroup):
    """Routes ``ledger INCIDENT`` to ``ledger show INCIDENT``: the command line it always had."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=LedgerGroup,
    no_args_is_help=True,
    help="An incident's ledger: `ledger INCIDENT` shows it, `ledger verify` audits it.",
)


class UnknownIncident(Exception):
    pass


async def _client(settings: Settings) -> tuple[Any, str | None]:
    """A Temporal client, or None and why not."""
    from foundation.temporal import connect

    try:
        return await asyncio.wait_for(connect(settings), CONNECT_TIMEOUT_S), None
    except Exception as exc:  # noqa: BLE001 (refused, unreachable, bad TLS: the ledgers go unanchored)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"Temporal at {settings.temporal_address} did not answer ({reason})"


async def _audit(incident_id: str | None, database_url: str, chain_only: bool) -> list[LedgerAudit]:
    from db.audit import audit_all, audit_incident_id, unanchored
    from db.session import create_engine, session_factory

    settings = Settings(**({"database_url": database_url} if database_url else {}))
    engine = create_engine(settings.database_url)
    client, unreachable = (None, None) if chain_only else await _client(settings)
    try:
        sessions = session_factory(engine)
        if incident_id is None:
            audits = await audit_all(sessions, client)
        else:
            audit = await audit_incident_id(sessions, incident_id, client)
            if audit is None:
                raise UnknownIncident(incident_id)
            audits = [audit]
    finally:
        await engine.dispose()
    if unreachable is not None:
        audits = [unanchored(a, unreachable) for a in audits]
    return audits


def exit_status(audits: list[LedgerAudit]) -> int:
    if any(a.verdict.found_wrong for a in audits):
        return 1
    if any(not a.verdict.anchored for a in audits):
        return 3
    return 0


@app.command()
def verify(
    incident: Annotated[
        str | None, typer.Argument(help="One incident id; every incident when omitted")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", envvar="DATABASE_URL", help="The ledger's database"),
    ] = None,
    chain_only: Annotated[
        bool,
        typer.Option(
            "--chain-only",
            help="Check the hash chain and the incident rows alone, without Temporal",
        ),
    ] = False,
    against_workflow: Annotated[
        bool,
        typer.Option(
            "--against-workflow", hidden=True, help="The default now; kept for old scripts"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, for scripts")] = False,
) -> None:
    """Recompute each ledger's hash chain, compare it with the workflow Temporal keeps for the
    incident, and give each incident a verdict."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        audits = asyncio.run(_audit(incident, database_url or "", chain_only))
    except UnknownIncident:
        typer.echo(f"error: no incident {incident!r} in the ledger database or Temporal", err=True)
        raise typer.Exit(2) from None
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        typer.echo(f"error: cannot read the ledger database: {reason}", err=True)
        raise typer.Exit(2) from None
    status = exit_status(audits)
    verdicts: dict[str, int] = {}
    for audit in audits:
        verdicts[audit.verdict] = verdicts.get(audit.verdict, 0) + 1
    counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(verdicts.items())) or "none"
    if as_json:
        document: dict[str, Any] = {
            "intact": bool(audits) and all(a.intact for a in audits),
            "exit_status": status,
            "verdicts": verdicts,
            "incidents": [asdict(a) for a in audits],
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        for audit in audits:
            typer.echo(audit.line())
        rows = sum(a.rows for a in audits)
        typer.echo(f"{len(audits)} incident(s), {rows} rows: {counts}")
    if status:
        raise typer.Exit(status)


def register(root: typer.Typer) -> None:
    """Mount ``ledger`` as a group: the API's ledger view as its default ``show``, plus ``verify``.

    Called after ``incidents.register``: the ``ledger`` command it registered moves under the group.
    """
    for info in list(root.registered_commands):
        name = info.name or (info.callback.__name__ if info.callback else "")
        if name == "ledger" and info.callback is not None:
            root.registered_commands.remove(info)
            app.command("show", help=info.help or info.callback.__doc__)(info.callback)
    root.add_typer(app, name="ledger")
