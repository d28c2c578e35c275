"""Idempotency keys at the edge: one key, one body, one receipt.

Temporal runs an update id once per workflow run, and an incident now continues as new: a
retry that reaches the next run would be decided again. So the API binds each
``Idempotency-Key`` to its caller, its body and, once answered, its receipt. A retry with the
same body gets the first receipt; the same key with another body is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection, select, update

from db.base import utcnow
from db.models import IdempotentRequest
from db.transactions import Transactions
from db.upsert import per_dialect

_claim = per_dialect(
    lambda d: d.insert(IdempotentRequest).on_conflict_do_nothing(
        index_elements=["principal", "key"]
    )
)


def body_digest(kind: str, incident_id: str, body: Any) -> str:
    canonical = json.dumps(
        {"kind": kind, "incident_id": incident_id, "body": body},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """What the key already stands for: ``receipt`` when it was answered, ``same_body`` False
    when it was first used with another request."""

    same_body: bool
    receipt: dict[str, Any] | None


def _claim_key(
    connection: Connection, *, principal: str, key: str, digest: str, incident_id: str, kind: str
) -> Claim:
    values = {
        "principal": principal,
        "key": key,
        "body_sha256": digest,
        "incident_id": incident_id,
        "kind": kind,
        "created_at": utcnow(),
    }
    connection.execute(_claim(connection.dialect.name), values)
    row = connection.execute(
        select(IdempotentRequest.body_sha256, IdempotentRequest.receipt).where(
            IdempotentRequest.principal == principal, IdempotentRequest.key == key
        )
    ).one()
    return Claim(same_body=row.body_sha256 == digest, receipt=row.receipt)


def _answer(connection: Connection, *, principal: str, key: str, receipt: dict[str, Any]) -> None:
    connection.execute(
        update(IdempotentRequest)
        .where(
            IdempotentRequest.principal == principal,
            IdempotentRequest.key == key,
            IdempotentRequest.receipt.is_(None),
        )
        .values(receipt=receipt, answered_at=utcnow())
    )


class IdempotencyKeys:
    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    async def claim(
        self, *, principal: str, key: str, digest: str, incident_id: str, kind: str
    ) -> Claim:
        """Bind ``key`` to this request if it is new; what it is bound to either way."""
        return await self._transactions.run(
            partial(
                _claim_key,
                principal=principal,
                key=key,
                digest=digest,
                incident_id=incident_id,
                kind=kind,
            )
        )

    async def answer(self, *, principal: str, key: str, receipt: dict[str, Any]) -> None:
        """The first receipt stays the key's answer."""
        await self._transactions.run(
            partial(_answer, principal=principal, key=key, receipt=receipt)
        )
