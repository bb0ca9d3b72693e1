"""Manual upload: a buyer's CSV (``cid,payout,txid,status,et``) or JSON rows of conversions.

Every row is checked first (a known click ID of the workspace, a number for payout, a known
status...); only when all rows pass are they recorded, in the caller's one transaction, with the
same rules as postbacks (de-duplication, status updates, forwarding). Nothing is half-applied.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tracker.conversions.params import (
    MalformedPostback,
    PostbackParams,
    clean_text,
    first_values,
    read_click_id,
    read_postback,
)
from tracker.conversions.services import (
    UPLOAD,
    PostbackOutcome,
    PostbackRequest,
    VisitContext,
    find_visit_context,
    record_conversion,
    write_log,
)
from tracker.extensions import DbSession

UPLOAD_COLUMNS = ("cid", "payout", "txid", "status", "et")
MAX_UPLOAD_ROWS = 10_000
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
_HEADER_WORDS = {"cid", "clickid", "subid", "click_id"}


class UploadError(ValueError):
    """The upload as a whole cannot be read (not a CSV, empty, too many rows)."""


@dataclass(frozen=True)
class UploadRow:
    """One row to record: its line in the file (or index in the list) and its values."""

    line: int
    values: dict[str, str]


@dataclass
class RowResult:
    """What became of one row: an error (nothing applied), or recorded/updated/duplicate."""

    line: int
    click_id: str
    error: str | None = None
    result: str | None = None
    conversion_id: int | None = None
    payout: Decimal | None = None
    status: str | None = None


@dataclass
class UploadReport:
    """Every row's outcome, and whether the rows were applied."""

    rows: list[RowResult] = field(default_factory=list)
    applied: bool = False

    @property
    def errors(self) -> list[RowResult]:
        return [row for row in self.rows if row.error]

    def count(self, result: str) -> int:
        return sum(1 for row in self.rows if row.result == result)


def decode_upload(data: bytes) -> str:
    """An uploaded file's text (UTF-8, with or without BOM)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError("the file is not UTF-8 text (save the CSV as UTF-8)") from exc


def parse_csv(text: str) -> list[UploadRow]:
    """Rows of a CSV: with a header naming the columns (any order; also currency and
    param1..param5), or without one in the order cid,payout,txid,status,et."""
    text = clean_text(text).lstrip("\ufeff")
    if len(text.encode()) > MAX_UPLOAD_BYTES:
        raise UploadError(f"the text is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise UploadError("there are no rows: paste lines like cid,payout,txid,status,et")
    try:
        dialect: Any = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        records = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise UploadError(f"this is not CSV: {exc}") from exc
    numbered = [(n, rec) for n, rec in enumerate(records, 1) if any(f.strip() for f in rec)]
    if not numbered:
        raise UploadError("there are no rows: paste lines like cid,payout,txid,status,et")
    header: tuple[str, ...] = UPLOAD_COLUMNS
    first = [field.strip().lower() for field in numbered[0][1]]
    if _HEADER_WORDS & set(first):
        header = tuple("cid" if name == "click_id" else name for name in first)
        numbered = numbered[1:]
    if len(numbered) > MAX_UPLOAD_ROWS:
        raise UploadError(f"at most {MAX_UPLOAD_ROWS} rows at once")
    rows = []
    for line, record in numbered:
        values = dict(zip(header, (f.strip() for f in record), strict=False))
        if len(record) > len(header):
            values["__extra__"] = f"{len(record)} fields where the header has {len(header)}"
        rows.append(UploadRow(line, values))
    if not rows:
        raise UploadError("there are no rows under the header")
    return rows


def rows_from_items(items: Iterable[Mapping[str, Any]]) -> list[UploadRow]:
    """Rows given as objects (the API's JSON): values as strings, numbers kept as written."""
    rows = []
    for index, item in enumerate(items):
        values = {str(key): _as_text(value) for key, value in item.items() if value is not None}
        rows.append(UploadRow(index, values))
    if not rows:
        raise UploadError("there are no rows")
    if len(rows) > MAX_UPLOAD_ROWS:
        raise UploadError(f"at most {MAX_UPLOAD_ROWS} rows at once")
    return rows


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, dict, list)):
        return json.dumps(value)
    return str(value)


@dataclass(frozen=True)
class _Checked:
    row: UploadRow
    ctx: VisitContext
    params: PostbackParams


def _check(session: DbSession, workspace_id: int, row: UploadRow) -> _Checked | RowResult:
    values = first_values(row.values.items())
    if "__extra__" in values:
        return RowResult(row.line, "", error=values["__extra__"])
    reading = read_click_id(values)
    shown = reading.raw[:64]
    if reading.click_id is None:
        if reading.problem == "missing":
            return RowResult(row.line, "", error="no click ID (cid)")
        return RowResult(row.line, shown, error=f"unknown click ID {shown!r}")
    ctx = find_visit_context(session.connection(), reading.click_id, workspace_id)
    if ctx is None:
        return RowResult(row.line, reading.click_id, error=f"unknown click ID {shown!r}")
    try:
        params = read_postback(
            values, param_map=ctx.offer.param_map, status_map=ctx.offer.status_map
        )
    except MalformedPostback as exc:
        return RowResult(row.line, reading.click_id, error=str(exc))
    if params.notes:  # lenient for networks, strict for a person who can fix the file
        notes = (note.removesuffix(": ignored") for note in params.notes)
        return RowResult(row.line, reading.click_id, error="; ".join(notes))
    return _Checked(row, ctx, params)


def upload_conversions(
    session: DbSession,
    workspace_id: int,
    rows: list[UploadRow],
    *,
    apply: bool,
    default_currency: str,
    now: datetime,
    ip: str = "",
) -> UploadReport:
    """Check every row; when all pass and ``apply`` is set, record them all (flushes only: the
    caller commits them together, or rolls back)."""
    report = UploadReport()
    checked: list[_Checked] = []
    for row in rows:
        outcome = _check(session, workspace_id, row)
        if isinstance(outcome, RowResult):
            report.rows.append(outcome)
        else:
            checked.append(outcome)
            report.rows.append(
                RowResult(
                    row.line,
                    outcome.ctx.click_id,
                    payout=outcome.params.payout,
                    status=outcome.params.status or "approved",
                )
            )
    if report.errors or not apply:
        return report
    results = {result.line: result for result in report.rows}
    for item in checked:
        recorded = record_conversion(
            session.connection(),
            item.ctx,
            item.params,
            source=UPLOAD,
            default_currency=default_currency,
            now=now,
        )
        result = results[item.row.line]
        result.result = recorded.result
        result.conversion_id = recorded.conversion_id
        request = PostbackRequest(
            endpoint=UPLOAD,
            method="POST",
            ip=ip,
            raw_query="",
            raw_body=json.dumps(item.row.values)[:2000],
            values=item.row.values,
            received_at=now,
            default_currency=default_currency,
        )
        reason = "; ".join(p for p in (recorded.reason, *recorded.notes, "manual upload") if p)
        write_log(
            session.connection(),
            request,
            PostbackOutcome(
                recorded.result,
                200,
                reason,
                item.ctx.click_id,
                recorded.conversion_id,
                item.ctx.workspace_id,
            ),
        )
    report.applied = True
    return report
