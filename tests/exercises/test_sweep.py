"""Monte Carlo sweeps: the fast path, checked against the real workflow; reproducible for a
seed whatever the layout; explaining what drives activation; two variants compared run for run."""

from __future__ import annotations

import time
from pathlib import Path

from exercises import fastpath
from exercises.conformance import compare
from exercises.fastpath import run_seeds_fast
from exercises.scenario import load_scenario, parse_scenario
from exercises.sweep import compare_variants, draw_seeds, percentiles, run_sweep
from exercises.sweep_temporal import run_slots

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "sweep-allies-slow.yaml"


def _verdicts(summary) -> list[dict]:
    return [r.verdict() | {"drawn": r.drawn} for r in summary.results]


async def test_ten_thousand_runs_and_the_sample_is_identical_through_the_workflow() -> None:
    """The issue's "done when": 10,000 runs through the fast path over the process pool, and
    the conformance sample (small here: each run through Temporal costs ~0.3 CPU-s) the same
    on both paths."""
    started = time.perf_counter()
    # One server for the sample: its worker process would otherwise take a core from the pool.
    summary = await run_sweep(
        load_scenario(SCENARIO), runs=10_000, seed=7, verify=4, processes=2, parallel=1
    )
    elapsed = time.perf_counter() - started
    assert summary.runs == 10_000 and not summary.outcomes.get("error")
    assert summary.conformance is not None and summary.conformance.ok, summary.conformance
    assert summary.conformance.checked == 4
    low, high = summary.p_activated_within_window_ci95
    assert low < summary.p_activated_within_window < high and high - low < 0.02
    assert elapsed < 120  # the target (20 s with 50 checked) is measured in bench/, not in CI


async def test_same_seed_same_sweep_whatever_the_layout_and_a_prefix_of_a_longer_one() -> None:
    scenario = load_scenario(SCENARIO)
    one = await run_sweep(scenario, runs=600, seed=7, verify=0, processes=1)
    two = await run_sweep(scenario, runs=600, seed=7, verify=0, processes=2)
    longer = await run_sweep(scenario, runs=900, seed=7, verify=0, processes=2)
    assert _verdicts(one) == _verdicts(two) == _verdicts(longer)[:600]
    assert len({r.activated_at_hours for r in one.results}) > 50  # different draws, different runs


async def test_a_broken_fast_path_is_caught_and_the_run_named(monkeypatch) -> None:
    """Break the fast path on purpose: its sink refuses every diplomatic step (the workflow's
    exercise sink delivers them). The conformance sample must fail, naming the runs."""

    def refuses(self, state, step, now):
        return "refused by a broken fast path"

    monkeypatch.setattr(fastpath.ExerciseEffects, "dispatch", refuses)
    summary = await run_sweep(load_scenario(SCENARIO), runs=40, seed=7, verify=2, processes=1)
    conformance = summary.conformance
    assert conformance is not None and not conformance.ok
    assert conformance.identical == 0 and conformance.checked == 2
    named = {m.run for m in conformance.mismatches}
    assert named == set(conformance.runs)
    assert {m.field for m in conformance.mismatches} >= {"escalations"}
    assert f"run {conformance.mismatches[0].run}: " in conformance.describe()


async def test_a_stuck_run_fails_the_sample_by_name_instead_of_hanging_it() -> None:
    """A run with no outcome in time (here: a bound no run can meet) is an error result, and its
    server takes no more runs; what no server is left to run is said to be not run."""
    scenario = load_scenario(SCENARIO)
    seeds = dict(zip([3, 8, 21], draw_seeds(7, 3), strict=True))
    results = await run_slots(scenario, seeds, servers=1, run_timeout=0.01)
    assert sorted(results) == [3, 8, 21]
    assert results[3].outcome == "error" and "no outcome after 0.01 s" in (results[3].error or "")
    assert all("every server stopped on a stuck run" in (results[r].error or "") for r in (8, 21))
    fast = {r.run: r for r in run_seeds_fast(scenario, seeds.items())}
    conformance = compare(fast, results)
    assert not conformance.ok and {m.run for m in conformance.mismatches} == {3, 8, 21}


