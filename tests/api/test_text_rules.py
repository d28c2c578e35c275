"""The text rules at the edge: a control character, a bidi override or a lone surrogate in any
text field is a 422 naming the field and the character (on PostgreSQL a NUL used to be a 500 at
intake and a ledger stuck for ever), and what is accepted is stored normalised."""

from __future__ import annotations

import json

import pytest

from db.models import Incident
from tests.api.conftest import report
from tests.api.test_bad_input import check_error
from tests.workflows.support import ledger_rows

BAD = {
    "NUL": ("\x00", "U+0000"),
    "ESC": ("\x1b[2J", "U+001B"),
    "C1": ("\x9b", "U+009B"),
    "RLO": ("\u202e", "U+202E"),
    "LRI": ("\u2066", "U+2066"),
}
LABELS = ["report_id", "sector", "reported_by", "evidence[0].source"]


def _with(field: str, value: str) -> dict:
    body = report(evidence=[{"source": "allied-isr", "summary": "imagery"}])
    if field.startswith("evidence[0]."):
        body["evidence"][0][field.removeprefix("evidence[0].")] = value  # type: ignore[index]
    else:
        body[field] = f"{body.get(field, '')}{value}"
    return body


@pytest.mark.parametrize("field", [*LABELS, "summary", "evidence[0].summary"])
async def test_every_text_field_of_a_report_refuses_controls_and_bidi(dev_env, api, tokens, field):
    async with api(dev_env.client) as http:
        for name, (char, codepoint) in BAD.items():
            response = await http.post(
                "/v1/violations", json=_with(field, f"ab{char}"), headers=tokens.auth("reporter")
            )
            body = check_error(response, 422, field)
            assert codepoint in body["message"] and "at position" in body["message"], (name, body)
            assert body["message"].startswith(f"{field}: contains a "), body


@pytest.mark.parametrize("field", LABELS)
async def test_a_label_is_one_line(dev_env, api, tokens, field):
    async with api(dev_env.client) as http:
        for value, words in (
            ("a\nb", "(U+000A) at position"),
            ("a\tb", "(U+0009) at position"),
            ("a\u2028b", "line separator (U+2028)"),
        ):
            response = await http.post(
                "/v1/violations", json=_with(field, value), headers=tokens.auth("reporter")
            )
            assert words in check_error(response, 422, field)["message"]


async def test_a_lone_surrogate_is_refused(dev_env, api, tokens):
    body = json.dumps(report(sector="x")).replace('"x"', '"\\ud800"').encode()
    headers = {**tokens.auth("reporter"), "Content-Type": "application/json"}
    async with api(dev_env.client) as http:
        response = await http.post("/v1/violations", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] in ("sector", "body"), response.json()


async def test_accepted_text_is_stored_normalised(dev_env, run_worker, api, tokens, sessions):
    summary = "Колони на лінії\r\nзіткнення\rпідтверджено\tо 06:00"
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        opened = await http.post(
            "/v1/violations",
            json=report(sector="  Kyi\u0308v oblast ", summary=summary),
            headers=tokens.auth("reporter"),
        )
        assert opened.status_code == 202, opened.text
        incident = opened.json()["incident_id"]
        decided = await http.post(
            f"/v1/incidents/{incident}/decisions",
            json={"action": "stand_down", "rationale": "Withdrawn.\r\nOSCE confirms"},
            headers=tokens.auth("operator"),
        )
        assert decided.status_code == 200, decided.text
    async with sessions() as session:
        row = await session.get(Incident, incident)
    assert row.sector == "Kyïv oblast"
    assert row.summary == "Колони на лінії\nзіткнення\nпідтверджено\tо 06:00"
    rows = await ledger_rows(sessions, incident)
    assert rows[0].rationale == row.summary and rows[0].payload["sector"] == "Kyïv oblast"
    stand_down = next(r for r in rows if r.kind == "stand_down")
    assert stand_down.rationale == "Withdrawn.\nOSCE confirms"


async def test_submissions_refuse_bad_text_naming_the_field(dev_env, run_worker, api, tokens):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        opened = await http.post("/v1/violations", json=report(), headers=tokens.auth("reporter"))
        incident = opened.json()["incident_id"]
        routes = [
            ("evidence", "reporter", {"source": "isr", "summary": "s"}, ["source", "summary"]),
            ("commitments", "ally:uk", {"answer": "decline", "rationale": "r"}, ["rationale"]),
            ("decisions", "operator", {"action": "confirm", "rationale": "r"}, ["rationale"]),
        ]
        for route, role, valid, fields in routes:
            for field in fields:
                for char, codepoint in BAD.values():
                    response = await http.post(
                        f"/v1/incidents/{incident}/{route}",
                        json={**valid, field: f"x{char}"},
                        headers=tokens.auth(role),
                    )
                    assert codepoint in check_error(response, 422, field)["message"]
        still = await http.get(f"/v1/incidents/{incident}", headers=tokens.auth("observer"))
    # Nothing was recorded but the report (and the consultation request it sent).
    assert [d["kind"] for d in still.json()["timeline"]] in (["reported"], ["reported", "notified"])
