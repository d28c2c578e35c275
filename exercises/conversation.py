"""Who the exercise told, and how long each audience took to answer: the after-action report's
messages, read from the ledger's ``notified``, ``acknowledged`` and ``commitment`` decisions.

An audience is asked when a notice that wants an answer first reaches it: a party by the
consultation request (or a reminder, if the request missed it), an escalation level by its
escalation notice. It answers with its commitment (a party) or an acknowledgement (a level).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from exercises.report import DecisionRecord
from workflows.decisions import DecisionKind
from workflows.notices import CELL, NoticeKind, level_audience, party_audience

_ASKING = {str(NoticeKind.CONSULTATION_REQUEST), str(NoticeKind.REMINDER)}


class MessageRow(BaseModel):
    at_hours: float
    notice_kind: str
    repeat: int  # 0: the first sending of the notice
    delivered: list[str]
    undelivered: list[str]


class AnswerRow(BaseModel):
    audience: str
    asked_at_hours: float
    answered_at_hours: float | None = None
    answer: str = ""  # commit | decline | acknowledged; empty while unanswered
    by: str = ""

    @property
    def took_hours(self) -> float | None:
        if self.answered_at_hours is None:
            return None
        return round(self.answered_at_hours - self.asked_at_hours, 4)


def messages(decisions: Sequence[DecisionRecord]) -> list[MessageRow]:
    return [
        MessageRow(
            at_hours=d.at_hours,
            notice_kind=d.payload.get("notice_kind", ""),
            repeat=int(d.payload.get("repeat", 0)),
            delivered=list(d.payload.get("delivered", ())),
            undelivered=list(d.payload.get("undelivered", ())),
        )
        for d in decisions
        if d.kind == DecisionKind.NOTIFIED
    ]


def answers(decisions: Sequence[DecisionRecord]) -> list[AnswerRow]:
    """One row per question put to an audience, in the order they were asked: a party once
    (its reminders ask again what the request asked), a level once per escalation notice."""
    rows: list[AnswerRow] = []
    open_rows: dict[str, int] = {}  # audience -> index of its unanswered row
    asked_parties: set[str] = set()  # parties the consultation has asked (once each)
    for d in decisions:
        p = d.payload
        if d.kind == DecisionKind.NOTIFIED:
            kind = p.get("notice_kind", "")
            first_page = kind == NoticeKind.ESCALATION and not p.get("repeat")
            for audience in p.get("delivered", ()):
                if audience in open_rows or audience == CELL:
                    continue
                if (kind in _ASKING and audience not in asked_parties) or (
                    first_page and audience.startswith("level:")
                ):
                    asked_parties.add(audience)
                    open_rows[audience] = len(rows)
                    rows.append(AnswerRow(audience=audience, asked_at_hours=d.at_hours))
            continue
        if d.kind == DecisionKind.COMMITMENT:
            audience, answer = party_audience(p.get("party", "")), p.get("answer", "")
        elif d.kind == DecisionKind.ACKNOWLEDGED:
            audience, answer = level_audience(int(p.get("level", 0))), "acknowledged"
        else:
            continue
        index = open_rows.pop(audience, None)
        if index is not None:
            rows[index] = rows[index].model_copy(
                update={"answered_at_hours": d.at_hours, "answer": answer, "by": d.actor}
            )
    return rows
