"""An open-loop load: requests sent at a fixed rate whatever the answers, each on a new connection.

wrk and the other closed-loop loaders send a client's next request only after its last answer,
so a slow server slows its own load and is never asked for more than it can give. Here request
``n`` is due at ``start + n / rate``: when the server falls behind, connections pile up in its
listen queue and the latency (counted from the moment a request was due, not sent) shows it.

One process, one ``selectors`` loop, non-blocking sockets, every request's bytes built before the
clock starts: on this machine it sends about 5,000 requests/s on one core while the server has
the other. ``sent_rate`` says what it really offered; a round is only what it claims if that is
the rate asked for. Only the given host is contacted.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class OpenLoopResult:
    asked_rate: float
    sent: int = 0
    sent_seconds: float = 0.0  # from the first request due to the last one sent
    late_sends: int = 0  # sent more than 10 ms after their due time (the generator fell behind)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # refused, reset, timed out, ...
    latencies: list[float] = field(default_factory=list)  # seconds from due to the whole answer
    answers: list[bytes] = field(default_factory=list)  # each answer's head, when kept
    seconds: float = 0.0  # from the first request due to the last answer

    @property
    def sent_rate(self) -> float:
        return self.sent / self.sent_seconds if self.sent_seconds else 0.0

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    def percentile_ms(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


@dataclass
class _Call:
    sock: socket.socket
    due: float
    request: bytes
    received: bytearray = field(default_factory=bytearray)


def run_open_loop(
    host: str,
    port: int,
    requests: list[bytes],
    rate: float,
    timeout: float = 30.0,
    keep_heads: bool = False,
) -> OpenLoopResult:
    """Send ``requests`` (whole HTTP/1.1 requests asking ``Connection: close``) at ``rate`` per
    second, each on its own connection, and read every answer to its end (the server closes).
    A call not answered within ``timeout`` seconds of its due time counts as ``timeout``."""
    result = OpenLoopResult(asked_rate=rate)
    selector = selectors.DefaultSelector()
    open_calls: dict[int, _Call] = {}
    start = time.perf_counter() + 0.05
    next_index = 0
    total = len(requests)

    def finish(call: _Call, error: str | None, now: float) -> None:
        selector.unregister(call.sock)
        del open_calls[call.sock.fileno()]
        call.sock.close()
        if error:
            result.errors[error] += 1
            return
        head = bytes(call.received[:1024])
        parts = head.split(b" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if status == 0:
            result.errors["bad answer"] += 1
            return
        result.statuses[status] += 1
        result.latencies.append(now - call.due)
        if keep_heads:
            result.answers.append(head.split(b"\r\n\r\n", 1)[0])

    last_sweep = start
    while next_index < total or open_calls:
        now = time.perf_counter()
        while next_index < total and start + next_index / rate <= now:
            due = start + next_index / rate
            if now - due > 0.010:
                result.late_sends += 1
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex((host, port))
            call = _Call(sock, due, requests[next_index])
            next_index += 1
            result.sent = next_index
            result.sent_seconds = max(now - start, 1e-9)
            if code not in (0, errno.EINPROGRESS):
                sock.close()
                result.errors[errno.errorcode.get(code, str(code))] += 1
                continue
            open_calls[sock.fileno()] = call
            selector.register(sock, selectors.EVENT_WRITE, call)
        wait = (start + next_index / rate - now) if next_index < total else 0.05
        for key, mask in selector.select(max(0.0, min(wait, 0.05))):
            call = key.data
            now = time.perf_counter()
            if mask & selectors.EVENT_WRITE:
                code = call.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    finish(call, errno.errorcode.get(code, str(code)), now)
                    continue
                try:
                    call.sock.sendall(call.request)
                except OSError as error:
                    finish(call, type(error).__name__, now)
                    continue
                selector.modify(call.sock, selectors.EVENT_READ, call)
                continue
            try:
                chunk = call.sock.recv(65536)
            except OSError as error:
                finish(call, type(error).__name__, now)
                continue
            if chunk:
                call.received += chunk
            else:
                finish(call, None, now)
        now = time.perf_counter()
        if now - last_sweep > 0.5:
            last_sweep = now
            for call in [c for c in open_calls.values() if now - c.due > timeout]:
                finish(call, "timeout", now)
    result.seconds = time.perf_counter() - start
    selector.close()
    return result
