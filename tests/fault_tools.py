"""Tools of the fault tests: a TCP proxy that can cut the store off, a `tracker serve` started
as the README starts it, and a small HTTP client that does not follow redirects.

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import make_url

from tests.test_serve import _tracker, free_port

HOST = "127.0.0.1"
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the store; ``cut()`` drops every connection and refuses new
    ones (the store's host gone from the network), ``restore()`` lets them through again."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._stopping = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self.connections = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()

    def url_for(self, database_url: str) -> str:
        """``database_url`` with its host and port swapped for this proxy's."""
        return make_url(database_url).set(host=HOST, port=self.port).render_as_string(False)

    def cut(self) -> None:
        """Drop every open connection (each side sees a reset) and refuse new ones."""
        self._open.clear()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def restore(self) -> None:
        """Forward new connections again."""
        self._open.set()

    def close(self) -> None:
        self._stopping.set()
        self.cut()
        self._thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._open.is_set():
                self.refused += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            self.connections += 1
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while self._open.is_set():
                readable, _, _ = select.select([a, b], [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for sock in (a, b):
                _reset(sock)
            with self._lock:
                if (a, b) in self._pairs:
                    self._pairs.remove((a, b))


def _reset(sock: socket.socket) -> None:
    # SO_LINGER 0: close with a RST, as a vanished peer or a firewall's reject looks.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        sock.close()


@dataclass
class Server:
    """A `tracker serve` process on a free loopback port."""

    process: subprocess.Popen[str]
    port: int
    instance: Path
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The gunicorn web workers (children of the master, not the background worker)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(p) for p in children.read_text().split()] if children.exists() else []
        # The background worker runs `main(['worker'])`; web workers share the master's
        # command line (which has "--workers" in it).
        return [pid for pid in pids if b"main(['worker'])" not in _cmdline(pid)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@contextlib.contextmanager
def serving(
    database_url: str,
    tmp_path: Path,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    background_worker: bool = True,
) -> Iterator[Server]:
    """`tracker serve` against ``database_url``; stopped with SIGTERM (then SIGKILL) at exit."""
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_SECRET_KEY": "fault-test-secret",
        "TRACKER_INSTANCE_PATH": str(tmp_path / "instance"),
        **(extra_env or {}),
    }
    env.pop("TRACKER_TEST_DATABASE_URL", None)
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    command = [_tracker(), "serve", "--bind", f"{HOST}:{port}", "--workers", str(workers)]
    if not background_worker:
        command.append("--no-worker")
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True
        )
    server = Server(process, port, tmp_path / "instance", log_path)
    try:
        wait_until_answering(server)
        yield server
    finally:
        stop(server)


def wait_until_answering(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited early:\n{server.log()}")
        with contextlib.suppress(OSError):
            if get(server.port, "/healthz").status == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer within {timeout}s:\n{server.log()}")


def stop(server: Server, timeout: float = 40) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    def click_id(self) -> str:
        """The click ID the offer URL (``?cid={clickid}``) carries."""
        return parse_qs(urlsplit(self.location).query)["cid"][0]


def get(
    port: int,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
    timeout: float = 30,
) -> Answer:
    """One request on a new connection, redirects not followed."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"User-Agent": BROWSER_UA, **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


@dataclass
class Tally:
    """What a load run saw: the click IDs of answered redirects, and anything else."""

    click_ids: list[str] = field(default_factory=list)
    other: list[Any] = field(default_factory=list)  # (status or exception, path)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: Answer | BaseException, path: str, seconds: float) -> None:
        with self.lock:
            if isinstance(answer, Answer) and answer.status == 302:
                self.click_ids.append(answer.click_id())
                self.latencies.append(seconds)
            else:
                self.other.append((getattr(answer, "status", answer), path))


def drive(
    port: int,
    paths: Iterator[str],
    tally: Tally,
    connections: int,
    stop_event: threading.Event | None = None,
    timeout: float = 30,
) -> None:
    """Send every path of ``paths`` (shared by ``connections`` threads) and tally the answers."""
    lock = threading.Lock()

    def next_path() -> str | None:
        with lock:
            if stop_event is not None and stop_event.is_set():
                return None
            return next(paths, None)

    def client() -> None:
        while (path := next_path()) is not None:
            started = time.perf_counter()
            try:
                answer: Answer | BaseException = get(port, path, timeout=timeout)
            except OSError as exc:
                answer = exc
            tally.add(answer, path, time.perf_counter() - started)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
