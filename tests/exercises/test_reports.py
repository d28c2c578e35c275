"""After-action reports: the HTML embeds the chart and names every decision; Markdown and JSON too."""

from __future__ import annotations

import base64
import json
import re
from html import escape
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from exercises.aar import (
    SLACK_NOTE,
    report_html,
    report_markdown,
    slack,
    sweep_html,
    write_report,
    write_sweep_report,
)
from exercises.chart import activation_histogram_png, timeline_figure, timeline_png
from exercises.report import EscalationRecord, ExerciseReport
from exercises.runner import run_time_skipping
from exercises.scenario import load_scenario
from exercises.sweep import RunResult, summarize

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
async def report(ts_env: WorkflowEnvironment, sqlite_url: str) -> ExerciseReport:
    # Refusals, escalations, a lost quorum: a report with something in every section.
    return await run_time_skipping(
        load_scenario(SCENARIOS / "party-changes-answer.yaml"), env=ts_env, database_url=sqlite_url
    )


def test_json_report_has_the_agreed_fields(report: ExerciseReport) -> None:
    data = json.loads(report.model_dump_json())
    for key in (
        "outcome",
        "activated_at_hours",
        "escalations",
        "decisions",
        "deadlines",
        "expectations",
        "injects",
    ):
        assert key in data
    assert data["escalations"] == [
        {
            "level": 2,
            "authority": "Principals and ministers",
            "at_hours": 24.0,
            "reason": "Allied quorum not reached by T0+24h",
        }
    ]
    assert {"kind", "at_hours", "actor"} <= set(data["decisions"][0])
    assert {"name", "due_hours", "met"} <= set(data["deadlines"][0])
    assert {"at_hours", "kind", "accepted", "message"} <= set(data["injects"][0])
    consultation = next(d for d in data["deadlines"] if d["name"] == "consultation")
    # Reached at 14h, lost at 22h, rebuilt at 40h: missed, and done when it last came to hold.
    assert consultation["met"] is False and consultation["actual_hours"] == pytest.approx(
        40, abs=0.01
    )
    assert [p["phase"] for p in data["phases"]] == [
        "verification",
        "consultation",
        "authorization",
        "consultation",
        "authorization",
    ]


def test_html_embeds_the_chart_and_every_decision(report: ExerciseReport) -> None:
    html = report_html(report)
    [encoded] = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert base64.b64decode(encoded).startswith(PNG)
    for decision in report.decisions:
        row = f"<td>{decision.seq}</td>"
        assert row in html
        assert escape(decision.kind) in html and escape(decision.actor) in html
    assert "EXERCISE" in html and "Plan steps: planned versus actual" in html


def test_markdown_report_writes_its_chart_beside_it(report: ExerciseReport, tmp_path: Path) -> None:
    written = write_report(report, tmp_path / "aar.md")
    assert [p.name for p in written] == ["aar.md", "aar.png"]
    text = (tmp_path / "aar.md").read_text()
    assert (
        "![Timeline](aar.png)" in text
        and "| # | When | Decision | Decided | Actor | Rationale |" in text
    )
    assert (tmp_path / "aar.png").read_bytes().startswith(PNG)


def test_charts_render_for_every_outcome(report: ExerciseReport) -> None:
    assert timeline_png(report).startswith(PNG)
    assert activation_histogram_png([30.0, 40.5, 71.0], 72, "sweep", "P = 60%").startswith(PNG)
    assert activation_histogram_png([], 72, "nothing activated", "P = 0%").startswith(PNG)


def test_sweep_report(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS / "sweep-allies-slow.yaml")
    results = [
        RunResult(
            run=i,
            outcome="activated" if i % 3 else "not_activated",
            activated_at_hours=30.0 + i if i % 3 else None,
            closed_at_hours=30.0 + i if i % 3 else 72.0,
            escalation_level=2,
            unmet=[] if i % 3 else ["authorization", "consultation"],
            last_condition="authorization" if i % 3 else None,
            rejected_injects=0,
            expectations_met=bool(i % 3),
        )
        for i in range(9)
    ]
    summary = summarize(scenario, "x", results, seed=7, parallel=2, wall_seconds=1.0)
    assert summary.held_back == {"consultation": 3}
    assert summary.most_common_hold_back == "consultation"
    assert summary.p_activated_within_window == pytest.approx(6 / 9, abs=1e-4)
    [html] = write_sweep_report(summary, tmp_path / "sweep.html")
    text = html.read_text()
    assert "data:image/png;base64," in text and "P(activation within 72 h)" in text
    # The title's figures are the table's, in the same digits.
    assert "66.7% (95% CI 35.4%–87.9%) over 9 runs; 3 not activated" in text
    assert "<td>66.7%</td>" in text and "<td>35.4%–87.9%</td>" in text
    assert "Escalation level reached" in text and "<td>level 2</td><td>9</td>" in text


