"""The pages behind a message's signed link: opening one changes nothing (mail scanners fetch
links); the form answers for that party alone, or acknowledges the page for its audience; a
tampered link, another site's form and a closed incident are refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from db.repository import IncidentRepository
from foundation.links import sign_link
from tests.api.conftest import report


async def _incident(http, tokens, hours_ago: float = 25) -> str:
    observed = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()
    accepted = await http.post(
        "/v1/violations", json=report(observed_at=observed), headers=tokens.auth("reporter")
    )
    assert accepted.status_code == 202, accepted.text
    return accepted.json()["incident_id"]


async def _detail(http, tokens, incident_id: str, until=lambda d: True) -> dict:
    for _ in range(100):
        detail = (
            await http.get(f"/v1/incidents/{incident_id}", headers=tokens.auth("observer"))
        ).json()
        if until(detail):
            return detail
        await asyncio.sleep(0.1)
    raise AssertionError(detail)


async def _kinds(sessions, incident_id: str) -> list[str]:
    async with sessions() as session:
        return [r.kind for r in await IncidentRepository(session).ledger(incident_id)]


def _link(settings, incident_id: str, audience: str, notice_id: str, purpose: str) -> str:
    token = sign_link(
        settings.link_secret_bytes(),
        incident_id=incident_id,
        audience=audience,
        notice_id=notice_id,
        purpose=purpose,  # type: ignore[arg-type]
    )
    return f"/r/{token}"


async def test_an_answer_link_opens_without_changing_anything_and_its_form_answers_once(
    dev_env, run_worker, api, tokens, sessions, settings
):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident_id = await _incident(http, tokens)
        await _detail(http, tokens, incident_id, lambda d: d["notices_sent"] >= 1)
        link = _link(settings, incident_id, "party:uk", f"incident-{incident_id}/0001-x", "answer")

        for _ in range(3):  # a scanner, a preview, the person
            page = await http.get(link)
            assert page.status_code == 200 and 'value="commit"' in page.text
        assert "commitment" not in await _kinds(sessions, incident_id)

        form = {"action": "commit", "assets": ["air", "naval"]}
        answered = await http.post(link, data=form)
        again = await http.post(link, data=form)  # a double click
        assert answered.status_code == again.status_code == 200, answered.text
        assert "Recorded: uk commits air, naval." in answered.text
        detail = await _detail(http, tokens, incident_id)
        (uk,) = [c for c in detail["commitments"] if c["party"] == "uk"]
        assert uk["assets"] == ["air", "naval"] and uk["actor"] == "uk (reply link)"
        assert (await _kinds(sessions, incident_id)).count("commitment") == 1

        refused = await http.post(link, data={"action": "commit", "assets": ["submarines"]})
        assert refused.status_code == 422 and "assets" in refused.text

        tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
        assert (await http.get(tampered)).status_code == 404
        assert (await http.post(tampered, data=form)).status_code == 404
        foreign = await http.post(link, data=form, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
        # A party's link speaks for that party only: the form has no say in who answers.
        smuggled = await http.post(link, data={**form, "party": "us"})
        assert smuggled.status_code == 200
        assert "us" not in {
            c["party"] for c in (await _detail(http, tokens, incident_id))["commitments"]
        }


async def test_an_acknowledgement_link_stops_the_repeats_for_everyone(
    dev_env, run_worker, api, tokens, sessions, settings
):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident_id = await _incident(http, tokens)
        detail = await _detail(http, tokens, incident_id, lambda d: d["awaiting_ack"])
        (awaited,) = detail["awaiting_ack"]
        link = _link(settings, incident_id, "level:2", awaited["notice_id"], "ack")

        page = await http.get(link)
        assert page.status_code == 200 and 'id="acknowledge"' in page.text
        assert "acknowledged" not in await _kinds(sessions, incident_id)
        done = await http.post(link, data={"action": "ack"})
        assert done.status_code == 200 and "Acknowledged" in done.text
        detail = await _detail(http, tokens, incident_id, lambda d: not d["awaiting_ack"])
        assert (await http.get(link)).text.count('id="acknowledged"') == 1
        # A second recipient's click finds it done, and nothing is recorded twice.
        second = await http.post(link, data={"action": "ack"})
        assert second.status_code == 200
        assert (await _kinds(sessions, incident_id)).count("acknowledged") == 1

        stood_down = await http.post(
            f"/v1/incidents/{incident_id}/decisions",
            json={"action": "stand_down", "rationale": "drill over"},
            headers=tokens.auth("operator"),
        )
        assert stood_down.status_code == 200
        closed = await http.get(link)
        assert closed.status_code == 410 and 'id="closed"' in closed.text


async def test_an_operator_acknowledges_through_the_api(dev_env, run_worker, api, tokens):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident_id = await _incident(http, tokens)
        detail = await _detail(http, tokens, incident_id, lambda d: d["awaiting_ack"])
        path = f"/v1/incidents/{incident_id}/acknowledgements"
        notice_id = detail["awaiting_ack"][0]["notice_id"]

        observer = await http.post(
            path, json={"notice_id": notice_id}, headers=tokens.auth("observer")
        )
        assert observer.status_code == 403
        unknown = await http.post(
            path,
            json={"notice_id": f"incident-{incident_id}/0099-escalation"},
            headers=tokens.auth("operator"),
        )
        assert unknown.status_code == 422 and unknown.json()["field"] == "notice_id"
        malformed = await http.post(
            path, json={"notice_id": "../../etc"}, headers=tokens.auth("operator")
        )
        assert malformed.status_code == 422
        accepted = await http.post(
            path, json={"notice_id": notice_id}, headers=tokens.auth("operator")
        )
        assert accepted.status_code == 200 and accepted.json()["decisions"] == ["acknowledged"]
        again = await http.post(
            path, json={"notice_id": notice_id}, headers=tokens.auth("operator")
        )
        assert again.status_code == 409
