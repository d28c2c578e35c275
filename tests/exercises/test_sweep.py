"""Monte Carlo sweeps: reproducible for a seed, whatever the layout of servers and processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from exercises.scenario import load_scenario, parse_scenario
from exercises.sweep import percentiles, run_sweep

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "sweep-allies-slow.yaml"
RUNS = 8


@pytest.fixture(scope="module")
async def first_sweep():
    return await run_sweep(load_scenario(SCENARIO), runs=RUNS, seed=7, parallel=2, processes=1)


async def test_same_seed_same_sweep(first_sweep) -> None:
    again = await run_sweep(load_scenario(SCENARIO), runs=RUNS, seed=7, parallel=1, processes=1)
    assert [r.model_dump() for r in again.results] == [r.model_dump() for r in first_sweep.results]
    assert again.time_to_activation == first_sweep.time_to_activation


async def test_worker_processes_give_the_same_sweep(first_sweep) -> None:
    done: list[int] = []
    fanned = await run_sweep(
        load_scenario(SCENARIO),
        runs=RUNS,
        seed=7,
        parallel=2,
        processes=2,
        on_done=lambda r: done.append(r.run),
    )
    assert sorted(done) == list(range(RUNS))
    assert [r.model_dump() for r in fanned.results] == [r.model_dump() for r in first_sweep.results]


async def test_summary_figures(first_sweep) -> None:
    s = first_sweep
    assert s.runs == RUNS and not s.outcomes.get("error")
    assert sum(s.outcomes.values()) == RUNS
    activated = [r.activated_at_hours for r in s.results if r.activated_at_hours is not None]
    assert s.p_activated_within_window == pytest.approx(sum(t <= 72 for t in activated) / RUNS)
    assert s.time_to_activation.count == len(activated)
    # Different draws, different runs.
    assert len({r.activated_at_hours for r in s.results}) > 1
    not_activated = [r for r in s.results if r.outcome == "not_activated"]
    assert sum(s.held_back.values()) == len(not_activated)


async def test_a_decline_prone_ally_holds_activation_back() -> None:
    scenario = parse_scenario("""
name: two allies who usually decline
violation: {kind: large_scale_offensive, sector: s, reported_by: r}
injects:
  - {at: 1h, evidence: {source: isr}}
  - {at: {uniform: [2h, 10h]}, commitment: {party: us, decision: commit, assets: [air]}}
  - {at: {uniform: [2h, 10h]}, commitment: {party: uk, decision: commit, assets: [naval], p_decline: 0.9}}
  - {at: {uniform: [2h, 10h]}, commitment: {party: pl, decision: commit, assets: [ground], p_decline: 0.9}}
  - {at: 20h, decision: {action: authorize, actor: chair, rationale: go}}
""")
    summary = await run_sweep(scenario, runs=6, seed=3, parallel=2, processes=1)
    assert summary.most_common_hold_back == "consultation"
    assert summary.p_activated_within_window < 0.5


def test_percentiles_are_values_that_occurred() -> None:
    p = percentiles([float(x) for x in range(1, 101)])
    assert (p.min, p.p10, p.p50, p.p90, p.max) == (1, 10, 50, 90, 100)
    assert percentiles([]).count == 0
