"""Alembic environment, async, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection, make_url

from db import models  # noqa: F401  (registers every table on the metadata)
from db.base import Base
from db.session import create_engine

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if url:
        return url
    from foundation.settings import Settings

    settings = Settings()
    settings.ensure_data_dir()
    return settings.database_url


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    render_as_batch = (url or str(connection.engine.url)).startswith("sqlite")  # type: ignore[union-attr]
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=render_as_batch,  # SQLite alters tables by copying them
        compare_type=True,
        literal_binds=connection is None,
    )


def run_migrations_offline() -> None:
    url = _database_url()
    _configure(url=make_url(url).render_as_string(hide_password=False))
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # a caller (the tests) lends its connection
        _run_sync(connection)
        return
    engine = create_engine(_database_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run_sync)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
