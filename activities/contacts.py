"""The contacts file: which channels reach each audience (docs/communications.md).

The engine's own YAML, not Apprise's configuration files: Apprise's tags drop names such as
``party:uk``. Each audience maps to a list of channel URLs, each a string or
``{url: ..., cleared: false}`` for a channel not cleared for incident content. ``${NAME}`` in a
URL is a secret, taken from the environment or the secrets file, so the file itself can be
shared and versioned. Every URL is checked with Apprise at load; from then on a URL is only
ever logged or stored in Apprise's privacy form.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlsplit, urlunsplit

import apprise
import structlog
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from foundation.settings import Settings
from foundation.yamlfile import DocumentError, load
from plans.model import Plan
from workflows.notices import CELL, level_audience, party_audience, step_audience

log = structlog.get_logger(__name__)

# party:<name> | level:<n> | cell | step:<step>: the names workflows/notices.py addresses.
AUDIENCE = re.compile(r"^(party:[a-z][a-z0-9_-]*|level:[1-9][0-9]?|cell|step:[a-z][a-z0-9_-]*)$")
SECRET = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The engine's own signed webhook (activities/sinks.py), not Apprise's json://.
WEBHOOK_PREFIX = "webhook+"


class ContactsError(ValueError):
    """A contacts file that cannot be used: the worker does not start on it."""


@dataclass(frozen=True)
class Channel:
    """One way to reach an audience. ``url`` is the working URL with its secrets filled in:
    it is never logged, stored or shown, and kept out of ``repr``."""

    url: str = field(repr=False)
    privacy: str  # what logs, rows and results show
    digest: str  # sha256 of the URL as written (secrets unfilled)[:12]: the key's last part
    cleared: bool = True

    @property
    def is_webhook(self) -> bool:
        return self.url.startswith(WEBHOOK_PREFIX)


@dataclass(frozen=True)
class Contacts:
    audiences: Mapping[str, tuple[Channel, ...]] = field(default_factory=dict)
    source: str | None = None  # the file read, if any

    def channels(self, audience: str) -> tuple[Channel, ...]:
        return self.audiences.get(audience, ())

    def unconfigured(self, audiences: Iterable[str]) -> list[str]:
        return [audience for audience in audiences if not self.channels(audience)]


NO_CONTACTS = Contacts()


# The document as written.

ChannelUrl = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class _ChannelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    url: ChannelUrl
    cleared: bool = True


class ContactsDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    audiences: dict[
        Annotated[str, StringConstraints(pattern=AUDIENCE.pattern)],
        # An audience written with nothing under it has no channel yet (and is warned of).
        list[ChannelUrl | _ChannelEntry] | None,
    ] = Field(default_factory=dict)


# Secrets.


def read_secrets_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (blank lines and ``#`` comments skipped). A file others can read is
    refused: the secrets of every channel are in it."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContactsError(f"secrets file {path}: cannot read: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ContactsError(
            f"secrets file {path}: readable by others (mode {stat.S_IMODE(mode):o}); "
            f"chmod 600 {path}"
        )
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            # The line itself may hold a secret: name the line, not its content.
            raise ContactsError(f"secrets file {path}: line {number} is not NAME=value")
        values[name] = value.strip()
    return values


def _fill(url: str, audience: str, secrets: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in secrets:
            raise ContactsError(
                f"audience {audience}: a channel names the secret ${{{name}}}, which is in "
                "neither the environment nor the secrets file"
            )
        return secrets[name]

    return SECRET.sub(value, url)


# Channels.


def url_digest(url: str) -> str:
    """The last part of a message's idempotency key: which channel of the audience it went to."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def webhook_privacy(url: str) -> str:
    """The webhook's address without what may carry a credential (user, password, query)."""
    parts = urlsplit(url.removeprefix(WEBHOOK_PREFIX))
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return WEBHOOK_PREFIX + urlunsplit((parts.scheme, host, parts.path, "", ""))


def _webhook_target(url: str) -> str | None:
    target = url.removeprefix(WEBHOOK_PREFIX)
    parts = urlsplit(target)
    return target if parts.scheme in ("http", "https") and parts.hostname else None


def privacy_form(url: str) -> str | None:
    """What may be shown of a channel URL; None if neither Apprise nor the webhook takes it."""
    if url.startswith(WEBHOOK_PREFIX):
        return webhook_privacy(url) if _webhook_target(url) else None
    # instantiate, not Apprise().add(url): add() splits a string on commas and spaces into
    # several URLs, and one entry of the file must be exactly one channel.
    plugin = apprise.Apprise.instantiate(url)
    return None if plugin is None else plugin.url(privacy=True)


def _written_privacy(written: str) -> str:
    """A URL that failed to load, shown as its scheme and host only: Apprise could not say
    which of its parts are secret, and a token may sit in its user, path or query."""
    parts = urlsplit(written)
    if not parts.scheme:
        return "(not a URL)"
    return f"{parts.scheme}://{parts.hostname or ''}/…"


