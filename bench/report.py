"""One way to print a benchmark: a titled table of figures, or the same as JSON with --json."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    metric: str
    value: float | int | str
    unit: str = ""
    baseline: float | int | str | None = None  # the same figure for bare Temporal, same run
    ratio: float | None = None  # engine / baseline, oriented so the target reads naturally
    target: str = ""

    def met(self) -> bool | None:
        """Whether the target holds, when the target is a simple comparison ("<= 1.5")."""
        if not self.target:
            return None
        op, _, limit = self.target.partition(" ")
        subject = self.ratio if self.ratio is not None else self.value
        if not isinstance(subject, (int, float)):
            return None
        bound = float(limit)
        return {
            "<=": subject <= bound,
            ">=": subject >= bound,
            "<": subject < bound,
            ">": subject > bound,
        }.get(op)


@dataclass
class Result:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    baseline_label: str = "bare Temporal"

    def add(self, metric: str, value: float | int | str, unit: str = "", **kwargs: Any) -> Row:
        row = Row(metric, value, unit, **kwargs)
        self.rows.append(row)
        return row

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for row, raw in zip(self.rows, data["rows"], strict=False):
            raw["met"] = row.met()
        return data


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_markdown(result: Result) -> str:
    lines = [f"### {result.title}", ""]
    if result.params:
        lines += [", ".join(f"{k}={v}" for k, v in result.params.items()), ""]
    lines += [
        f"| metric | engine | {result.baseline_label} | ratio | target | |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in result.rows:
        met = row.met()
        mark = "" if met is None else ("ok" if met else "MISSED")
        value = f"{_fmt(row.value)} {row.unit}".strip()
        baseline = f"{_fmt(row.baseline)} {row.unit}".strip() if row.baseline is not None else ""
        lines.append(
            f"| {row.metric} | {value} | {baseline} | {_fmt(row.ratio)} | {row.target} | {mark} |"
        )
    for note in result.notes:
        lines += ["", f"- {note}"] if note is result.notes[0] else [f"- {note}"]
    return "\n".join(lines)


def emit(results: list[Result], as_json: bool, out: Any = None) -> None:
    out = out or sys.stdout
    if as_json:
        json.dump({"results": [r.as_dict() for r in results]}, out, indent=2, default=str)
        out.write("\n")
    else:
        out.write("\n\n".join(render_markdown(r) for r in results) + "\n")
    out.flush()


def ratio(engine: float, baseline: float) -> float | None:
    return round(engine / baseline, 3) if baseline else None
