"""Constrained string types shared by the request models.

Control characters and lone surrogates are refused at the edge: they cannot be stored in
PostgreSQL text or encoded as UTF-8, and no legitimate report contains them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

# C0 controls except tab, newline and carriage return.
NO_CONTROLS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains characters that are not valid Unicode") from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


def _text(max_length: int) -> Any:
    """Free text, possibly empty."""
    return Annotated[
        str,
        StringConstraints(max_length=max_length, pattern=NO_CONTROLS),
        AfterValidator(_encodable),
    ]


def _label(max_length: int) -> Any:
    """A short required label: not blank, trimmed."""
    return Annotated[
        str,
        StringConstraints(
            min_length=1, max_length=max_length, pattern=r"^[^\x00-\x1f]*\S[^\x00-\x1f]*$"
        ),
        AfterValidator(_encodable),
        AfterValidator(_not_blank),
    ]


FreeText = _text(4000)
Source = _label(200)
ReportId = _label(200)
Sector = _label(120)
Reporter = _label(120)
Rationale = _label(4000)

# Names from a plan (kinds, parties, assets), as plan files spell them.
PlanName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
IncidentId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)]


class RequestModel(BaseModel):
    """Unknown fields are refused: a typo in a field name must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
