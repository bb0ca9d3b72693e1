"""Tokens in offer, lander and postback URLs: ``{clickid}``, ``{country}``, ``{var3}``...

A URL is compiled once (at snapshot time) into literal parts and token names; rendering is one
pass that URL-encodes each value. A known token without a value in the given mapping, and any
unknown ``{word}``, stays as written. The conversions code renders traffic-source postback URLs
with the same templates: ``compile_template(url).render(visit_tokens(visit, ...,
extra={"payout": ..., "txid": ..., "et": ..., "status": ...}))``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from tracker.models.events import VAR_COUNT
from tracker.tracking.countries import country_name

# Token → the visit column it shows (None: not a column of the visit).
VISIT_TOKENS: dict[str, str | None] = {
    "clickid": "click_id",
    "campaign.id": "campaign_id",
    "campaign.name": None,
    "trafficsource.id": "traffic_source_id",
    "trafficsource.name": None,
    "lander.id": "lander_id",
    "lander.name": None,
    "offer.id": "offer_id",
    "offer.name": None,
    "country": "country",
    "countryname": None,
    "region": "region",
    "city": "city",
    "isp": "isp",
    "asn": "asn",
    "connection.type": "connection_type",
    "device": "device_type",
    "brand": "brand",
    "model": "model",
    "os": "os",
    "osversion": "os_version",
    "browser": "browser",
    "browserversion": "browser_version",
    "language": "language",
    "ip": "ip",
    "useragent": "user_agent",
    "referrerdomain": "referrer_domain",
    **{f"var{n}": f"var{n}" for n in range(1, VAR_COUNT + 1)},
    "externalid": "external_id",
    "cost": "cost",
}
POSTBACK_TOKENS = ("payout", "txid", "et", "status")
KNOWN_TOKENS = frozenset(VISIT_TOKENS) | frozenset(POSTBACK_TOKENS)

_TOKEN = re.compile(r"\{([A-Za-z0-9_.]{1,32})\}")
# What ``quote(value, safe="")`` leaves as it is: such a value goes into the URL unchanged.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*", re.ASCII)


@dataclass(frozen=True, slots=True)
class Template:
    """A URL with its tokens located: ``literals[0] key[0] literals[1] ... literals[-1]``."""

    source: str
    literals: tuple[str, ...]
    keys: tuple[str, ...]
    written: tuple[str, ...]  # each token as the URL writes it ({CLICKID}), kept when unset

    def render(self, values: Mapping[str, Any]) -> str:
        """The URL with each token's value URL-encoded in place."""
        if not self.keys:
            return self.source
        literals = self.literals
        out = [literals[0]]
        for index, key in enumerate(self.keys, 1):
            value = values.get(key)
            if value is None:
                out.append(self.written[index - 1])
            else:
                text = str(value)
                out.append(text if _UNRESERVED.fullmatch(text) else quote(text, safe=""))
            out.append(literals[index])
        return "".join(out)


def compile_template(url: str) -> Template:
    """Locate the known tokens of ``url`` (names are matched case-insensitively)."""
    literals: list[str] = []
    keys: list[str] = []
    written: list[str] = []
    start = 0
    for match in _TOKEN.finditer(url):
        key = match.group(1).lower()
        if key not in KNOWN_TOKENS:
            continue
        literals.append(url[start : match.start()])
        keys.append(key)
        written.append(match.group(0))
        start = match.end()
    literals.append(url[start:])
    return Template(url, tuple(literals), tuple(keys), tuple(written))


def render(url: str, values: Mapping[str, Any]) -> str:
    """Compile and render in one call (for URLs used once; the hot path keeps templates)."""
    return compile_template(url).render(values)


def format_value(value: Any) -> str:
    """A stored value as a token shows it: "" for none, money without trailing zeros."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "") else text
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class VisitTokens(Mapping[str, str]):
    """Token values of one visit, each formatted only when a template asks for it."""

    __slots__ = ("_extra", "_names", "_visit")

    def __init__(
        self,
        visit: Mapping[str, Any],
        names: Mapping[str, str],
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self._visit = visit
        self._names = names
        self._extra = extra

    def __getitem__(self, key: str) -> str:
        if self._extra and key in self._extra:
            return format_value(self._extra[key])
        name = self._names.get(key)
        if name is not None:
            return name
        if key == "countryname":
            return country_name(format_value(self._visit.get("country")))
        column = VISIT_TOKENS[key]  # KeyError for a token this visit cannot answer
        return format_value(self._visit.get(column)) if column else ""

    def __iter__(self) -> Iterator[str]:
        yield from VISIT_TOKENS
        if self._extra:
            yield from (key for key in self._extra if key not in VISIT_TOKENS)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def visit_tokens(
    visit: Mapping[str, Any],
    *,
    campaign_name: str = "",
    traffic_source_name: str = "",
    lander_name: str = "",
    offer_name: str = "",
    extra: Mapping[str, Any] | None = None,
) -> VisitTokens:
    """The tokens of a visit (a row mapping or the values being inserted), computed lazily;
    ``extra`` adds or overrides tokens (``payout``, ``txid``, ``et``, ``status`` on postbacks)."""
    names = {
        "campaign.name": campaign_name,
        "trafficsource.name": traffic_source_name,
        "lander.name": lander_name,
        "offer.name": offer_name,
    }
    return VisitTokens(visit, names, extra)


def visit_token_values(
    visit: Mapping[str, Any],
    *,
    campaign_name: str = "",
    traffic_source_name: str = "",
    lander_name: str = "",
    offer_name: str = "",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Every token's value of a visit as a plain dict (see ``visit_tokens``)."""
    return dict(
        visit_tokens(
            visit,
            campaign_name=campaign_name,
            traffic_source_name=traffic_source_name,
            lander_name=lander_name,
            offer_name=offer_name,
            extra=extra,
        )
    )
