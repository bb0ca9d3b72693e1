"""Forwarding conversions to traffic sources: the worker claims due outbox rows, calls each URL
with a timeout, and records the answer; a failure is retried with exponential back-off.

A row is claimed by one conditional UPDATE (status pending, or a claim whose lease ran out, and
due now) that also moves ``next_attempt_at`` past the lease: of two workers only one matches.
PostgreSQL first skips rows another worker has locked (``FOR UPDATE SKIP LOCKED``). A worker
that dies mid-send leaves a claim that expires, so nothing is lost: the next worker sends it.

One conversion's forwards go strictly in id order (approved before its chargeback): a row is due
only when no earlier row of its conversion is still pending, retrying or being sent, so a pass
claims at most one row per conversion and a later row waits out an earlier one's back-off. An
earlier row that failed for good (every attempt spent) no longer holds the later ones back.
"""

from __future__ import annotations

import logging
import random
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, exists, select, update
from sqlalchemy.orm import aliased

from tracker.extensions import DbSession
from tracker.models.events import OutboxMessage, PostbackLog

log = logging.getLogger(__name__)

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"

RESPONSE_KEPT = 2000  # characters of an answer kept on the row
RESPONSE_READ = 64 * 1024  # bytes of an answer read at most
USER_AGENT = "tracker-postback/1"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a forward is tried."""

    max_attempts: int = 10
    base_delay: float = 30.0  # seconds before the second attempt; doubled each time after
    max_delay: float = 6 * 3600.0
    timeout: float = 10.0  # seconds for one HTTP call
    lease: float = 120.0  # seconds a claim holds before another worker may take the row

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure (with ±10 % jitter)."""
        raw = min(self.base_delay * (2 ** max(attempts - 1, 0)), self.max_delay)
        return raw * random.uniform(0.9, 1.1)


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Claimed:
    """An outbox row this worker holds: send it, then report with ``finish``."""

    id: int
    url: str
    success_pattern: str
    attempts: int  # including this one


@dataclass(frozen=True)
class Answer:
    """What a traffic source answered (or why there was no answer)."""

    status_code: int | None
    body: str
    error: str = ""


_EARLIER = aliased(OutboxMessage)


def _first_of_its_conversion() -> ColumnElement[bool]:
    """SQL: no earlier forward of the same conversion is still waiting or in flight."""
    return ~exists().where(
        _EARLIER.conversion_id == OutboxMessage.conversion_id,
        _EARLIER.id < OutboxMessage.id,
        _EARLIER.status.in_((PENDING, SENDING)),
    )


