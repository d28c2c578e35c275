"""The sweep's statistics: Wilson's interval, Newcombe's paired interval, sensitivity, modes."""

from __future__ import annotations

import random

import pytest

from exercises.sweep_stats import modes, paired_difference, sensitivity, wilson


def test_wilson_interval() -> None:
    # Values from Newcombe (1998, table I): 81/263 -> 0.2553-0.3662.
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 10)[0] == 0 and 0 < wilson(0, 10)[1] < 0.31
    assert wilson(10, 10)[1] == pytest.approx(1)


def test_paired_difference() -> None:
    rng = random.Random(1)
    a = [rng.random() < 0.5 for _ in range(2000)]
    b = [x or rng.random() < 0.3 for x in a]
    d = paired_difference(a, b)
    assert d.only_a == 0 and d.both + d.only_a == sum(a)
    assert d.ci95[0] < d.difference < d.ci95[1]
    # The normal approximation's standard error for paired data, as a cross-check.
    n, diffs = len(a), [int(y) - int(x) for x, y in zip(a, b, strict=True)]
    mean = sum(diffs) / n
    se = (sum((v - mean) ** 2 for v in diffs) / (n - 1) / n) ** 0.5
    assert d.ci95[0] == pytest.approx(mean - 1.96 * se, abs=0.005)
    assert d.ci95[1] == pytest.approx(mean + 1.96 * se, abs=0.005)
    same = paired_difference(a, a)
    assert same.difference == 0 and same.ci95[1] - same.ci95[0] < 0.01


def test_sensitivity_ranks_by_effect() -> None:
    rng = random.Random(2)
    rows = [{"decisive": rng.random() < 0.5, "noise": rng.uniform(0, 10)} for _ in range(1000)]
    hit = [row["decisive"] for row in rows]
    ranked = sensitivity(rows, hit)
    assert [s.parameter for s in ranked] == ["decisive", "noise"]
    assert ranked[0].effect == 1 and ranked[1].effect < 0.15
    assert len(ranked[1].buckets) == 5 and sum(b.runs for b in ranked[1].buckets) == 1000


def test_modes() -> None:
    rng = random.Random(3)
    waves = [rng.gauss(30, 1) for _ in range(500)] + [rng.gauss(50, 1) for _ in range(300)]
    assert [round(m) for m in modes(waves)] == [30, 50]
    assert len(modes([rng.gauss(30, 4) for _ in range(1000)])) == 1
    assert modes([]) == []
