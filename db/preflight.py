"""Is the database usable? A check that says what is wrong before a process trusts it.

A SQLite file that turns read-only, vanishes or has its ``-shm`` file truncated under a running
process kills that process with SIGBUS (SQLite maps the shared-memory file), with no log line and
nothing the process could answer. So `contingency up` checks before it starts the worker and the
API, and before each restart, and the API's readiness check says the same, without opening the
database (which could fault the API itself).

Each check returns ``None`` when the database is usable, or one sentence naming the problem.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.session import create_engine

SQLITE_HEADER = b"SQLite format 3\x00"
# SQLite's rollback journal, write-ahead log and shared-memory index, beside the database.
SQLITE_SIDECARS = ("-journal", "-wal", "-shm")
# A full disk makes every write fail, and a full tmpfs under the -shm map raises SIGBUS.
MIN_FREE_BYTES = 64 * 1024 * 1024
ANSWER_TIMEOUT = 5.0


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _not_read_write(path: Path) -> str | None:
    if not path.is_file():
        return f"{path} is not a regular file"
    if not os.access(path, os.R_OK | os.W_OK):
        mode = stat.filemode(path.stat().st_mode)
        return f"{path} is not readable and writable by this user ({mode})"
    return None


def check_sqlite_file(
    path: Path,
    *,
    must_exist: bool = False,
    min_free_bytes: int = MIN_FREE_BYTES,
    read_header: bool = True,
) -> str | None:
    """Without opening it: the directory exists and takes new files, the file (if there) is a
    readable and writable SQLite database, so are its sidecar files, and the disk has room.

    ``must_exist``: a file that existed before (the launcher migrated it) and is gone now has
    vanished; letting SQLite create an empty one would hide that.
    """
    path = path.absolute()
    directory = path.parent
    if not directory.exists():
        return f"the directory {directory} of the SQLite database {path.name} does not exist"
    if not directory.is_dir():
        return f"{directory}, where the SQLite database {path.name} should be, is not a directory"
    if os.statvfs(directory).f_flag & os.ST_RDONLY:
        return f"the directory {directory} of the SQLite database is on a read-only filesystem"
    # SQLite creates its journal, -wal and -shm files beside the database.
    if not os.access(directory, os.W_OK | os.X_OK):
        return (
            f"the directory {directory} of the SQLite database is not writable by this user "
            "(SQLite creates its -wal and -shm files there)"
        )
    if path.exists():
        if problem := _not_read_write(path):
            return f"the SQLite database: {problem}"
        header = b""
        if read_header:
            with path.open("rb") as file:
                header = file.read(len(SQLITE_HEADER))
        # An empty file is a new database to SQLite.
        if header and header != SQLITE_HEADER:
            return f"{path} is not a SQLite database (it starts with {header[:8]!r})"
    elif must_exist:
        return f"the SQLite database {path} is missing (it vanished after its migration, or was never migrated)"
    for suffix in SQLITE_SIDECARS:
        sidecar = path.with_name(path.name + suffix)
        if sidecar.exists() and (problem := _not_read_write(sidecar)):
            return f"the SQLite database's {suffix[1:]} file: {problem}"
    free = shutil.disk_usage(directory).free
    if free < min_free_bytes:
        return (
            f"only {_mib(free)} free on the filesystem of {directory} "
            f"(the database needs at least {_mib(min_free_bytes)})"
        )
    return None


async def _server_answers(url: str, timeout: float) -> str | None:
    parsed = make_url(url)
    where = f"{parsed.get_backend_name()} at {parsed.host or 'localhost'}:{parsed.port or 5432}"
    where += f"/{parsed.database or ''}"
    engine = create_engine(url, pool_pre_ping=False)
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except TimeoutError:
        return f"{where} did not answer within {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 (refused, unknown host, bad password: all one answer)
        cause = getattr(exc, "orig", None) or exc
        cause = cause.__cause__ or cause  # the driver's own error under SQLAlchemy's adapter
        reason = str(cause).strip().splitlines()
        return f"cannot connect to {where}: {type(cause).__name__}" + (
            f": {reason[0]}" if reason else ""
        )
    finally:
        await engine.dispose()
    return None


async def check_database(
    url: str, *, must_exist: bool = False, timeout: float = ANSWER_TIMEOUT
) -> str | None:
    """SQLite: the file check above (no connection). Another database: its server answers."""
    if make_url(url).get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is None:
            return None
        return await asyncio.to_thread(check_sqlite_file, path, must_exist=must_exist)
    return await _server_answers(url, timeout)
