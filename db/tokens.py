"""API tokens: created, listed and revoked by `contingency tokens`, checked on every request.

The secret is shown once, at creation; the database keeps only its SHA-256 digest (the secret is
32 random bytes, so a plain digest is as strong as a slow hash here) and a short prefix to tell
tokens apart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.base import utcnow
from db.models import ApiToken
from db.transactions import Transactions
from plans.loader import load_plans

SECRET_PREFIX = "ct_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,119}$")
PLAIN_ROLES = ("reporter", "observer", "operator")


class TokenError(ValueError):
    """A token request that cannot be honoured (bad role or name, duplicate name)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name is the actor recorded for everything it writes."""

    name: str
    role: str

    @property
    def party(self) -> str | None:
        return self.role.removeprefix("ally:") if self.role.startswith("ally:") else None


@dataclass(frozen=True)
class NewToken:
    name: str
    role: str
    secret: str


def known_parties() -> set[str]:
    return {party for plan in load_plans().values() for party in plan.parties}


def check_role(role: str) -> str:
    if role in PLAIN_ROLES:
        return role
    if role.startswith("ally:"):
        party = role.removeprefix("ally:")
        parties = known_parties()
        if party not in parties:
            raise TokenError(
                f"role: {party!r} is not a party of any plan ({', '.join(sorted(parties))})"
            )
        return role
    raise TokenError(f"role: {role!r} is not one of {', '.join(PLAIN_ROLES)}, ally:<party>")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_token(
    sessions: async_sessionmaker[AsyncSession], name: str, role: str
) -> NewToken:
    if not NAME_PATTERN.match(name):
        raise TokenError("name: letters, digits, '.', '_', '@' or '-', at most 120 characters")
    role = check_role(role)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    try:
        async with sessions.begin() as session:
            session.add(
                ApiToken(name=name, role=role, secret_hash=digest(secret), prefix=secret[:10])
            )
    except IntegrityError:
        raise TokenError(
            f"name: a token named {name!r} already exists (names stay taken after revocation)"
        ) from None
    return NewToken(name=name, role=role, secret=secret)


async def list_tokens(
    sessions: async_sessionmaker[AsyncSession], *, include_revoked: bool = False
) -> list[ApiToken]:
    async with sessions() as session:
        query = select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)
        if not include_revoked:
            query = query.where(ApiToken.revoked_at.is_(None))
        return list(await session.scalars(query))


async def revoke_token(sessions: async_sessionmaker[AsyncSession], name: str) -> bool:
    """Revoke the named token; False when there is no such active token."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(ApiToken)
            .where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return result.rowcount == 1


async def has_tokens(sessions: async_sessionmaker[AsyncSession]) -> bool:
    async with sessions() as session:
        return await session.scalar(select(ApiToken.id).limit(1)) is not None


async def authenticate(transactions: Transactions, secret: str) -> Principal | None:
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    wanted = digest(secret)
    # Looked up on every request, never cached: a revoked token stops working at once.
    row = await transactions.run(partial(_live_token, secret_hash=wanted))
    if row is None or not hmac.compare_digest(row.secret_hash, wanted):
        return None
    return Principal(name=row.name, role=row.role)


def _live_token(connection: Connection, *, secret_hash: str) -> Row[Any] | None:
    tokens = ApiToken.__table__
    return connection.execute(
        select(tokens.c.name, tokens.c.role, tokens.c.secret_hash).where(
            tokens.c.secret_hash == secret_hash, tokens.c.revoked_at.is_(None)
        )
    ).one_or_none()