def test_sweep_report_explains(tmp_path: Path) -> None:
    """The tornado chart and its table, the levels, and the warning for a multimodal time."""
    scenario = load_scenario(SCENARIOS / "sweep-allies-slow.yaml")
    results = [
        RunResult(
            run=i,
            outcome="activated" if i % 4 else "not_activated",
            activated_at_hours=(30.0 if i % 2 else 50.0) + (i % 7) / 10 if i % 4 else None,
            closed_at_hours=72.0,
            escalation_level=1 + i % 3,
            unmet=[] if i % 4 else ["consultation"],
            last_condition=None,
            rejected_injects=0,
            expectations_met=True,
            drawn={
                "commitment:uk.answer": "commit" if i % 4 else "decline",
                "evidence:x.at": i / 10,
            },
        )
        for i in range(200)
    ]
    summary = summarize(scenario, "x", results, seed=7)
    assert summary.sensitivity[0].parameter == "commitment:uk.answer"
    assert summary.multimodal and len(summary.time_to_activation_modes) == 2
    html = sweep_html(summary)
    assert html.count("data:image/png;base64,") == 3  # histogram, tornado, levels
    assert "has 2 modes" in html and "the median" in html
    assert "What drives activation" in html
    files = write_sweep_report(summary, tmp_path / "sweep.md")
    assert [f.name for f in files] == [
        "sweep.md",
        "sweep.png",
        "sweep-tornado.png",
        "sweep-levels.png",
    ]


@pytest.fixture(scope="module")
async def late_report(ts_env: WorkflowEnvironment, sqlite_url: str) -> ExerciseReport:
    # Reported 50 h after T0: several rules fire at once, diplomacy is done after its deadline.
    return await run_time_skipping(
        load_scenario(SCENARIOS / "late-report.yaml"), env=ts_env, database_url=sqlite_url
    )


def test_slack_is_hours_to_spare_and_a_late_step_shows_when_it_was_done(
    late_report: ExerciseReport,
) -> None:
    diplomacy = next(d for d in late_report.deadlines if d.name == "diplomacy")
    assert diplomacy.status == "missed" and diplomacy.actual_hours == pytest.approx(50, abs=0.01)
    assert slack(48, 50) == "-2.0 h (late)" and slack(12, 2) == "+10.0 h" and slack(12, None) == "—"
    html = report_html(late_report)
    row = html[html.index("<td>Diplomatic steps dispatched</td>") :]
    row = row[: row.index("</tr>")]
    assert "T0+50h" in row and "-2.0 h (late)" in row
    assert escape(SLACK_NOTE) in html


def test_the_header_carries_no_markup_of_the_other_format(late_report: ExerciseReport) -> None:
    html = report_html(late_report)
    header = html[html.index("<h1>") : html.index("<h2>")]
    assert "`" not in header and "**" not in header
    assert f"<code>{late_report.workflow_id}</code>" in header
    markdown = report_markdown(late_report, None)
    assert f"`{late_report.workflow_id}`" in markdown and "<code>" not in markdown


def test_the_chart_names_every_marker_and_keeps_labels_apart(late_report: ExerciseReport) -> None:
    figure = timeline_figure(late_report)
    axes = figure.axes[0]
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    for kind in ("evidence", "commitment", "decision"):
        assert f"{kind} accepted" in legend
    assert {"inject skipped", "inject refused", "escalation"} <= set(legend)
    # Four rules fire at T0+50h: one marker, one label counting them by level.
    labels = [t for t in axes.texts if t.get_text().startswith("L")]
    assert [t.get_text() for t in labels] == ["L2×3 L3"]


def test_labels_of_escalations_close_in_time_do_not_overlap(late_report: ExerciseReport) -> None:
    close = [
        EscalationRecord(level=2, authority="ministers", at_hours=h, reason="r") for h in (24, 27)
    ]
    figure = timeline_figure(late_report.model_copy(update={"escalations": close}))
    labels = [t for t in figure.axes[0].texts if t.get_text().startswith("L")]
    assert len(labels) == 2 and labels[0].get_position()[1] != labels[1].get_position()[1]
