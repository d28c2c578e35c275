"""Three reports of one offensive from three sectors, on the time-skipping server with the
ledger on SQLite and PostgreSQL: one response, verified by the reports themselves, activated
once, with one démarche and one set of allied answers."""

from __future__ import annotations

from datetime import timedelta

from db.audit import audited_ledger, find_incident
from tests.workflows.support import REPORTER, assert_ledger_matches, kinds, start_drill
from workflows.incident import IncidentWorkflow
from workflows.messages import Action, Outcome, ViolationReport
from workflows.updating import execute_update


async def test_three_sectors_one_response(ts_env, run_worker, sessions, task_queue, exercise_sink):
    async with run_worker(ts_env.client):
        drill = await start_drill(ts_env, task_queue, "large_scale_offensive")
        for n, (sector, hours) in enumerate((("kherson", 1), ("donetsk", 2)), start=2):
            await drill.at(hours)
            now = await ts_env.get_current_time()
            receipt = await execute_update(
                drill.handle,
                IncidentWorkflow.join_report,
                ViolationReport(
                    report_id=f"{drill.handle.id}-{n}",
                    kind="large_scale_offensive",
                    sector=sector,
                    reported_by=f"{sector}-command",
                    observed_at=now - timedelta(minutes=30),
                    reported_at=now,
                ),
            )
            assert receipt.decisions[0] == "report_joined"
        first = await drill.view()
        await drill.at(10)
        for party, assets in (("uk", ("air",)), ("pl", ("ground",)), ("us", ("air",))):
            await drill.commit(party, *assets)
        await drill.at(20)
        receipt = await drill.decide(Action.AUTHORIZE, "quorum reached; NAC concurs")
        view = await drill.result()

    assert first.sectors == ("zaporizhzhia", "kherson", "donetsk") and first.reports == 3
    assert first.sources == (REPORTER, "kherson-command", "donetsk-command")
    assert receipt.outcome is Outcome.ACTIVATED
    rows = await assert_ledger_matches(sessions, view)
    decided = kinds(rows)
    assert decided.count("report_joined") == 2 and decided.count("activated") == 1
    assert decided.count("verified") == 1
    # One voice outward: each diplomatic step once, one consultation request, one order.
    assert sorted(m.step for m in exercise_sink.sent) == [
        "demarche",
        "sanctions_snapback",
        "unsc_session",
    ]
    told = [r.payload["notice_kind"] for r in rows if r.kind == "notified"]
    assert told.count("consultation_request") == 1 and told.count("activation_order") == 1
    assert [r.payload["party"] for r in rows if r.kind == "commitment"] == ["uk", "pl", "us"]
    incident = await find_incident(sessions, view.incident_id)
    assert incident is not None and incident.sectors == ["zaporizhzhia", "kherson", "donetsk"]
    audit, _ = await audited_ledger(sessions, incident, ts_env.client)
    assert audit.intact and audit.checked_against_workflow, audit
    history = await drill.handle.fetch_history()
    sectors = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields.get(
            "IncidentSectors"
        )
        for e in history.events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]
    assert any(s is not None and b"donetsk" in s.data for s in sectors)
