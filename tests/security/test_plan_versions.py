"""A plan file edited without a new version number is refused at intake (409 naming plan_id),
not run silently under its old number; the digest of the plan an incident runs under is sealed in
its ``reported`` row. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from api import intake as intake_module
from plans.digest import plan_digest
from plans.loader import get_plan
from tests.api.conftest import report
from tests.security.ledger_support import activated_incident


async def test_an_edited_plan_under_its_old_version_is_refused(
    dev_env, api, tokens, monkeypatch: pytest.MonkeyPatch
):
    genuine = get_plan()
    async with api(dev_env.client) as http:
        first = await http.post("/v1/violations", json=report(), headers=tokens.auth("reporter"))
        assert first.status_code in (200, 201, 202), first.text
        edited = dataclasses.replace(
            genuine, activation_window_hours=genuine.activation_window_hours * 2
        )
        monkeypatch.setattr(intake_module, "get_plan", lambda plan_id: edited)
        refused = await http.post("/v1/violations", json=report(), headers=tokens.auth("reporter"))
    assert refused.status_code == 409, refused.text
    assert refused.json()["field"] == "plan_id"
    assert "needs a new version number" in refused.text and genuine.id in refused.text


def test_the_digest_is_of_the_content_and_sealed_in_the_report() -> None:
    plan = get_plan()
    # A number is the same number however it was written: 72 and 72.0.
    as_float = dataclasses.replace(plan, min_sources=float(plan.min_sources))  # type: ignore[arg-type]
    assert plan_digest(as_float) == plan_digest(plan)
    assert plan_digest(dataclasses.replace(plan, title=plan.title + "!")) != plan_digest(plan)
    state, _ = activated_incident()
    assert state.decisions[0].payload["plan_digest"] == plan_digest(state.plan)
