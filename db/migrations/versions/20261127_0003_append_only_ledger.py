"""append-only ledger: triggers refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) of decisions

The ledger's hash chain makes an edit detectable (``contingency ledger verify``); these triggers
make it refused in the first place, whatever role the statement comes from. Only someone able to
disable triggers (the table owner or a superuser) can still alter rows, and the chain, checked
against the workflow's own history, shows what they did.

On SQLite, a later batch migration that rebuilds ``decisions`` (copy, drop, rename) drops these
triggers with the old table: such a migration must create them again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "the ledger is append-only"

POSTGRESQL_UP = (
    f"""
    CREATE FUNCTION decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % on decisions is refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions
        FOR EACH ROW EXECUTE FUNCTION decisions_append_only()
    """,
    """
    CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions
        FOR EACH STATEMENT EXECUTE FUNCTION decisions_append_only()
    """,
)
POSTGRESQL_DOWN = (
    "DROP TRIGGER IF EXISTS decisions_no_truncate ON decisions",
    "DROP TRIGGER IF EXISTS decisions_append_only ON decisions",
    "DROP FUNCTION IF EXISTS decisions_append_only()",
)

SQLITE_UP = tuple(
    f"""
    CREATE TRIGGER decisions_no_{op_name.lower()} BEFORE {op_name} ON decisions
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}: {op_name} on decisions is refused');
    END
    """
    for op_name in ("UPDATE", "DELETE")
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS decisions_no_update",
    "DROP TRIGGER IF EXISTS decisions_no_delete",
)


def _statements(postgresql: Sequence[str], sqlite: Sequence[str]) -> Sequence[str]:
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        return postgresql
    if dialect == "sqlite":
        return sqlite
    raise RuntimeError(f"the ledger supports SQLite and PostgreSQL, not {dialect}")


def upgrade() -> None:
    for statement in _statements(POSTGRESQL_UP, SQLITE_UP):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(POSTGRESQL_DOWN, SQLITE_DOWN):
        op.execute(statement)