def claim_due(
    session: DbSession, now: datetime, limit: int = 20, policy: RetryPolicy = DEFAULT_POLICY
) -> list[Claimed]:
    """Claim up to ``limit`` due rows (the oldest waiting one of each conversion) for this
    worker and commit the claim."""
    due = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status.in_((PENDING, SENDING)),
            OutboxMessage.next_attempt_at <= now,
            _first_of_its_conversion(),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.scalars(due))
    lease_until = now + timedelta(seconds=policy.lease)
    claimed: list[Claimed] = []
    for message_id in ids:
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status.in_((PENDING, SENDING)),
                OutboxMessage.next_attempt_at <= now,
                # Checked again: an earlier failed row may have been put back (retried by hand).
                _first_of_its_conversion(),
            )
            .values(
                status=SENDING,
                next_attempt_at=lease_until,
                attempts=OutboxMessage.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            row = session.execute(
                select(
                    OutboxMessage.url, OutboxMessage.success_pattern, OutboxMessage.attempts
                ).where(OutboxMessage.id == message_id)
            ).one()
            claimed.append(Claimed(message_id, row.url, row.success_pattern, row.attempts))
    session.commit()
    return claimed


def send(url: str, timeout: float) -> Answer:
    """GET ``url``; the status and (the start of) the body, or the error."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(RESPONSE_READ)
            return Answer(response.status, _text(body))
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(RESPONSE_READ)
        except OSError:
            body = b""
        return Answer(exc.code, _text(body), f"HTTP {exc.code}")
    except (OSError, ValueError) as exc:  # refused, timed out, DNS, a malformed URL
        reason = getattr(exc, "reason", None) or exc
        return Answer(None, "", f"{type(exc).__name__}: {reason}"[:500])


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace").replace("\x00", "")


def is_success(answer: Answer, pattern: str) -> tuple[bool, str]:
    """A 2xx whose body matches the source's success pattern (when it has one), and why not."""
    if answer.status_code is None:
        return False, answer.error or "no answer"
    if not 200 <= answer.status_code < 300:
        return False, f"HTTP {answer.status_code}"
    if pattern:
        try:
            matched = re.search(pattern, answer.body)
        except re.error as exc:
            return True, f"success pattern ignored (not a valid expression: {exc})"
        if not matched:
            return False, f"answer does not match the success pattern {pattern!r}"
    return True, ""


def finish(
    session: DbSession,
    message: Claimed,
    answer: Answer,
    now: datetime,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> str:
    """Record an attempt's answer: sent, or back to pending after a delay, or failed for good.
    Returns the new status (the claim's own, unless the lease ran out and another took it)."""
    ok, why = is_success(answer, message.success_pattern)
    values: dict[str, object] = {
        "last_status_code": answer.status_code,
        "last_response": answer.body[:RESPONSE_KEPT],
        "last_error": "" if ok and not why else why,
    }
    if ok:
        values.update(status=SENT, sent_at=now)
    elif message.attempts >= policy.max_attempts:
        values.update(status=FAILED)
    else:
        values.update(
            status=PENDING,
            next_attempt_at=now + timedelta(seconds=policy.delay(message.attempts)),
        )
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message.id,
            OutboxMessage.status == SENDING,
            OutboxMessage.attempts == message.attempts,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    status = str(values["status"])
    if not result.rowcount:  # type: ignore[attr-defined]
        log.warning("outbox %s: claim expired before the answer was recorded", message.id)
        return SENDING
    if ok:
        log.info("outbox %s sent (HTTP %s)", message.id, answer.status_code)
    else:
        log.warning(
            "outbox %s attempt %s %s: %s", message.id, message.attempts, status, why or "failed"
        )
    return status


@dataclass
class DeliveryReport:
    """What one pass over the outbox did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.retrying + self.failed


def deliver_due(
    session: DbSession,
    now: Callable[[], datetime],
    policy: RetryPolicy = DEFAULT_POLICY,
    limit: int = 20,
    parallel: int = 4,
) -> DeliveryReport:
    """Claim what is due, send it (a few at a time), record every answer."""
    report = DeliveryReport()
    claimed = claim_due(session, now(), limit, policy)
    if not claimed:
        return report
    with ThreadPoolExecutor(max_workers=min(parallel, len(claimed))) as pool:
        answers = list(pool.map(lambda m: send(m.url, policy.timeout), claimed))
    for message, answer in zip(claimed, answers, strict=True):
        status = finish(session, message, answer, now(), policy)
        if status == SENT:
            report.sent += 1
        elif status == FAILED:
            report.failed += 1
        else:
            report.retrying += 1
    return report


def retry_now(session: DbSession, workspace_id: int, message_id: int, now: datetime) -> bool:
    """Send a failed (or waiting) forward again at the next pass; False if not found."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.workspace_id == workspace_id,
            OutboxMessage.status.in_((FAILED, PENDING)),
        )
        .values(status=PENDING, next_attempt_at=now, attempts=0)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- postback log retention ----------------------------------------------------------------------

PURGE_BATCH = 5000


def purge_postback_log(session: DbSession, older_than: datetime) -> int:
    """Delete postback log rows created before ``older_than``, oldest first in short batches
    (SQLite's one writer lock is held briefly each time); returns how many went.

    Ids grow with time, so the oldest rows are the first by id: no index on the time needed."""
    total = 0
    while True:
        oldest = session.execute(
            select(PostbackLog.id, PostbackLog.created_at)
            .order_by(PostbackLog.id)
            .limit(PURGE_BATCH)
        ).all()
        expired = [row.id for row in oldest if row.created_at < older_than]
        if expired:
            session.execute(
                delete(PostbackLog)
                .where(PostbackLog.id.in_(expired))
                .execution_options(synchronize_session=False)
            )
            session.commit()
            total += len(expired)
        # A batch with a row young enough to keep is the last: every later id is younger still
        # (up to the clock skew between two servers, which the next pass cleans up).
        if len(expired) < len(oldest) or not oldest:
            session.rollback()
            return total
