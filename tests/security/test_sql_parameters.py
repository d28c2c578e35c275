"""SQL only through bound parameters: hostile text is stored verbatim, and no product code builds
SQL out of strings."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import inspect, select

from db.models import Incident, LedgerDecision
from tests.api.conftest import report

ROOT = Path(__file__).resolve().parents[2]
# bench/ is left out: it creates and drops scratch databases by generated name (DDL takes no parameters).
PRODUCT = ("api", "activities", "contingency", "db", "exercises", "workflows", "plans")
INJECTION = "x'); DROP TABLE decisions; -- \" OR 1=1; SELECT pg_sleep(10); --"
# SQL text assembled at run time: an f-string, %-formatting or .format() handed to text()/execute().
STRING_SQL = re.compile(
    r"""(text|execute|exec_driver_sql)\(\s*(f["']|["'][^"']*["']\s*(%|\.format\())"""
)


def test_no_product_code_assembles_sql_from_strings():
    offenders = []
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # DDL constants, no input
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if STRING_SQL.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


async def test_hostile_text_is_stored_verbatim(dev_env, run_worker, api, tokens, sessions, engine):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        body = report(summary=INJECTION, reported_by="ua-general-staff", sector="kherson")
        accepted = await http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
        assert accepted.status_code == 202, accepted.text
        incident_id = accepted.json()["incident_id"]
        evidence = await http.post(
            f"/v1/incidents/{incident_id}/evidence",
            json={"source": "osce-smm", "summary": INJECTION},
            headers=tokens.auth("reporter"),
        )
        assert evidence.status_code == 200, evidence.text
        # Hostile text in a path or a query is refused by the schema, never reaches SQL.
        assert (
            await http.get("/v1/incidents/x';--/decisions", headers=tokens.auth("observer"))
        ).status_code in (404, 422)
        listed = await http.get(
            "/v1/incidents", params={"kind": INJECTION}, headers=tokens.auth("observer")
        )
        assert listed.status_code == 422
    async with sessions() as session:
        incident = await session.scalar(select(Incident).where(Incident.id == incident_id))
        rows = list(
            await session.scalars(
                select(LedgerDecision).where(LedgerDecision.incident_id == incident_id)
            )
        )
    assert incident is not None and incident.summary == INJECTION
    assert INJECTION in [r.rationale for r in rows]
    async with engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert {"incidents", "decisions", "notifications", "api_tokens"} <= tables
