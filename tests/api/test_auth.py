"""Who may do what: no token 401, wrong role 403, revoked tokens stop working at once."""

from __future__ import annotations

import uuid

import pytest

from db.models import ApiToken
from db.tokens import TokenError, authenticate, create_token, digest, list_tokens, revoke_token
from tests.api.conftest import report

ANY_INCIDENT = "/v1/incidents/somewhere-12345678"
WRITES = {
    "report": ("/v1/violations", lambda: report()),
    "evidence": (f"{ANY_INCIDENT}/evidence", lambda: {"source": "x"}),
    "commit": (f"{ANY_INCIDENT}/commitments", lambda: {"answer": "decline"}),
    "decide": (f"{ANY_INCIDENT}/decisions", lambda: {"action": "confirm", "rationale": "x"}),
}
# What each role may write; everyone with a token may read.
ALLOWED = {
    "observer": set(),
    "reporter": {"report", "evidence"},
    "operator": {"report", "evidence", "decide"},
    "ally:uk": {"commit"},
}


@pytest.mark.parametrize("role", sorted(ALLOWED))
async def test_the_role_matrix(dev_env, run_worker, api, tokens, role):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        for action, (url, body) in WRITES.items():
            response = await http.post(url, json=body(), headers=tokens.auth(role))
            if action in ALLOWED[role]:
                # Allowed: past the role check (the incident does not exist, or the report is taken).
                assert response.status_code in (200, 202, 404), (action, response.text)
            else:
                assert response.status_code == 403, (action, response.text)
                assert response.json()["code"] == "forbidden"
        for url in ("/v1/incidents", "/v1/plans", "/v1/plans/allied-72h/timeline"):
            assert (await http.get(url, headers=tokens.auth(role))).status_code == 200


async def test_no_token_or_a_bad_one_is_401(dev_env, api, tokens):
    async with api(dev_env.client) as http:
        for headers in (
            {},
            {"Authorization": "Bearer ct_not-a-token"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": f"Bearer {tokens.secrets['operator']}x"},
        ):
            for method, url in (
                ("GET", "/v1/incidents"),
                ("POST", "/v1/violations"),
                ("GET", "/v1/plans"),
            ):
                response = await http.request(method, url, json=report(), headers=headers)
                assert response.status_code == 401, (headers, url, response.text)
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert response.json()["field"] == "Authorization"
        # Health checks are for supervisors: no token needed.
        assert (await http.get("/healthz")).status_code == 200


async def test_a_revoked_token_stops_working(dev_env, api, sessions):
    token = await create_token(sessions, f"temp-{uuid.uuid4().hex[:8]}", "observer")
    async with api(dev_env.client) as http:
        headers = {"Authorization": f"Bearer {token.secret}"}
        assert (await http.get("/v1/plans", headers=headers)).status_code == 200
        assert await revoke_token(sessions, token.name) is True
        assert await revoke_token(sessions, token.name) is False
        assert (await http.get("/v1/plans", headers=headers)).status_code == 401
    assert token.name not in [t.name for t in await list_tokens(sessions)]
    assert token.name in [t.name for t in await list_tokens(sessions, include_revoked=True)]


async def test_tokens_are_stored_as_digests_only(sessions, transactions):
    token = await create_token(sessions, f"digest-check-{uuid.uuid4().hex[:8]}", "ally:pl")
    stored = next(t for t in await list_tokens(sessions) if t.name == token.name)
    assert isinstance(stored, ApiToken)
    assert stored.secret_hash == digest(token.secret) and token.secret not in (
        stored.secret_hash,
        stored.prefix,
    )
    assert stored.role == "ally:pl"
    principal = await authenticate(transactions, token.secret)
    assert principal is not None and principal.party == "pl" and principal.name == token.name


async def test_token_roles_and_names_are_checked(sessions):
    with pytest.raises(TokenError, match="role"):
        await create_token(sessions, "someone", "admin")
    with pytest.raises(TokenError, match="not a party"):
        await create_token(sessions, "someone", "ally:atlantis")
    with pytest.raises(TokenError, match="name"):
        await create_token(sessions, "no spaces please", "observer")
    name = f"twice-{uuid.uuid4().hex[:8]}"
    await create_token(sessions, name, "observer")
    with pytest.raises(TokenError, match="already exists"):
        await create_token(sessions, name, "observer")
