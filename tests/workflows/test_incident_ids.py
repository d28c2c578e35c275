"""Incident ids: the world (real or exercise) is read from them, so a real report never gets one
that reads as an exercise's, whatever its sector says."""

from __future__ import annotations

import pytest

from foundation.ids import is_exercise_id
from workflows.starting import incident_id_for


@pytest.mark.parametrize(
    "sector",
    ["Exercise", "exercise kharkiv", "EXERCISE-Kharkiv", "  Exercise: Donetsk", "exercise-"],
)
def test_a_real_sector_that_reads_exercise_gets_a_real_id(sector: str) -> None:
    real = incident_id_for("ua-gs-1", sector)
    assert not is_exercise_id(real)
    assert real.startswith("real-exercise")
    assert real != incident_id_for("ua-gs-1", sector, exercise=True)


def test_ordinary_ids_are_unchanged() -> None:
    assert incident_id_for("ua-gs-1", "Exercises Range").startswith("exercises-range-")
    assert incident_id_for("ua-gs-1", "Zaporizhzhia").startswith("zaporizhzhia-")
    assert is_exercise_id(incident_id_for("ua-gs-1", "Zaporizhzhia", exercise=True))
