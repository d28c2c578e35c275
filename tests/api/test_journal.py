"""The cell's journal over HTTP: notes and handovers in the ledger and on the board, refused
with the field named, never twice for a retry, and nothing they change."""

from __future__ import annotations

from tests.api.test_submissions import open_incident


async def test_notes_and_handovers_reach_the_ledger_and_the_board(dev_env, run_worker, api, tokens):
    operator = tokens.auth("operator")
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident = await open_incident(http, tokens)
        notes = f"/v1/incidents/{incident}/notes"
        before = (await http.get(f"/v1/incidents/{incident}", headers=operator)).json()
        note = await http.post(
            notes, json={"text": "UK liaison unreachable\nretry 14:00"}, headers=operator
        )
        retried = {**operator, "Idempotency-Key": "handover-1"}
        body = {"text": "Night shift: watch the UK answer", "kind": "handover"}
        handover = await http.post(notes, json=body, headers=retried)
        again = await http.post(notes, json=body, headers=retried)
        after = (await http.get(f"/v1/incidents/{incident}", headers=operator)).json()
        ledger = (await http.get(f"/v1/incidents/{incident}/decisions", headers=operator)).json()
        board = await http.get(f"/board/incidents/{incident}", headers=operator)

    assert note.status_code == 200, note.text
    assert note.json()["decisions"] == ["note"] and note.json()["message"] == "note recorded"
    assert handover.status_code == 200 and again.json() == handover.json()
    rows = [r for r in ledger["decisions"] if r["kind"] == "note"]
    assert [(r["rationale"], r["payload"]["note"], r["actor"]) for r in rows] == [
        ("UK liaison unreachable\nretry 14:00", "note", tokens.names["operator"]),
        ("Night shift: watch the UK answer", "handover", tokens.names["operator"]),
    ]
    assert ledger["chain"]["intact"] is True
    # A note decides nothing: where the incident stands is as it was.
    for key in ("phase", "escalation_level", "outcome"):
        assert after[key] == before[key], key

    def standing(detail):  # seconds_left counts down between the two reads
        return [{k: v for k, v in d.items() if k != "seconds_left"} for d in detail["deadlines"]]

    assert standing(after) == standing(before)
    assert board.status_code == 200, board.text
    journal = board.text[board.text.index('id="journal"') :]
    assert "Night shift: watch the UK answer" in journal and "handover" in journal


async def test_a_bad_note_is_refused_and_only_the_cell_writes_one(dev_env, run_worker, api, tokens):
    operator = tokens.auth("operator")
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident = await open_incident(http, tokens)
        notes = f"/v1/incidents/{incident}/notes"
        empty = await http.post(notes, json={"text": ""}, headers=operator)
        blank = await http.post(notes, json={"text": "   "}, headers=operator)
        memo = await http.post(notes, json={"text": "x", "kind": "memo"}, headers=operator)
        control = await http.post(notes, json={"text": "bell\u0007"}, headers=operator)
        reporter = await http.post(notes, json={"text": "mine"}, headers=tokens.auth("reporter"))
        ally = await http.post(notes, json={"text": "mine"}, headers=tokens.auth("ally:uk"))
        missing = await http.post(
            "/v1/incidents/nowhere-00000000/notes", json={"text": "x"}, headers=operator
        )
        stood_down = await http.post(
            f"/v1/incidents/{incident}/decisions",
            json={"action": "stand_down", "rationale": "false alarm"},
            headers=operator,
        )
        late = await http.post(notes, json={"text": "after the close"}, headers=operator)
        ledger = (await http.get(f"/v1/incidents/{incident}/decisions", headers=operator)).json()

    for refused, field in ((empty, "text"), (blank, "text"), (memo, "kind"), (control, "text")):
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == field, refused.text
    assert reporter.status_code == 403 and ally.status_code == 403
    assert missing.status_code == 404
    assert stood_down.status_code == 200, stood_down.text
    assert late.status_code == 409, late.text
    assert not [r for r in ledger["decisions"] if r["kind"] == "note"]
