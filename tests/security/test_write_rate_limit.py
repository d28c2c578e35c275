"""Every write is rate limited, not only intake: evidence, commitments and decisions share one
budget per token, and board sign-ins one per client address (tokens being guessed)."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from foundation.settings import Settings
from tests.api.test_auth_first import unreachable_temporal  # noqa: F401

INCIDENT = "/v1/incidents/somewhere-12345678"


@pytest.fixture
def settings(database_url: str, task_queue: str) -> Settings:
    return Settings(
        database_url=database_url, task_queue=task_queue,
        write_rate_per_minute=2, write_burst=3, sign_in_rate_per_minute=1, sign_in_burst=2,
    )  # fmt: skip


def check_limited(response: httpx.Response, said: str) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["code"] == "rate_limited" and body["field"] == "Authorization"
    assert said in body["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_submissions_share_a_budget_per_token(
    settings,
    sessions,
    tokens,
    unreachable_temporal,  # noqa: F811
):
    app = create_app(settings, client=unreachable_temporal, sessions=sessions)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as http:
        operator = tokens.auth("operator")
        writes = [
            ("evidence", {"source": "osint"}),
            ("decisions", {"action": "confirm", "rationale": "seen"}),
            ("evidence", {"source": "isr"}),
        ]
        for tail, body in writes:  # past the limit: the incident does not exist
            answered = await http.post(f"{INCIDENT}/{tail}", json=body, headers=operator)
            assert answered.status_code == 404, answered.text
        check_limited(
            await http.post(
                f"{INCIDENT}/decisions",
                json={"action": "authorize", "rationale": "x"},
                headers=operator,
            ),
            "2 inputs to incidents a minute",
        )
        # Another token has its own budget; reads are not limited.
        ally = await http.post(
            f"{INCIDENT}/commitments", json={"answer": "decline"}, headers=tokens.auth("ally:uk")
        )
        assert ally.status_code == 404
        assert (await http.get("/v1/incidents", headers=operator)).status_code == 200


async def test_board_sign_ins_are_limited_per_address(
    settings,
    sessions,
    tokens,
    unreachable_temporal,  # noqa: F811
):
    app = create_app(settings, client=unreachable_temporal, sessions=sessions)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://board.test"
    ) as http:
        for guess in ("ct_guess-1", "ct_guess-2"):
            wrong = await http.post("/board/login", data={"token": guess})
            assert wrong.status_code == 401
        check_limited(
            await http.post("/board/login", data={"token": tokens.secrets["observer"]}),
            "1 board sign-ins a minute",
        )
        check_limited(
            await http.get("/board/login", params={"token": tokens.secrets["observer"]}),
            "board sign-ins",
        )
