"""The database pre-flight check: each way a database can be unusable is named, and a usable one
passes, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys

import pytest

from db.preflight import check_database, check_sqlite_file
from tests.filesystem import read_only
from tests.serving import free_port


async def test_a_migrated_database_passes(database_url):
    assert await check_database(database_url, must_exist=True) is None


def test_a_new_database_in_a_writable_directory_passes(tmp_path):
    assert check_sqlite_file(tmp_path / "new.db") is None
    (tmp_path / "empty.db").touch()  # an empty file is a new database to SQLite
    assert check_sqlite_file(tmp_path / "empty.db", must_exist=True) is None


def test_a_missing_directory_is_named(tmp_path):
    problem = check_sqlite_file(tmp_path / "gone" / "x.db")
    assert (
        problem == f"the directory {tmp_path / 'gone'} of the SQLite database x.db does not exist"
    )


def test_a_directory_that_is_a_file_is_named(tmp_path):
    (tmp_path / "plain").write_text("")
    problem = check_sqlite_file(tmp_path / "plain" / "x.db")
    assert problem is not None and "is not a directory" in problem


def test_a_read_only_directory_is_named(tmp_path):
    with read_only(tmp_path):
        problem = check_sqlite_file(tmp_path / "x.db")
    assert problem is not None
    assert f"the directory {tmp_path} of the SQLite database is not writable" in problem


def test_a_read_only_database_file_is_named(tmp_path):
    path = tmp_path / "x.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    with read_only(path):
        problem = check_sqlite_file(path)
    assert problem is not None
    assert problem.startswith(f"the SQLite database: {path} is not readable and writable")


def test_a_read_only_shm_file_is_named(tmp_path):
    path = tmp_path / "x.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    (tmp_path / "x.db-shm").write_bytes(b"")
    with read_only(tmp_path / "x.db-shm"):
        problem = check_sqlite_file(path)
    assert problem is not None and problem.startswith("the SQLite database's shm file: ")


def test_a_file_that_is_not_sqlite_is_named(tmp_path):
    path = tmp_path / "x.db"
    path.write_text("id,name\n1,kherson\n")
    assert (
        check_sqlite_file(path) == f"{path} is not a SQLite database (it starts with b'id,name\\n')"
    )


def test_a_vanished_database_is_named_when_it_should_be_there(tmp_path):
    path = tmp_path / "x.db"
    assert check_sqlite_file(path) is None  # the first start creates it
    assert check_sqlite_file(path, must_exist=True) == (
        f"the SQLite database {path} is missing (it vanished after its migration, or was never migrated)"
    )


def test_too_little_free_space_is_named(tmp_path):
    total = shutil.disk_usage(tmp_path).total
    problem = check_sqlite_file(tmp_path / "x.db", min_free_bytes=total + 1)
    assert problem is not None
    assert problem.startswith("only ") and f"free on the filesystem of {tmp_path}" in problem


async def test_a_postgresql_server_that_does_not_answer_is_named():
    port = free_port()  # nothing listens there
    problem = await check_database(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test")
    assert problem is not None
    assert problem.startswith(
        f"cannot connect to postgresql at 127.0.0.1:{port}/test: ConnectionRefusedError"
    )


async def test_a_sqlite_url_is_checked_without_a_connection(tmp_path):
    (tmp_path / "x.db").write_text("not a database")
    problem = await check_database(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    assert problem is not None and "is not a SQLite database" in problem


@pytest.mark.parametrize("read_header", [True, False])
def test_the_readiness_check_keeps_this_process_sqlite_locks(tmp_path, read_header):
    """POSIX drops every lock a process holds on a file when any descriptor of it closes: a
    check that opened the file in the API's process let another process's SQLite delete the
    -wal and -shm files under the API's connections (stale reads, then "disk I/O error")."""
    path = tmp_path / "contingency.db"
    held = sqlite3.connect(path)
    held.execute("PRAGMA journal_mode=WAL")
    held.execute("CREATE TABLE t (x INTEGER)")
    held.execute("INSERT INTO t VALUES (1)")
    held.commit()
    held.execute("SELECT count(*) FROM t").fetchall()
    assert check_sqlite_file(path, read_header=read_header) is None
    subprocess.run(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
         "c.execute('INSERT INTO t VALUES (2)'); c.commit(); c.close()", str(path)],
        check=True,
    )  # fmt: skip
    wal_kept = (tmp_path / "contingency.db-wal").exists()
    if read_header:
        assert not wal_kept  # the break, reproduced: the check must not read in this process
    else:
        assert wal_kept
        assert held.execute("SELECT count(*) FROM t").fetchone() == (2,)
    held.close()
