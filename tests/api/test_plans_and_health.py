"""Plans, the dry-run timeline, and the health checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


async def test_plans_are_listed_with_their_vocabulary(dev_env, api, tokens):
    async with api(dev_env.client) as http:
        plans = (await http.get("/v1/plans", headers=tokens.auth("observer"))).json()["plans"]
        one = await http.get("/v1/plans/allied-72h", headers=tokens.auth("observer"))
    plan = next(p for p in plans if p["id"] == "allied-72h")
    assert one.json() == plan
    assert {k["kind"] for k in plan["kinds"]} == {
        "ceasefire_breach",
        "limited_incursion",
        "large_scale_offensive",
    }
    assert "uk" in plan["parties"] and plan["required_assets"] == ["air"]


async def test_timeline_is_a_dry_run_of_absolute_deadlines(dev_env, api, tokens):
    async with api(dev_env.client) as http:
        response = await http.get(
            "/v1/plans/allied-72h/timeline",
            params={"observed_at": T0.isoformat(), "kind": "large_scale_offensive"},
            headers=tokens.auth("observer"),
        )
        breach = await http.get(
            "/v1/plans/allied-72h/timeline",
            params={"observed_at": T0.isoformat(), "kind": "ceasefire_breach"},
            headers=tokens.auth("observer"),
        )
        listed = (await http.get("/v1/incidents", headers=tokens.auth("observer"))).json()
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    deadlines = {
        i["name"]: datetime.fromisoformat(i["at"]) for i in items if i["event"] == "deadline"
    }
    assert deadlines == {
        "verification": T0 + timedelta(hours=12),
        "consultation": T0 + timedelta(hours=24),
        "diplomacy": T0 + timedelta(hours=48),
        "authorization": T0 + timedelta(hours=60),
    }
    # Activation is due when the window closes: one item, named as the window's close.
    assert items[-1]["event"] == "window" and items[-1]["label"] == "T0+72h"
    assert items[-1]["title"] == "Activation window closes T0+72h"
    assert [i["t_plus_hours"] for i in items] == sorted(i["t_plus_hours"] for i in items)
    assert sum(i["event"] == "escalation" for i in items) == 5
    # A ceasefire breach has no consultation, no authorization: the plan says so.
    breach_names = {i["name"] for i in breach.json()["items"] if i["event"] == "deadline"}
    assert breach_names == {"verification", "diplomacy"}
    # Nothing was started by the dry run.
    assert all(i["report_id"] != "dry-run" for i in listed["incidents"])


async def test_health_and_readiness(dev_env, api, tokens):
    async with api(dev_env.client) as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json() == {
        "status": "ready",
        "temporal": "ok",
        "database": "ok",
    }


async def _readiness(dev_env, settings, url: str):
    import httpx

    from api.app import create_app
    from db.session import create_engine, session_factory

    engine = create_engine(url)
    app = create_app(settings, client=dev_env.client, sessions=session_factory(engine))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as http:
        ready = await http.get("/readyz")
    await engine.dispose()
    return ready


async def test_readiness_names_a_missing_sqlite_directory(dev_env, settings, tmp_path):
    ready = await _readiness(dev_env, settings, f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not ready",
        "temporal": "ok",
        "database": f"not usable: the directory {tmp_path}/missing/dir of the SQLite database "
        "x.db does not exist",
    }


async def test_readiness_names_a_sqlite_file_that_is_not_a_database(dev_env, settings, tmp_path):
    (tmp_path / "x.db").write_text("<html>not a database</html>")
    ready = await _readiness(dev_env, settings, f"sqlite+aiosqlite:///{tmp_path}/x.db")
    assert ready.status_code == 503
    assert ready.json()["database"] == (f"not usable: {tmp_path}/x.db is not a SQLite database")


async def test_readiness_names_a_read_only_sqlite_file(dev_env, settings, sqlite_url):
    from db.preflight import sqlite_path
    from tests.filesystem import read_only

    path = sqlite_path(sqlite_url)
    assert path is not None
    with read_only(path):
        ready = await _readiness(dev_env, settings, sqlite_url)
    assert ready.status_code == 503
    assert ready.json()["database"].startswith(
        f"not usable: the SQLite database: {path} is not readable and writable by this user"
    )


async def test_readiness_fails_when_postgresql_does_not_answer(dev_env, settings):
    from tests.serving import free_port

    url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test"
    ready = await _readiness(dev_env, settings, url)
    assert ready.status_code == 503
    assert ready.json()["temporal"] == "ok"
    assert ready.json()["database"].startswith("unreachable")
