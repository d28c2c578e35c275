"""The API fixtures (an app per test, a token per role), for the metrics the API serves."""

from tests.api.conftest import api, tokens  # noqa: F401 (fixtures)