def _mask(privacy: str, written: str, secrets: Mapping[str, str]) -> str:
    """Apprise masks the parts of a URL it knows to be secret (passwords, tokens); a secret
    filled in elsewhere (a path, a recipient) is put back as its ``${NAME}`` placeholder."""
    for name in dict.fromkeys(SECRET.findall(written)):
        value = secrets[name]
        for form in dict.fromkeys((value, quote(value, safe=""), quote(value))):
            if form:
                privacy = privacy.replace(form, f"${{{name}}}")
    return privacy


def _channel(
    written: str, cleared: bool, audience: str, number: int, secrets: Mapping[str, str]
) -> Channel:
    url = _fill(written, audience, secrets)
    privacy = privacy_form(url)
    if privacy is not None:
        privacy = _mask(privacy, written, secrets)
    if privacy is None:
        raise ContactsError(
            f"audience {audience}: channel {number} ({_written_privacy(written)}) is not a URL "
            "Apprise or the engine's webhook accepts (see docs/communications.md)"
        )
    # The URL as written, secrets unfilled: rotating a secret must not make a new key and so
    # a second distinct message; and no secret is hashed into a stored key.
    return Channel(url=url, privacy=privacy, digest=url_digest(written), cleared=cleared)


def parse_contacts(
    document: ContactsDocument,
    source: str,
    *,
    secrets: Mapping[str, str],
    webhook_secret: bool,
) -> Contacts:
    audiences: dict[str, tuple[Channel, ...]] = {}
    for audience, entries in document.audiences.items():
        channels: list[Channel] = []
        for number, entry in enumerate(entries or (), start=1):
            written, cleared = (
                (entry, True) if isinstance(entry, str) else (entry.url, entry.cleared)
            )
            channel = _channel(written, cleared, audience, number, secrets)
            if channel.is_webhook and not webhook_secret:
                raise ContactsError(
                    f"audience {audience}: {channel.privacy} is the signed webhook, which needs "
                    "CONTINGENCY_WEBHOOK_SECRET"
                )
            if any(c.digest == channel.digest for c in channels):
                continue  # the same URL twice would only deliver the same message twice
            channels.append(channel)
        audiences[audience] = tuple(channels)
    return Contacts(audiences=audiences, source=source)


def load_contacts(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    secrets_file: Path | None = None,
    webhook_secret: bool = False,
) -> Contacts:
    """The contacts in ``path``; secrets from ``environ`` first, then from ``secrets_file``."""
    try:
        document = load(path, ContactsDocument)
    except DocumentError as exc:
        raise ContactsError(str(exc)) from exc
    secrets = dict(read_secrets_file(secrets_file)) if secrets_file is not None else {}
    secrets.update(os.environ if environ is None else environ)
    try:
        return parse_contacts(document, str(path), secrets=secrets, webhook_secret=webhook_secret)
    except ContactsError as exc:
        raise ContactsError(f"{path}: {exc}") from None


def contacts_from_settings(settings: Settings) -> Contacts:
    """The configured contacts. No file at the default place means no channels (every audience
    is then reported unconfigured); a file named in CONTINGENCY_CONTACTS must exist."""
    path, named = settings.contacts_path
    if not path.exists():
        if named:
            raise ContactsError(f"CONTINGENCY_CONTACTS names {path}, which does not exist")
        return NO_CONTACTS
    contacts = load_contacts(
        path,
        secrets_file=settings.secrets_file,
        webhook_secret=settings.webhook_secret is not None,
    )
    for audience, channels in contacts.audiences.items():
        for channel in channels:
            log.info(
                "contacts.channel",
                audience=audience,
                channel=channel.privacy,
                cleared=channel.cleared,
            )
    return contacts


# Who the plans can address.


def plan_audiences(plans: Iterable[Plan]) -> list[str]:
    """Every audience the plans can address, in a stable order: the cell, each plan's parties,
    the authority of each escalation level, and each diplomatic step's addressee."""
    seen: dict[str, None] = {CELL: None}
    for plan in plans:
        seen.update(dict.fromkeys(party_audience(party) for party in plan.parties))
        seen.update(dict.fromkeys(level_audience(e.level) for e in plan.escalation_levels))
        seen.update(dict.fromkeys(step_audience(step.id) for step in plan.steps))
    return list(seen)


def unconfigured_audiences(contacts: Contacts, plans: Iterable[Plan]) -> list[str]:
    """The audiences the plans can address that no channel reaches (for the worker's start-up
    warnings and the board)."""
    return contacts.unconfigured(plan_audiences(plans))


def warn_unconfigured(contacts: Contacts, plans: Iterable[Plan]) -> list[str]:
    """One warning per audience nobody would hear; the list, for whoever shows it."""
    missing = unconfigured_audiences(contacts, plans)
    for audience in missing:
        extra = {}
        if audience.startswith("step:"):
            # Not silent either way, but not lost: a step with no channel goes to the sink.
            extra["fallback"] = "the notification sink (CONTINGENCY_NOTIFICATION_SINK)"
        log.warning(
            "contacts.unconfigured",
            audience=audience,
            contacts=contacts.source or "(no contacts file)",
            **extra,
        )
    return missing
