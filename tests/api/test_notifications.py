"""What the incident's notices became, as the API and the board show it: every message per
channel, a channel that refuses for good marked undelivered, and audiences with no channel
warned of on the board."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from foundation.settings import Settings
from tests.api.conftest import report
from tests.receivers import WEBHOOK_SECRET


@pytest.fixture
def settings(database_url: str, task_queue: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        task_queue=task_queue,
        data_dir=tmp_path,
        webhook_secret=WEBHOOK_SECRET,
    )


async def test_a_refusing_channel_shows_undelivered_in_the_api_and_on_the_board(
    dev_env, run_worker, api, tokens, settings, smtp_receiver, http_receiver
):
    (settings.data_dir / "contacts.yaml").write_text(
        "audiences:\n"
        f'  party:uk: ["{http_receiver.webhook_url("/uk-hook")}"]\n'
        f'  party:us: ["{smtp_receiver.url(to="us@example.org")}"]\n'
    )
    http_receiver.answer["/uk-hook"] = 403
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        accepted = await http.post("/v1/violations", json=report(), headers=tokens.auth("reporter"))
        incident_id = accepted.json()["incident_id"]
        path = f"/v1/incidents/{incident_id}/notifications"
        for _ in range(100):
            listed = (await http.get(path, headers=tokens.auth("observer"))).json()
            if listed["undelivered"]:
                break
            await asyncio.sleep(0.1)
        detail = (
            await http.get(f"/v1/incidents/{incident_id}", headers=tokens.auth("observer"))
        ).json()
        board = await http.get(f"/board/incidents/{incident_id}", headers=tokens.auth("observer"))
        wall = await http.get("/board", headers=tokens.auth("observer"))
        unauthenticated = await http.get(path)

    assert listed["undelivered"] == 1, listed
    by_audience = {d["audience"]: d for d in listed["deliveries"]}
    assert by_audience["party:uk"]["status"] == "undelivered"
    assert "403" in by_audience["party:uk"]["last_error"]
    assert by_audience["party:us"]["status"] == "delivered"
    assert "secret" not in str(listed).lower()  # channels in their privacy form only
    assert detail["undelivered"] >= 1
    assert (
        board.status_code == 200 and "UNDELIVERED" in board.text and 'id="messages"' in board.text
    )
    # Ten parties, three levels and the cell have no channel: the board says so.
    assert 'id="unconfigured"' in wall.text and "party:fr" in wall.text
    assert unauthenticated.status_code == 401
