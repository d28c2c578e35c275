"""Long free text, stored once by digest: what a workflow does not carry.

An evidence summary or a rationale longer than the workflow carries (``limits.TEXT_IN_WORKFLOW``)
is stored here by the API before the update is sent; the workflow and the ledger row keep its
first characters and a ``TextRef`` (digest and length), which the chain seals. Readers put the
whole text back with :func:`texts_for`; an edited text no longer matches its digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import StoredText
from db.transactions import Transactions
from db.upsert import per_dialect
from workflows.decisions import TEXT_KEY
from workflows.limits import TEXT_IN_WORKFLOW
from workflows.messages import TextRef

ELLIPSIS = "…"

_insert = per_dialect(
    lambda d: d.insert(StoredText).on_conflict_do_nothing(index_elements=["sha256"])
)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def preview(text: str) -> str:
    """The first characters, as the workflow carries them, marked as cut."""
    if len(text) <= TEXT_IN_WORKFLOW:
        return text
    return text[: TEXT_IN_WORKFLOW - len(ELLIPSIS)] + ELLIPSIS


def _store(connection: Connection, *, values: dict[str, Any]) -> None:
    connection.execute(_insert(connection.dialect.name), values)


async def carried(transactions: Transactions, text: str) -> tuple[str, TextRef | None]:
    """What the workflow carries of ``text``: itself when short, else its preview and a
    reference to the stored whole."""
    if len(text) <= TEXT_IN_WORKFLOW:
        return text, None
    ref = TextRef(sha256=digest(text), chars=len(text))
    await transactions.run(
        partial(_store, values={"sha256": ref.sha256, "body": text, "chars": ref.chars})
    )
    return preview(text), ref


def ref_in(payload: Mapping[str, Any]) -> str | None:
    text = payload.get(TEXT_KEY)
    return text.get("sha256") if isinstance(text, Mapping) else None


async def texts_for(session: AsyncSession, payloads: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The stored whole of every text the payloads refer to, by digest, as stored (an edited
    text is returned as it is; :func:`digest` tells whether it still matches)."""
    wanted = {ref for payload in payloads if (ref := ref_in(payload))}
    if not wanted:
        return {}
    rows = await session.execute(
        select(StoredText.sha256, StoredText.body).where(StoredText.sha256.in_(wanted))
    )
    return dict(rows.all())
