"""The sweep's fast path feeds no notice result back and composes no notice (a verdict-only
run): the verdict of every run is the one a run with the results gives, only the `notified`
rows are missing from its ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from exercises.fastpath import run_script_fast
from exercises.scenario import load_scenario
from exercises.script import build_script
from exercises.sweep import draw_seeds
from exercises.sweep_results import summarize_run

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.parametrize(
    "name", ["sweep-allies-slow", "escalation-acknowledged", "quorum-never-reached"]
)
def test_without_notice_results_the_verdict_is_the_same(name: str):
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    # An expectation on decision kinds makes the fast path keep its whole decision log.
    scenario = scenario.model_copy(
        update={"expect": scenario.expect.model_copy(update={"decisions": ["escalated"]})}
    )
    for run, seed in enumerate(draw_seeds(3, 40)):
        script = build_script(scenario, seed)
        full = run_script_fast(scenario, script, run=run)
        lean = run_script_fast(scenario, script, run=run, notice_results=False)
        assert (
            summarize_run(run, lean, scenario.plan_data).verdict()
            == summarize_run(run, full, scenario.plan_data).verdict()
        ), (name, run)
        kinds = [d.kind for d in full.decisions]
        assert "notified" in kinds
        assert [k for k in kinds if k != "notified"] == [d.kind for d in lean.decisions]
