"""`contingency ledger verify [INCIDENT]`: audit the ledger straight from the database.

`contingency ledger INCIDENT` keeps showing an incident's ledger over the API (the command of
``contingency.cli.incidents``, mounted here as ``ledger show``, the default when the first word
is not a sub-command). ``verify`` reads the database itself, not the API: an auditor checks the
rows where they are stored. With ``--against-workflow`` it also compares every row with the
decisions the workflow took (TEMPORAL_ADDRESS), which a rebuilt chain cannot fool.

Exit status: 0 every ledger intact, 1 a ledger is broken, 2 no such incident or no database.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Annotated, Any

import click
import typer
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup

from db.audit import LedgerAudit, audit_all, audit_incident, find_incident
from db.session import create_engine, session_factory
from foundation.settings import Settings


class LedgerGroup(TyperGroup):
    """Routes ``ledger INCIDENT`` to ``ledger show INCIDENT``: the command line it always had."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=LedgerGroup,
    no_args_is_help=True,
    help="An incident's ledger: `ledger INCIDENT` shows it, `ledger verify` audits the chain.",
)


class UnknownIncident(Exception):
    pass


async def _audit(
    incident_id: str | None, database_url: str, against_workflow: bool
) -> list[LedgerAudit]:
    settings = Settings(**({"database_url": database_url} if database_url else {}))
    engine = create_engine(settings.database_url)
    client = None
    if against_workflow:
        from foundation.temporal import connect

        client = await connect(settings)
    try:
        sessions = session_factory(engine)
        if incident_id is None:
            return await audit_all(sessions, client)
        incident = await find_incident(sessions, incident_id)
        if incident is None:
            raise UnknownIncident(incident_id)
        return [await audit_incident(sessions, incident, client)]
    finally:
        await engine.dispose()


@app.command()
def verify(
    incident: Annotated[
        str | None, typer.Argument(help="One incident id; every incident when omitted")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", envvar="DATABASE_URL", help="The ledger's database"),
    ] = None,
    against_workflow: Annotated[
        bool,
        typer.Option(
            "--against-workflow", help="Also compare every row with the workflow's own decisions"
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document, for scripts")] = False,
) -> None:
    """Recompute each ledger's hash chain and name the first altered, removed or inserted row."""
    try:
        audits = asyncio.run(_audit(incident, database_url or "", against_workflow))
    except UnknownIncident:
        typer.echo(f"error: no incident {incident!r} in the ledger database", err=True)
        raise typer.Exit(2) from None
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        typer.echo(f"error: cannot read the ledger database: {reason}", err=True)
        raise typer.Exit(2) from None
    broken = [a for a in audits if not a.intact]
    if as_json:
        document: dict[str, Any] = {
            "intact": not broken,
            "incidents": [asdict(a) for a in audits],
        }
        typer.echo(json.dumps(document, indent=2))
    else:
        for audit in audits:
            typer.echo(audit.line())
        rows = sum(a.rows for a in audits)
        verdict = f"{len(broken)} BROKEN" if broken else "all intact"
        typer.echo(f"{len(audits)} incident(s), {rows} rows: {verdict}")
    if broken:
        raise typer.Exit(1)


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
