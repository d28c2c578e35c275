"""`contingency tokens add|list|revoke`: API tokens, managed directly in the database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contingency.cli.render import console, emit_json, when
from db.session import create_engine, session_factory
from db.tokens import TokenError, create_token, list_tokens, revoke_token
from foundation.settings import Settings

app = typer.Typer(
    no_args_is_help=True, help="API tokens: each with a role; the secret is shown once."
)

T = TypeVar("T")
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", envvar="DATABASE_URL", help="Default: the embedded SQLite database"
    ),
]


def _with_sessions(
    database_url: str | None, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    settings = Settings(database_url=database_url) if database_url else Settings()

    async def _run() -> T:
        engine = create_engine(settings.database_url)
        try:
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(_run())
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except (OperationalError, ProgrammingError) as exc:
        typer.echo(
            f"error: the database is not ready ({type(exc.orig).__name__}); run `contingency up` once, "
            "or `alembic upgrade head`",
            err=True,
        )
        raise typer.Exit(1) from None


@app.command("add")
def add(
    name: Annotated[
        str, typer.Option(help="Who holds it; recorded as the actor of what it writes")
    ],
    role: Annotated[str, typer.Option(help="reporter | observer | operator | ally:<party>")],
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print the secret only, for scripts")
    ] = False,
) -> None:
    """Create a token and print its secret (shown only this once)."""
    token = _with_sessions(database_url, lambda sessions: create_token(sessions, name, role))
    if quiet:
        print(token.secret)
        return
    if as_json:
        emit_json({"name": token.name, "role": token.role, "token": token.secret})
        return
    console.print(
        f"Token for [bold]{token.name}[/bold] ({token.role}); store it now, it is not shown again:"
    )
    print(token.secret)


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens")] = False,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Tokens (never their secrets)."""
    rows = _with_sessions(
        database_url, lambda sessions: list_tokens(sessions, include_revoked=all_)
    )
    data = [
        {
            "name": t.name,
            "role": t.role,
            "prefix": t.prefix,
            "created_at": t.created_at.isoformat(),
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
        }
        for t in rows
    ]
    if as_json:
        emit_json(data)
        return
    table = Table("name", "role", "prefix", "created", "revoked")
    for row in data:
        table.add_row(
            row["name"],
            row["role"],
            row["prefix"] + "…",
            when(row["created_at"]),
            when(row["revoked_at"]),
        )
    console.print(table)


@app.command("revoke")
def revoke(name: Annotated[str, typer.Argument()], database_url: DatabaseUrl = None) -> None:
    """Revoke a token: it stops working at once."""
    if not _with_sessions(database_url, lambda sessions: revoke_token(sessions, name)):
        typer.echo(f"error: no active token named {name!r}", err=True)
        raise typer.Exit(1)
    console.print(f"Revoked {name}")
