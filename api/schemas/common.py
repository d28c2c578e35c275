"""Constrained string types shared by the request models.

Text fields follow the text rules of :mod:`workflows.text`: a request breaking one is refused
with a 422 naming the field, and what passes is stored normalised (NFC, ``\\n`` line ends,
labels trimmed), the form the workflow's validators insist on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from workflows import text
from workflows.text import TextError, TextField

# What the rules refuse, as patterns for the OpenAPI schema (clients and the fuzzer read them);
# the validators below enforce the rules and name the character and its position.
_UNSAFE = r"\u007f-\u009f\u202a-\u202e\u2066-\u2069"
LABEL_PATTERN = rf"^[^\u0000-\u001f\u2028\u2029{_UNSAFE}]*$"
FREE_TEXT_PATTERN = rf"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f{_UNSAFE}]*$"


def _rule(spec: TextField, *, required: bool) -> Callable[[str], str]:
    def normalised(value: str) -> str:
        try:
            value = text.normalise(value, spec)
        except TextError as exc:
            raise PydanticCustomError("text", exc.problem) from None
        if required and not value.strip():
            raise PydanticCustomError("text", "must not be blank")
        return value

    return normalised


def _text_type(spec: TextField, *, required: bool) -> Any:
    return Annotated[
        str,
        # Checked again after normalisation; this bound refuses a huge body before any work.
        StringConstraints(min_length=1 if required else 0, max_length=spec.max_chars),
        Field(json_schema_extra={"pattern": FREE_TEXT_PATTERN if spec.free else LABEL_PATTERN}),
        AfterValidator(_rule(spec, required=required)),
    ]


FreeText = _text_type(text.SUMMARY, required=False)
Source = _text_type(text.SOURCE, required=True)
ReportId = _text_type(text.REPORT_ID, required=True)
Sector = _text_type(text.SECTOR, required=True)
Reporter = _text_type(text.REPORTED_BY, required=True)
# A decision's rationale is free text (it may run over lines), and required.
Rationale = _text_type(text.RATIONALE, required=True)
OptionalRationale = _text_type(text.RATIONALE, required=False)
NoteText = _text_type(text.NOTE, required=True)

# Names from a plan (kinds, parties, assets), as plan files spell them.
PlanName = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=text.PARTY.max_chars)
]
# A notice id as the workflow mints it: "<workflow id>/<counter>-<kind>".
NoticeId = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*/[0-9]{4}-[a-z_]+$", max_length=160)
]
IncidentId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)]


class RequestModel(BaseModel):
    """Unknown fields are refused: a typo in a field name must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
