"""Notices rendered from templates (activities/templates/notices/), so a cell rewords them
without code: per kind a subject, a text and an HTML body; ``uncleared.*`` for channels not
cleared for incident content. A directory named in CONTINGENCY_TEMPLATES_DIR is searched first,
file by file, so an override replaces only what it names.

The exercise marker and the subject's lead (level and deadline) are added here, not in the
templates: a reworded template cannot drop them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from activities.channels import Message
from activities.sinks import OutboundMessage
from foundation.durations import format_hours
from foundation.links import Purpose, sign_link
from workflows.notices import (
    Addressee,
    NoticeFacts,
    NoticeInput,
    NoticeKind,
    audience_party,
)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates" / "notices"
EXERCISE_MARKER = "EXERCISE EXERCISE EXERCISE"
UNCLEARED = "uncleared"
# What the subject line keeps: mail clients cut long ones, and a header has no line breaks.
SUBJECT_CHARS = 200


def when(moment: datetime) -> str:
    """``03 Dec 12:00 UTC``: the form every message gives a time in."""
    return moment.astimezone(UTC).strftime("%d %b %H:%M UTC")


def t0_offset(moment: datetime, t0: datetime) -> str:
    hours = (moment - t0) / timedelta(hours=1)
    return f"T0{'+' if hours >= 0 else ''}{format_hours(hours)}"


def subject_lead(facts: NoticeFacts) -> str:
    """``[L2 · due 03 Dec 12:00 UTC, T0+24h]``, or ``[L2]`` for a notice that serves no
    deadline."""
    level = f"L{facts.escalation_level}"
    if facts.deadline is None:
        return f"[{level}]"
    return f"[{level} · due {when(facts.deadline)}, {t0_offset(facts.deadline, facts.t0)}]"


def link_purpose(notice: NoticeInput, audience: str) -> Purpose | None:
    if notice.needs_answer and audience_party(audience) is not None:
        return "answer"
    if notice.needs_ack:
        return "ack"
    return None


@dataclass(frozen=True)
class Rendered:
    """One notice as one audience's channels receive it (cleared, and not cleared)."""

    cleared: Message
    uncleared: Message
    link: str | None


