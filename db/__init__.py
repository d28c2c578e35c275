"""The relational side: typed models, the audit ledger, sessions and the Alembic migrations."""
