"""Diplomatic steps through their audience's channels (``step:<step>`` in the contacts file):
each channel once, the step dispatched as before, refused only when every channel refuses;
with no channel, the configured sink as today."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channels import ChannelSender
from activities.contacts import Contacts, load_contacts
from activities.notifications import NotificationActivities
from activities.outbox import Outbox
from activities.rendering import NoticeRenderer
from activities.sinks import ExerciseSink
from db.deliveries import incident_deliveries
from db.models import Incident, Notification
from db.repository import row_values
from foundation.ids import workflow_id_for
from plans.loader import get_plan
from tests.receivers import WEBHOOK_SECRET
from workflows.activity_inputs import DispatchStepInput
from workflows.messages import ViolationReport
from workflows.starting import build_input
from workflows.state import IncidentState


def book(tmp_path, channels: list[str]) -> Contacts:
    path = tmp_path / "contacts.yaml"
    path.write_text("audiences:\n  step:demarche:\n" + "".join(f'    - "{c}"\n' for c in channels))
    return load_contacts(path, environ={}, webhook_secret=True)


def dispatcher(transactions, contacts: Contacts, sink: ExerciseSink) -> NotificationActivities:
    return NotificationActivities(
        transactions,
        sink,
        ExerciseSink(),
        contacts=contacts,
        renderer=NoticeRenderer(link_secret=b"x" * 32, public_url="http://127.0.0.1:8000"),
        outbox=Outbox(transactions, ChannelSender(WEBHOOK_SECRET, webhook_timeout=5), 4),
    )


async def step(sessions, name: str = "demarche") -> DispatchStepInput:
    """A step of an incident whose row is stored (the steps' outbox refers to it)."""
    now = datetime.now(UTC)
    report = ViolationReport(
        report_id=f"step-{uuid.uuid4().hex}", kind="ceasefire_breach", sector="Luhansk",
        reported_by="osce-smm", observed_at=now, reported_at=now,
    )  # fmt: skip
    snapshot = IncidentState(build_input(report, get_plan()), now).snapshot()
    async with sessions() as session, session.begin():
        session.add(Incident(**row_values(snapshot)))
    return DispatchStepInput(
        incident_id=snapshot.incident_id,
        workflow_id=workflow_id_for(snapshot.incident_id),
        step=name,
        title="Démarche",
        kind="ceasefire_breach",
        sector="Luhansk",
        t0=now,
        escalation_level=1,
        exercise=False,
    )


async def test_a_step_goes_to_every_channel_of_its_audience_once(
    tmp_path, transactions, sessions, http_receiver
):
    sink = ExerciseSink()
    contacts = book(tmp_path, [http_receiver.webhook_url("/mfa"), http_receiver.json_url("/desk")])
    activities = dispatcher(transactions, contacts, sink)
    sent = await step(sessions)

    result = await ActivityEnvironment().run(activities.dispatch_step, sent)
    again = await ActivityEnvironment().run(activities.dispatch_step, sent)

    assert result.channel == "channels" and not result.already_delivered
    assert again.already_delivered and sink.sent == []  # the sink is not used
    assert http_receiver.distinct == 2 and http_receiver.repeats == 0
    hook = http_receiver.at("/mfa")[0]
    # The webhook receives the step's JSON as the webhook sink posts it, signed.
    assert hook.signed and hook.body["step"] == "demarche" and hook.body["title"] == "Démarche"
    assert hook.key.startswith(f"{sent.workflow_id}:demarche/step:demarche/")
    assert "Démarche" in http_receiver.at("/desk")[0].subject
    async with sessions() as session:
        row = await session.scalar(
            select(Notification).where(Notification.incident_id == sent.incident_id)
        )
        deliveries = await incident_deliveries(session, sent.incident_id)
    assert row is not None and row.status == "delivered" and row.channel == "channels"
    assert [d.status for d in deliveries] == ["delivered", "delivered"]


async def test_a_step_is_refused_only_when_every_channel_refuses(
    tmp_path, transactions, sessions, http_receiver
):
    http_receiver.answer["/refuses"] = 403
    http_receiver.answer["/also"] = 400
    contacts = book(
        tmp_path, [http_receiver.webhook_url("/refuses"), http_receiver.webhook_url("/also")]
    )
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            dispatcher(transactions, contacts, ExerciseSink()).dispatch_step, await step(sessions)
        )
    assert caught.value.type == "SinkRejected" and caught.value.non_retryable

    # One refusing, one taking it: dispatched (the refusal stays undelivered in the outbox).
    contacts = book(
        tmp_path, [http_receiver.webhook_url("/refuses"), http_receiver.json_url("/desk")]
    )
    result = await ActivityEnvironment().run(
        dispatcher(transactions, contacts, ExerciseSink()).dispatch_step, await step(sessions)
    )
    assert result.channel == "channels"


async def test_a_channel_that_is_down_fails_the_attempt_for_a_retry(
    tmp_path, transactions, sessions, http_receiver
):
    http_receiver.answer_first["/busy"] = 503
    contacts = book(tmp_path, [http_receiver.webhook_url("/busy"), http_receiver.json_url("/desk")])
    activities = dispatcher(transactions, contacts, ExerciseSink())
    sent = await step(sessions)
    with pytest.raises(Exception, match="503"):
        await ActivityEnvironment().run(activities.dispatch_step, sent)
    result = await ActivityEnvironment().run(activities.dispatch_step, sent)
    assert not result.already_delivered
    # The desk had it at the first attempt and was not sent it again.
    assert len(http_receiver.at("/desk")) == 1 and len(http_receiver.at("/busy")) == 2


async def test_without_channels_the_step_goes_to_the_sink_as_before(
    tmp_path, transactions, sessions
):
    sink = ExerciseSink()
    activities = dispatcher(transactions, book(tmp_path, []), sink)
    result = await ActivityEnvironment().run(
        activities.dispatch_step, await step(sessions, "unsc_session")
    )
    assert result.channel == "exercise" and [m.step for m in sink.sent] == ["unsc_session"]
