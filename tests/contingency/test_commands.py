"""The crisis-cell commands over a real API: tables for people, JSON for scripts, one line and a
non-zero exit on errors."""

from __future__ import annotations

import json
import uuid

from tests.contingency.conftest import invoke


async def test_an_incident_from_the_command_line(dev_env, run_worker, serve_api, tokens):
    async with run_worker(dev_env.client), serve_api(dev_env.client) as url:
        env = {
            "CONTINGENCY_API_URL": url,
            "CONTINGENCY_TOKEN": tokens.secrets["reporter"],
            "COLUMNS": "200",
        }
        report_id = f"cli-{uuid.uuid4().hex}"
        reported = await invoke(
            "report", "--report-id", report_id, "--kind", "large_scale_offensive", "--sector", "Kharkiv",
            "--reported-by", "ua-gs", "--evidence", "osint=videos of columns", "--json", env=env,
        )  # fmt: skip
        assert reported.exit_code == 0, reported.output
        incident = json.loads(reported.output)["incident_id"]

        again = await invoke(
            "report", "--report-id", report_id, "--kind", "large_scale_offensive", "--sector", "Kharkiv",
            "--reported-by", "ua-gs", "--evidence", "osint=videos of columns", env=env,
        )  # fmt: skip
        assert again.exit_code == 0 and "Already open" in again.output

        joined = await invoke(
            "report", "--report-id", f"{report_id}-kherson", "--kind", "large_scale_offensive",
            "--sector", "Kherson", "--reported-by", "kherson-command", "--joins", incident, env=env,
        )  # fmt: skip
        assert joined.exit_code == 0, joined.output
        assert (
            f"Joined incident {incident}" in joined.output and "Kharkiv, Kherson" in joined.output
        )

        ally = {**env, "CONTINGENCY_TOKEN": tokens.secrets["ally:uk"]}
        committed = await invoke("commit", incident, "--asset", "air", "--asset", "naval", env=ally)
        assert committed.exit_code == 0, committed.output
        assert "uk: commit" in committed.output

        early = await invoke("deploy", incident, "--asset", "air", env=ally)
        assert early.exit_code == 1 and "after activation" in early.output, early.output
        assert "(HTTP 409)" in early.output

        near = await invoke("related", incident, env=env)
        assert near.exit_code == 0, near.output
        assert "within 24 h" in near.output  # others the suite opened near now, or none

        status = await invoke("status", incident, env=env)
        assert status.exit_code == 0, status.output
        assert (
            incident in status.output
            and "consultation" in status.output
            and "Deadlines" in status.output
        )

        listed = await invoke("list", "--open", "--json", env=env)
        assert incident in [i["incident_id"] for i in json.loads(listed.output)["incidents"]]
        table = await invoke("list", "--kind", "large_scale_offensive", env=env)
        assert table.exit_code == 0 and incident in table.output

        operator = {**env, "CONTINGENCY_TOKEN": tokens.secrets["operator"]}
        noted = await invoke("note", incident, "UK air confirmed by phone", env=operator)
        assert noted.exit_code == 0 and "note recorded" in noted.output, noted.output
        handed = await invoke("note", incident, "Day shift out", "--handover", env=operator)
        assert handed.exit_code == 0 and "handover recorded" in handed.output, handed.output
        not_cell = await invoke("note", incident, "mine", env=ally)
        assert not_cell.exit_code != 0

        stood_down = await invoke(
            "decide", incident, "stand_down", "--rationale", "exercise inject", env=operator
        )
        assert stood_down.exit_code == 0, stood_down.output
        assert "stood_down" in stood_down.output

        ledger = await invoke("ledger", incident, "--json", env=env)
        rows = json.loads(ledger.output)["decisions"]
        decided = [r for r in rows if r["kind"] != "notified"]
        assert [r["kind"] for r in decided][-4:] == ["note", "note", "stand_down", "stood_down"]
        assert [r["payload"]["note"] for r in decided[-4:-2]] == ["note", "handover"]
        assert decided[-2]["actor"] == tokens.names["operator"]
        assert "ledger intact" in (await invoke("ledger", incident, env=env)).output


