"""The README's quick start, run as a newcomer runs it: its lines, as written, in bash, against a
fresh `contingency up`. It reaches `activated` today, and on every day after."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from tests.serving import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent


def quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- quickstart:begin -->", 1)[1].split("<!-- quickstart:end -->", 1)[0]
    match = re.search(r"```bash\n(.*?)```", block, re.DOTALL)
    assert match, "the README's quick start has no bash block"
    return match.group(1)


async def test_the_quick_start_reaches_activation(tmp_path: Path, database_url: str) -> None:
    api_port = free_port()
    data_dir = tmp_path / "data"
    env = {
        k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "CONTINGENCY_TOKEN")
    }
    env.update(
        DATABASE_URL=database_url,
        CONTINGENCY_DATA_DIR=str(data_dir),
        CONTINGENCY_API_URL=f"http://127.0.0.1:{api_port}",
        COLUMNS="200",
    )
    stack = await asyncio.create_subprocess_exec(
        str(BIN / "contingency"), "up", "--api-port", str(api_port),
        "--temporal-port", str(free_port()), "--ui-port", str(free_port()),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert stack.stdout is not None
    banner = []
    try:
        async with asyncio.timeout(90):
            while "export CONTINGENCY_API_URL=" not in (
                line := (await stack.stdout.readline()).decode()
            ):
                assert line, "contingency up exited:\n" + "".join(banner)
                banner.append(line)
        # As a newcomer runs it: from the checkout, one line after the other, stopping at an error.
        script = await asyncio.create_subprocess_exec(
            "bash", "-euo", "pipefail", "-c", quick_start(),
            env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(script.communicate(), 120)
        text = output.decode()
        assert script.returncode == 0, text
    finally:
        stack.send_signal(signal.SIGINT)
        await asyncio.wait_for(stack.communicate(), 60)
    assert "phase consultation" in text
    assert "outcome activated" in text
    assert "phase active" in text and "phase closed" in text
    assert "Joined incident" in text and "Zaporizhzhia, Kherson" in text
    assert "merged into" in text and "outcome merged" in text
    assert re.search(r"ledger intact \(\d+ rows, matches the workflow\)", text), text
    assert (
        "uk: air, naval; us: air; pl: ground" in text
        or "pl: ground; uk: air, naval; us: air" in text
    )
