"""Monte Carlo sweeps: the same scenario many times, with inject times and answers drawn from
the scenario's distributions.

Every run's script comes from its own seed, drawn in order from the sweep's seed, so a sweep is
reproducible whatever the layout, and a smaller sweep is a prefix of a larger one. Runs go
through the fast path (exercises/fastpath.py: the workflow's driver without Temporal), spread
over a process pool; a conformance sample of them (exercises/conformance.py) also goes through
the real workflow on time-skipping servers, meanwhile, and must agree run for run.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from pydantic import BaseModel

from exercises.conformance import DEFAULT_VERIFY, Conformance, compare, sample_runs
from exercises.fastpath import run_seeds_fast
from exercises.scenario import Scenario
from exercises.sweep_results import RunResult
from exercises.sweep_stats import PairedDifference, Sensitivity, modes, paired_difference, wilson
from exercises.sweep_stats import sensitivity as sensitivity_of
from workflows.messages import Outcome

__all__ = ["DEFAULT_PARALLEL", "DEFAULT_VERIFY", "RunResult", "percentiles", "run_sweep"]

DEFAULT_PARALLEL = 2  # time-skipping servers for the Temporal runs (exercises/sweep_temporal.py)
# Runs per task sent to a fast-path process: big enough that pickling is noise, small enough
# that the progress bar moves and both processes finish together.
CHUNK = 500

# (what, how many more are done): "fast" runs or "conformance" runs.
Progress = Callable[[str, int], None]


class Percentiles(BaseModel):
    count: int
    min: float | None = None
    p10: float | None = None
    p25: float | None = None
    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    max: float | None = None
    mean: float | None = None


class SweepSummary(BaseModel):
    scenario: str
    source: str
    runs: int
    seed: int
    engine: str  # "fast" (with a conformance sample) or "temporal" (every run through it)
    parallel: int
    wall_seconds: float
    window_hours: float
    p_activated_within_window: float
    p_activated_within_window_ci95: tuple[float, float]  # Wilson
    outcomes: dict[str, int]
    time_to_activation: Percentiles
    # Modes of the time to activation: more than one and the median hides them.
    time_to_activation_modes: list[float]
    escalation_levels: dict[str, int]  # highest level a run reached -> runs
    held_back: dict[str, int]  # over runs not activated: the first unmet condition in plan order
    unmet_at_close: dict[str, int]  # over runs not activated: every condition unmet at the close
    most_common_hold_back: str | None
    last_condition: dict[str, int]  # over activated runs: which condition came last
    expectations_met: float  # share of runs meeting every expectation
    sensitivity: list[Sensitivity]  # ranked by effect
    conformance: Conformance | None
    results: list[RunResult]

    @property
    def multimodal(self) -> bool:
        return len(self.time_to_activation_modes) > 1


def percentiles(values: list[float]) -> Percentiles:
    if not values:
        return Percentiles(count=0)
    ordered = sorted(values)

    def rank(q: float) -> float:  # nearest rank: always a value that occurred
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]

    return Percentiles(
        count=len(ordered),
        min=ordered[0],
        p10=rank(0.10),
        p25=rank(0.25),
        p50=rank(0.50),
        p75=rank(0.75),
        p90=rank(0.90),
        max=ordered[-1],
        mean=round(sum(ordered) / len(ordered), 2),
    )


def draw_seeds(seed: int, runs: int) -> list[int]:
    """Each run's seed, in order: the first ``n`` are the same for any sweep of ``n`` or more."""
    master = random.Random(seed)
    return [master.getrandbits(64) for _ in range(runs)]


def default_processes() -> int:
    return max(1, os.cpu_count() or 1)


def activated_within(result: RunResult, window_hours: float) -> bool:
    return result.activated_at_hours is not None and result.activated_at_hours <= window_hours


# -- the fast path, over a process pool ---------------------------------------------------------


