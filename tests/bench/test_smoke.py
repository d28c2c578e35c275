"""`python -m bench --quick` runs every benchmark that needs no API and prints figures and ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WITHOUT_API = ("exercise", "e2e", "scale", "ledger")


# Above the suite's 300 s default, or the subprocess's own bound never applies.
@pytest.mark.timeout(600)
def test_quick_benchmarks_print_figures_and_ratios() -> None:
    # --quick is sized for a minute or two on a quiet 2-core machine; the bound leaves room for a
    # busy CI. Since incidents tell people (a request, the pages and their repeats, a close
    # notice), a compressed incident runs several more activities: the figures are to be measured
    # again (docs/performance.md), this only checks that every benchmark still runs.
    done = subprocess.run(  # noqa: PLW1510 (the exit status is asserted below, with the output)
        [sys.executable, "-m", "bench", "--quick", "--json", *WITHOUT_API],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = {r["name"]: r for r in json.loads(done.stdout)["results"]}
    assert set(results) == set(WITHOUT_API)
    for name, result in results.items():
        assert result["rows"], name
        for row in result["rows"]:
            assert isinstance(row["value"], (int, float)) and row["value"] >= 0, (name, row)
        ratios = [row["ratio"] for row in result["rows"] if row["ratio"] is not None]
        assert ratios and all(r > 0 for r in ratios), (name, result["rows"])

    rows = {row["metric"]: row for row in results["exercise"]["rows"]}
    assert rows["wall per scenario (median)"]["baseline"] > 0
    assert (
        rows["ledger rows per scenario"]["value"] > 24
    )  # every update and deadline reached the ledger
    scale = {row["metric"]: row for row in results["scale"]["rows"]}
    assert scale["incidents lost"]["value"] == 0
    assert scale["incidents lost"]["met"] is True
    assert any(row["metric"].startswith("PostgreSQL") for row in results["ledger"]["rows"])
