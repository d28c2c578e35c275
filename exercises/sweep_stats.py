"""The statistics a sweep reports: intervals for a proportion and for a paired difference, the
sensitivity of activation to each drawn value, and the modes of a distribution of times."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion: right at 0 % and 100 %, where the normal
    approximation gives an interval of width zero."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


class PairedDifference(BaseModel):
    """P(B) − P(A) over the same runs of two variants (common random numbers), with Newcombe's
    hybrid score interval for paired proportions (his method 10, 1998)."""

    runs: int
    p_a: float
    p_b: float
    difference: float
    ci95: tuple[float, float]
    both: int  # runs activated in both variants
    only_a: int
    only_b: int
    neither: int


def paired_difference(a: Sequence[bool], b: Sequence[bool]) -> PairedDifference:
    if len(a) != len(b):
        raise ValueError("a paired difference needs the same runs in both variants")
    n = len(a)
    both = sum(1 for x, y in zip(a, b, strict=True) if x and y)
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    neither = n - both - only_a - only_b
    if n == 0:
        return PairedDifference(
            runs=0, p_a=0, p_b=0, difference=0, ci95=(-1, 1), both=0, only_a=0, only_b=0, neither=0
        )
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    l_a, u_a = wilson(both + only_a, n)
    l_b, u_b = wilson(both + only_b, n)
    # The correlation of the two variants' outcomes over the runs (phi of the 2x2 table): the
    # more they move together, the narrower the interval for their difference.
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = 0.0 if margins == 0 else (both * neither - only_a * only_b) / math.sqrt(margins)
    d = p_b - p_a
    low = d - math.sqrt(
        max(0.0, (p_b - l_b) ** 2 - 2 * phi * (p_b - l_b) * (u_a - p_a) + (u_a - p_a) ** 2)
    )
    high = d + math.sqrt(
        max(0.0, (u_b - p_b) ** 2 - 2 * phi * (u_b - p_b) * (p_a - l_a) + (p_a - l_a) ** 2)
    )
    return PairedDifference(
        runs=n,
        p_a=round(p_a, 4),
        p_b=round(p_b, 4),
        difference=round(d, 4),
        ci95=(round(max(-1.0, low), 4), round(min(1.0, high), 4)),
        both=both,
        only_a=only_a,
        only_b=only_b,
        neither=neither,
    )


# -- sensitivity ------------------------------------------------------------------------------

BUCKETS = 5  # a drawn time is cut into quintiles of the runs
# A bucket this small says more about luck than about the parameter: left out of the effect.
MIN_BUCKET_RUNS = 5


class Bucket(BaseModel):
    value: str  # "commit", "true", or a range of hours "12h10m–15h40m"
    runs: int
    activated: int
    p_activated: float


class Sensitivity(BaseModel):
    parameter: str  # as drawn: "commitment:uk.answer", "evidence:allied-isr.at", ...
    effect: float  # highest minus lowest P(activation) across its buckets
    low: str  # the bucket with the lowest P(activation)
    high: str  # and the highest
    buckets: list[Bucket]


def _hours(value: float) -> str:
    minutes = round(value * 60)
    sign, minutes = ("-" if minutes < 0 else ""), abs(minutes)
    h, m = divmod(minutes, 60)
    return f"{sign}{h}h{m:02d}m" if m else f"{sign}{h}h"


def _numeric_buckets(pairs: list[tuple[float, bool]]) -> list[Bucket]:
    ordered = sorted(pairs, key=lambda pair: pair[0])
    n = len(ordered)
    buckets: list[Bucket] = []
    start = 0
    for i in range(1, BUCKETS + 1):
        end = round(i * n / BUCKETS)
        # Equal values stay in one bucket, so a bucket is a range of values, not of ranks.
        while 0 < end < n and ordered[end][0] == ordered[end - 1][0]:
            end += 1
        if end <= start:
            continue
        chunk = ordered[start:end]
        hits = sum(1 for _, ok in chunk if ok)
        low, high = chunk[0][0], chunk[-1][0]
        label = _hours(low) if low == high else f"{_hours(low)}–{_hours(high)}"
        buckets.append(
            Bucket(
                value=label,
                runs=len(chunk),
                activated=hits,
                p_activated=round(hits / len(chunk), 4),
            )
        )
        start = end
    return buckets


def sensitivity(
    drawn: Sequence[dict[str, float | str | bool]], activated: Sequence[bool]
) -> list[Sensitivity]:
    """For each drawn parameter, P(activation) per value (an answer, skipped or not) or per
    quintile (a time), ranked by effect: the spread between its best and worst buckets."""
    values: dict[str, list[tuple[float | str | bool, bool]]] = defaultdict(list)
    for row, ok in zip(drawn, activated, strict=True):
        for name, value in row.items():
            values[name].append((value, ok))
    found = []
    for name, pairs in values.items():
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v, _ in pairs):
            buckets = _numeric_buckets([(float(v), ok) for v, ok in pairs])
        else:
            groups: dict[str, list[bool]] = defaultdict(list)
            for v, ok in pairs:
                groups[str(v).lower()].append(ok)
            buckets = [
                Bucket(
                    value=v,
                    runs=len(oks),
                    activated=sum(oks),
                    p_activated=round(sum(oks) / len(oks), 4),
                )
                for v, oks in sorted(groups.items())
            ]
        counted = [b for b in buckets if b.runs >= MIN_BUCKET_RUNS] or buckets
        low = min(counted, key=lambda b: b.p_activated)
        high = max(counted, key=lambda b: b.p_activated)
        found.append(
            Sensitivity(
                parameter=name,
                effect=round(high.p_activated - low.p_activated, 4),
                low=low.value,
                high=high.value,
                buckets=buckets,
            )
        )
    return sorted(found, key=lambda s: (-s.effect, s.parameter))


# -- modes ------------------------------------------------------------------------------------

GRID_HOURS = 0.1
# A mode must hold a visible share of the runs and stand clear of its neighbours: a peak of at
# least 5 % of the highest, whose valley to any higher peak dips by at least 30 % of its height.
MIN_HEIGHT = 0.05
MIN_PROMINENCE = 0.3


def modes(times: Sequence[float], bandwidth: float | None = None) -> list[float]:
    """The modes of a distribution of times (hours), from a Gaussian kernel density estimate
    (Silverman's bandwidth, at least an hour): one value for a single-peaked distribution."""
    if len(times) < 2:
        return [round(t, 1) for t in times]
    data = np.asarray(times, dtype=float)
    if bandwidth is None:
        spread = min(data.std(), (np.percentile(data, 75) - np.percentile(data, 25)) / 1.34)
        bandwidth = max(1.0, 0.9 * spread * len(data) ** -0.2) if spread > 0 else 1.0
    low, high = data.min() - 3 * bandwidth, data.max() + 3 * bandwidth
    edges = np.arange(low, high + GRID_HOURS, GRID_HOURS)
    counts, _ = np.histogram(data, bins=edges)
    reach = math.ceil(3 * bandwidth / GRID_HOURS)
    offsets = np.arange(-reach, reach + 1) * GRID_HOURS
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2)
    density = np.convolve(counts, kernel, mode="same")
    centres = (edges[:-1] + edges[1:]) / 2
    peaks = [
        i
        for i in range(1, len(density) - 1)
        if density[i] > density[i - 1] and density[i] >= density[i + 1]
    ]
    top = density.max()
    found = []
    for i in peaks:
        height = density[i]
        if height < MIN_HEIGHT * top:
            continue
        # Prominence: how far one must descend from this peak to reach a higher one.
        left = next((j for j in range(i - 1, -1, -1) if density[j] > height), None)
        right = next((j for j in range(i + 1, len(density)) if density[j] > height), None)
        left_min = density[left:i].min() if left is not None else density[:i].min()
        right_min = (
            density[i + 1 : right + 1].min() if right is not None else density[i + 1 :].min()
        )
        base = (
            max(left_min, right_min)
            if left is not None and right is not None
            else (left_min if left is not None else right_min if right is not None else 0.0)
        )
        if height - base >= MIN_PROMINENCE * height:
            found.append(round(float(centres[i]), 1))
    return found or [round(float(centres[int(density.argmax())]), 1)]
