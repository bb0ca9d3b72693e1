"""Reading a postback's parameters: our names and their aliases, a network's own names (its
``param_map``) and status values (its ``status_map``), macro leftovers, payouts.

Pure functions of plain values: the postback endpoints, the CSV upload and the API all read
parameters through here, so a value means the same wherever it arrives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from tracker.tracking.clickid import normalize_click_id

# Our parameter names (Voluum's), and the aliases a network may use for them.
CLICK_ID_NAMES = ("cid", "clickid", "subid")
OUR_NAMES = frozenset(
    {"cid", "payout", "txid", "et", "status", "currency", "key"}
    | {f"param{n}" for n in range(1, 6)}
)
ALIASES = {"clickid": "cid", "subid": "cid"}

# Statuses as stored. ``rejected`` is stored as ``declined``; a chargeback stays itself so
# reports can tell a refund from a refusal, and neither counts.
APPROVED = "approved"
PENDING = "pending"
DECLINED = "declined"
CHARGEBACK = "chargeback"
STATUSES = (APPROVED, PENDING, DECLINED, CHARGEBACK)
NOT_COUNTED_STATUSES = frozenset({DECLINED, CHARGEBACK})
_OUR_STATUS_WORDS = {
    "approved": APPROVED,
    "approve": APPROVED,
    "pending": PENDING,
    "declined": DECLINED,
    "decline": DECLINED,
    "rejected": DECLINED,
    "reject": DECLINED,
    "chargeback": CHARGEBACK,
}

# Column sizes: longer values are refused (keys) or cut (free text).
TXID_MAX = 255
ET_MAX = 64
PARAM_MAX = 255
# Numeric(14, 6): eight digits before the point.
PAYOUT_MAX = Decimal("99999999.999999")
PAYOUT_PLACES = Decimal("0.000001")

# A value a network sent without filling in its macro: {payout} [PAYOUT] %payout% ${payout}
# #payout# (also {{payout}}). Real values almost never look like this.
_MACRO = re.compile(
    r"\{[^{}\s]{1,64}\}"
    r"|\[[A-Za-z_][A-Za-z0-9_.:-]{0,63}\]"
    r"|%[A-Za-z_][A-Za-z0-9_.:-]{0,63}%"
    r"|#[A-Za-z_][A-Za-z0-9_.:-]{0,63}#"
)
_CURRENCY = re.compile(r"[A-Za-z]{3}")


class MalformedPostback(ValueError):
    """The postback cannot be recorded as sent (answered 400, with this message logged)."""


def has_macro(value: str) -> bool:
    """True when ``value`` still holds an unreplaced macro such as ``{payout}`` or ``#s2#``."""
    return bool(_MACRO.search(value))


def clean_text(value: str) -> str:
    """A value as the store can keep it: no NUL characters (PostgreSQL refuses them)."""
    return value.replace("\x00", "") if "\x00" in value else value