DECISIVE = """
name: the UK decides
violation: {kind: large_scale_offensive, sector: s, reported_by: r}
injects:
  - {at: {uniform: [1h, 6h]}, evidence: {source: isr}}
  - {at: {uniform: [2h, 10h]}, commitment: {party: us, decision: commit, assets: [air], p_decline: 0.05}}
  - {at: {uniform: [2h, 10h]}, commitment: {party: pl, decision: commit, assets: [ground], p_decline: 0.05}}
  - {at: {uniform: [2h, 20h]}, commitment: {party: uk, decision: commit, assets: [naval], p_decline: 0.5}}
  - {at: {uniform: [2h, 20h]}, commitment: {party: fr, decision: commit, assets: [naval], p_decline: 0.97}}
  - {at: 30h, decision: {action: authorize, actor: chair, rationale: go}}
"""


async def test_one_decisive_party_ranks_first() -> None:
    summary = await run_sweep(parse_scenario(DECISIVE), runs=800, seed=3, verify=0, processes=1)
    first = summary.sensitivity[0]
    assert first.parameter == "commitment:uk.answer"
    assert (first.low, first.high) == ("decline", "commit") and first.effect > 0.8
    # The times change little: every one ranks below every answer.
    times = [s for s in summary.sensitivity if s.parameter.endswith(".at")]
    assert all(s.effect < 0.2 for s in times)
    assert summary.sensitivity[-len(times) :] == times
    assert summary.most_common_hold_back == "consultation"


UK_EARLY = SCENARIO.read_text().replace(
    "  - at: {lognormal: {median: 20h, sigma: 0.5}}\n"
    "    commitment: {party: uk, decision: commit, assets: [air, naval], p_decline: 0.2}",
    "  - at: 2h\n    commitment: {party: uk, decision: commit, assets: [air, naval]}",
)


async def test_a_variant_compared_run_for_run() -> None:
    baseline = load_scenario(SCENARIO)
    variant = parse_scenario(UK_EARLY)
    assert variant != baseline
    comparison = await compare_variants(
        baseline, variant, runs=1500, seed=11, verify=2, processes=1
    )
    a, b = comparison.variants
    assert a.conformance.ok and b.conformance.ok
    d = comparison.difference
    assert d.difference > 0 and d.ci95[0] > 0  # the UK pre-committing helps, clearly
    # Common random numbers: what both variants draw is drawn alike, run by run...
    for x, y in zip(a.results, b.results, strict=True):
        assert x.drawn["commitment:us.at"] == y.drawn["commitment:us.at"]
        assert x.drawn["commitment:pl.answer"] == y.drawn["commitment:pl.answer"]
    # ...so a run activated in the baseline is activated with the UK committed early too.
    assert d.only_a == 0 and d.only_b > 0
    assert "commitment:uk" in comparison.shared_injects
    # Paired over the same luck, the interval is narrower than two independent ones would give.
    assert (
        d.ci95[1] - d.ci95[0]
        < (a.p_activated_within_window_ci95[1] - a.p_activated_within_window_ci95[0]) * 2
    )


async def test_every_run_through_the_workflow_is_the_same_whatever_the_layout() -> None:
    scenario = load_scenario(SCENARIO)
    done: list[int] = []
    one = await run_sweep(scenario, runs=4, seed=7, temporal=True, parallel=2, processes=1)
    two = await run_sweep(
        scenario,
        runs=4,
        seed=7,
        temporal=True,
        parallel=2,
        processes=2,
        on_progress=lambda what, n: done.append(n),
    )
    assert sum(done) == 4 and one.engine == "temporal" and one.conformance is None
    assert _verdicts(one) == _verdicts(two)
    fast = await run_sweep(scenario, runs=4, seed=7, verify=0, processes=1)
    assert _verdicts(fast) == _verdicts(one)


def test_percentiles_are_values_that_occurred() -> None:
    p = percentiles([float(x) for x in range(1, 101)])
    assert (p.min, p.p10, p.p50, p.p90, p.max) == (1, 10, 50, 90, 100)
    assert percentiles([]).count == 0
