"""`contingency up` as a user runs it: a subprocess on free ports and a temporary data directory,
used through the API, stopped with Ctrl-C (SIGINT), leaving nothing running."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import uuid
from pathlib import Path

import httpx

from tests.serving import free_port

CONTINGENCY = str(Path(sys.executable).parent / "contingency")


def children_of(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_up_runs_the_stack_and_ctrl_c_stops_all_of_it(tmp_path, database_url):
    api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "DATABASE_URL")}
    env.update(DATABASE_URL=database_url, CONTINGENCY_LOG_FORMAT="json", COLUMNS="200")
    process = await asyncio.create_subprocess_exec(
        CONTINGENCY, "up", "--api-port", str(api_port), "--temporal-port", str(temporal_port),
        "--ui-port", str(ui_port), "--data-dir", str(tmp_path / "data"),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    lines: list[str] = []
    up = asyncio.Event()

    async def drain() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            lines.append(raw.decode(errors="replace"))
            if "export CONTINGENCY_API_URL=" in lines[-1]:  # the last line of the banner
                up.set()

    reader = asyncio.create_task(drain())
    try:
        await asyncio.wait_for(up.wait(), 90)
        output = "".join(lines)
        assert f"http://127.0.0.1:{api_port}/docs" in output
        assert f"http://127.0.0.1:{ui_port}" in output
        children = children_of(process.pid)
        assert len(children) == 3  # temporal, worker, api

        token = re.search(r"CONTINGENCY_TOKEN=(ct_\S+)", output)
        headers = {"Authorization": f"Bearer {token.group(1)}"} if token else {}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}", headers=headers
        ) as http:
            assert (await http.get("/readyz")).json()["status"] == "ready"
            if not token:  # the shared PostgreSQL database already had tokens: make our own
                from db.session import create_engine, session_factory
                from db.tokens import create_token

                engine = create_engine(database_url)
                secret = (
                    await create_token(
                        session_factory(engine), f"up-{uuid.uuid4().hex[:6]}", "operator"
                    )
                ).secret
                await engine.dispose()
                http.headers["Authorization"] = f"Bearer {secret}"
            reported = await http.post(
                "/v1/violations",
                json={"report_id": f"up-{uuid.uuid4().hex}", "kind": "ceasefire_breach", "sector": "Luhansk",
                      "reported_by": "osce-smm"},
            )  # fmt: skip
            assert reported.status_code == 202, reported.text
            shown = await http.get(reported.json()["links"]["incident"])
            assert shown.status_code == 200 and shown.json()["phase"] == "verification"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 60)
        await asyncio.wait_for(reader, 30)
    assert code == 0, "".join(lines)
    assert "stopped" in "".join(lines)
    assert not [pid for pid in children if alive(pid)]
