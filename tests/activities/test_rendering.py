"""Notices rendered from templates: the subject leads with the level and the deadline, HTML is
escaped, an uncleared channel is told nothing of the incident, a cell rewords without code."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import jinja2
import pytest

from activities.rendering import EXERCISE_MARKER, NoticeRenderer, sample_notice
from foundation.links import read_link
from workflows.notices import Addressee, NoticeFacts, NoticeInput, NoticeKind

SECRET = b"s" * 32
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script> & "east"'


def renderer(**kwargs) -> NoticeRenderer:
    return NoticeRenderer(link_secret=SECRET, public_url="https://cell.example.org/", **kwargs)


def request(sector: str = "sector east", **changes) -> NoticeInput:
    facts = NoticeFacts(
        plan_id="allied-72h",
        plan_title="Allied 72-hour response",
        kind="large_scale_offensive",
        kind_title="Large-scale offensive",
        sector=sector,
        t0=T0 - timedelta(hours=0),
        escalation_level=2,
        level_title="Principals and ministers",
        deadline=datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
        deadline_label="Allied consultation quorum",
        assets_requested=("air",),
    )
    notice = NoticeInput(
        notice_id="incident-east-1a2b3c4d/n1",
        notice_kind=NoticeKind.CONSULTATION_REQUEST,
        incident_id="east-1a2b3c4d",
        workflow_id="incident-east-1a2b3c4d",
        exercise=False,
        addressees=(Addressee("party:uk"),),
        facts=facts,
        needs_answer=True,
    )
    return dataclasses.replace(notice, **changes)


def test_the_subject_leads_with_the_level_and_the_deadline():
    notice = request(sector="east")
    rendered = renderer().render(notice, notice.addressees[0])
    assert rendered.cleared.subject == (
        "[L2 · due 03 Dec 12:00 UTC, T0+24h] Consultation request — Large-scale offensive, sector east"
    )
    no_deadline = request(facts=dataclasses.replace(notice.facts, deadline=None))
    assert renderer().render(no_deadline, notice.addressees[0]).cleared.subject.startswith("[L2] ")


def test_the_body_says_the_facts_the_deadline_and_how_to_answer():
    notice = request(sector="east")
    rendered = renderer().render(notice, notice.addressees[0])
    text = rendered.cleared.text
    assert "Large-scale offensive" in text and "east" in text
    assert "03 Dec 12:00 UTC (T0+24h)" in text and "02 Dec 12:00 UTC" in text
    assert "contingency commit east-1a2b3c4d --asset" in text
    assert "POST https://cell.example.org/v1/incidents/east-1a2b3c4d/commitments" in text
    assert (
        rendered.link is not None
        and rendered.link in text
        and rendered.link in rendered.cleared.html
    )
    token = rendered.link.removeprefix("https://cell.example.org/r/")
    claim = read_link(SECRET, token)
    assert claim is not None and claim.purpose == "answer" and claim.audience == "party:uk"
    assert claim.notice_id == notice.notice_id and claim.incident_id == notice.incident_id


def test_an_escalation_asks_for_an_acknowledgement_with_its_reasons():
    notice = sample_notice(NoticeKind.ESCALATION)
    rendered = renderer().render(notice, Addressee("level:2"))
    assert "no quorum by T0+24h" in rendered.cleared.text
    assert "Acknowledge" in rendered.cleared.text and "(repeat 1)" in rendered.cleared.subject
    claim = read_link(SECRET, rendered.link.rsplit("/", 1)[1])
    assert claim is not None and claim.purpose == "ack" and claim.audience == "level:2"
    # A notice that asks nothing carries no link.
    close = sample_notice(NoticeKind.CLOSE)
    assert renderer().render(close, Addressee("cell")).link is None


def test_html_escapes_a_hostile_sector_and_text_keeps_it_as_written():
    notice = request(sector=HOSTILE)
    rendered = renderer().render(notice, notice.addressees[0])
    assert "<script>" not in rendered.cleared.html
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;east&#34;"
        in rendered.cleared.html
    )
    assert HOSTILE in rendered.cleared.text
    assert "\n" not in rendered.cleared.subject


def test_an_uncleared_channel_is_told_only_that_there_is_a_request():
    notice = request(sector="Zaporizhzhia")
    rendered = renderer().render(notice, notice.addressees[0])
    uncleared = rendered.uncleared
    assert uncleared.subject == "You have a request from the crisis cell"
    shown = f"{uncleared.subject}\n{uncleared.text}\n{uncleared.html}\n{uncleared.document}"
    assert rendered.link is not None and rendered.link in uncleared.text
    # The link's token is base64 (which may spell anything): the rest must say nothing.
    shown = shown.replace(rendered.link, "<link>")
    for fact in ("Zaporizhzhia", "offensive", "Large-scale", "T0", "L2", "air", "commit"):
        assert fact not in shown, fact


def test_exercise_notices_are_marked_in_the_subject_and_the_first_line():
    notice = request(exercise=True)
    rendered = renderer().render(notice, notice.addressees[0])
    for message in (rendered.cleared, rendered.uncleared):
        assert message.subject.startswith(EXERCISE_MARKER)
        assert message.text.splitlines()[0] == EXERCISE_MARKER
        assert EXERCISE_MARKER in message.html.splitlines()[0]


def test_every_kind_renders(tmp_path):
    renderer().check()


def test_a_cell_rewords_a_template_without_code(tmp_path):
    (tmp_path / "consultation_request.subject").write_text("Please answer: {{ facts.sector }}")
    (tmp_path / "consultation_request.html").write_text("<p>Ask: {{ facts.sector }}</p>")
    notice = request(sector=HOSTILE)
    rendered = renderer(templates_dir=tmp_path).render(notice, notice.addressees[0])
    # The override replaces only what it names; the lead and the escaping stay.
    assert rendered.cleared.subject.startswith(
        "[L2 · due 03 Dec 12:00 UTC, T0+24h] Please answer: <script>"
    )
    assert rendered.cleared.html.startswith("<p>Ask: &lt;script&gt;")
    assert "contingency commit" in rendered.cleared.text  # the embedded text template


def test_a_broken_override_stops_the_start_up_check(tmp_path):
    (tmp_path / "escalation.txt").write_text("{{ facts.sectr }}")
    with pytest.raises(jinja2.UndefinedError, match="sectr"):
        renderer(templates_dir=tmp_path).check()
    with pytest.raises(ValueError, match="not a directory"):
        renderer(templates_dir=tmp_path / "missing")
