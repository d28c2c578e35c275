"""How the state machine refuses an input: :class:`Rejected`, and the checks of submitted text
that every input shares (the text rules, and what long text travels as)."""

from __future__ import annotations

from workflows import limits
from workflows.messages import TextRef
from workflows.text import TextError, TextField, check_normalised


class Rejected(ValueError):
    """An input the plan does not allow at this moment; the update is refused.

    ``field`` names the input at fault (None: the incident as a whole). ``conflict`` says the
    input is well-formed but the incident's state refuses it (it has ended, is already
    authorized, has no quorum yet); otherwise the input itself is invalid.
    """

    def __init__(self, message: str, *, field: str | None = None, conflict: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.conflict = conflict


def check_carried(field: str, text: str, ref: TextRef | None) -> None:
    """Free text travels in the workflow up to ``limits.TEXT_IN_WORKFLOW`` characters; longer
    text is stored by the API and travels as its first characters and a reference."""
    most = limits.TEXT_IN_WORKFLOW
    if len(text) > most:
        raise Rejected(
            f"{field}: at most {most} characters travel in the workflow; the API stores longer "
            "text and sends its reference",
            field=field,
        )
    if ref is not None and (
        len(ref.sha256) != 64
        or any(c not in "0123456789abcdef" for c in ref.sha256)
        or ref.chars < len(text)
    ):
        raise Rejected(f"{field}: the stored text's reference is malformed", field=field)


def check_text(value: object, spec: TextField, name: str | None = None) -> None:
    """Refuse text that breaks the text rules or is not in their normal form."""
    try:
        check_normalised(value, spec, name)
    except TextError as exc:
        raise Rejected(str(exc), field=exc.field) from None
