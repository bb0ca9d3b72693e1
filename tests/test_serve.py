"""`tracker quickstart` and `tracker serve`: the real server, as the README starts it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import closing
from http.cookiejar import CookieJar
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


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [_tracker(), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


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
    process = _start(fresh_env, "quickstart", "--bind", f"127.0.0.1:{port}", "--workers", "1")
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


def _readme_first_command() -> list[str]:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    found = re.search(r"```sh\n(python3 -m venv .*? quickstart[^\n]*)\n```", readme)
    assert found, "the README's first command is not where it should be"
    return found.group(1).rsplit("&& .venv/bin/tracker ", 1)[1].split()


def _log_in(base: str, email: str, password: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    form = opener.open(f"{base}/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert token, form
    body = urllib.parse.urlencode(
        {"csrf_token": token.group(1), "email": email, "password": password}
    ).encode()
    opener.open(f"{base}/login", data=body, timeout=10).read()
    return opener


@pytest.mark.skipif(
    bool(os.environ.get("TRACKER_TEST_DATABASE_URL")),
    reason="the README's command runs on SQLite alone: the SQLite run of the suite covers it",
)
def test_readme_first_command_reaches_a_populated_dashboard(fresh_env: dict[str, str]) -> None:
    """A newcomer runs the README's first command and logs in to a dashboard with figures."""
    arguments = _readme_first_command()
    assert arguments[0] == "quickstart"
    port = free_port()
    process = subprocess.Popen(
        [_tracker(), *arguments, "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=fresh_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz", process, timeout=400)  # the demo month is made first
        credentials = (Path(fresh_env["TRACKER_INSTANCE_PATH"]) / "initial-admin.txt").read_text()
        email, password = (line.split(": ", 1)[1] for line in credentials.splitlines())
        dashboard = _log_in(base, email, password).open(f"{base}/", timeout=30).read().decode()
    finally:
        err = _stop(process)
    assert process.returncode == 0, err
    assert "Recent conversions" in dashboard, dashboard[:500]
    assert "No conversions yet." not in dashboard
    week = re.search(r"Last 7 days</a></h2>\s*<dl>\s*<dt>Visits</dt><dd>([\d,]+)</dd>", dashboard)
    assert week and int(week.group(1).replace(",", "")) > 1000, dashboard[:2000]


def test_serve_shuts_down_gracefully_on_sigterm(fresh_env: dict[str, str]) -> None:
    subprocess.run([_tracker(), "db", "upgrade"], env=fresh_env, check=True, capture_output=True)
    port = free_port()
    process = _start(fresh_env, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2")
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
    finally:
        err = _stop(process)
    assert process.returncode == 0, err
    assert "Shutting down" in err or "Handling signal: term" in err


def _rows_in_the_database_file(database: Path, table: str) -> int:
    """Rows of ``table`` in the database file alone, not counting what still waits in its WAL."""
    alone = database.with_name("copy-without-wal.db")
    shutil.copyfile(database, alone)
    with closing(sqlite3.connect(alone)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_serve_checkpoints_the_wal_beside_the_requests(fresh_env: dict[str, str]) -> None:
    subprocess.run([_tracker(), "db", "upgrade"], env=fresh_env, check=True, capture_output=True)
    database = Path(fresh_env["TRACKER_INSTANCE_PATH"]) / "tracker.db"
    port = free_port()
    # No background worker: the web processes alone keep the WAL short.
    process = _start(
        fresh_env, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--no-worker"
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process)
        for n in range(30):  # unknown click IDs: each one a postback log row, nothing else
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/postback?cid=nosuch{n:09d}")
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
        deadline = time.monotonic() + 15
        while _rows_in_the_database_file(database, "postback_log") < 30:
            assert time.monotonic() < deadline, "the WAL was not checkpointed"
            time.sleep(0.5)
    finally:
        err = _stop(process)
    assert process.returncode == 0, err


def test_a_web_worker_replays_the_spool_and_keeps_its_app_out_of_garbage_collection(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After gunicorn loads the app in a worker, the objects alive then are frozen: a full
    collection no longer walks them at every few thousand visits."""
    import gc
    from types import SimpleNamespace

    from tracker import server, store

    started: list[Any] = []
    replayed: list[Any] = []
    monkeypatch.setattr(store, "start_checkpointer", started.append)
    monkeypatch.setattr(server, "_replay_spools", replayed.append)
    assert gc.get_freeze_count() == 0
    try:
        server._after_worker_init(SimpleNamespace(wsgi=app))
        assert gc.get_freeze_count() > 10_000
        assert len(started) == 1  # and the WAL checkpoints still start
        # and what a killed worker left in the spool is stored at once, not at a first visit
        deadline = time.monotonic() + 10
        while not replayed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert replayed == [app]
    finally:
        gc.unfreeze()