def click_id_candidates(
    values: Mapping[str, str], extra_names: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """The (name, value) pairs that may carry the click ID, best first: ``cid``, its aliases
    (any case), then network names that map to ``cid`` (``aff_sub``, ``sub1``...)."""
    lowered = {name.lower(): (name, value) for name, value in values.items()}
    found = [lowered[name] for name in CLICK_ID_NAMES if name in lowered]
    found += [(name, values[name]) for name in extra_names if name in values]
    return [(name, value) for name, value in found if value]


@dataclass(frozen=True)
class ClickIdReading:
    """Which click ID a postback names, or why it names none."""

    click_id: str | None
    raw: str
    problem: str | None  # "missing", "macro" or "format"


def read_click_id(
    values: Mapping[str, str], extra_names: Iterable[str] = (), cookie: str | None = None
) -> ClickIdReading:
    """The click ID of a postback: from the parameters first, then the tracker's cookie."""
    candidates = click_id_candidates(values, extra_names)
    for name, raw in candidates:
        if has_macro(raw):
            continue
        click_id = normalize_click_id(raw)
        if click_id is None:
            return ClickIdReading(None, raw, f"format: {name}={raw[:64]!r} is not a click ID")
        return ClickIdReading(click_id, raw, None)
    if cookie:
        click_id = normalize_click_id(cookie)
        if click_id is not None:
            return ClickIdReading(click_id, cookie, None)
    if candidates:
        name, raw = candidates[0]
        return ClickIdReading(None, raw, f"macro: {name}={raw[:64]!r} is an unreplaced macro")
    return ClickIdReading(None, "", "missing")


def parse_payout(raw: str) -> Decimal:
    """A payout as sent: ``12.5``, ``12,5``, ``1.234,56`` or ``1,234.56``.

    Raises ``ValueError`` for what is not a number (NaN and infinity included) and
    ``MalformedPostback`` for a number the store cannot hold (negative, or too large).
    """
    text = raw.strip().replace(" ", "").replace("\u00a0", "")
    if "," in text:
        if "." in text:
            # The later separator is the decimal point; the other groups thousands.
            if text.rfind(",") > text.rfind("."):
                text = text.replace(".", "").replace(",", ".")
            else:
                text = text.replace(",", "")
        elif text.count(",") == 1:
            text = text.replace(",", ".")
        else:
            text = text.replace(",", "")
    if not text or len(text) > 40:
        raise ValueError(raw)
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(raw) from exc
    if not amount.is_finite():
        raise ValueError(raw)
    if amount < 0:
        raise MalformedPostback(f"payout {raw[:40]!r} is negative")
    if amount > PAYOUT_MAX:
        raise MalformedPostback(f"payout {raw[:40]!r} is larger than {PAYOUT_MAX}")
    return amount.quantize(PAYOUT_PLACES)


def resolve_status(raw: str, status_map: Mapping[str, str] | None = None) -> str | None:
    """Our status for a value as sent: the network's map first (exact case, then any case),
    then our own words. None when it is neither."""
    status_map = status_map or {}
    mapped = status_map.get(raw)
    if mapped is None:
        lowered = raw.lower()
        mapped = next((v for k, v in status_map.items() if k.lower() == lowered), None)
    if mapped is not None:
        return _OUR_STATUS_WORDS.get(str(mapped).strip().lower())
    return _OUR_STATUS_WORDS.get(raw.strip().lower())


@dataclass
class PostbackParams:
    """A postback's values in our terms. ``None`` means absent (or ignored: see ``notes``)."""

    payout: Decimal | None = None
    txid: str = ""
    et: str = ""
    status: str | None = None
    currency: str | None = None
    params: tuple[str, str, str, str, str] = ("", "", "", "", "")
    key: str | None = None
    notes: list[str] = field(default_factory=list)


def canonical_values(
    values: Mapping[str, str], param_map: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The parameters under our names: ours (any case) and aliases first, then the network's
    own names through its ``param_map`` where ours are absent."""
    ours: dict[str, str] = {}
    mapped: dict[str, str] = {}
    for name, value in values.items():
        lowered = name.lower()
        canonical = ALIASES.get(lowered, lowered)
        if canonical in OUR_NAMES:
            ours.setdefault(canonical, value)
    for theirs, our_name in (param_map or {}).items():
        target = ALIASES.get(str(our_name).lower(), str(our_name).lower())
        if target in OUR_NAMES and theirs in values:
            mapped.setdefault(target, values[theirs])
    return {**mapped, **{k: v for k, v in ours.items() if v != "" or k not in mapped}}


def read_postback(
    values: Mapping[str, str],
    *,
    param_map: Mapping[str, str] | None = None,
    status_map: Mapping[str, str] | None = None,
) -> PostbackParams:
    """Read everything but the click ID. Macro leftovers and non-numbers become absent, with a
    note; values that would change what is counted (unknown status, negative or huge payout,
    over-long txid or et) raise ``MalformedPostback``."""
    canonical = canonical_values(values, param_map)
    out = PostbackParams()

    def present(name: str) -> str | None:
        value = canonical.get(name)
        if value is None or value == "":
            return None
        if has_macro(value):
            out.notes.append(f"{name}={value[:64]!r} is an unreplaced macro: ignored")
            return None
        return value

    raw_payout = present("payout")
    if raw_payout is not None:
        try:
            out.payout = parse_payout(raw_payout)
        except MalformedPostback:
            raise
        except ValueError:
            out.notes.append(f"payout={raw_payout[:64]!r} is not a number: ignored")
    txid = clean_text(present("txid") or "")
    if len(txid) > TXID_MAX:
        raise MalformedPostback(f"txid is longer than {TXID_MAX} characters")
    out.txid = txid
    et = clean_text(present("et") or "")
    if len(et) > ET_MAX:
        raise MalformedPostback(f"et is longer than {ET_MAX} characters")
    out.et = et
    raw_status = present("status")
    if raw_status is not None:
        out.status = resolve_status(raw_status, status_map)
        if out.status is None:
            raise MalformedPostback(
                f"unknown status {raw_status[:64]!r}: map it in the network's status map"
            )
    raw_currency = present("currency")
    if raw_currency is not None:
        if _CURRENCY.fullmatch(raw_currency):
            out.currency = raw_currency.upper()
        else:
            out.notes.append(f"currency={raw_currency[:64]!r} is not an ISO 4217 code: ignored")
    params = []
    for n in range(1, 6):
        value = clean_text(present(f"param{n}") or "")
        if len(value) > PARAM_MAX:
            out.notes.append(f"param{n} cut to {PARAM_MAX} characters")
            value = value[:PARAM_MAX]
        params.append(value)
    out.params = (params[0], params[1], params[2], params[3], params[4])
    # The secret is compared as sent: a macro left in it simply does not match.
    key = canonical.get("key")
    out.key = key if key else None
    return out


def first_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The first value of each parameter name (names cleaned of NUL characters; values kept
    as sent: a status of NUL is no status of ours, and text is cleaned where it is stored)."""
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(clean_text(name).strip(), value.strip())
    return first