def _chunks(pairs: list[tuple[int, int]], processes: int) -> list[list[tuple[int, int]]]:
    size = max(50, min(CHUNK, len(pairs) // (processes * 4) or 1))
    return [pairs[i : i + size] for i in range(0, len(pairs), size)]


def run_fast(
    scenario: Scenario,
    seeds: Sequence[int],
    *,
    processes: int = 1,
    on_progress: Progress | None = None,
) -> list[RunResult]:
    """Every run through the fast path, in run order; over ``processes`` processes if more
    than one (the state machine is pure Python: one process keeps one core busy)."""
    pairs = list(enumerate(seeds))
    results: dict[int, RunResult] = {}
    chunks = _chunks(pairs, processes)
    if processes <= 1 or len(chunks) == 1:
        for chunk in chunks:
            for result in run_seeds_fast(scenario, chunk):
                results[result.run] = result
            if on_progress is not None:
                on_progress("fast", len(chunk))
    else:
        # forkserver: workers start from a clean process that imported the fast path once, not
        # from a copy of this one (which may hold the SDK's threads, for the conformance runs).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["exercises.fastpath"])
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            futures = {pool.submit(run_seeds_fast, scenario, chunk): chunk for chunk in chunks}
            for future in as_completed(futures):
                for result in future.result():
                    results[result.run] = result
                if on_progress is not None:
                    on_progress("fast", len(futures[future]))
    return [results[run] for run in range(len(pairs))]


# -- a sweep --------------------------------------------------------------------------------------


async def run_sweep(
    scenario: Scenario,
    *,
    runs: int,
    seed: int,
    verify: int = DEFAULT_VERIFY,
    processes: int | None = None,
    parallel: int = DEFAULT_PARALLEL,
    temporal: bool = False,
    source: str = "",
    on_progress: Progress | None = None,
) -> SweepSummary:
    """``runs`` runs through the fast path over ``processes`` processes (default: one per
    core), ``verify`` of them also through the workflow on ``parallel`` time-skipping servers,
    meanwhile. ``temporal``: every run through the workflow instead, as sweeps used to."""
    from exercises.sweep_temporal import run_temporal  # the SDK and the ledger: only when needed

    started = time.perf_counter()
    processes = default_processes() if processes is None else max(1, processes)
    seeds = draw_seeds(seed, runs)

    def conformance_done(_: RunResult) -> None:
        if on_progress is not None:
            on_progress("conformance", 1)

    if temporal:
        done = await run_temporal(
            scenario,
            dict(enumerate(seeds)),
            parallel=parallel,
            processes=min(processes, parallel),
            source=source,
            on_done=lambda r: on_progress("temporal", 1) if on_progress else None,
        )
        results, conformance = [done[i] for i in range(runs)], None
    else:
        sampled = {run: seeds[run] for run in sample_runs(runs, verify, seed)}
        if processes > 1:
            # The workflow's runs (child processes) and the fast path's (a pool, driven from a
            # thread) at once: the sample costs little more than the slower of the two.
            checked, results = await asyncio.gather(
                run_temporal(
                    scenario,
                    sampled,
                    parallel=parallel,
                    processes=min(processes, parallel),
                    source=source,
                    on_done=conformance_done,
                ),
                asyncio.to_thread(
                    run_fast, scenario, seeds, processes=processes, on_progress=on_progress
                ),
            )
        else:
            results = run_fast(scenario, seeds, on_progress=on_progress)
            checked = await run_temporal(
                scenario, sampled, parallel=parallel, processes=1, on_done=conformance_done
            )
        conformance = compare({r.run: r for r in results}, checked)
    summary = summarize(
        scenario,
        source,
        results,
        seed=seed,
        engine="temporal" if temporal else "fast",
        parallel=parallel,
        conformance=conformance,
    )
    # The wall time the planner waited, the summary's statistics included.
    summary.wall_seconds = round(time.perf_counter() - started, 2)
    return summary


def summarize(
    scenario: Scenario,
    source: str,
    results: list[RunResult],
    *,
    seed: int,
    engine: str = "fast",
    parallel: int = DEFAULT_PARALLEL,
    wall_seconds: float = 0.0,
    conformance: Conformance | None = None,
) -> SweepSummary:
    window = scenario.plan_data.activation_window_hours
    activated = [r.activated_at_hours for r in results if r.activated_at_hours is not None]
    hits = [activated_within(r, window) for r in results]
    within = sum(hits)
    # Authorization needs the quorum, which needs verification: the first unmet step in plan
    # order is what held the run back; the later ones only followed from it.
    order = [d.name for d in scenario.plan_data.deadlines if d.required_for_activation]
    held = Counter(
        next(step for step in order if step in r.unmet)
        for r in results
        if r.outcome == str(Outcome.NOT_ACTIVATED) and any(step in r.unmet for step in order)
    )
    unmet_at_close = Counter(
        c for r in results if r.outcome == str(Outcome.NOT_ACTIVATED) for c in r.unmet
    )
    last = Counter(r.last_condition for r in results if r.last_condition is not None)
    low, high = wilson(within, len(results))
    return SweepSummary(
        scenario=scenario.name,
        source=source,
        runs=len(results),
        seed=seed,
        engine=engine,
        parallel=parallel,
        wall_seconds=round(wall_seconds, 2),
        window_hours=window,
        p_activated_within_window=round(within / len(results), 4) if results else 0.0,
        p_activated_within_window_ci95=(round(low, 4), round(high, 4)),
        outcomes=dict(Counter(r.outcome for r in results).most_common()),
        time_to_activation=percentiles(activated),
        time_to_activation_modes=modes(activated),
        escalation_levels={
            str(level): count
            for level, count in sorted(Counter(r.escalation_level for r in results).items())
        },
        held_back=dict(held.most_common()),
        unmet_at_close=dict(unmet_at_close.most_common()),
        most_common_hold_back=held.most_common(1)[0][0] if held else None,
        last_condition=dict(last.most_common()),
        expectations_met=round(sum(r.expectations_met for r in results) / len(results), 4)
        if results
        else 0.0,
        sensitivity=sensitivity_of([r.drawn for r in results], hits),
        conformance=conformance,
        results=results,
    )


# -- two variants ---------------------------------------------------------------------------------


class VariantComparison(BaseModel):
    """Two variants of a scenario over the same runs: run ``i`` of each has the same seed and,
    inject by inject (by key), the same draws; the difference is paired run by run."""

    variants: tuple[SweepSummary, SweepSummary]
    shared_injects: list[str]  # keys of the injects both variants have: their luck is common
    difference: PairedDifference  # P(activation within the window): B minus A


async def compare_variants(
    a: Scenario, b: Scenario, *, sources: tuple[str, str] = ("", ""), **sweep: object
) -> VariantComparison:
    """Sweep both variants with the same seed (``sweep``: as for :func:`run_sweep`)."""
    from exercises.script import inject_keys

    first = await run_sweep(a, source=sources[0], **sweep)  # type: ignore[arg-type]
    second = await run_sweep(b, source=sources[1], **sweep)  # type: ignore[arg-type]
    window_a, window_b = first.window_hours, second.window_hours
    shared = [key for key in inject_keys(a) if key in set(inject_keys(b))]
    return VariantComparison(
        variants=(first, second),
        shared_injects=shared,
        difference=paired_difference(
            [activated_within(r, window_a) for r in first.results],
            [activated_within(r, window_b) for r in second.results],
        ),
    )
