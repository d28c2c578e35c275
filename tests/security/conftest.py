"""The API fixtures (an app per test, a token per role) shared with tests/api."""

from tests.api.conftest import api, serve_api, tokens  # noqa: F401
