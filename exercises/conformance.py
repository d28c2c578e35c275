"""The conformance sample: runs of a sweep checked on both paths, the fast path and the real
workflow on the time-skipping server. Every sampled run must give the same verdict
(:meth:`RunResult.verdict`); one that does not fails the sweep, named."""

from __future__ import annotations

import random

from pydantic import BaseModel

from exercises.sweep_results import RunResult

DEFAULT_VERIFY = 50


def sample_runs(runs: int, verify: int, seed: int) -> list[int]:
    """Which runs are checked: ``verify`` of them, drawn from the sweep's seed (a stream of its
    own, so checking more or fewer runs changes none of the runs themselves)."""
    picker = random.Random(f"conformance/{seed}")
    return sorted(picker.sample(range(runs), min(max(verify, 0), runs)))


class Mismatch(BaseModel):
    run: int
    field: str
    fast: object
    temporal: object

    def describe(self) -> str:
        return f"run {self.run}: {self.field} is {self.fast!r} on the fast path, {self.temporal!r} through Temporal"


class Conformance(BaseModel):
    checked: int
    identical: int
    runs: list[int]  # the runs sampled
    mismatches: list[Mismatch] = []

    @property
    def ok(self) -> bool:
        return self.identical == self.checked

    def describe(self) -> str:
        if not self.checked:
            return "conformance: no run checked through the workflow (--verify 0)"
        if self.ok:
            return f"conformance: {self.identical} of {self.checked} runs identical on both paths"
        first = "; ".join(m.describe() for m in self.mismatches[:5])
        return (
            f"CONFORMANCE FAILED: {self.checked - self.identical} of {self.checked} sampled runs "
            f"differ between the fast path and the workflow: {first}"
        )


def compare(fast: dict[int, RunResult], temporal: dict[int, RunResult]) -> Conformance:
    mismatches = []
    identical = 0
    for run in sorted(temporal):
        mine, theirs = fast[run].verdict(), temporal[run].verdict()
        if temporal[run].error:
            theirs["error"], mine["error"] = temporal[run].error, fast[run].error
        differing = [name for name in theirs if mine.get(name) != theirs[name]]
        if not differing:
            identical += 1
        mismatches += [
            Mismatch(run=run, field=name, fast=mine.get(name), temporal=theirs[name])
            for name in differing
        ]
    return Conformance(
        checked=len(temporal), identical=identical, runs=sorted(temporal), mismatches=mismatches
    )
