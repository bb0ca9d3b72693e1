"""Tokens in offer, lander and postback URLs: ``{clickid}``, ``{country}``, ``{var3}``...

A URL is compiled once (at snapshot time) into literal parts and token names; rendering is one
pass that URL-encodes each value. A known token without a value in the given mapping, and any
unknown ``{word}``, stays as written. The conversions code renders traffic-source postback URLs
with the same templates: ``visit_token_values(visit, ..., extra={"payout": ..., ...})``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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


@dataclass(frozen=True, slots=True)
class Template:
    """A URL with its tokens located: ``literals[0] key[0] literals[1] ... literals[-1]``."""

    source: str
    literals: tuple[str, ...]
    keys: tuple[str, ...]

    def render(self, values: Mapping[str, Any]) -> str:
        """The URL with each token's value URL-encoded in place."""
        if not self.keys:
            return self.source
        literals = self.literals
        out = [literals[0]]
        for index, key in enumerate(self.keys, 1):
            value = values.get(key)
            out.append("{" + key + "}" if value is None else quote(str(value), safe=""))
            out.append(literals[index])
        return "".join(out)


def compile_template(url: str) -> Template:
    """Locate the known tokens of ``url`` (names are matched case-insensitively)."""
    literals: list[str] = []
    keys: list[str] = []
    start = 0
    for match in _TOKEN.finditer(url):
        key = match.group(1).lower()
        if key not in KNOWN_TOKENS:
            continue
        literals.append(url[start : match.start()])
        keys.append(key)
        start = match.end()
    literals.append(url[start:])
    return Template(url, tuple(literals), tuple(keys))


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


def visit_token_values(
    visit: Mapping[str, Any],
    *,
    campaign_name: str = "",
    traffic_source_name: str = "",
    lander_name: str = "",
    offer_name: str = "",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Every visit token's value from a visit (a row mapping or the values being inserted);
    ``extra`` adds or overrides tokens (``payout``, ``txid``, ``et``, ``status`` on postbacks)."""
    values = {
        token: format_value(visit.get(column)) if column else ""
        for token, column in VISIT_TOKENS.items()
    }
    values["campaign.name"] = campaign_name
    values["trafficsource.name"] = traffic_source_name
    values["lander.name"] = lander_name
    values["offer.name"] = offer_name
    values["countryname"] = country_name(values["country"])
    if extra:
        values.update({key: format_value(value) for key, value in extra.items()})
    return values
