"""Every malformed request gets a 4xx with a JSON body naming the problem, never a 500."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import report
from tests.api.test_auth_first import unreachable_temporal  # noqa: F401


def check_error(response, status: int, field: str | None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == status and body["message"]
    assert body["field"] == field, body
    return body


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: {**b, "colour": "red"}, "colour"),
        (lambda b: {k: v for k, v in b.items() if k != "sector"}, "sector"),
        (lambda b: {**b, "sector": "   "}, "sector"),
        (lambda b: {**b, "sector": 42}, "sector"),
        (lambda b: {**b, "kind": "Large Scale"}, "kind"),
        (lambda b: {**b, "observed_at": "yesterday"}, "observed_at"),
        (lambda b: {**b, "summary": "nul \x00 byte"}, "summary"),
        (lambda b: {**b, "summary": "\u202egnirts"}, "summary"),
        (lambda b: {**b, "sector": "kherson\x00"}, "sector"),
        (lambda b: {**b, "sector": "kherson\x1b[2J"}, "sector"),
        (lambda b: {**b, "reported_by": "staff\x85"}, "reported_by"),
        (lambda b: {**b, "report_id": "\u202erep-1"}, "report_id"),
        (lambda b: {**b, "evidence": [{"source": "isr\u2066"}]}, "evidence[0].source"),
        (lambda b: {**b, "evidence": [{"source": "a", "extra": 1}]}, "evidence[0].extra"),
        (lambda b: {**b, "evidence": "not a list"}, "evidence"),
        (lambda b: {**b, "report_id": "x" * 201}, "report_id"),
    ],
)
async def test_malformed_reports_name_the_field(dev_env, api, tokens, mutate, field):
    async with api(dev_env.client) as http:
        response = await http.post(
            "/v1/violations", json=mutate(report()), headers=tokens.auth("reporter")
        )
    body = check_error(response, 422, field)
    assert body["errors"][0]["field"] == field
    assert body["message"].startswith(f"{field}: ")


async def test_unknown_fields_are_refused_not_ignored(dev_env, api, tokens):
    async with api(dev_env.client) as http:
        response = await http.post(
            "/v1/violations", json={**report(), "actor": "me"}, headers=tokens.auth("reporter")
        )
    assert check_error(response, 422, "actor")["message"] == "actor: unknown field"


async def test_broken_json_and_wrong_shapes(dev_env, api, tokens):
    headers = {**tokens.auth("reporter"), "Content-Type": "application/json"}
    async with api(dev_env.client) as http:
        broken = await http.post("/v1/violations", content=b'{"report_id": ', headers=headers)
        array = await http.post("/v1/violations", content=b"[]", headers=headers)
        empty = await http.post("/v1/violations", content=b"", headers=headers)
    assert "malformed JSON" in check_error(broken, 422, "body")["message"]
    check_error(array, 422, "body")
    check_error(empty, 422, "body")


async def test_bodies_over_64_kib_are_413(dev_env, api, tokens):
    big = json.dumps({**report(), "summary": "x" * (65 * 1024)}).encode()

    async def chunks():
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    headers = {**tokens.auth("reporter"), "Content-Type": "application/json"}
    async with api(dev_env.client) as http:
        declared = await http.post("/v1/violations", content=big, headers=headers)
        streamed = await http.post("/v1/violations", content=chunks(), headers=headers)
    check_error(declared, 413, "body")
    check_error(streamed, 413, "body")
    assert "64 KiB" in streamed.json()["message"]


async def test_query_parameters_are_checked(dev_env, api, tokens):
    headers = tokens.auth("observer")
    async with api(dev_env.client) as http:
        phase = await http.get("/v1/incidents?phase=panic", headers=headers)
        limit = await http.get("/v1/incidents?limit=0", headers=headers)
        when = await http.get(
            "/v1/plans/allied-72h/timeline?observed_at=2026-01-01T00:00:00", headers=headers
        )
        plan = await http.get("/v1/plans/nato-5/timeline", headers=headers)
        route = await http.get("/v1/nothing-here", headers=headers)
    check_error(phase, 422, "phase")
    check_error(limit, 422, "limit")
    check_error(when, 422, "observed_at")
    check_error(plan, 404, "plan_id")
    check_error(route, 404, None)


async def test_an_endless_body_is_refused_without_being_read(
    api,
    tokens,
    unreachable_temporal,  # noqa: F811
):
    """413 as soon as the body passes 64 KiB: the rest is never read, let alone held in memory."""
    sent = 0

    async def endless():
        nonlocal sent
        while sent < 100 * 1024 * 1024:
            sent += 8192
            yield b" " * 8192

    async with api(unreachable_temporal) as http:
        for path in ("/v1/violations", "/v1/incidents/somewhere-12345678/evidence", "/board/login"):
            sent = 0
            refused = await http.post(
                path,
                content=endless(),
                headers={**tokens.auth("operator"), "Content-Type": "application/json"},
            )
            check_error(refused, 413, "body")
            assert sent <= 64 * 1024 + 2 * 8192, (path, sent)
