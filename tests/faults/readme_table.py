"""Write the fault tests' results into docs/reliability.md, between the reliability markers.

    pytest tests/faults                       # each test writes tests/faults/results/<fault>.json
    python -m tests.faults.readme_table       # the table in docs/reliability.md is rewritten

Only the text between the markers changes; ``--print`` shows the table without writing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"
README = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
BEGIN, END = "<!-- reliability:faults:begin -->", "<!-- reliability:faults:end -->"
ORDER = ("worker", "temporal", "database", "api")


def _order(path: Path) -> int:
    return next((i for i, word in enumerate(ORDER) if path.stem.startswith(word)), len(ORDER))


def _unrecorded(row: dict) -> str:
    count = row.get("delivered_not_in_ledger", 0)
    return f"; {count} delivered after a stand-down, not in the ledger" if count else ""


def table() -> str:
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob("*.json"), key=_order)]
    header = (
        "| Fault (20 incidents in flight) | What happened | Outcomes = fault-free | Inputs recorded once "
        "| Ledger rows, chains verified | Steps: outbox = processed (raw repeats) | Failed workflow tasks "
        "| Client retries | Took |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for r in rows:
        outcomes = ", ".join(f"{n} {o}" for o, n in r["outcomes"].items())
        reasons = (
            ", ".join(f"{n}× {k}" for k, n in sorted(r["client_retry_reasons"].items())) or "none"
        )
        events = "; ".join(r["fault_events"])
        lines.append(
            f"| {r['fault']} | {events} | {r['outcomes_as_expected']}/{r['incidents']} ({outcomes}) "
            f"| {r['inputs_recorded_once']}/{r['inputs_sent']} | {r['ledger_rows']} rows, "
            f"{r['chains_verified']}/{r['incidents']} chains | {r['outbox_rows']} = {r['receiver_processed']} "
            f"({r['receiver_raw_duplicates']}){_unrecorded(r)} | {r['workflow_tasks_failed']} "
            f"| {r['client_retries']} of {r['client_requests']} ({reasons}) | {r['seconds']:.0f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = table()
    if "--print" in argv:
        print(text)
        return 0
    readme = README.read_text(encoding="utf-8")
    if BEGIN not in readme or END not in readme:
        print(f"{README} has no {BEGIN} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}", encoding="utf-8")
    print(f"wrote {len(text.splitlines()) - 2} fault rows into {README.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
