"""Scenario files: durations, distributions, and malformed files rejected with line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from contingency.cli.main import app as cli_app
from exercises.scenario import parse_scenario
from exercises.script import build_script
from foundation.durations import format_hours, parse_hours
from foundation.yamlfile import DocumentError
from workflows.messages import Answer, CommitmentInput

GOOD = """\
name: test
violation: {kind: large_scale_offensive, sector: s, reported_by: r, observed_at: -1h}
injects:
  - at: 2h
    evidence: {source: isr}
  - at: {lognormal: {median: 20h, sigma: 0.5}}
    commitment: {party: uk, decision: commit, assets: [air], p_decline: 0.5}
  - at: {uniform: [30h, 40h]}
    decision: {action: authorize, actor: chair, rationale: go}
    p_skip: 0.5
expect: {outcome: activated, activated_within: 72h}
"""


@pytest.mark.parametrize(
    ("text", "hours"),
    [("2h", 2), ("-1h", -1), ("90m", 1.5), ("1d6h", 30), ("1h30m", 1.5), ("0.5h", 0.5), (3, 3)],
)
def test_durations(text: object, hours: float) -> None:
    assert parse_hours(text) == pytest.approx(hours)


def test_format_hours() -> None:
    assert [format_hours(h) for h in (26.5, -1, 0.25, 72)] == ["26h30m", "-1h", "15m", "72h"]


def test_nominal_script_uses_medians_and_no_draws() -> None:
    script = build_script(parse_scenario(GOOD))
    assert script.lead_hours == 1
    assert [i.offset_hours for i in script.injects] == [2, 20, 35]
    assert not any(i.skipped for i in script.injects)
    commitment = script.injects[1].payload
    assert isinstance(commitment, CommitmentInput) and commitment.answer is Answer.COMMIT


def test_drawn_scripts_are_reproducible_and_vary() -> None:
    scenario = parse_scenario(GOOD)
    first = [build_script(scenario, s) for s in range(50)]
    again = [build_script(scenario, s) for s in range(50)]
    assert first == again
    commitments = [next(i for i in s.injects if i.index == 1) for s in first]
    offsets = {c.offset_hours for c in commitments}
    assert len(offsets) > 40
    # Drawn to the minute.
    assert all(abs(o * 60 - round(o * 60)) < 1e-9 for o in offsets)
    answers = [c.payload.answer for c in commitments]  # type: ignore[union-attr]
    assert Answer.DECLINE in answers and Answer.COMMIT in answers
    assert any(i.skipped for s in first for i in s.injects) and not all(
        i.skipped for s in first for i in s.injects if i.index == 2
    )


BAD = [
    # (scenario text, expected fragment: line and field)
    (GOOD.replace("at: 2h", "at: soon"), "line 4, injects[0].at"),
    (GOOD.replace("kind: large_scale_offensive", "kind: invasion"), "line 2, violation"),
    (GOOD.replace("decision: commit", "decision: maybe"), "line 7, injects[1].commitment.decision"),
    (GOOD.replace("action: authorize", "action: launch"), "line 9, injects[2].decision.action"),
    (GOOD.replace("    evidence: {source: isr}\n", ""), "line 4, injects[0]"),
    (GOOD.replace("p_skip: 0.5", "p_skip: 1.5"), "line 10, injects[2].p_skip"),
    (GOOD.replace("name: test\n", "name: test\nplan: nope\n"), "line 2, plan"),
    (GOOD.replace("observed_at: -1h", "observed_at: 3h"), "line 2, violation.observed_at"),
    (GOOD.replace("{outcome: activated,", "{outcome: won,"), "line 11, expect.outcome"),
    (
        GOOD.replace("evidence: {source: isr}", "evidence: {source: isr, colour: red}"),
        "line 5, injects[0].evidence.colour",
    ),
    (GOOD.replace("[30h, 40h]", "[40h, 30h]"), "line 8, injects[2].at"),
    (
        GOOD.replace("activated_within: 72h}", "deadlines: {lunch: met}}"),
        "line 11, expect.deadlines",
    ),
    ("name: x\nviolation: [\n", "line 3: not valid YAML"),
    (
        GOOD.replace("action: authorize", "action: correct_t0"),
        "line 9, injects[2].decision: t0_at: a correct_t0 decision gives t0_at",
    ),
    (
        GOOD.replace("rationale: go}", "rationale: go, t0_at: -2h}"),
        "line 9, injects[2].decision: t0_at: a correct_t0 decision gives t0_at",
    ),
    (GOOD.replace("action: authorize", "action: merge"), "a merge is its own inject"),
    (
        GOOD.replace("evidence: {source: isr}", "merge: {sector: k, reported_by: kc, actor: op}"),
        "injects[0].merge.rationale",
    ),
]


@pytest.mark.parametrize(("text", "fragment"), BAD, ids=[f"bad-{i}" for i in range(len(BAD))])
def test_bad_scenarios_name_line_and_field(text: str, fragment: str) -> None:
    with pytest.raises(DocumentError) as info:
        parse_scenario(text, "bad.yaml")
    assert fragment in str(info.value), str(info.value)


def test_party_named_no_must_be_quoted() -> None:
    with pytest.raises(DocumentError, match="quote it"):
        parse_scenario(GOOD.replace("party: uk", "party: no"))


def test_cli_rejects_a_bad_scenario_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD[0][0])
    result = CliRunner().invoke(cli_app, ["exercise", "run", str(path)])
    assert result.exit_code == 2
    assert "line 4, injects[0].at" in result.output
    result = CliRunner().invoke(cli_app, ["exercise", "validate", str(path)])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("party: uk", "party: ukk"), "line 7, injects[1].commitment.party: 'ukk' is not a guarantor party"),
        (("assets: [air]", "assets: [aire]"), "line 7, injects[1].commitment.assets: unknown ['aire']"),
        (("kind: large_scale_offensive", "kind: large_scale_ofensive"), "line 2, violation.kind: 'large_scale_ofensive' is not a kind of plan allied-72h"),
        (("actor: chair,", "new_kind: border_provocation, actor: chair,"), "line 9, injects[2].decision.new_kind: 'border_provocation' is not a kind of plan allied-72h"),
    ],
)  # fmt: skip
def test_names_the_plan_does_not_know_are_refused_with_line_and_field(
    change: tuple[str, str], where: str, tmp_path: Path
) -> None:
    """A typo in a party, an asset or a kind must not pass as "the ally refused" at run time."""
    path = tmp_path / "typo.yaml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(DocumentError) as caught:
        parse_scenario(path.read_text(), str(path))
    assert any(problem.startswith(where) for problem in caught.value.problems), caught.value
    result = CliRunner().invoke(cli_app, ["exercise", "validate", str(path)])
    assert result.exit_code == 2 and "line" in result.output


def test_a_second_plans_names_are_checked_against_that_plan() -> None:
    regional = GOOD.replace("name: test\n", "name: test\nplan: regional-48h\n")
    with pytest.raises(DocumentError) as caught:
        parse_scenario(regional)
    # The kind and the party are the allied plan's, not the regional one's.
    assert {p.split(":")[0] for p in caught.value.problems} >= {
        "line 3, violation.kind",
        "line 8, injects[1].commitment.party",
    }


def test_expectations_name_the_plans_steps() -> None:
    with pytest.raises(DocumentError) as caught:
        parse_scenario(GOOD.replace("activated_within: 72h}", "unmet: [quorum]}"))
    assert (
        "activation needs the plan's steps ['verification', 'consultation', 'authorization']"
        in str(caught.value)
    )


UNAUTHORIZED = GOOD.replace("decision: {action: authorize", "decision: {action: stand_down")


def test_an_inject_after_the_window_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "late.yaml"
    path.write_text(UNAUTHORIZED.replace("  - at: 2h\n", "  - at: 80h\n"))
    result = CliRunner().invoke(cli_app, ["exercise", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert (
        "warning" in result.output
        and "line 4, injects[0].at: T0+81h is after the response window" in result.output
    )


def test_injects_for_an_active_response_are_no_warning(tmp_path: Path) -> None:
    """The plan keeps an authorized response open after activation: injects past the window
    are meant for it."""
    path = tmp_path / "active.yaml"
    path.write_text(GOOD.replace("  - at: 2h\n", "  - at: 80h\n"))
    result = CliRunner().invoke(cli_app, ["exercise", "validate", str(path)])
    assert result.exit_code == 0 and "warning" not in result.output, result.output
