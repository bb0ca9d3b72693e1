"""`tracker quickstart` and `tracker serve`: the real server, as the README starts it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.communicate()[1]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s")


@pytest.fixture
def fresh_env(tmp_path: Path) -> dict[str, str]:
    """A brand-new SQLite instance folder, as on a fresh clone."""
    env = {**os.environ, "TRACKER_INSTANCE_PATH": str(tmp_path / "instance")}
    for name in ("TRACKER_DATABASE_URL", "TRACKER_SECRET_KEY", "TRACKER_TEST_DATABASE_URL"):
        env.pop(name, None)
    return env


def _tracker() -> str:
    return str(Path(sys.executable).with_name("tracker"))


def _stop(process: subprocess.Popen[Any]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return str(err)


def test_quickstart_serves_on_sqlite_with_an_admin_login(fresh_env: dict[str, str]) -> None:
    port = free_port()
    process = subprocess.Popen(
        [_tracker(), "quickstart", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=fresh_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        login_page = urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5)
        assert login_page.status == 200
        credentials = Path(fresh_env["TRACKER_INSTANCE_PATH"]) / "initial-admin.txt"
        text = credentials.read_text()
        assert "admin@example.com" in text
        assert re.search(r"password: \S{16,}", text)
    finally:
        err = _stop(process)
    assert process.returncode == 0, err
    assert f"tracker at http://127.0.0.1:{port}/" in err
    assert "log in as admin@example.com / " in err


def test_serve_shuts_down_gracefully_on_sigterm(fresh_env: dict[str, str]) -> None:
    subprocess.run([_tracker(), "db", "upgrade"], env=fresh_env, check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen(
        [_tracker(), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=fresh_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
    finally:
        err = _stop(process)
    assert process.returncode == 0, err
    assert "Shutting down" in err or "Handling signal: term" in err
