"""A scenario acknowledges escalation pages; the after-action report lists every message and
how long each audience took to answer; the fast path keeps the workflow's ledger, notices and
acknowledgements included."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from exercises.aar import report_markdown
from exercises.conversation import answers, messages
from exercises.fastpath import run_script_fast
from exercises.report import ExerciseReport
from exercises.runner import run_time_skipping
from exercises.scenario import load_scenario, parse_scenario
from exercises.script import build_script
from foundation.yamlfile import DocumentError

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "escalation-acknowledged.yaml"
# Absolute times and ids differ from run to run and path to path; the rest must not.
RUN_SPECIFIC = {"observed_at", "reported_at", "due_at", "report_id", "notice", "acknowledges"}


@pytest.fixture(scope="module")
async def report(ts_env: WorkflowEnvironment, sqlite_url: str) -> ExerciseReport:
    return await run_time_skipping(load_scenario(SCENARIO), env=ts_env, database_url=sqlite_url)


def _ledger(report: ExerciseReport) -> list[tuple]:
    return [
        (
            d.kind,
            d.actor,
            {k: v for k, v in d.payload.items() if k not in RUN_SPECIFIC | {"plan_digest"}},
            round(d.at_hours, 2),
        )
        for d in report.decisions
    ]


def test_a_level_nobody_is_paged_to_is_refused_naming_the_field() -> None:
    text = SCENARIO.read_text().replace(
        "{level: 2, actor: ministers-office}\n    note", "{level: 1, actor: x}\n    note"
    )
    with pytest.raises(DocumentError) as caught:
        parse_scenario(text)
    message = str(caught.value)
    assert "line 18, injects[1].acknowledge.level: 1 is not a level" in message
    assert "plan allied-72h escalates to [2, 3]" in message


async def test_the_acknowledged_page_stops_repeating_and_the_unanswered_one_goes_on(
    report: ExerciseReport,
) -> None:
    assert report.passed, report.expectations
    first, second = (i for i in report.injects if i.kind == "acknowledge")
    assert first.accepted and first.at_hours == pytest.approx(25.5, abs=0.01)
    assert not second.accepted
    assert second.message == "level: no escalation notice to level 2 awaits acknowledgement"

    pages = [m for m in messages(report.decisions) if m.notice_kind == "escalation"]
    to_level_2 = [m for m in pages if "level:2" in m.delivered]
    to_level_3 = [m for m in pages if "level:3" in m.delivered]
    assert [m.repeat for m in to_level_2] == [0]  # acknowledged before its first repeat
    assert [m.repeat for m in to_level_3] == list(range(24))  # T0+48h, then hourly to T0+71h
    acknowledged = [d for d in report.decisions if d.kind == "acknowledged"]
    assert [(d.actor, d.payload["level"]) for d in acknowledged] == [("ministers-office", 2)]


async def test_the_report_says_how_long_each_audience_took_to_answer(
    report: ExerciseReport,
) -> None:
    rows = {a.audience: a for a in answers(report.decisions)}
    assert rows["level:2"].took_hours == pytest.approx(0.5, abs=0.01)
    assert rows["level:2"].by == "ministers-office"
    assert rows["level:3"].answered_at_hours is None and rows[
        "level:3"
    ].asked_at_hours == pytest.approx(48)
    # The parties were asked at intake (T0+25h) and none answered.
    parties = [a for a in rows.values() if a.audience.startswith("party:")]
    assert len(parties) == 12 and all(
        a.asked_at_hours == pytest.approx(25, abs=0.01) and not a.answer for a in parties
    )
    text = report_markdown(report, None)
    assert "## How long each audience took to answer" in text
    assert "| level:2 | T0+25h | T0+25h30m | 0.5 h | acknowledged | ministers-office |" in text
    assert "| T0+49h | escalation (repeat 1) | level:3, cell | — |" in text


async def test_the_fast_path_keeps_the_workflows_ledger_row_for_row(
    report: ExerciseReport,
) -> None:
    scenario = load_scenario(SCENARIO)
    # An expectation on decision kinds makes the fast path keep its whole decision log.
    scenario = scenario.model_copy(
        update={"expect": scenario.expect.model_copy(update={"decisions": ["acknowledged"]})}
    )
    fast = run_script_fast(scenario, build_script(scenario))
    assert _ledger(fast) == _ledger(report)
    assert [i.accepted for i in fast.injects] == [i.accepted for i in report.injects]


async def test_the_cell_journal_is_in_the_ledger_and_the_report(report: ExerciseReport) -> None:
    notes = [d for d in report.decisions if d.kind == "note"]
    assert [(d.actor, d.payload["note"], round(d.at_hours)) for d in notes] == [
        ("cell-lead", "note", 29),
        ("cell-lead", "handover", 37),
    ]
    assert all(i.accepted for i in report.injects if i.kind == "journal")
    text = report_markdown(report, None)
    journal = text[text.index("## Cell journal") :]
    assert "| T0+37h | cell-lead | handover | Night shift takes over" in journal
