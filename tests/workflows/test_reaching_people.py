"""The incident tells people, through real channels: every guarantor party by mail (a real SMTP
server), the authorities and the cell by JSON posts (a real HTTP receiver), on the time-skipping
server, with the ledger on SQLite and PostgreSQL. Receivers count distinct X-Contingency-Key
values (one per message the engine meant) and raw repeats."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.settings import Settings
from plans.loader import get_plan
from tests.receivers import WEBHOOK_SECRET
from tests.workflows.support import ledger_rows, start_drill
from workflows.incident import IncidentWorkflow
from workflows.messages import AcknowledgeInput, Action, Evidence, Outcome
from workflows.updating import execute_update

PARTIES = get_plan().parties


@pytest.fixture
def settings(database_url: str, task_queue: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        task_queue=task_queue,
        data_dir=tmp_path,
        webhook_secret=WEBHOOK_SECRET,
    )


@pytest.fixture
def contacts(settings: Settings, smtp_receiver, http_receiver) -> dict[str, list[str]]:
    """Every audience of the default plan with a channel: the file the worker reads."""
    audiences = {f"party:{p}": [smtp_receiver.url(to=f"{p}@example.org")] for p in PARTIES}
    for level in (1, 2, 3):
        audiences[f"level:{level}"] = [http_receiver.json_url(f"/level-{level}")]
    audiences["cell"] = [http_receiver.json_url("/cell")]
    lines = ["audiences:"]
    for audience, urls in audiences.items():
        lines += [f"  {audience}:"] + [f'    - "{url}"' for url in urls]
    (settings.data_dir / "contacts.yaml").write_text("\n".join(lines) + "\n")
    return audiences


def mails_to(smtp_receiver, party: str, subject_part: str = "") -> list:
    return [
        m
        for m, to in zip(smtp_receiver.received, smtp_receiver.recipients, strict=True)
        if f"{party}@example.org" in to and subject_part in m.subject
    ]


async def test_a_late_offensive_asks_every_party_and_pages_level_two_until_acknowledged(
    ts_env, run_worker, sessions, task_queue, contacts, smtp_receiver, http_receiver
):
    async with run_worker(ts_env.client):
        drill = await start_drill(
            ts_env, task_queue, "large_scale_offensive", observed_hours_before_report=25
        )
        await drill.at(25.2)
        view = await drill.view()
        # At intake: a request to each of the twelve parties, one page to level 2 (both rules
        # that fired at once in it), which awaits acknowledgement.
        requests = [m for m in smtp_receiver.received if "Consultation request" in m.subject]
        assert len(requests) == len(PARTIES)
        pages = http_receiver.at("/level-2")
        assert len(pages) == 1 and pages[0].subject.startswith("[L2")
        (awaited,) = view.awaiting_ack
        assert awaited.level == 2 and len(awaited.reasons) == 2

        await drill.at(27.5)  # repeated at T0+26h and T0+27h
        assert len(http_receiver.at("/level-2")) == 3
        receipt = await execute_update(
            drill.handle,
            IncidentWorkflow.acknowledge,
            AcknowledgeInput(awaited.notice_id, "duty-officer"),
        )
        assert receipt.decisions == ("acknowledged",)
        await drill.at(31)
        assert len(http_receiver.at("/level-2")) == 3  # no repeat after the acknowledgement
        assert (await drill.view()).awaiting_ack == ()
        await drill.decide(Action.STAND_DOWN, "the columns turned back")
        view = await drill.result()

    assert view.outcome is Outcome.STOOD_DOWN
    closes = [m for m in smtp_receiver.received if "closed" in m.subject.lower()]
    assert len(closes) == len(PARTIES)  # everyone asked hears how it ended
    assert len(http_receiver.at("/cell")) == 3 + 1  # the pages and the close
    for receiver in (smtp_receiver, http_receiver):
        assert receiver.repeats == 0 and receiver.keys()[None] == 0  # every one keyed
    rows = await ledger_rows(sessions, view.incident_id)
    notified = [r for r in rows if r.kind == "notified"]
    assert [r.payload["notice_kind"] for r in notified] == [
        "consultation_request", "escalation", "escalation", "escalation", "close",
    ]  # fmt: skip
    assert [r.kind for r in rows].count("acknowledged") == 1
    assert all(r.payload["unconfigured"] == [] for r in notified)


async def test_a_party_that_answers_is_not_reminded(
    ts_env, run_worker, task_queue, contacts, smtp_receiver
):
    async with run_worker(ts_env.client):
        drill = await start_drill(ts_env, task_queue, "large_scale_offensive")
        await drill.at(1)
        await drill.commit("uk", "air")
        await drill.decline("pl")
        await drill.at(22.5)
        await drill.decide(Action.STAND_DOWN, "drill over")
        await drill.result()

    assert len(mails_to(smtp_receiver, "uk", "reminder")) == 0
    assert len(mails_to(smtp_receiver, "pl", "reminder")) == 0
    for party in set(PARTIES) - {"uk", "pl"}:  # reminded at T0+18h and T0+22h
        assert len(mails_to(smtp_receiver, party, "eminder")) == 2, party
    assert smtp_receiver.repeats == 0


async def test_activation_orders_each_committed_party_with_its_assets(
    ts_env, run_worker, sessions, task_queue, contacts, smtp_receiver
):
    async with run_worker(ts_env.client):
        drill = await start_drill(
            ts_env, task_queue, "large_scale_offensive", evidence=(Evidence("allied-isr"),)
        )
        await drill.at(2)
        await drill.commit("uk", "air")
        await drill.commit("us", "naval")
        await drill.commit("pl", "ground")
        await drill.decide(Action.AUTHORIZE, "quorum holds")
        view = await drill.result()

    assert view.outcome is Outcome.ACTIVATED
    orders = {
        party: mails_to(smtp_receiver, party, "Activation order") for party in ("uk", "us", "pl")
    }
    assert {party: len(m) for party, m in orders.items()} == {"uk": 1, "us": 1, "pl": 1}
    assert "air" in orders["uk"][0].text and "naval" in orders["us"][0].text
    assert mails_to(smtp_receiver, "fr", "Activation order") == []
    assert smtp_receiver.repeats == 0


async def test_a_channel_that_refuses_for_good_shows_undelivered(
    ts_env, run_worker, sessions, task_queue, settings, smtp_receiver, http_receiver
):
    (settings.data_dir / "contacts.yaml").write_text(
        "audiences:\n"
        f'  party:uk: ["{http_receiver.webhook_url("/uk-hook")}"]\n'
        f'  party:us: ["{smtp_receiver.url(to="us@example.org")}"]\n'
    )
    http_receiver.answer["/uk-hook"] = 410
    async with run_worker(ts_env.client):
        drill = await start_drill(ts_env, task_queue, "large_scale_offensive")
        await drill.at(0.5)
        view = await drill.view()
        await drill.decide(Action.STAND_DOWN, "drill over")
        await drill.result()

    assert view.undelivered == 1
    tried = [m for m in http_receiver.at("/uk-hook") if "consultation_request" in (m.key or "")]
    assert len(tried) == 1  # refused for good: not tried again
    rows = await ledger_rows(sessions, view.incident_id)
    request = next(r for r in rows if r.kind == "notified")
    (failed,) = [
        r
        for r in rows
        if r.kind == "delivery_failed" and r.payload["notice"] == request.payload["notice"]
    ]
    assert failed.payload["audience"] == "party:uk" and "410" in failed.rationale
    assert request.payload["undelivered"] == ["party:uk"]
    # Parties without any channel are named, never silently dropped.
    assert "party:fr" in request.payload["unconfigured"]
