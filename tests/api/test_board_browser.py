"""The board in a real headless browser (Debian's chromium): it renders, shows the live incident,
and its countdowns run in the page's own script.

Chromium's virtual time makes the countdown check deterministic: with ``--virtual-time-budget``
the page's clock and timers advance by the budget before the DOM is dumped, so a render with a
20 s budget shows each countdown about 20 s lower than one with a 1 s budget.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

from api.app import create_app
from tests.scene import DOCS, Scene
from tests.serving import serve_asgi
from workflows.servers import binary

BROWSER_TIMEOUT = 25.0
COUNTDOWN = re.compile(
    r'class="countdown window[^"]*" data-due="[^"]+">(?:overdue )?(?:(\d+)d )?(\d\d):(\d\d):(\d\d)<'
)


@asynccontextmanager
async def served(scene: Scene) -> AsyncIterator[str]:
    async with serve_asgi(
        create_app(scene.settings, client=scene.client, sessions=scene.sessions)
    ) as url:
        yield url


async def chromium(url: str, *args: str) -> str:
    """One headless chromium run in a throw-away profile; returns stdout (the DOM for --dump-dom)."""
    profile = tempfile.mkdtemp(prefix="board-chromium-")
    try:
        process = await asyncio.create_subprocess_exec(
            binary("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args, url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(process.communicate(), BROWSER_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        assert process.returncode == 0, err.decode()[-2000:]
        return out.decode()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def kiosk(base: str, scene: Scene, page: str = "/board") -> str:
    return f"{base}/board/login?{urlencode({'token': scene.observer_token, 'next': page})}"


def seconds_left(dom: str) -> int:
    match = COUNTDOWN.search(dom)
    assert match, dom[:3000]
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


async def test_board_renders_a_live_incident_and_the_countdown_runs(scene: Scene) -> None:
    async with served(scene) as base:
        first = await chromium(kiosk(base, scene), "--virtual-time-budget=1000", "--dump-dom")
        later = await chromium(kiosk(base, scene), "--virtual-time-budget=20000", "--dump-dom")
    # Signed in through the kiosk URL, redirected to the board, the script ran.
    assert "Situation board — open incidents" in first and "signed in as wall-" in first
    assert f'data-incident="{scene.incident_id("consultation")}"' in first
    assert "waiting on <b>allies</b>" in first
    assert scene.observer_token not in first
    # The server renders absolute times; only the script turns them into hh:mm:ss countdowns.
    before, after = seconds_left(first), seconds_left(later)
    assert 15 <= before - after <= 60, (before, after)
    # T0 was 30 h ago: the window closes in about 42 h.
    assert 41 * 3600 < before < 42 * 3600 + 60


async def test_screenshot_of_the_board(scene: Scene, tmp_path: Path) -> None:
    """A picture of the wall; BOARD_SCREENSHOT=docs/board.png refreshes the README's copy."""
    shot = tmp_path / "board.png"
    async with served(scene) as base:
        await chromium(
            kiosk(base, scene), "--virtual-time-budget=2000", "--window-size=1600,720",
            "--hide-scrollbars", f"--screenshot={shot}",
        )  # fmt: skip
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1600, 720)
    if target := os.environ.get("BOARD_SCREENSHOT"):
        path = Path(target) if Path(target).is_absolute() else DOCS.parent / target
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, path)
