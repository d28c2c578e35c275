"""Signed links: a token round-trips its claim, and anything altered or signed with another
secret reads as None; the generated secret is private and reused."""

from __future__ import annotations

import os
import stat

import pytest

from foundation.links import LinkClaim, load_or_create_secret, read_link, sign_link
from foundation.settings import Settings

SECRET = b"k" * 32


def token(**overrides: str) -> str:
    claim = {
        "incident_id": "zaporizhzhia-1a2b3c4d",
        "audience": "party:uk",
        "notice_id": "incident-zaporizhzhia-1a2b3c4d/n3",
        "purpose": "answer",
    } | overrides
    return sign_link(SECRET, **claim)  # type: ignore[arg-type]


def test_a_token_round_trips_its_claim():
    assert read_link(SECRET, token()) == LinkClaim(
        "zaporizhzhia-1a2b3c4d", "party:uk", "incident-zaporizhzhia-1a2b3c4d/n3", "answer"
    )
    assert read_link(SECRET, token(purpose="ack")).purpose == "ack"
    # URL-safe as it stands: it goes into {public_url}/r/<token> unescaped.
    assert set(token()) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_an_altered_token_reads_as_nothing():
    good = token()
    payload, mac = good.split(".")
    forged_payload = sign_link(
        SECRET, incident_id="other", audience="party:uk", notice_id="n", purpose="answer"
    ).split(".")[0]
    for bad in (
        f"{forged_payload}.{mac}",  # another claim under this claim's MAC
        f"{payload}.{mac[:-2]}AA",
        f"{payload[:-1]}.{mac}",
        payload,
        f"{payload}.",
        f".{mac}",
        "",
        "not a token",
        f"{payload}.{mac}.extra",
        "é" * 10 + "." + mac,
        good + "A" * 3000,
    ):
        assert read_link(SECRET, bad) is None, bad


def test_another_secret_reads_as_nothing():
    assert read_link(b"another secret", token()) is None
    assert read_link(b"", token()) is None


def test_a_purpose_other_than_answer_or_ack_is_refused():
    with pytest.raises(ValueError, match="purpose"):
        token(purpose="delete")
    with pytest.raises(ValueError, match="secret"):
        sign_link(b"", incident_id="i", audience="cell", notice_id="n", purpose="ack")


def test_the_generated_secret_is_private_and_reused(tmp_path):
    path = tmp_path / "data" / "link-secret"
    first = load_or_create_secret(path)
    assert len(first) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["link-secret"]  # no draft left behind


def test_settings_use_the_configured_secret_or_the_generated_one(tmp_path):
    assert Settings(link_secret="configured", data_dir=tmp_path).link_secret_bytes() == (
        b"configured"
    )
    generated = Settings(data_dir=tmp_path).link_secret_bytes()
    assert generated == (tmp_path / "link-secret").read_text().strip().encode()
