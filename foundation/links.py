"""Signed links: a token that says, without a database, which incident, audience and notice a
message's link was sent for, and whether it answers a request or acknowledges a notice.

The token is ``<payload>.<mac>``, both URL-safe base64 without padding: the payload is compact
JSON, the MAC is HMAC-SHA256 over the payload's text under the engine's link secret. The
payload is signed, not encrypted: anyone holding the link can read which incident it is for.
Whether the link is still valid (the incident still open, the notice not yet acknowledged) is
for the page behind it to check; a token only proves the engine minted it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

Purpose = Literal["answer", "ack"]
PURPOSES: tuple[str, ...] = get_args(Purpose)

# Bytes of a generated secret: as many as the MAC's output, more than brute force reaches.
SECRET_BYTES = 32
# A token far longer than any the engine mints is refused before it is decoded.
MAX_TOKEN_CHARS = 2048


@dataclass(frozen=True)
class LinkClaim:
    incident_id: str
    audience: str
    notice_id: str
    purpose: Purpose


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> str:
    return _b64encode(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def sign_link(
    secret: bytes, *, incident_id: str, audience: str, notice_id: str, purpose: Purpose
) -> str:
    if not secret:
        raise ValueError("a link needs a non-empty secret")
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, not {purpose!r}")
    # Short keys: the token travels in a URL that mail clients wrap and scanners log.
    claims = {"i": incident_id, "a": audience, "n": notice_id, "p": purpose}
    payload = _b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(secret, payload)}"


def read_link(secret: bytes, token: str) -> LinkClaim | None:
    """The claim a token carries, or None for anything the engine did not mint under ``secret``
    (altered, truncated, signed with another secret, or not a token at all)."""
    if not secret or not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        return None
    payload, dot, mac = token.partition(".")
    if not dot or not payload or not mac or not payload.isascii() or not mac.isascii():
        return None
    # Compared before anything of the payload is parsed, and in constant time.
    if not hmac.compare_digest(_mac(secret, payload), mac):
        return None
    try:
        claims = json.loads(_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict):
        return None
    values = [claims.get(key) for key in ("i", "a", "n", "p")]
    if not all(isinstance(value, str) and value for value in values):
        return None
    incident_id, audience, notice_id, purpose = values
    if purpose not in PURPOSES:
        return None
    return LinkClaim(incident_id, audience, notice_id, purpose)  # type: ignore[arg-type]


def load_or_create_secret(path: Path) -> bytes:
    """The secret kept in ``path``, created on first use (mode 0600) and reused ever after, so
    links sent before a restart still open. Two processes starting at once agree: the secret is
    written whole to a private file first, then linked into place, which fails for the loser,
    who reads the winner's."""
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(secrets.token_urlsafe(SECRET_BYTES) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
    finally:
        draft.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    value = path.read_text(encoding="ascii").strip()
    if not value:
        raise ValueError(f"{path} is empty: delete it to have a new link secret generated")
    return value.encode("ascii")