async def test_errors_are_one_line_and_non_zero(dev_env, serve_api, tokens):
    async with serve_api(dev_env.client) as url:
        env = {"CONTINGENCY_API_URL": url, "CONTINGENCY_TOKEN": tokens.secrets["reporter"]}
        refused = await invoke("decide", "kyiv-00000000", "confirm", "--rationale", "x", env=env)
        missing = await invoke("status", "kyiv-00000000", env=env)
        unauthenticated = await invoke(
            "list", env={"CONTINGENCY_API_URL": url, "CONTINGENCY_TOKEN": ""}
        )
        bad_kind = await invoke(
            "report",
            "--report-id",
            "x",
            "--kind",
            "skirmish",
            "--sector",
            "s",
            "--reported-by",
            "r",
            env=env,
        )
    unreachable = await invoke(
        "list", env={"CONTINGENCY_API_URL": "http://127.0.0.1:9", "CONTINGENCY_TOKEN": "t"}
    )
    for result, text in (
        (refused, "may not decide (HTTP 403)"),
        (missing, "no incident 'kyiv-00000000' (HTTP 404)"),
        (unauthenticated, "bearer token is required (HTTP 401)"),
        (bad_kind, "kind: 'skirmish' is not a kind"),
        (unreachable, "cannot reach the API"),
    ):
        assert result.exit_code == 1, result.output
        assert text in result.output
        assert result.output.count("\n") == 1 and result.output.startswith("error: ")


async def test_tokens_add_list_revoke(database_url):
    name = f"cli-{uuid.uuid4().hex[:6]}"
    env = {"DATABASE_URL": database_url}
    added = await invoke("tokens", "add", "--name", name, "--role", "ally:fr", "--json", env=env)
    assert added.exit_code == 0, added.output
    secret = json.loads(added.output)["token"]
    listed = await invoke("tokens", "list", "--json", env=env)
    entry = next(t for t in json.loads(listed.output) if t["name"] == name)
    assert (
        entry["role"] == "ally:fr"
        and secret not in listed.output
        and secret.startswith(entry["prefix"])
    )
    assert (await invoke("tokens", "revoke", name, env=env)).exit_code == 0
    again = await invoke("tokens", "revoke", name, env=env)
    assert again.exit_code == 1 and "no active token" in again.output
    bad = await invoke("tokens", "add", "--name", "x", "--role", "king", env=env)
    assert bad.exit_code == 1 and "role" in bad.output


async def test_merge_and_correct_t0_from_the_command_line(dev_env, run_worker, serve_api, tokens):
    async with run_worker(dev_env.client), serve_api(dev_env.client) as url:
        env = {
            "CONTINGENCY_API_URL": url,
            "CONTINGENCY_TOKEN": tokens.secrets["reporter"],
            "COLUMNS": "200",
        }
        opened = []
        for sector in ("Sumy", "Kursk"):
            reported = await invoke(
                "report", "--report-id", f"cli-{uuid.uuid4().hex}", "--kind", "large_scale_offensive",
                "--sector", sector, "--reported-by", f"{sector.lower()}-command", "--json", env=env,
            )  # fmt: skip
            assert reported.exit_code == 0, reported.output
            opened.append(json.loads(reported.output)["incident_id"])
        survivor, absorbed = opened
        operator = {**env, "CONTINGENCY_TOKEN": tokens.secrets["operator"]}
        corrected = await invoke(
            "decide", survivor, "correct_t0", "--rationale", "radar log",
            "--observed-at", "2099-01-01T00:00:00", env=operator,
        )  # fmt: skip
        assert corrected.exit_code == 1 and "in the future" in corrected.output, corrected.output
        earlier = await invoke(
            "decide", survivor, "correct_t0", "--rationale", "radar log", "--observed-at=-3h",
            env=operator,
        )  # fmt: skip
        assert earlier.exit_code == 0 and "correct_t0" in earlier.output, earlier.output
        merged = await invoke(
            "decide", absorbed, "merge", "--into", survivor, "--rationale", "one offensive",
            env=operator,
        )  # fmt: skip
        assert merged.exit_code == 0, merged.output
        assert f"merged into {survivor}" in merged.output and "outcome merged" in merged.output
        shown = await invoke("status", absorbed, env=env)
        assert f"merged into {survivor}" in shown.output, shown.output
        kept = await invoke("status", survivor, env=env)
        assert f"absorbed {absorbed}" in kept.output and "Sumy, Kursk" in kept.output, kept.output
        await invoke("decide", survivor, "stand_down", "--rationale", "the test ends", env=operator)
