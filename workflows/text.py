"""The rules for text people submit, and the one table of how long each field may be.

Pure (no I/O): the API normalises what it receives with :func:`normalise` before anything is
recorded, and the workflow's validators refuse with :func:`check_normalised` whatever is not
already in that form, so a client that bypasses the API cannot put into the ledger what the API
would refuse, and the ledger holds exactly the text its caller sent.

- A **label** (a source, sector, report id, reporter, actor, party) is one line: no control
  character at all (C0, DEL, C1), no line or paragraph separator, no surrounding whitespace.
- **Free text** (a summary, a rationale) may hold newlines and tabs, no other control; a CRLF or
  a lone CR is normalised to a newline.
- Neither holds a bidirectional override or isolate (U+202A–U+202E, U+2066–U+2069), which make
  text display in another order than it is stored, nor a lone surrogate (not Unicode at all).
- Everything is NFC-normalised, and its length, counted in characters after normalisation, is
  within the field's limit, which is never above its database column's.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from foundation.characters import BIDI_CONTROLS, codepoint, is_control, is_surrogate

_LINE_SEPARATORS = frozenset("\u2028\u2029")
_FREE_CONTROLS = frozenset("\n\t\r")  # a CR only until it is normalised to a newline


@dataclass(frozen=True)
class TextField:
    """A kind of text field: its name (as errors name it) and its limit in characters."""

    name: str
    max_chars: int
    free: bool = False  # free text (newlines and tabs) rather than a one-line label


# The limits, one table for the API's schemas and the workflow's validators. Each is at most the
# length of the column the text lands in (db/models.py: tests/workflows/test_text.py checks);
# the unlimited Text columns (summary, rationale) get a limit all the same.
REPORT_ID = TextField("report_id", 200)  # incidents.report_id String(200)
SECTOR = TextField("sector", 120)  # incidents.sector String(120)
REPORTED_BY = TextField("reported_by", 120)  # incidents.reported_by String(120)
# decisions.actor String(200): an actor defaults to the evidence's source or the party.
ACTOR = TextField("actor", 200)
SOURCE = TextField("source", 200)
PARTY = TextField("party", 64)  # a plan's names (parties, assets, kinds)
SUMMARY = TextField("summary", 4000, free=True)  # incidents.summary, decisions.rationale: Text
RATIONALE = TextField("rationale", 4000, free=True)  # decisions.rationale: Text
NOTE = TextField("text", 4000, free=True)  # a journal note: decisions.rationale, Text

FIELDS = (REPORT_ID, SECTOR, REPORTED_BY, ACTOR, SOURCE, PARTY, SUMMARY, RATIONALE, NOTE)


class TextError(ValueError):
    """Text that breaks a rule: ``field`` names it, ``problem`` says what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _refuse_characters(value: str, spec: TextField, name: str) -> None:
    """Positions count characters from 0, in the text as it was sent."""
    if value.isascii() and value.isprintable():
        return  # the common case: none of the characters below is printable ASCII
    for position, char in enumerate(value):
        why = ""
        if is_surrogate(char):
            what, why = "a lone surrogate", ": not valid Unicode"
        elif char in BIDI_CONTROLS:
            what = "a bidirectional control character"
        elif is_control(char) and not (spec.free and char in _FREE_CONTROLS):
            what = "a control character"
            if char in "\n\r":
                why = ": a label is one line"
        elif not spec.free and char in _LINE_SEPARATORS:
            what, why = "a line separator", ": a label is one line"
        else:
            continue
        raise TextError(name, f"contains {what} ({codepoint(char)}) at position {position}{why}")


def normalise(value: object, spec: TextField, name: str | None = None) -> str:
    """``value`` as it is stored: NFC, newlines for CR and CRLF (free text), trimmed (labels).

    Raises :class:`TextError` naming ``name`` (default: the field's own name) if it breaks a
    rule. An empty label stays empty: whether a field is required is its user's rule.
    """
    name = name or spec.name
    if not isinstance(value, str):
        raise TextError(name, f"must be text, not {type(value).__name__}")
    _refuse_characters(value, spec, name)
    text = value.replace("\r\n", "\n").replace("\r", "\n") if spec.free else value
    text = unicodedata.normalize("NFC", text)
    if not spec.free:
        text = text.strip()
    if len(text) > spec.max_chars:
        raise TextError(
            name, f"is {len(text)} characters long; at most {spec.max_chars} are allowed"
        )
    return text


def check_normalised(value: object, spec: TextField, name: str | None = None) -> None:
    """Refuse text that :func:`normalise` would change or refuse: a validator refuses it rather
    than rewrite what its caller sent."""
    name = name or spec.name
    normal = normalise(value, spec, name)
    if normal == value:
        return
    assert isinstance(value, str)
    if "\r" in value:
        position = value.index("\r")
        problem = f"contains a carriage return (U+000D) at position {position}: end lines with \\n"
    elif unicodedata.is_normalized("NFC", value):
        problem = "has leading or trailing whitespace"
    else:
        problem = "is not in Unicode normalisation form NFC"
    raise TextError(name, problem)
