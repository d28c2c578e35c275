"""The worker process: configured by the environment, stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.workflows.test_worker_crash import spawn_worker


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_worker_shuts_down_cleanly(dev_env, sqlite_url, task_queue, tmp_path, sig):
    log = tmp_path / "worker.log"
    worker = spawn_worker(
        dev_env.client.service_client.config.target_host, sqlite_url, task_queue, log
    )
    try:
        for _ in range(600):
            if "worker.started" in log.read_text():
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"worker did not start: {log.read_text()[-2000:]}")
        assert f'"task_queue": "{task_queue}"' in log.read_text()
        worker.send_signal(sig)
        code = await asyncio.to_thread(worker.wait, 30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code == 0, log.read_text()[-2000:]
    assert "worker.stopped" in log.read_text()
