"""The contacts file: audiences to channels, secrets filled in from the environment or the
secrets file, every URL checked by Apprise at load, and only privacy forms ever shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from activities.contacts import (
    ContactsError,
    contacts_from_settings,
    load_contacts,
    plan_audiences,
    unconfigured_audiences,
    warn_unconfigured,
)
from foundation.settings import Settings
from plans.loader import get_plan, load_plans

PASSWORD = "hunter2-very-secret"
TOKEN = "tok3n-in-a-path"


def write(tmp_path: Path, text: str, name: str = "contacts.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def secrets_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "secrets"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


CONTACTS = """
audiences:
  party:uk:
    - mailto://cell:${SMTP_PASSWORD}@127.0.0.1:2525?from=cell@example.org&to=uk@example.org&secure=no
    - {url: "json://127.0.0.1:9000/uk", cleared: false}
  level:2: ["json://127.0.0.1:9000/ministers/${HOOK_TOKEN}"]
  cell: ["json://127.0.0.1:9000/cell"]
  step:demarche: ["webhook+https://mfa.example.org/hook?key=${HOOK_TOKEN}"]
"""


def test_audiences_map_to_channels_with_secrets_filled_in(tmp_path):
    contacts = load_contacts(
        write(tmp_path, CONTACTS),
        environ={"SMTP_PASSWORD": PASSWORD},
        secrets_file=secrets_file(tmp_path, f"# for the hooks\nHOOK_TOKEN={TOKEN}\n"),
        webhook_secret=True,
    )
    assert set(contacts.audiences) == {"party:uk", "level:2", "cell", "step:demarche"}
    mail, uncleared = contacts.channels("party:uk")
    assert PASSWORD in mail.url and mail.cleared and not uncleared.cleared
    assert contacts.channels("level:2")[0].url.endswith(f"/ministers/{TOKEN}")
    hook = contacts.channels("step:demarche")[0]
    assert hook.is_webhook and hook.privacy == "webhook+https://mfa.example.org/hook"
    assert contacts.channels("party:us") == ()
    # No secret in what is shown, repr included: Apprise masks the password, the engine
    # puts back the placeholder of a secret Apprise does not know to hide (in a path).
    for audience, channels in contacts.audiences.items():
        for channel in channels:
            shown = f"{channel.privacy} {channel!r}"
            assert PASSWORD not in shown and TOKEN not in shown, (audience, shown)
    assert "${HOOK_TOKEN}" in contacts.channels("level:2")[0].privacy
    assert mail.privacy.startswith("mailto://cell:")
    # The key's part is the URL as written: a rotated secret is the same channel.
    rotated = load_contacts(
        write(tmp_path, CONTACTS),
        environ={"SMTP_PASSWORD": "rotated", "HOOK_TOKEN": "rotated"},
        webhook_secret=True,
    )
    assert rotated.channels("party:uk")[0].digest == mail.digest


def test_the_environment_comes_before_the_secrets_file(tmp_path):
    contacts = load_contacts(
        write(tmp_path, 'audiences:\n  cell: ["json://127.0.0.1:9000/${HOOK_TOKEN}"]\n'),
        environ={"HOOK_TOKEN": "from-env"},
        secrets_file=secrets_file(tmp_path, "HOOK_TOKEN=from-file\n"),
    )
    assert contacts.channels("cell")[0].url.endswith("/from-env")


def test_an_unknown_secret_names_the_audience_and_never_a_secret(tmp_path):
    with pytest.raises(ContactsError) as caught:
        load_contacts(write(tmp_path, CONTACTS), environ={"HOOK_TOKEN": TOKEN})
    message = str(caught.value)
    assert "party:uk" in message and "${SMTP_PASSWORD}" in message
    assert TOKEN not in message


def test_a_url_apprise_refuses_names_the_audience_and_not_its_secrets(tmp_path):
    text = f'audiences:\n  level:3: ["json://ok.example.org/x", "nosuch://user:{PASSWORD}@host/{TOKEN}"]\n'
    with pytest.raises(ContactsError) as caught:
        load_contacts(write(tmp_path, text), environ={})
    message = str(caught.value)
    assert "level:3" in message and "channel 2" in message and "nosuch://host/" in message
    assert PASSWORD not in message and TOKEN not in message


def test_the_document_is_checked(tmp_path):
    for text, expected in (
        ('audiences:\n  party:UK: ["json://x/y"]\n', "audiences"),  # not an audience name
        ('audiences:\n  parties: ["json://x/y"]\n', "audiences"),
        ('audiences:\n  cell: [{url: "json://x/y", clear: false}]\n', "clear"),
        ("channels: {}\n", "channels"),
        ("audiences: [\n", "not valid YAML"),
    ):
        with pytest.raises(ContactsError, match=expected):
            load_contacts(write(tmp_path, text), environ={})


def test_the_signed_webhook_needs_its_secret(tmp_path):
    with pytest.raises(ContactsError, match="CONTINGENCY_WEBHOOK_SECRET"):
        load_contacts(
            write(tmp_path, 'audiences:\n  step:demarche: ["webhook+https://mfa.example.org/h"]\n'),
            environ={},
            webhook_secret=False,
        )


def test_a_secrets_file_others_can_read_is_refused(tmp_path):
    with pytest.raises(ContactsError, match="chmod 600"):
        load_contacts(
            write(tmp_path, CONTACTS),
            environ={},
            secrets_file=secrets_file(tmp_path, "SMTP_PASSWORD=x\n", mode=0o644),
        )
    with pytest.raises(ContactsError, match="line 2") as caught:
        load_contacts(
            write(tmp_path, CONTACTS),
            environ={},
            secrets_file=secrets_file(tmp_path, f"A=1\n{PASSWORD}\n"),
        )
    assert PASSWORD not in str(caught.value)


def test_no_file_at_the_default_place_is_no_channels_a_named_one_must_exist(tmp_path):
    contacts = contacts_from_settings(Settings(data_dir=tmp_path))
    assert contacts.audiences == {} and contacts.source is None
    with pytest.raises(ContactsError, match="does not exist"):
        contacts_from_settings(Settings(data_dir=tmp_path, contacts_file=tmp_path / "typo.yaml"))


def test_the_file_is_named_by_the_environment(tmp_path, monkeypatch, caplog):
    path = write(tmp_path, CONTACTS, name="elsewhere.yaml")
    monkeypatch.setenv("CONTINGENCY_CONTACTS", str(path))
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    caplog.set_level(logging.INFO, logger="activities.contacts")
    contacts = contacts_from_settings(Settings(data_dir=tmp_path, webhook_secret="s"))
    assert contacts.source == str(path) and len(contacts.channels("party:uk")) == 2
    # Each channel logged at load, in its privacy form only.
    assert "contacts.channel" in caplog.text and "mfa.example.org" in caplog.text
    assert PASSWORD not in caplog.text and TOKEN not in caplog.text


def test_the_audiences_the_plans_can_address_without_a_channel(tmp_path, caplog):
    plan = get_plan()
    audiences = plan_audiences([plan])
    assert audiences[0] == "cell"
    assert {f"party:{p}" for p in plan.parties} <= set(audiences)
    assert {f"level:{e.level}" for e in plan.escalation_levels} <= set(audiences)
    assert {f"step:{s.id}" for s in plan.steps} <= set(audiences)
    assert len(audiences) == len(set(audiences))

    contacts = load_contacts(
        write(tmp_path, CONTACTS),
        environ={"SMTP_PASSWORD": "x", "HOOK_TOKEN": "y"},
        webhook_secret=True,
    )
    missing = unconfigured_audiences(contacts, load_plans().values())
    assert "party:uk" not in missing and "cell" not in missing and "level:2" not in missing
    assert "party:us" in missing and "level:3" in missing and "step:unsc_session" in missing
    caplog.set_level(logging.WARNING, logger="activities.contacts")
    assert warn_unconfigured(contacts, load_plans().values()) == missing
    warnings = [r for r in caplog.records if "contacts.unconfigured" in str(r.msg)]
    assert len(warnings) == len(missing)  # one warning per audience nobody would hear
