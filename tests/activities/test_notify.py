"""The notice activity end to end, on SQLite and PostgreSQL, against a real SMTP server and a
real HTTP receiver: one distinct message per recipient whatever is retried, failures retried
by Temporal then recorded undelivered, refusals undelivered at once, uncleared channels told
nothing, exercises sent nowhere."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.channels import ChannelSender
from activities.contacts import Contacts, load_contacts
from activities.notify import ExerciseNotices, NoticeActivities
from activities.rendering import NoticeRenderer
from db.deliveries import incident_deliveries
from tests.activities.notice_workflow import SendOneNotice
from tests.receivers import WEBHOOK_SECRET, HttpReceiver, SmtpReceiver
from tests.serving import free_port
from workflows.names import NOTICE_UNDELIVERED
from workflows.notices import Addressee, NoticeFacts, NoticeInput, NoticeKind

LINK_SECRET = b"l" * 32
HOOK_TOKEN = "path-secret-0451"


def contacts(tmp_path: Path, audiences: dict[str, list[str | dict]]) -> Contacts:
    lines = ["audiences:"]
    for audience, channels in audiences.items():
        lines.append(f"  {audience}:")
        for channel in channels:
            if isinstance(channel, dict):
                lines.append(
                    f'    - {{url: "{channel["url"]}", cleared: {str(channel["cleared"]).lower()}}}'
                )
            else:
                lines.append(f'    - "{channel}"')
    path = tmp_path / f"contacts-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return load_contacts(path, environ={"HOOK_TOKEN": HOOK_TOKEN}, webhook_secret=True)


def activities(transactions, book: Contacts, exercise: ExerciseNotices | None = None):
    return NoticeActivities(
        transactions,
        book,
        NoticeRenderer(link_secret=LINK_SECRET, public_url="https://cell.example.org"),
        ChannelSender(WEBHOOK_SECRET, webhook_timeout=5, apprise_timeout=15),
        exercise_notices=exercise,
    )


def notice(*audiences: str, sector: str = "east", **changes) -> NoticeInput:
    incident = f"{sector.lower()}-{uuid.uuid4().hex[:8]}"
    t0 = datetime.now(UTC) - timedelta(hours=1)
    base = NoticeInput(
        notice_id=f"incident-{incident}/n1",
        notice_kind=NoticeKind.CONSULTATION_REQUEST,
        incident_id=incident,
        workflow_id=f"incident-{incident}",
        exercise=False,
        addressees=tuple(Addressee(a) for a in audiences),
        facts=NoticeFacts(
            plan_id="allied-72h",
            plan_title="Allied 72-hour response",
            kind="large_scale_offensive",
            kind_title="Large-scale offensive",
            sector=sector,
            t0=t0,
            escalation_level=2,
            level_title="Principals and ministers",
            deadline=t0 + timedelta(hours=24),
            deadline_label="Allied consultation quorum",
        ),
        needs_answer=True,
    )
    return dataclasses.replace(base, **changes)


async def run(acts: NoticeActivities, sent: NoticeInput, attempt: int = 1):
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    return await env.run(acts.send_notice, sent)


async def rows(sessions, incident_id: str):
    async with sessions() as session:
        return await incident_deliveries(session, incident_id)


async def test_mail_json_and_webhook_each_receive_one_message_with_the_key(
    tmp_path, transactions, sessions, smtp_receiver: SmtpReceiver, http_receiver: HttpReceiver
):
    book = contacts(
        tmp_path,
        {
            "party:uk": [
                smtp_receiver.url("uk@example.org"),
                http_receiver.json_url("/uk/${HOOK_TOKEN}"),
            ],
            "level:2": [http_receiver.webhook_url("/hook")],
        },
    )
    acts = activities(transactions, book)
    sent = notice("party:uk", "level:2", "party:us")

    result = await run(acts, sent)

    assert result.recipients == 3 and result.already_delivered == 0
    assert set(result.delivered) == {"party:uk", "level:2"}
    assert result.undelivered == () and result.unconfigured == ("party:us",)
    assert smtp_receiver.distinct == 1 and smtp_receiver.repeats == 0
    assert http_receiver.distinct == 2 and http_receiver.repeats == 0
    mail = smtp_receiver.received[0]
    assert mail.key == f"{sent.notice_id}/party:uk/{book.channels('party:uk')[0].digest}"
    assert mail.subject.startswith("[L2 · due ") and "Consultation request" in mail.subject
    assert mail.html is not None and "<strong>uk</strong>" in mail.html
    assert "contingency commit" in mail.text  # the text alternative Apprise derives
    assert smtp_receiver.recipients == [["uk@example.org"]]
    posted = http_receiver.at(f"/uk/{HOOK_TOKEN}")[0]
    assert posted.key == f"{sent.notice_id}/party:uk/{book.channels('party:uk')[1].digest}"
    assert "Consultation request" in posted.subject and "east" in posted.text
    hook = http_receiver.at("/hook")[0]
    assert hook.signed is True and hook.key == hook.body["idempotency_key"]
    assert hook.body["notice_id"] == sent.notice_id and hook.body["audience"] == "level:2"
    assert hook.headers["idempotency-key"] == hook.key

    stored = await rows(sessions, sent.incident_id)
    assert [(r.audience, r.status, r.attempts) for r in stored] == [
        ("party:uk", "delivered", 1),
        ("party:uk", "delivered", 1),
        ("level:2", "delivered", 1),
    ]
    assert {r.idempotency_key for r in stored} == {m.key for m in smtp_receiver.received} | {
        m.key for m in http_receiver.received
    }
    # Rows show the privacy form: the path's secret is back to its placeholder.
    assert all(HOOK_TOKEN not in r.channel for r in stored)
    assert any("${HOOK_TOKEN}" in r.channel for r in stored)
    assert all(
        r.delivered_at is not None and r.notice_kind == "consultation_request" for r in stored
    )

    # The same notice again (a retried activity, a repeated call): nothing new leaves.
    again = await run(acts, sent, attempt=2)
    assert again.recipients == 3 and again.already_delivered == 3
    assert len(smtp_receiver.received) == 1 and len(http_receiver.received) == 2


async def test_a_channel_that_is_down_is_retried_then_undelivered(
    tmp_path, ts_env, transactions, sessions, task_queue, smtp_receiver, http_receiver
):
    down = f"json://127.0.0.1:{free_port()}/nobody-listens"
    http_receiver.answer_first["/flaky"] = 503  # each key's first post fails, the next passes
    book = contacts(
        tmp_path,
        {"party:uk": [smtp_receiver.url(), down], "party:pl": [http_receiver.json_url("/flaky")]},
    )
    acts = activities(transactions, book)
    sent = notice("party:uk", "party:pl", max_attempts=3)
    async with Worker(
        ts_env.client,
        task_queue=task_queue,
        workflows=[SendOneNotice],
        activities=[acts.send_notice],
    ):
        result = await ts_env.client.execute_workflow(
            SendOneNotice.run, sent, id=f"notice-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )

    assert result.recipients == 2 and set(result.delivered) == {"party:uk", "party:pl"}
    [undelivered] = result.undelivered
    assert undelivered.audience == "party:uk" and "nobody-listens" in undelivered.channel
    assert "Connection error" in undelivered.error and len(undelivered.error) <= 200
    # The mail went once, though the notice was tried three times; the flaky receiver saw its
    # one key twice (a raw repeat), which is one distinct message.
    assert smtp_receiver.distinct == 1 and smtp_receiver.repeats == 0
    assert http_receiver.distinct == 1 and http_receiver.repeats == 1
    stored = {r.channel: r for r in await rows(sessions, sent.incident_id)}
    dead = next(r for c, r in stored.items() if "nobody-listens" in c)
    assert (
        dead.status == "undelivered"
        and dead.attempts == 3
        and "Connection error" in dead.last_error
    )
    flaky = next(r for c, r in stored.items() if "flaky" in c)
    assert flaky.status == "delivered" and flaky.attempts == 2


async def test_retries_stop_at_the_deadline_the_notice_serves(tmp_path, transactions, sessions):
    down = f"json://127.0.0.1:{free_port()}/down"
    acts = activities(transactions, contacts(tmp_path, {"cell": [down]}))
    # Attempts remain, and the deadline is ahead: Temporal is asked to try again.
    ahead = notice("cell", deliver_until=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(ApplicationError) as caught:
        await run(acts, ahead)
    assert caught.value.type == NOTICE_UNDELIVERED and not caught.value.non_retryable
    assert [r.status for r in await rows(sessions, ahead.incident_id)] == ["pending"]
    # Past the deadline: recorded undelivered at once, and the result says so.
    past = notice("cell", deliver_until=datetime.now(UTC) - timedelta(seconds=1))
    result = await run(acts, past)
    assert result.recipients == 0 and [u.audience for u in result.undelivered] == ["cell"]
    assert [r.status for r in await rows(sessions, past.incident_id)] == ["undelivered"]


async def test_a_webhook_refusal_is_undelivered_at_once(
    tmp_path, transactions, sessions, http_receiver
):
    http_receiver.answer["/gone"] = 410
    book = contacts(
        tmp_path, {"level:2": [http_receiver.webhook_url("/gone"), http_receiver.json_url("/ok")]}
    )
    sent = notice("level:2", max_attempts=5)
    result = await run(activities(transactions, book), sent)  # attempt 1 of 5: no retry asked

    assert result.delivered == ("level:2",) and result.recipients == 1
    [refused] = result.undelivered
    assert refused.channel.endswith("/gone") and "410" in refused.error
    assert len(http_receiver.at("/gone")) == 1
    stored = await rows(sessions, sent.incident_id)
    assert {("/gone" in r.channel, r.status, r.attempts) for r in stored} == {
        (True, "undelivered", 1),
        (False, "delivered", 1),
    }


async def test_an_uncleared_channel_gets_no_incident_content(
    tmp_path, transactions, smtp_receiver, http_receiver
):
    book = contacts(
        tmp_path,
        {
            "party:uk": [
                {"url": http_receiver.json_url("/uk-pager"), "cleared": False},
                {"url": smtp_receiver.url(), "cleared": False},
                {"url": http_receiver.webhook_url("/uk-hook"), "cleared": False},
            ]
        },
    )
    sent = notice("party:uk", sector="Zaporizhzhia")
    result = await run(activities(transactions, book), sent)
    assert result.recipients == 3
    for message in [*http_receiver.received, *smtp_receiver.received]:
        shown = message.content
        assert "You have a request from the crisis cell" in shown
        link = next(word for word in shown.split() if "/r/" in word)
        for fact in ("Zaporizhzhia", "offensive", "T0+", "commit", "Allied"):
            assert fact not in shown.replace(link, ""), (message.channel, fact)
        # The idempotency header names no incident either: a digest of the delivery key.
        assert message.key is not None and message.key.startswith("k-"), message.key
    assert len({m.key for m in [*http_receiver.received, *smtp_receiver.received]}) == 3


async def test_exercise_notices_reach_no_receiver(
    tmp_path, transactions, sessions, smtp_receiver, http_receiver
):
    book = contacts(
        tmp_path,
        {
            "party:uk": [smtp_receiver.url(), http_receiver.json_url("/uk")],
            "cell": [http_receiver.webhook_url("/cell")],
        },
    )
    kept = ExerciseNotices()
    acts = activities(transactions, book, kept)
    sent = notice("party:uk", "cell", "party:us", exercise=True)

    result = await run(acts, sent)
    again = await run(acts, sent, attempt=2)

    assert smtp_receiver.received == [] and http_receiver.received == []
    assert (
        result.recipients == 3 and result.unconfigured == ()
    )  # every addressee, configured or not
    assert again.already_delivered == 3
    assert [m.audience for m in kept.sent] == ["party:uk", "cell", "party:us"]  # once each
    assert all(m.subject.startswith("EXERCISE EXERCISE EXERCISE") for m in kept.sent)
    stored = await rows(sessions, sent.incident_id)
    assert {(r.channel, r.status) for r in stored} == {("exercise", "delivered")} and len(
        stored
    ) == 3
