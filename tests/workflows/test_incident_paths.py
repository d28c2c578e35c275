"""Every path of the allied 72-hour plan, end to end on the time-skipping server, with the ledger
checked on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities.sinks import ExerciseSink, OutboundMessage
from tests.workflows.support import (
    REPORTER,
    assert_ledger_matches,
    hours_of,
    kinds,
    plan_decisions,
    start_drill,
)
from worker import WorkerDependencies, build_worker
from workflows.messages import Action, DeadlineStatus, Evidence, Outcome, Phase, Verification


def deadlines(view):
    return {d.name: d.status for d in view.deadlines}


def escalations(view):
    return [(e.level, round(e.t_plus_hours, 2)) for e in view.escalations]


async def test_full_activation(ts_env, run_worker, sessions, task_queue, exercise_sink):
    async with run_worker(ts_env.client):
        drill = await start_drill(ts_env, task_queue, "large_scale_offensive")
        await drill.at(2)
        receipt = await drill.evidence("allied-isr", "armoured columns crossing the line")
        assert receipt.decisions == ("evidence_accepted", "verified")
        assert receipt.phase is Phase.CONSULTATION
        await drill.at(10)
        await drill.commit("uk", "air", "naval")
        await drill.commit("pl", "ground")
        receipt = await drill.commit("us", "air")
        assert receipt.decisions == ("commitment", "quorum_reached")
        assert receipt.phase is Phase.AUTHORIZATION
        await drill.at(30)
        receipt = await drill.decide(Action.AUTHORIZE, "quorum reached; NAC concurs")
        assert receipt.outcome is Outcome.ACTIVATED
        view = await drill.result()

    assert view.outcome is Outcome.ACTIVATED
    assert view.phase is Phase.CLOSED  # the drill terminated the active response at once
    assert abs((view.activated_at - view.t0).total_seconds() - 30 * 3600) < 5
    assert abs((view.closed_at - view.t0).total_seconds() - 30 * 3600) < 5
    rows = await assert_ledger_matches(sessions, view)
    assert kinds(rows)[-2:] == ["terminate", "terminated"]
    decided = plan_decisions(rows)[:-2]
    assert hours_of(rows, "activated") == [30.0]
    assert view.escalation_level == 1 and view.escalations == ()
    assert decided[-1].payload["parties"] == {
        "pl": ["ground"],
        "uk": ["air", "naval"],
        "us": ["air"],
    }
    assert set(view.dispatched) == {"demarche", "unsc_session", "sanctions_snapback"}
    assert hours_of(rows, "dispatched") == [2.0, 2.0, 2.0]
    assert deadlines(view) == {
        "verification": DeadlineStatus.MET,
        "consultation": DeadlineStatus.MET,
        "diplomacy": DeadlineStatus.MET,
        "authorization": DeadlineStatus.MET,
        "activation": DeadlineStatus.MET,
    }
    assert kinds(rows) == [
        "reported", "evidence_accepted", "verified", "dispatched", "dispatched", "dispatched",
        "commitment", "commitment", "commitment", "quorum_reached", "authorize", "activated",
        "terminate", "terminated",
    ]  # fmt: skip
    assert decided[-2].actor == "duty-officer"
    assert decided[-2].rationale == "quorum reached; NAC concurs"
    assert rows[-1].workflow_id == drill.handle.id
    assert sorted(m.step for m in exercise_sink.sent) == [
        "demarche",
        "sanctions_snapback",
        "unsc_session",
    ]


async def test_late_report_has_less_time_and_past_deadlines_fire_at_once(
    ts_env, run_worker, sessions, task_queue
):
    async with run_worker(ts_env.client):
        drill = await start_drill(
            ts_env, task_queue, "large_scale_offensive", observed_hours_before_report=50
        )
        view = await drill.view()
        # At intake (T0+50h) everything due by then has already fired.
        assert view.verification is Verification.PRESUMED
        assert view.escalation_level == 3
        assert view.schedule[0].name == "authorization"
        assert round(view.window_closes_at.timestamp() - view.t0.timestamp()) == 72 * 3600
        await drill.commit("fr", "air")
        await drill.commit("de", "ground")
        await drill.commit("nl", "naval")
        await drill.at(55)
        await drill.decide(Action.AUTHORIZE, "heads of government agree")
        view = await drill.result()

    assert view.outcome is Outcome.ACTIVATED
    rows = await assert_ledger_matches(sessions, view)
    assert hours_of(rows, "activated") == [55.0]
    assert hours_of(rows, "presumed") == [50.0]
    assert [e.reason for e in view.escalations] == [
        "Not verified by T0+12h; proceeding on presumption",
        "Allied quorum not reached by T0+24h",
        "Allied quorum still not reached by T0+48h",
        "Diplomatic steps not all dispatched by T0+48h",
    ]
    assert escalations(view) == [(2, 50.0), (2, 50.0), (3, 50.0), (2, 50.0)]
    assert deadlines(view) == {
        "verification": DeadlineStatus.MISSED,
        "consultation": DeadlineStatus.MISSED,
        "diplomacy": DeadlineStatus.MISSED,
        "authorization": DeadlineStatus.MET,
        "activation": DeadlineStatus.MET,
    }


async def test_quorum_never_reached(ts_env, run_worker, sessions, task_queue):
    async with run_worker(ts_env.client):
        drill = await start_drill(
            ts_env,
            task_queue,
            "large_scale_offensive",
            evidence=(Evidence("allied-isr", "imagery"),),
        )
        await drill.at(20)
        await drill.commit("uk", "naval")
        await drill.commit("se", "ground")
        await drill.decline("us")
        mid = await drill.view()
        assert mid.phase is Phase.CONSULTATION and mid.quorum.missing_assets == ("air",)
        view = await drill.result()

    assert view.outcome is Outcome.NOT_ACTIVATED
    rows = await assert_ledger_matches(sessions, view)
    assert hours_of(rows, "not_activated") == [72.0]
    assert view.unmet_conditions == ("consultation", "authorization")
    assert plan_decisions(rows)[-1].payload["unmet"] == ["consultation", "authorization"]
    assert escalations(view) == [(2, 24.0), (3, 48.0), (3, 60.0)]
    assert view.escalation_level == 3
    assert hours_of(rows, "lapsed") == [24.0, 60.0, 72.0]


async def test_duplicate_evidence_from_one_source_counts_once(
    ts_env, run_worker, sessions, task_queue
):
    async with run_worker(ts_env.client):
        drill = await start_drill(ts_env, task_queue, "ceasefire_breach")
        await drill.at(1)
        first = await drill.evidence(REPORTER, "second report from the same staff")
        await drill.at(3)
        again = await drill.evidence(REPORTER, "and a third")
        assert first.decisions == again.decisions == ("evidence_accepted",)
        view = await drill.view()
        assert view.sources == (REPORTER,) and view.verification is Verification.PENDING
        await drill.at(4)
        receipt = await drill.evidence("osce-smm", "monitors confirm shelling")
        assert receipt.decisions == ("evidence_accepted", "verified")
        view = await drill.result()

    accepted = [d.payload for d in view.timeline if d.kind == "evidence_accepted"]
    assert [(p["source"], p["new_source"], p["distinct_sources"]) for p in accepted] == [
        (REPORTER, False, 1), (REPORTER, False, 1), ("osce-smm", True, 2),
    ]  # fmt: skip
    assert hours_of(view, "verified") == [4.0]
    assert view.outcome is Outcome.DIPLOMATIC_RESPONSE
    assert hours_of(view, "diplomatic_response") == [72.0]
    assert view.dispatched == ("demarche",)
    await assert_ledger_matches(sessions, view)


async def test_unverified_ceasefire_breach_closes_at_12h(
    ts_env, run_worker, sessions, task_queue, exercise_sink
):
    async with run_worker(ts_env.client):
        drill = await start_drill(ts_env, task_queue, "ceasefire_breach")
        view = await drill.result()

    assert view.outcome is Outcome.UNVERIFIED_CLOSED
    assert kinds(view) == ["reported", "lapsed", "unverified_closed"]
    assert kinds(view, notices=True)[-1] == "notified"  # the close notice, after the outcome
    assert hours_of(view, "unverified_closed") == [12.0]
    assert view.escalations == () and view.dispatched == ()
    assert deadlines(view)["verification"] is DeadlineStatus.MISSED
    assert deadlines(view)["diplomacy"] is DeadlineStatus.MOOT
    assert exercise_sink.sent == []
    await assert_ledger_matches(sessions, view)


async def test_stand_down(ts_env, run_worker, sessions, task_queue):
    async with run_worker(ts_env.client):
        drill = await start_drill(
            ts_env, task_queue, "large_scale_offensive", evidence=(Evidence("allied-isr"),)
        )
        await drill.at(5)
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await drill.decide(Action.STAND_DOWN, rationale="  ")
        assert "rationale" in str(rejected.value.cause)
        receipt = await drill.decide(
            Action.STAND_DOWN, "columns withdrew behind the line; verified by OSCE"
        )
        assert receipt.outcome is Outcome.STOOD_DOWN
        view = await drill.result()

    assert view.outcome is Outcome.STOOD_DOWN
    assert hours_of(view, "stood_down") == [5.0]
    assert kinds(view)[-2:] == ["stand_down", "stood_down"]
    rows = await assert_ledger_matches(sessions, view)
    decided = plan_decisions(rows)
    assert decided[-2].rationale == "columns withdrew behind the line; verified by OSCE"
    assert decided[-2].actor == "duty-officer"


async def test_reclassify_keeps_t0_and_applies_the_new_kind(
    ts_env, run_worker, sessions, task_queue
):
    async with run_worker(ts_env.client):
        drill = await start_drill(ts_env, task_queue, "ceasefire_breach")
        await drill.at(1)
        await drill.evidence("osce-smm")
        await drill.at(30)
        receipt = await drill.decide(
            Action.RECLASSIFY,
            "brigade-size forces crossed; this is an offensive",
            new_kind="large_scale_offensive",
        )
        # The consultation deadline (T0+24h) now applies and is already past: it fires at once.
        assert receipt.decisions == ("reclassify", "lapsed", "escalated")
        assert receipt.escalation_level == 2
        view = await drill.view()
        assert view.kind == "large_scale_offensive" and view.phase is Phase.CONSULTATION
        assert view.t0 == drill.t0
        for party in ("us", "uk", "fr"):
            await drill.commit(party, "air")
        await drill.at(40)
        await drill.decide(Action.AUTHORIZE, "quorum and verification hold")
        view = await drill.result()

    assert view.outcome is Outcome.ACTIVATED
    rows = await assert_ledger_matches(sessions, view)
    assert hours_of(rows, "activated") == [40.0]
    reclassified = next(d for d in rows if d.kind == "reclassify")
    assert reclassified.payload == {
        "action": "reclassify",
        "from": "ceasefire_breach",
        "to": "large_scale_offensive",
    }
    assert hours_of(rows, "dispatched") == [1.0, 30.0, 30.0]
    assert escalations(view) == [(2, 30.0)]


async def test_a_party_changing_its_answer(ts_env, run_worker, sessions, task_queue):
    async with run_worker(ts_env.client):
        drill = await start_drill(
            ts_env, task_queue, "large_scale_offensive", evidence=(Evidence("allied-isr"),)
        )
        await drill.at(6)
        await drill.commit("us", "air")
        await drill.commit("uk", "naval")
        assert (await drill.commit("fr", "ground")).decisions == ("commitment", "quorum_reached")
        await drill.at(8)
        assert (await drill.decline("us")).decisions == ("commitment", "quorum_lost")
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await drill.decide(Action.AUTHORIZE)
        assert "1 more committed party and a party offering air" in str(rejected.value.cause)
        await drill.at(9)
        await drill.commit("it", "air", "naval")
        await drill.decide(Action.AUTHORIZE)
        view = await drill.result()

    assert view.outcome is Outcome.ACTIVATED
    rows = await assert_ledger_matches(sessions, view)
    activation = next(r for r in rows if r.kind == "activated")
    assert activation.payload["parties"] == {
        "fr": ["ground"],
        "it": ["air", "naval"],
        "uk": ["naval"],
    }
    assert view.quorum.declined == ("us",)
    changed = [d.payload for d in rows if d.kind == "commitment" and d.payload["party"] == "us"]
    assert [(c["answer"], c["previous"]) for c in changed] == [
        ("commit", None),
        ("decline", "commit"),
    ]


async def test_limited_incursion_ends_as_diplomatic_response(
    ts_env, run_worker, sessions, task_queue
):
    async with run_worker(ts_env.client):
        drill = await start_drill(
            ts_env, task_queue, "limited_incursion", evidence=(Evidence("allied-isr"),)
        )
        await drill.at(12)
        for party in ("de", "nl", "pl"):
            await drill.commit(party, "air")
        view = await drill.result()

    assert view.outcome is Outcome.DIPLOMATIC_RESPONSE
    assert hours_of(view, "diplomatic_response") == [72.0]
    assert set(view.dispatched) == {"demarche", "unsc_session", "sanctions_snapback"}
    assert view.escalations == ()
    assert deadlines(view)["authorization"] is DeadlineStatus.NOT_APPLICABLE
    await assert_ledger_matches(sessions, view)


class ReversedSink(ExerciseSink):
    """Answers the steps in the reverse of the plan's order: the first one it is handed, last."""

    def __init__(self) -> None:
        super().__init__()
        self.delays = {"demarche": 0.6, "unsc_session": 0.3, "sanctions_snapback": 0.0}

    async def send(self, message: OutboundMessage) -> None:
        await asyncio.sleep(self.delays.get(message.step, 0.0))
        await super().send(message)


async def test_step_results_are_recorded_in_the_plans_order(ts_env, settings, sessions, task_queue):
    sink = ReversedSink()
    deps = WorkerDependencies.build(settings, sink=sink, exercise_sink=sink)
    try:
        async with build_worker(ts_env.client, task_queue, deps, settings):
            drill = await start_drill(
                ts_env, task_queue, "large_scale_offensive", evidence=(Evidence("allied-isr"),)
            )
            await drill.at(1)
            await drill.decide(Action.STAND_DOWN, "talks resumed")
            view = await drill.result()
    finally:
        await deps.close()
    # The sink answered sanctions first and the démarche last; the ledger keeps the plan's order.
    assert [m.step for m in sink.sent] == ["sanctions_snapback", "unsc_session", "demarche"]
    dispatched = [d.payload["step"] for d in view.timeline if d.kind == "dispatched"]
    assert dispatched == ["demarche", "unsc_session", "sanctions_snapback"]
    await assert_ledger_matches(sessions, view)
