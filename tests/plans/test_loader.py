"""Plan files are data: validated on load, with errors that name the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.yamlfile import DocumentError
from plans.loader import PLANS_DIR, get_plan, load_plan_file, load_plans
from plans.model import Condition, WhenUnverified

DEFAULT = (PLANS_DIR / "allied-72h.yaml").read_text()


def write_plan(tmp_path: Path, text: str, name: str = "allied-72h") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_default_plan_matches_the_allied_commitment():
    plan = get_plan("allied-72h")
    assert plan.activation_window_hours == 72
    assert plan.verification_due_hours == 12 and plan.min_sources == 2
    assert plan.consultation_due_hours == 24
    assert plan.parties == ("us", "uk", "fr", "de", "pl", "ca", "nl", "it", "se", "fi", "no", "dk")
    assert plan.quorum.min_committed == 3 and plan.quorum.required_assets == ("air",)
    assert plan.diplomacy_due_hours == 48 and plan.authorization_due_hours == 60
    assert [s.id for s in plan.steps] == ["demarche", "unsc_session", "sanctions_snapback"]
    offensive = plan.kind("large_scale_offensive")
    assert offensive.when_unverified is WhenUnverified.PRESUME and offensive.military_response
    assert plan.kind("ceasefire_breach").diplomatic_steps == ("demarche",)
    assert [(r.at_hours, r.unless, r.level) for r in plan.escalations] == [
        (12, Condition.VERIFIED, 2),
        (24, Condition.QUORUM, 2),
        (48, Condition.QUORUM, 3),
        (48, Condition.DISPATCHED, 2),
        (60, Condition.AUTHORIZED, 3),
    ]
    assert plan.authority(3) == "Heads of government"


def test_every_shipped_plan_loads():
    plans = load_plans()
    assert {"allied-72h", "regional-48h"} <= set(plans)
    assert plans["regional-48h"].kind_names == ("border_provocation", "armed_incursion")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  min_sources: 2",
            "  min_sources: two",
            "line 15, verification.min_sources: Input should be a valid integer",
        ),
        (
            "    min_committed: 3",
            "    min_committed: 30",
            "consultation: quorum.min_committed (30) exceeds the number of parties",
        ),
        (
            'fi, "no", dk]',
            "fi, no, dk]",
            "line 19, consultation.parties: False is not a name; quote it",
        ),
        (
            "    when_unverified: presume",
            "    when_unverified: hope",
            "kinds.large_scale_offensive.when_unverified: Input should be 'close' or 'presume'",
        ),
        (
            "    diplomatic_steps: [demarche]",
            "    diplomatic_steps: [demarche, airlift]",
            "kinds.ceasefire_breach.diplomatic_steps names unknown steps: ['airlift']",
        ),
        (
            "authorization:\n  due_hours: 60",
            "authorization:\n  due_hours: 80",
            "authorization.due_hours (80.0) is after activation_window_hours (72.0)",
        ),
        (
            "  - {at_hours: 24, unless: quorum,",
            "  - {at_hours: 24, unless: luck,",
            "line 61, escalations[1].unless: Input should be",
        ),
        (
            "version: 3",
            "version: 3\nowner: nobody",
            "line 6, owner: Extra inputs are not permitted",
        ),
    ],
)
def test_malformed_plan_names_line_and_field(tmp_path, old, new, expected):
    assert old in DEFAULT
    with pytest.raises(DocumentError) as error:
        load_plan_file(write_plan(tmp_path, DEFAULT.replace(old, new, 1)))
    assert expected in str(error.value)
    assert str(error.value).startswith(str(tmp_path))


def test_not_yaml(tmp_path):
    with pytest.raises(DocumentError, match=r"line 2: not valid YAML"):
        load_plan_file(write_plan(tmp_path, "id: x\n  title: [unclosed\n"))


def test_plan_id_must_match_its_file(tmp_path):
    with pytest.raises(DocumentError, match="must match the file name"):
        load_plan_file(write_plan(tmp_path, DEFAULT, name="other-plan"))


def test_unknown_plan_lists_the_known_ones():
    with pytest.raises(KeyError, match="known plans"):
        get_plan("no-such-plan")
