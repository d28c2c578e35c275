"""The production log format (structlog JSON) over one incident: the API's, the activities' and
the workflow's lines carry the incident's ids, and no line carries a token."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from foundation.ids import workflow_id_for
from foundation.logging import configure_logging
from tests.api.conftest import report


def _captured(log_format: str) -> Iterator[io.StringIO]:
    """The production configuration, its one handler writing into a buffer instead of stderr."""
    configure_logging(log_format, "INFO")
    # An earlier test may have served the API: uvicorn sets its own loggers' levels (warning).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    buffer = io.StringIO()
    (handler,) = logging.getLogger().handlers
    handler.setStream(buffer)  # type: ignore[attr-defined]
    try:
        yield buffer
    finally:
        configure_logging("console", os.environ.get("TEST_LOG_LEVEL", "WARNING"))


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    yield from _captured("json")


def parsed(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


async def test_every_line_names_its_incident_and_none_carries_a_secret(
    json_logs, dev_env, run_worker, api, tokens
) -> None:
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        t0 = datetime.now(UTC)
        opened = await http.post(
            "/v1/violations",
            json=report(observed_at=(t0 - timedelta(minutes=5)).isoformat()),
            headers=tokens.auth("reporter"),
        )
        assert opened.status_code == 202, opened.text
        incident = opened.json()["incident_id"]
        evidence = await http.post(
            f"/v1/incidents/{incident}/evidence",
            json={"source": "allied-isr", "summary": "imagery"},
            headers=tokens.auth("reporter"),
        )
        assert evidence.status_code == 200, evidence.text
        stood_down = await http.post(
            f"/v1/incidents/{incident}/decisions",
            json={"action": "stand_down", "rationale": "de-escalation agreed"},
            headers=tokens.auth("operator"),
        )
        assert stood_down.status_code == 200, stood_down.text
        await dev_env.client.get_workflow_handle(workflow_id_for(incident)).result()
        kiosk = await http.get("/board/login", params={"token": tokens.secrets["observer"]})
        assert kiosk.status_code == 303
        refused = await http.get(
            "/v1/incidents", headers={"Authorization": "Bearer ct_" + "x" * 43}
        )
        assert refused.status_code == 401
    # An access log line as uvicorn writes it, query string included.
    logging.getLogger("uvicorn.access").warning(
        '%s - "%s %s HTTP/1.1" %d', "127.0.0.1:5000", "GET",
        f"/board/login?token={tokens.secrets['observer']}&next=/board", 303,
    )  # fmt: skip

    text = json_logs.getvalue()
    lines = parsed(text)
    workflow_id = workflow_id_for(incident)

    def having(**fields: str) -> list[dict]:
        return [line for line in lines if all(line.get(k) == v for k, v in fields.items())]

    received = having(event="violation.received")
    assert (
        received
        and received[0]["incident_id"] == incident
        and received[0]["workflow_id"] == workflow_id
    )

    requests = having(event="api.request", incident_id=incident)
    assert {line["route"] for line in requests} >= {
        "/v1/incidents/{incident_id}/evidence",
        "/v1/incidents/{incident_id}/decisions",
    }
    assert all(line["workflow_id"] == workflow_id for line in requests)

    ledger = having(event="ledger.recorded", incident_id=incident)
    assert len(ledger) >= 3
    run_ids = {line["run_id"] for line in ledger}
    assert len(run_ids) == 1 and all(line["workflow_id"] == workflow_id for line in ledger)
    assert all(line["activity"] == "record_decisions" for line in ledger)

    closed = [line for line in lines if line["event"].startswith(f"Incident {incident} closed")]
    assert closed, "the workflow's own line (workflow.logger)"
    assert closed[0]["workflow_id"] == workflow_id and closed[0]["incident_id"] == incident
    assert closed[0]["run_id"] in run_ids

    access = [line for line in lines if line.get("logger") == "uvicorn.access"]
    assert access and "token=[redacted]" in access[0]["event"]

    for secret in tokens.secrets.values():
        assert secret not in text
    assert "Bearer ct_" not in text and "ct_xxxxxxxx" not in text


@pytest.fixture
def console_logs() -> Iterator[io.StringIO]:
    yield from _captured("console")


HOSTILE = "kherson\x1b[2J\x1b]0;pwned\x07\u202eforged\nlevel=error fake line\x9b"


def test_the_console_log_escapes_controls_and_bidi(console_logs) -> None:
    import structlog

    structlog.get_logger("t").info("violation.received", sector=HOSTILE)
    logging.getLogger("uvicorn.access").info("GET /board?next=%s", HOSTILE)
    try:
        raise ValueError(f"bad sector {HOSTILE}")
    except ValueError:
        structlog.get_logger("t").exception("api.unexpected_error")
    text = console_logs.getvalue()
    for char in ("\x1b", "\x07", "\u202e", "\x9b"):
        assert char not in text, repr(char)
    # The renderer may quote a value (repr doubles the escapes' backslashes): look for the escapes.
    (received,) = [line for line in text.splitlines() if "violation.received" in line]
    assert "\\x1b[2J" in received and "\\u202eforged" in received
    assert "\\nlevel=error fake line" in received
    # One line per entry, whatever the values hold (a traceback keeps its own line breaks).
    entries = text.split("Traceback")[0].splitlines()
    assert len(entries) == 3 and not [e for e in entries if e.startswith("level=error")], entries
    assert "ValueError: bad sector kherson\\x1b" in text


def test_the_json_log_escapes_them_already(json_logs) -> None:
    import structlog

    structlog.get_logger("t").info("violation.received", sector=HOSTILE)
    text = json_logs.getvalue()
    for char in ("\x1b", "\x07", "\u202e", "\x9b", "\n" + "level"):
        assert char not in text, repr(char)
    (line,) = parsed(text)
    assert line["sector"] == HOSTILE


@pytest.mark.parametrize(
    "line",
    [
        '"GET /board/login?%74oken={secret}&next=/board HTTP/1.1" 303',
        '"GET /board/login?%74oken={plain}&next=/board HTTP/1.1" 303',
        '"GET /board/login?next=/board&%54%4F%4B%45%4E={secret} HTTP/1.1" 303',
        '"GET /board/login?token={secret} HTTP/1.1" 303',
        '"GET /board/login?t={encoded} HTTP/1.1" 303',
    ],
)
def test_an_encoded_kiosk_token_is_masked_in_the_access_log(json_logs, line: str) -> None:
    """The server decodes the query before it reads ``token``; the log's scrubbing does too."""
    secret = "ct_" + "Kq9" * 14 + "z"
    logging.getLogger("uvicorn.access").warning(
        line.format(
            secret=secret,
            plain="Kq9Kq9-any-value",  # the server takes whatever follows token= as the token
            encoded=secret.replace("_", "%5F").replace("c", "%63"),
        )
    )
    (logged,) = parsed(json_logs.getvalue())
    assert "=[redacted]" in logged["event"]
    assert "Kq9Kq9" not in logged["event"]
    assert logged["event"].endswith('HTTP/1.1" 303') and "/board/login?" in logged["event"]
