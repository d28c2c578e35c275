"""The engine's payload converter decodes what the SDK's default converter decodes, value for
value and error for error: it only remembers each dataclass's type hints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from exercises.fastpath import EPOCH
from exercises.scenario import load_scenario
from exercises.script import build_script, exercise_incident
from foundation.converter import DATA_CONVERTER
from workflows.activity_inputs import RecordDecisionsInput
from workflows.incident_input import IncidentInput
from workflows.messages import Answer, CommitmentInput, EvidenceInput, IncidentView, Phase
from workflows.notices import NoticeInput
from workflows.state import CURRENT_RULES, IncidentState

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
OURS = DATA_CONVERTER.payload_converter
SDK = DataConverter.default.payload_converter


def _round_trip(value: Any, hint: Any) -> tuple[Any, Any]:
    payloads = OURS.to_payloads([value])
    return OURS.from_payloads(payloads, [hint])[0], SDK.from_payloads(payloads, [hint])[0]


def _json(raw: str) -> Payload:
    payload = SDK.to_payloads([{}])[0]
    assert payload.metadata["encoding"] == b"json/plain"
    payload.data = raw.encode()
    return payload


def _busy_state() -> IncidentState:
    scenario = load_scenario(SCENARIOS / "sweep-allies-slow.yaml")
    script = build_script(scenario, 11)
    state = IncidentState(
        exercise_incident(scenario, script, EPOCH, "conv-1"), EPOCH, CURRENT_RULES
    )
    at = EPOCH + timedelta(hours=2)
    state.add_evidence(EvidenceInput(source="isr-1", summary="колонны у линии"), at)
    state.add_evidence(EvidenceInput(source="isr-2", summary="armour crossing"), at)
    state.add_commitment(CommitmentInput(party="uk", answer=Answer.COMMIT, assets=("air",)), at)
    return state


def test_the_engines_inputs_decode_as_the_sdk_decodes_them():
    state = _busy_state()
    notices = state.take_notices()
    assert notices, "the consultation asks the parties: a notice to decode"
    values: list[tuple[Any, Any]] = [
        (state.input, IncidentInput),
        (RecordDecisionsInput(state.snapshot(), state.unrecorded(0, 100)), RecordDecisionsInput),
        (state.view(), IncidentView),
        (notices[0], NoticeInput),
    ]
    for value, hint in values:
        ours, sdk = _round_trip(value, hint)
        assert ours == sdk == value, hint
        assert type(ours) is type(value)
    assert state.unrecorded(0, 100), "decisions to write"


def test_the_engines_inputs_encode_as_the_sdk_encodes_them():
    """The same text, but for UTF-8 left as is."""
    state = _busy_state()
    for value in (state.input, state.view(), state.snapshot(), state.take_notices()):
        ours, sdk = OURS.to_payloads([value])[0], SDK.to_payloads([value])[0]
        assert json.loads(ours.data) == json.loads(sdk.data)
        assert (
            ours.data
            == json.dumps(
                json.loads(sdk.data), ensure_ascii=False, separators=(",", ":"), sort_keys=True
            ).encode()
        )


@dataclass(frozen=True)
class _WithLateField:
    phase: Phase
    count: int = 0
    derived: str = field(default="", init=False)


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("5", Phase),  # an enum from a number
        ('"not-a-phase"', Phase),
        ('{"count": 1}', _WithLateField),  # a required field missing
        ('{"phase": 3}', _WithLateField),
        ('["verification"]', _WithLateField),  # not an object
    ],
)
def test_bad_values_are_refused_as_the_sdk_refuses_them(raw: str, hint: Any):
    payload = _json(raw)
    errors = []
    for converter in (OURS, SDK):
        with pytest.raises(Exception) as caught:
            converter.from_payloads([payload], [hint])
        cause = caught.value.__cause__
        errors.append((type(caught.value), str(caught.value), type(cause), str(cause)))
    assert errors[0] == errors[1]
    assert issubclass(errors[0][0], TypeError | ValueError), errors[0]


def test_unknown_keys_are_ignored_and_init_false_fields_restored():
    payload = _json('{"phase": "verification", "derived": "kept", "extra": 1}')
    ours = OURS.from_payloads([payload], [_WithLateField])[0]
    assert ours == SDK.from_payloads([payload], [_WithLateField])[0]
    assert (ours.phase, ours.count, ours.derived) == (Phase.VERIFICATION, 0, "kept")
