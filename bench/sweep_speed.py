"""Benchmark: sweep speed, the fast path (the workflow's driver without Temporal, over a process
pool) against every run through the real workflow on time-skipping servers (the baseline: how
sweeps ran before), on ``scenarios/sweep-allies-slow.yaml``.

The issue's targets: ``--runs 10000`` (with its conformance sample of 50) under 20 s, and
``--runs 100000 --verify 0`` under 60 s, on this 2-core machine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.report import Result, ratio
from exercises.conformance import DEFAULT_VERIFY
from exercises.scenario import load_scenario
from exercises.sweep import run_sweep

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "sweep-allies-slow.yaml"


async def _wall(runs: int, **options: object) -> tuple[float, object]:
    started = time.perf_counter()
    summary = await run_sweep(load_scenario(SCENARIO), runs=runs, seed=7, **options)  # type: ignore[arg-type]
    return time.perf_counter() - started, summary


async def run(quick: bool) -> Result:
    temporal_runs = 4 if quick else 100
    sizes = (
        [(200, DEFAULT_VERIFY), (2_000, 4)]
        if quick
        else [
            (200, DEFAULT_VERIFY),
            (10_000, DEFAULT_VERIFY),
            (100_000, 0),
        ]
    )
    result = Result(
        "sweep",
        "Sweep speed: the fast path with its conformance sample vs every run through Temporal",
        params={"scenario": SCENARIO.name, "temporal_runs": temporal_runs, "cores": os.cpu_count()},
        baseline_label="every run through Temporal",
    )
    temporal_s, _ = await _wall(temporal_runs, temporal=True)
    temporal_rate = temporal_runs / temporal_s
    fastest_rate = 0.0
    for runs, verify in sizes:
        wall, summary = await _wall(runs, verify=verify)
        conformance = summary.conformance  # type: ignore[attr-defined]
        assert conformance is None or conformance.ok, conformance.describe()
        target = {10_000: "<= 20", 100_000: "<= 60"}.get(runs, "")
        result.add(f"--runs {runs} --verify {verify}", round(wall, 1), "s", target=target)
        rate = runs / wall
        fastest_rate = max(fastest_rate, rate)
        result.add(
            f"  runs per second ({runs})",
            round(rate),
            "runs/s",
            baseline=round(temporal_rate, 2),
            ratio=ratio(rate, temporal_rate),
        )
    result.notes.append(
        f"baseline: {temporal_runs} runs with --temporal (every run through the workflow, "
        f"{temporal_s:.1f} s); ratio = fast runs/s over Temporal runs/s (higher is better)"
    )
    result.notes.append(
        "the fast-path walls include the conformance sample, run through the workflow meanwhile"
    )
    return result
