"""The situation board over HTTP: sign-in by cookie, the real and exercise boards kept apart, the
live state of each incident, the refresh fragment and JSON, the timeline with its ledger."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from api.app import create_app
from db.tokens import revoke_token
from tests.scene import Scene


@asynccontextmanager
async def board_client(scene: Scene) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(scene.settings, client=scene.client, sessions=scene.sessions)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://board.test") as http:
        yield http


async def signed_in(http: httpx.AsyncClient, token: str) -> None:
    response = await http.post("/board/login", data={"token": token, "next": "/board"})
    assert response.status_code == 303 and response.headers["location"] == "/board"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/board" in cookie


def rows(html: str) -> list[str]:
    return re.findall(r'data-incident="([^"]+)"', html)


async def test_the_board_asks_a_browser_to_sign_in(scene: Scene) -> None:
    async with board_client(scene) as http:
        page = await http.get("/board")
        assert (
            page.status_code == 401
            and 'name="token"' in page.text
            and 'type="password"' in page.text
        )
        data = await http.get("/board/incidents.json")
        assert data.status_code == 401 and data.json()["field"] == "Authorization"
        wrong = await http.post(
            "/board/login", data={"token": "ct_not-a-real-token", "next": "/board"}
        )
        assert wrong.status_code == 401 and "unknown or has been revoked" in wrong.text
        assert "set-cookie" not in wrong.headers


async def test_real_incidents_with_live_state_and_links(scene: Scene) -> None:
    async with board_client(scene) as http:
        await signed_in(http, scene.observer_token)
        page = await http.get("/board")
    assert page.status_code == 200, page.text
    html = page.text
    assert set(rows(html)) == {scene.incident_id("consultation"), scene.incident_id("fresh")}
    assert "EXERCISE" not in html
    consultation = html[html.index(f'data-incident="{scene.incident_id("consultation")}"') :]
    consultation = consultation[: consultation.index("</tr>")]
    assert 'class="incident level-2"' in html
    assert "waiting on <b>allies</b>" in consultation and "Level 2" in consultation
    assert "0 / 3 committed" in consultation and "missing air" in consultation
    # What falls due next is the T0+48h escalation check, the quorum still missing.
    assert "Escalation to level 3 (Heads of government) unless quorum T0+48h" in consultation
    assert "Activation window closes T0+72h" in consultation
    assert re.search(r'class="countdown" data-due="\d{4}-\d\d-\d\dT[\d:.]+Z"', consultation)
    assert 'class="countdown window" data-due="' in consultation
    ui = f'href="http://ui.test:8233/namespaces/default/workflows/{scene.wid("consultation")}"'
    assert ui in consultation
    assert f'href="/board/incidents/{scene.incident_id("consultation")}"' in consultation


async def test_exercises_have_their_own_marked_board(scene: Scene) -> None:
    async with board_client(scene) as http:
        await signed_in(http, scene.observer_token)
        page = await http.get("/board/exercises")
        fragment = await http.get("/board/rows", params={"exercise": "true"})
        real_json = await http.get("/board/incidents.json")
        bad = await http.get("/board/rows", params={"exercise": "perhaps"})
    assert rows(page.text) == [scene.incident_id("drill")]
    assert "EXERCISE — NOT A REAL INCIDENT" in page.text and 'class="exercise"' in page.text
    assert rows(fragment.text) == [scene.incident_id("drill")] and "<html" not in fragment.text
    incidents = {i["incident_id"]: i for i in real_json.json()["incidents"]}
    assert set(incidents) == {scene.incident_id("consultation"), scene.incident_id("fresh")}
    fresh = incidents[scene.incident_id("fresh")]
    assert (
        fresh["phase"] == "verification"
        and fresh["awaiting"] == "evidence"
        and fresh["live"] is True
    )
    assert fresh["next_deadline"]["label"] == "Verification deadline T0+12h"
    assert bad.status_code == 422


async def test_a_bearer_header_works_for_scripts(scene: Scene) -> None:
    async with board_client(scene) as http:
        data = await http.get(
            "/board/incidents.json", headers={"Authorization": f"Bearer {scene.observer_token}"}
        )
    assert data.status_code == 200 and len(data.json()["incidents"]) == 2


async def test_kiosk_url_trades_the_token_for_a_cookie_and_never_redirects_away(
    scene: Scene,
) -> None:
    async with board_client(scene) as http:
        kiosk = await http.get(
            "/board/login", params={"token": scene.observer_token, "next": "/board/exercises"}
        )
        assert kiosk.status_code == 303 and kiosk.headers["location"] == "/board/exercises"
        assert scene.observer_token not in kiosk.headers["location"]
        away = await http.get(
            "/board/login", params={"token": scene.observer_token, "next": "https://evil.example/"}
        )
        assert away.headers["location"] == "/board"
        sneaky = await http.get(
            "/board/login", params={"token": scene.observer_token, "next": "//evil.example"}
        )
        assert sneaky.headers["location"] == "/board"
        out = await http.get("/board/logout")
        assert out.status_code == 303 and 'contingency_board=""' in out.headers["set-cookie"]


async def test_a_revoked_token_signs_the_display_out(scene: Scene) -> None:
    from db.tokens import create_token

    token = await create_token(scene.sessions, "wall-to-revoke", "observer")
    async with board_client(scene) as http:
        await signed_in(http, token.secret)
        assert (await http.get("/board")).status_code == 200
        assert await revoke_token(scene.sessions, "wall-to-revoke")
        again = await http.get("/board")
    assert again.status_code == 401 and "unknown or has been revoked" in again.text


async def test_the_timeline_of_one_incident_with_its_ledger(scene: Scene) -> None:
    incident = scene.incident_id("consultation")
    async with board_client(scene) as http:
        await signed_in(http, scene.observer_token)
        page = await http.get(f"/board/incidents/{incident}")
        closed = await http.get(f"/board/incidents/{scene.incident_id('closed')}")
        missing = await http.get("/board/incidents/nowhere-00000000")
        invalid = await http.get("/board/incidents/NOT VALID")
    assert page.status_code == 200
    html = page.text
    timeline = html[html.index('id="timeline"') :]
    for kind in ("reported", "lapsed", "presumed", "escalated"):
        assert f"<b>{kind}</b>" in timeline
    assert "rows, matches the workflow)" in html and 'id="ledger"' in html
    assert f"http://ui.test:8233/namespaces/default/workflows/{scene.wid('consultation')}" in html
    assert 'data-due="' in html  # pending deadlines count down
    # A closed incident: its final state (the workflow result), no countdowns.
    assert (
        closed.status_code == 200
        and "outcome <b>" in closed.text
        and 'data-due="' not in closed.text
    )
    assert missing.status_code == 404 and "No incident nowhere-00000000" in missing.text
    assert invalid.status_code == 422


async def test_board_pages_are_not_in_the_api_schema(scene: Scene) -> None:
    async with board_client(scene) as http:
        schema = (await http.get("/openapi.json")).json()
    assert not [path for path in schema["paths"] if path.startswith(("/board", "/metrics"))]


async def test_a_sign_in_posted_from_another_site_is_refused(scene: Scene) -> None:
    """Login CSRF: a page elsewhere must not sign the wall's browser in with a token of its own."""
    form = {"token": scene.observer_token, "next": "/board"}
    async with board_client(scene) as http:
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},  # a sandboxed frame, or a page under no-referrer
            {"Origin": "http://board.test.evil.example"},
            {"Referer": "https://evil.example/board/login"},
        ):
            refused = await http.post("/board/login", data=form, headers=headers)
            assert refused.status_code == 403, (headers, refused.text)
            assert "set-cookie" not in refused.headers
            assert "Sign in from this board&#39;s own page" in refused.text
        for headers in (
            {"Origin": "http://board.test"},
            {"Referer": "http://board.test/board/login?next=/board"},
            {},  # a script, not a browser
        ):
            signed = await http.post("/board/login", data=form, headers=headers)
            assert signed.status_code == 303, (headers, signed.text)
        page = await http.get("/board/login")
    assert page.headers["Referrer-Policy"] == "same-origin"
