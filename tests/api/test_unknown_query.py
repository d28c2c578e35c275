"""A query parameter a route does not know is refused with a 422 naming it, on every route: a
misspelt ``?exercise=`` or filter must not be silently ignored."""

from __future__ import annotations

import re

import httpx

from api.app import create_app
from tests.api.test_auth_first import every_route, unreachable_temporal  # noqa: F401

# The ledger comes a page at a time: limit is one of its parameters.
LEDGER_PAGES = "/v1/incidents/{incident_id}/decisions"


async def test_every_route_refuses_an_unknown_query_parameter(
    settings,
    sessions,
    tokens,
    unreachable_temporal,  # noqa: F811
):
    app = create_app(settings, client=unreachable_temporal, sessions=sessions)
    routes = [(m, r.path) for r in every_route(app.routes) for m in sorted(r.methods)]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test", timeout=10
    ) as http:
        for method, template in routes:
            if template.startswith("/r/"):
                # A link in a message: mail clients and scanners append their own parameters
                # (utm_*, tracking ids) to it, which must not break the page behind it.
                continue
            path = re.sub(r"\{[a-z_]+\}", "somewhere-12345678", template)
            for raw, name in (("exercies=true", "exercies"), ("%6Cimit=5", "limit")):
                if name == "limit" and template in ("/v1/incidents", LEDGER_PAGES):
                    continue  # a known one there, percent-encoded or not
                response = await http.request(
                    method, f"{path}?{raw}", headers=tokens.auth("operator")
                )
                where = (method, template, raw)
                assert response.status_code == 422, (where, response.text[:300])
                body = response.json()
                assert body["field"] == name, where
                assert body["message"] == f"{name}: unknown query parameter", where
                assert body["errors"][0]["type"] == "extra_forbidden", where
        listed = await http.get(
            "/v1/incidents", params={"limit": "5", "%6Cimit": "5"}, headers=tokens.auth("observer")
        )
        assert listed.status_code == 422 and listed.json()["field"] == "%6Cimit"
