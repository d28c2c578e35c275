"""The API fixtures (an app per test, a token per role), on SQLite only: these tests are about
logs and traces; the ledger's dialects are covered elsewhere."""

import pytest

from tests.api.conftest import api, serve_api, tokens  # noqa: F401 (fixtures)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url