class NoticeRenderer:
    def __init__(
        self,
        *,
        link_secret: bytes | Callable[[], bytes],
        public_url: str,
        templates_dir: Path | None = None,
    ) -> None:
        self._link_secret = link_secret
        self._public_url = public_url.rstrip("/")
        loaders: list[jinja2.BaseLoader] = []
        if templates_dir is not None:
            if not templates_dir.is_dir():
                raise ValueError(f"CONTINGENCY_TEMPLATES_DIR: {templates_dir} is not a directory")
            loaders.append(jinja2.FileSystemLoader(templates_dir))
        loaders.append(jinja2.FileSystemLoader(TEMPLATES_DIR))
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            # HTML is escaped everywhere (a sector or a rationale is someone's input); the
            # subject and text bodies are plain text, where escaping would only garble them.
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            # A misspelt name in a reworded template fails the start-up check, not a notice.
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # Compiled once: a notice in an emergency does not stat every template it renders
            # (an operator's reworded template takes effect on the worker's restart, where
            # check() renders it first).
            auto_reload=False,
        )

    def link(self, notice: NoticeInput, audience: str) -> str | None:
        purpose = link_purpose(notice, audience)
        if purpose is None:
            return None
        if callable(self._link_secret):
            self._link_secret = self._link_secret()
        token = sign_link(
            self._link_secret,
            incident_id=notice.incident_id,
            audience=audience,
            notice_id=notice.notice_id,
            purpose=purpose,
        )
        return f"{self._public_url}/r/{token}"

    def render(self, notice: NoticeInput, addressee: Addressee) -> Rendered:
        link = self.link(notice, addressee.audience)
        context = self._context(notice, addressee, link)
        return Rendered(
            cleared=self._message(str(notice.notice_kind), context, notice, addressee, link),
            uncleared=self._message(UNCLEARED, context, notice, addressee, link, cleared=False),
            link=link,
        )

    def render_cleared(self, notice: NoticeInput, addressee: Addressee) -> Message:
        """Only the cleared form: what an exercise's sink keeps (every addressee is cleared
        there), at half the rendering."""
        link = self.link(notice, addressee.audience)
        context = self._context(notice, addressee, link)
        return self._message(str(notice.notice_kind), context, notice, addressee, link)

    def render_step(self, step: OutboundMessage) -> Rendered:
        """A diplomatic step, for the ``step:<step>`` audience's channels. A webhook among
        them receives the step's JSON as the webhook sink has always posted it."""
        context = {
            "step": {**step.as_json(), "kind_title": step.kind.replace("_", " ").capitalize()},
            "t0": when(step.t0),
            "link": None,
        }
        document = step.as_json()
        subject = " ".join(self._env.get_template("step.subject").render(context).split())
        cleared = Message(
            subject=f"[L{step.escalation_level}] {subject}"[:SUBJECT_CHARS],
            text=self._env.get_template("step.txt").render(context),
            html=self._env.get_template("step.html").render(context),
            document=document,
        )
        uncleared = Message(
            subject=" ".join(self._env.get_template("uncleared.subject").render(context).split()),
            text=self._env.get_template("uncleared.txt").render(context),
            html=self._env.get_template("uncleared.html").render(context),
            document={"step": step.step},
        )
        return Rendered(cleared=cleared, uncleared=uncleared, link=None)

    def check(self) -> None:
        """Render every kind once with sample facts: a broken template (an override with a
        typo) stops the worker at start-up instead of failing a notice in an emergency."""
        for kind in NoticeKind:
            sample = sample_notice(kind)
            for addressee in sample.addressees:
                self.render(sample, addressee)
        self.render_step(sample_step())

    def _message(
        self,
        name: str,
        context: dict[str, Any],
        notice: NoticeInput,
        addressee: Addressee,
        link: str | None,
        *,
        cleared: bool = True,
    ) -> Message:
        subject = " ".join(self._env.get_template(f"{name}.subject").render(context).split())
        if cleared:
            subject = f"{context['lead']} {subject}"
        text = self._env.get_template(f"{name}.txt").render(context)
        html = self._env.get_template(f"{name}.html").render(context)
        if notice.exercise:
            subject = f"{EXERCISE_MARKER} {subject}"
            text = f"{EXERCISE_MARKER}\n\n{text}"
            html = f"<p><strong>{EXERCISE_MARKER}</strong></p>\n{html}"
        document: dict[str, Any] = {
            "audience": addressee.audience,
            "exercise": notice.exercise,
            "link": link,
        }
        if cleared:
            document |= {
                "notice_id": notice.notice_id,
                "notice_kind": str(notice.notice_kind),
                "incident_id": notice.incident_id,
                "assets": list(addressee.assets),
            }
        return Message(subject=subject[:SUBJECT_CHARS], text=text, html=html, document=document)

    def _context(
        self, notice: NoticeInput, addressee: Addressee, link: str | None
    ) -> dict[str, Any]:
        facts = notice.facts
        party = audience_party(addressee.audience)
        deadline = None
        if facts.deadline is not None:
            deadline = {
                "at": when(facts.deadline),
                "offset": t0_offset(facts.deadline, facts.t0),
                "label": facts.deadline_label or "",
            }
        return {
            "notice": notice,
            "kind": str(notice.notice_kind),
            "facts": facts,
            "addressee": addressee,
            "audience": addressee.audience,
            "party": party,
            "assets": list(addressee.assets),
            "lead": subject_lead(facts),
            "t0": when(facts.t0),
            "deadline": deadline,
            "link": link,
            "public_url": self._public_url,
            "commit_url": f"{self._public_url}/v1/incidents/{notice.incident_id}/commitments",
            "needs_answer": notice.needs_answer and party is not None,
            "needs_ack": notice.needs_ack,
            "exercise": notice.exercise,
        }


def sample_notice(kind: NoticeKind) -> NoticeInput:
    """A notice of ``kind`` with every field set, for the start-up check (and tests)."""
    t0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    facts = NoticeFacts(
        plan_id="allied-72h",
        plan_title="Allied 72-hour response",
        kind="large_scale_offensive",
        kind_title="Large-scale offensive",
        sector="east",
        t0=t0,
        escalation_level=2,
        level_title="Principals and ministers",
        deadline=t0 + timedelta(hours=24),
        deadline_label="Allied consultation quorum",
        reasons=("no quorum by T0+24h",),
        repeat=1,
        outcome="not_activated",
        unmet_conditions=("consultation",),
        rationale="sample",
        assets_requested=("air", "naval"),
    )
    return NoticeInput(
        notice_id="incident-sample/1",
        notice_kind=kind,
        incident_id="sample",
        workflow_id="incident-sample",
        exercise=False,
        addressees=(Addressee("party:uk", ("air",)), Addressee("level:2"), Addressee("cell")),
        facts=facts,
        needs_ack=kind is NoticeKind.ESCALATION,
        needs_answer=kind
        in (NoticeKind.CONSULTATION_REQUEST, NoticeKind.REMINDER, NoticeKind.CALL_FOR_REPLACEMENT),
    )


def sample_step() -> OutboundMessage:
    return OutboundMessage(
        idempotency_key="incident-sample:demarche",
        incident_id="sample",
        workflow_id="incident-sample",
        step="demarche",
        title="Démarche",
        kind="large_scale_offensive",
        sector="east",
        t0=datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
        escalation_level=1,
        exercise=False,
    )
