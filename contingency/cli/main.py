"""Entry point of the `contingency` console script: mounts each area's commands."""

from __future__ import annotations

import typer

from contingency.cli import incidents, ledger, stack
from contingency.cli.exercises import app as exercise_app
from contingency.cli.exercises import export as export_command
from contingency.cli.exercises import replay as replay_command
from contingency.cli.tokens import app as tokens_app
from foundation.process_exit import run_then_exit

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Contingency-response engine.")
app.add_typer(
    exercise_app, name="exercise", help="Tabletop exercises: scenarios at accelerated time."
)
app.add_typer(tokens_app, name="tokens", help="API tokens: add, list, revoke.")
stack.register(app)
incidents.register(app)
ledger.register(
    app
)  # after incidents: `ledger INCIDENT` becomes `ledger show`, plus `ledger verify`
app.command("replay")(replay_command)
app.command("export")(export_command)


def main() -> None:
    # Every `contingency` command ends with its own status, whatever the SDK's threads do at
    # interpreter exit (foundation.process_exit).
    run_then_exit(app)
