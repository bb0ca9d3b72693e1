"""The shapes setup objects are created, changed and shown in (pydantic v2).

``<Thing>In`` validates a whole object (create, and an update merged onto the current values),
``<Thing>Patch`` a partial change (every field optional, unknown fields refused), ``<Thing>Out``
what the API and the pages show. Checks that need the store (ids that exist in the workspace)
live in ``services``; everything that needs only the input lives here, and each error names its
place (``rules.0.paths.1.offers``).

Stored JSON (what the hot path reads):
- traffic source ``variables``: ``[{"name", "param", "placeholder"}]``, position = var number;
- flow ``rules``: ``[{"name", "match": "all"|"any", "timezone": str|None,
  "conditions": [{"field", "op", "values": [str]}], "paths": [PATH]}]``, ``default_paths``: [PATH];
- PATH: ``{"name", "weight", "landers": [{"id", "weight"}], "offers": [{"id", "weight"}],
  "redirect_mode": "302"|"meta"|"double_meta"|None}`` (no landers: straight to an offer;
  redirect_mode None: the campaign's).
Paths and rules are stored as given, so a key left out is absent and means its default: weight
100, landers [], name "" (the path's position), redirect_mode None, match "all", timezone None
(the account's).
Condition values are strings, normalised per field: country codes upper-case, device types,
day names (``monday``) and ``unique`` (``true``/``false``) lower-case, ASNs, hours and campaign
or traffic-source ids as digits, versions of a ``between`` as dotted numbers (``16.4``),
``time_of_day`` as ``HH:MM`` (a ``between`` may wrap past midnight). How each is matched:
``tracker.tracking.conditions``. A flow's rule names are distinct, and so are the labels of the
paths of one rule (or of the default paths): a visit records both, and ``/click`` finds its
path by them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tracker.models.events import VAR_COUNT
from tracker.models.setup import CostModel, RedirectMode
from tracker.numbers import is_whole_number
from tracker.setup.presets import (
    UnknownPreset,
    affiliate_network_preset,
    apply_affiliate_network_preset,
    apply_traffic_source_preset,
    traffic_source_preset,
)

URL_MAX = 4000
# Ids are 32-bit integers in the store: a larger one cannot exist (and PostgreSQL refuses to
# compare with it).
MAX_ID = 2**31 - 1
ObjectId = Annotated[int, Field(ge=1, le=MAX_ID)]
MAX_PATHS = 20
MAX_REFS = 20
MAX_WEIGHT = 10_000
MAX_RULES = 100
MAX_CONDITIONS = 50
MAX_VALUES = 5_000
VALUE_MAX = 500

# Conversion statuses (CONTRACT §1): rejected and chargeback count like declined.
CONVERSION_STATUSES = ("approved", "pending", "declined", "rejected", "chargeback")
# Our postback parameter names, what a network's own names can map to.
POSTBACK_PARAMS = (
    "cid",
    "payout",
    "txid",
    "et",
    "status",
    "currency",
    "param1",
    "param2",
    "param3",
    "param4",
    "param5",
    "key",
)
DEVICE_TYPES = ("mobile", "tablet", "desktop", "tv", "console", "wearable", "bot", "other")
DAYS_OF_WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def problem(kind: str, message: str) -> PydanticCustomError:
    """A validation error whose message is shown as is."""
    return PydanticCustomError(kind, message)


def fields_from_validation_error(exc: ValidationError) -> dict[str, str]:
    """``{"rules.0.paths.1.offers": "a path needs at least one offer"}``: one message per place."""
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        fields.setdefault(".".join(str(p) for p in loc) or "body", err["msg"])
    return fields


# --- field types ---------------------------------------------------------------------------------

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _check_url(value: str) -> str:
    value = value.strip()
    if not value:
        raise problem("url_missing", "give an http:// or https:// URL")
    if len(value) > URL_MAX:
        raise problem("url_too_long", f"a URL has at most {URL_MAX} characters")
    if any(ch.isspace() for ch in value):
        raise problem("url_whitespace", "a URL cannot contain spaces (write them as %20)")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise problem("url_invalid", f"not a URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise problem("url_scheme", "must be an absolute http:// or https:// URL")
    return value


def _check_optional_url(value: str) -> str:
    return _check_url(value) if value.strip() else ""


HttpUrl = Annotated[str, AfterValidator(_check_url)]
OptionalUrl = Annotated[str, AfterValidator(_check_optional_url)]

_PARAM_RE = re.compile(r"^[A-Za-z0-9_.\-\[\]~]{1,100}$")


def _check_param(value: str) -> str:
    value = value.strip()
    if value and not _PARAM_RE.match(value):
        raise problem(
            "param_name",
            "a parameter name has at most 100 letters, digits and _ . - [ ] ~",
        )
    return value


def _check_placeholder(value: str) -> str:
    value = value.strip()
    if len(value) > 200:
        raise problem("placeholder_too_long", "a placeholder has at most 200 characters")
    if any(ch.isspace() or ch in "&#" for ch in value):
        raise problem("placeholder_chars", "a placeholder cannot contain spaces, & or #")
    return value


Param = Annotated[str, AfterValidator(_check_param)]
Placeholder = Annotated[str, AfterValidator(_check_placeholder)]


def _check_status(value: str) -> str:
    value = value.strip().lower()
    if value not in CONVERSION_STATUSES:
        raise problem("status", f"not a status; one of {', '.join(CONVERSION_STATUSES)}")
    return value


ConversionStatus = Annotated[str, AfterValidator(_check_status)]


def _check_our_param(value: str) -> str:
    value = value.strip()
    if value not in POSTBACK_PARAMS:
        raise problem(
            "postback_param", f"not a postback parameter; one of {', '.join(POSTBACK_PARAMS)}"
        )
    return value


OurParam = Annotated[str, AfterValidator(_check_our_param)]


def _check_network(value: str) -> str:
    value = value.strip()
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise problem("cidr", f"not an IP address or CIDR range: {value!r}") from exc
    return value


IpRange = Annotated[str, AfterValidator(_check_network)]


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise problem("regex", f"not a regular expression: {exc}") from exc
    return value


Pattern = Annotated[str, StringConstraints(max_length=200), AfterValidator(_check_regex)]


def _check_currency(value: str) -> str:
    value = value.strip().upper()
    if len(value) != 3 or not value.isascii() or not value.isalpha():
        raise problem("currency", "a currency is a 3-letter ISO 4217 code, e.g. USD")
    return value


Currency = Annotated[str, AfterValidator(_check_currency)]


def _check_secret(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > 200 or any(ch.isspace() for ch in value):
        raise problem("secret", "a secret has at most 200 characters and no spaces")
    return value


Secret = Annotated[str | None, AfterValidator(_check_secret)]

MoneyIn = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=6)]


def _money_out(value: Decimal | None) -> float | None:
    # A JSON number: exact for the 14 digits the store keeps.
    return None if value is None else float(value)


MoneyOut = Annotated[
    Decimal | None, PlainSerializer(_money_out, return_type=float | None, when_used="json")
]


def _redirect_mode_in(value: Any) -> Any:
    # 302 written as a number is still the 302 mode.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


RedirectModeIn = Annotated[RedirectMode, BeforeValidator(_redirect_mode_in)]


def _check_timezone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise problem("timezone", f"not an IANA time zone: {value!r} (e.g. Europe/Paris)") from exc
    return value


TimeZoneName = Annotated[str | None, AfterValidator(_check_timezone)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Strict(BaseModel):
    """Unknown fields refused; no NUL characters anywhere (PostgreSQL cannot store them)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise problem("nul", "NUL characters are not allowed")
        return value


# --- traffic sources -----------------------------------------------------------------------------


class VariableIn(Strict):
    """One custom variable of a source's URL; its place in the list is its var number."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    param: Param = ""
    placeholder: Placeholder = ""

    @model_validator(mode="after")
    def _name_defaults_to_param(self) -> VariableIn:
        if self.placeholder and not self.param:
            raise problem("variable_param", "a variable with a placeholder needs a param")
        if not self.name:
            self.name = self.param
        return self


class TrafficSourceIn(Strict):
    """A traffic source: which URL parameters carry its click ID, cost and variables."""

    preset: str | None = Field(
        default=None, description="a traffic-source preset id; the fields given beside it win"
    )
    name: Name = Field(description="optional when a preset is given")
    external_id_param: Param = ""
    external_id_placeholder: Placeholder = ""
    cost_param: Param = ""
    cost_placeholder: Placeholder = ""
    variables: list[VariableIn] = Field(default_factory=list)
    postback_url: OptionalUrl = ""
    postback_statuses: list[ConversionStatus] = Field(default_factory=lambda: ["approved"])
    postback_first_only: bool = False
    postback_success_pattern: Pattern = ""

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("preset"), str) and data["preset"]:
            try:
                return apply_traffic_source_preset(data["preset"], data)
            except UnknownPreset:
                return data  # the preset field's own check names it
        return data

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return traffic_source_preset(value).id
        except UnknownPreset as exc:
            raise problem("preset", str(exc)) from exc

    @field_validator("external_id_placeholder")
    @classmethod
    def _external_id_pair(cls, value: str, info: ValidationInfo) -> str:
        if value and not info.data.get("external_id_param", "x"):
            raise problem("param_missing", "a placeholder needs external_id_param")
        return value

    @field_validator("cost_param")
    @classmethod
    def _cost_param_distinct(cls, value: str, info: ValidationInfo) -> str:
        if value and value == info.data.get("external_id_param"):
            raise problem("duplicate_param", "cost_param is already external_id_param")
        return value

    @field_validator("cost_placeholder")
    @classmethod
    def _cost_pair(cls, value: str, info: ValidationInfo) -> str:
        if value and not info.data.get("cost_param", "x"):
            raise problem("param_missing", "a placeholder needs cost_param")
        return value

    @field_validator("variables")
    @classmethod
    def _distinct_params(cls, value: list[VariableIn], info: ValidationInfo) -> list[VariableIn]:
        if len(value) > VAR_COUNT:
            raise problem("too_many", f"at most {VAR_COUNT} variables (var1..var{VAR_COUNT})")
        seen = {
            info.data.get("external_id_param") or None: "external_id_param",
            info.data.get("cost_param") or None: "cost_param",
        }
        for number, variable in enumerate(value, start=1):
            if not variable.param:
                continue
            if variable.param in seen:
                raise problem(
                    "duplicate_param",
                    f"var{number} uses parameter {variable.param!r}, already used by "
                    f"{seen[variable.param]}",
                )
            seen[variable.param] = f"var{number}"
        return value

    @field_validator("postback_statuses")
    @classmethod
    def _distinct_statuses(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class VariableOut(BaseModel):
    name: str
    param: str
    placeholder: str


class SetupOut(BaseModel):
    """What every setup object shows."""

    id: int
    workspace_id: int
    name: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


class TrafficSourceOut(SetupOut):
    preset: str | None
    external_id_param: str
    external_id_placeholder: str
    cost_param: str
    cost_placeholder: str
    variables: list[VariableOut]
    postback_url: str
    postback_statuses: list[str]
    postback_first_only: bool
    postback_success_pattern: str
    tracking_parameters: str = Field(
        description="what a campaign URL of this source carries: visitor_id=${SUBID}&..."
    )


# --- affiliate networks --------------------------------------------------------------------------


class AffiliateNetworkIn(Strict):
    """An affiliate network: how its postbacks are checked (secret, IPs) and read."""

    preset: str | None = Field(
        default=None, description="an affiliate-network preset id; the fields given beside it win"
    )
    name: Name = Field(description="optional when a preset is given")
    postback_secret: Secret = None
    allowed_ips: list[IpRange] = Field(default_factory=list, max_length=200)
    accept_duplicates: bool = False
    status_map: dict[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)],
        ConversionStatus,
    ] = Field(default_factory=dict, max_length=50)
    param_map: dict[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)],
        OurParam,
    ] = Field(default_factory=dict, max_length=50)

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("preset"), str) and data["preset"]:
            try:
                return apply_affiliate_network_preset(data["preset"], data)
            except UnknownPreset:
                return data
        return data

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return affiliate_network_preset(value).id
        except UnknownPreset as exc:
            raise problem("preset", str(exc)) from exc


class AffiliateNetworkOut(SetupOut):
    preset: str | None
    postback_secret: str | None
    allowed_ips: list[str]
    accept_duplicates: bool
    status_map: dict[str, str]
    param_map: dict[str, str]
    postback_url: str = Field(description="the tracker's postback URL to paste into the network")
    offer_url_suffix: str | None = Field(
        description="what to append to this network's offer URLs, e.g. aff_sub={clickid}"
    )


# --- offers and landers --------------------------------------------------------------------------


class OfferIn(Strict):
    """An offer: the page that pays, its network and its default payout."""

    name: Name
    url: HttpUrl
    affiliate_network_id: ObjectId | None = None
    payout: MoneyIn | None = None
    currency: Currency | None = None


class OfferOut(SetupOut):
    url: str
    affiliate_network_id: int | None
    payout: MoneyOut
    currency: str | None


class LanderIn(Strict):
    """A lander: a pre-sell page linking to /click (or /click/1../click/N for N offers)."""

    name: Name
    url: HttpUrl
    offer_count: int = Field(default=1, ge=1, le=10)


class LanderOut(SetupOut):
    url: str
    offer_count: int


# --- paths, rules and flows ----------------------------------------------------------------------


class WeightedRef(Strict):
    id: ObjectId
    weight: int = Field(default=100, ge=0, le=MAX_WEIGHT)


def _weights_add_up(refs: list[WeightedRef], what: str) -> None:
    if refs and sum(r.weight for r in refs) == 0:
        raise problem("zero_weights", f"the {what}' weights add up to 0: give one a weight above 0")


class PathIn(Strict):
    """Where a visitor goes: weighted landers (none: straight to an offer) and weighted offers."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    weight: int = Field(default=100, ge=0, le=MAX_WEIGHT)
    landers: list[WeightedRef] = Field(default_factory=list, max_length=MAX_REFS)
    offers: list[WeightedRef] = Field(
        default_factory=list, max_length=MAX_REFS, validate_default=True
    )
    redirect_mode: RedirectModeIn | None = None

    @field_validator("landers")
    @classmethod
    def _lander_weights(cls, value: list[WeightedRef]) -> list[WeightedRef]:
        _weights_add_up(value, "landers")
        return value

    @field_validator("offers")
    @classmethod
    def _offers_given(cls, value: list[WeightedRef]) -> list[WeightedRef]:
        if not value:
            raise problem("no_offers", "a path needs at least one offer")
        _weights_add_up(value, "offers")
        return value


def _paths_given(paths: list[PathIn], what: str) -> list[PathIn]:
    if not paths:
        raise problem("no_paths", f"{what} needs at least one path")
    if len(paths) > MAX_PATHS:
        raise problem("too_many", f"at most {MAX_PATHS} paths")
    if sum(p.weight for p in paths) == 0:
        raise problem("zero_weights", "the paths' weights add up to 0: give one a weight above 0")
    seen: dict[str, int] = {}
    for index, path in enumerate(paths):
        # A path without a name is known by its position from 1 (what a visit records).
        label = path.name or str(index + 1)
        if label.casefold() in seen:
            raise problem(
                "duplicate_path",
                f"paths {seen[label.casefold()]} and {index} are both known as {label!r} (a "
                "visit records its path by name, else by position from 1): rename one",
            )
        seen[label.casefold()] = index
    return paths


# Which value kind each routing field has: the report dimensions, plus what a visit carries.
FIELD_KINDS: dict[str, str] = {
    **dict.fromkeys(("campaign", "traffic_source"), "entity"),
    "country": "country",
    **dict.fromkeys(
        (
            "region",
            "city",
            "isp",
            "connection_type",
            "brand",
            "model",
            "os",
            "browser",
            "language",
            "referrer_domain",
            "user_agent",
            "referrer",
            *(f"var{n}" for n in range(1, VAR_COUNT + 1)),
        ),
        "text",
    ),
    **dict.fromkeys(("os_version", "browser_version"), "version"),
    "device_type": "device_type",
    "asn": "asn",
    "ip": "ip",
    "day": "day",
    "hour": "hour",
    "hour_of_day": "hour_of_day",
    "day_of_week": "day_of_week",
    "time_of_day": "time_of_day",
    "unique": "unique",
}
CONDITION_FIELDS = tuple(FIELD_KINDS)
# Report dimensions that are not known before the flow has routed the visit.
CHOSEN_BY_THE_FLOW = ("offer", "lander", "affiliate_network", "flow", "rule", "path")
CONDITION_OPS = ("in", "not_in", "contains", "between", "in_cidr")
OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "entity": ("in", "not_in"),
    "text": ("in", "not_in", "contains"),
    "version": ("in", "not_in", "contains", "between"),
    "country": ("in", "not_in"),
    "device_type": ("in", "not_in"),
    "asn": ("in", "not_in", "between"),
    "ip": ("in", "not_in", "in_cidr"),
    "day": ("in", "not_in", "between"),
    "hour": ("in", "not_in", "between"),
    "hour_of_day": ("in", "not_in", "between"),
    "day_of_week": ("in", "not_in"),
    "time_of_day": ("between",),
    "unique": ("in",),
}
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_VERSION_RE = re.compile(r"^\d{1,9}([._]\d{1,9}){0,5}$")


def _as_strings(value: Any) -> Any:
    # JSON numbers and booleans in a value list are their text (asn 13335, unique true).
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for item in value:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, int | float):
            out.append(str(item))
        else:
            out.append(item)
    return out


def _normalise_value(kind: str, op: str, raw: str) -> str:
    """One condition value checked and written the way the hot path compares it."""
    value = raw.strip()
    if kind == "entity":
        if not is_whole_number(value) or not 1 <= int(value) <= MAX_ID:
            raise ValueError(f"{raw!r} is not an id (a whole number, e.g. 12)")
        return str(int(value))
    if kind in ("text", "version"):
        if op == "contains" and not value:
            raise ValueError("an empty text is contained in everything")
        if op == "between":
            if not _VERSION_RE.match(value):
                raise ValueError(f"{raw!r} is not a version (numbers and dots, e.g. 16.4)")
            return ".".join(str(int(part)) for part in re.split(r"[._]", value))
        return value
    if kind == "country":
        if len(value) != 2 or not value.isascii() or not value.isalpha():
            raise ValueError(f"{raw!r} is not an ISO 3166-1 alpha-2 country code (e.g. US)")
        return value.upper()
    if kind == "device_type":
        if value.lower() not in DEVICE_TYPES:
            raise ValueError(f"{raw!r} is not a device type ({', '.join(DEVICE_TYPES)})")
        return value.lower()
    if kind == "asn":
        digits = value[2:] if value.upper().startswith("AS") else value
        if not is_whole_number(digits):
            raise ValueError(f"{raw!r} is not an AS number")
        return str(int(digits))
    if kind == "ip":
        try:
            if op == "in_cidr":
                ipaddress.ip_network(value, strict=False)
                return value
            return str(ipaddress.ip_address(value))
        except ValueError as exc:
            what = "an IP address or CIDR range" if op == "in_cidr" else "an IP address"
            raise ValueError(f"{raw!r} is not {what}") from exc
    if kind == "day":
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise ValueError(f"{raw!r} is not a day (YYYY-MM-DD)") from exc
    if kind == "hour":
        try:
            return datetime.fromisoformat(value).strftime("%Y-%m-%d %H")
        except ValueError as exc:
            raise ValueError(f"{raw!r} is not an hour (YYYY-MM-DD HH)") from exc
    if kind == "hour_of_day":
        if not is_whole_number(value) or not 0 <= int(value) <= 23:
            raise ValueError(f"{raw!r} is not an hour of the day (0 to 23)")
        return str(int(value))
    if kind == "day_of_week":
        lowered = value.lower()
        for day in DAYS_OF_WEEK:
            if lowered in (day, day[:3]):
                return day
        raise ValueError(f"{raw!r} is not a day of the week (monday .. sunday)")
    if kind == "time_of_day":
        match = _TIME_RE.match(value)
        if not match:
            raise ValueError(f"{raw!r} is not a time of day (HH:MM)")
        return f"{int(match.group(1)):02d}:{match.group(2)}"
    if kind == "unique":
        lowered = value.lower()
        if lowered in ("true", "1", "yes"):
            return "true"
        if lowered in ("false", "0", "no"):
            return "false"
        raise ValueError(f"{raw!r} is not true or false")
    return value


ConditionValues = Annotated[
    list[Annotated[str, StringConstraints(max_length=VALUE_MAX)]], BeforeValidator(_as_strings)
]


class ConditionIn(Strict):
    """One test on the visit: ``{"field": "country", "op": "in", "values": ["US", "CA"]}``."""

    field: str
    op: str
    values: ConditionValues = Field(min_length=1, max_length=MAX_VALUES)

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        value = value.strip()
        if value in CHOSEN_BY_THE_FLOW:
            raise problem(
                "field",
                f"the flow chooses the {value.replace('_', ' ')}, so it cannot be a condition; "
                f"one of {', '.join(CONDITION_FIELDS)}",
            )
        if value not in FIELD_KINDS:
            raise problem("field", f"unknown field {value!r}; one of {', '.join(CONDITION_FIELDS)}")
        return value

    @field_validator("op")
    @classmethod
    def _known_op(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if value not in CONDITION_OPS:
            raise problem("op", f"unknown op {value!r}; one of {', '.join(CONDITION_OPS)}")
        field_name = info.data.get("field")
        if field_name is not None and value not in OPS_BY_KIND[FIELD_KINDS[field_name]]:
            allowed = ", ".join(OPS_BY_KIND[FIELD_KINDS[field_name]])
            raise problem("op", f"{value!r} does not apply to {field_name}; use {allowed}")
        return value

    @field_validator("values")
    @classmethod
    def _valid_values(cls, value: list[str], info: ValidationInfo) -> list[str]:
        field_name, op = info.data.get("field"), info.data.get("op")
        if field_name is None or op is None:
            return value  # already refused; its own error says why
        kind = FIELD_KINDS[field_name]
        out: list[str] = []
        for index, raw in enumerate(value):
            try:
                out.append(_normalise_value(kind, op, raw))
            except ValueError as exc:
                raise problem("value", f"values.{index}: {exc}") from exc
        if op == "between":
            if len(out) != 2:
                raise problem("between", "between takes exactly two values: from and to")
            if kind in ("asn",) and int(out[0]) > int(out[1]):
                raise problem("between", "between: the first value is above the second")
            if kind in ("day", "hour") and out[0] > out[1]:
                raise problem("between", "between: the first value is after the second")
            if kind == "version" and _version_key(out[0]) > _version_key(out[1]):
                raise problem("between", "between: the first version is above the second")
            if kind == "time_of_day" and out[0] == out[1]:
                raise problem(
                    "between",
                    "between: from and to are the same time; to match all day, leave the "
                    "condition out",
                )
        return out


def _version_key(version: str) -> tuple[int, ...]:
    parts = [int(part) for part in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


class RuleIn(Strict):
    """A rule: when its conditions match the visit, one of its paths is taken by weight."""

    name: Name
    match: Literal["all", "any"] = Field(
        default="all", description="all conditions must hold, or any one of them"
    )
    conditions: list[ConditionIn] = Field(min_length=1, max_length=MAX_CONDITIONS)
    paths: list[PathIn] = Field(default_factory=list, validate_default=True)
    timezone: TimeZoneName = Field(
        default=None, description="IANA zone for day_of_week/time_of_day; none: the account's"
    )

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: list[PathIn]) -> list[PathIn]:
        return _paths_given(value, "a rule")


def _distinct_rule_names(rules: list[RuleIn]) -> list[RuleIn]:
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        key = rule.name.casefold()
        if key in seen:
            raise problem(
                "duplicate_rule",
                f"rules {seen[key]} and {index} are both named {rule.name!r} (a visit records "
                "its rule by name): rename one",
            )
        seen[key] = index
    return rules


class FlowIn(Strict):
    """A flow: rules checked top-down, then the default paths."""

    name: Name
    rules: Annotated[list[RuleIn], AfterValidator(_distinct_rule_names)] = Field(
        default_factory=list, max_length=MAX_RULES
    )
    default_paths: list[PathIn] = Field(default_factory=list, validate_default=True)

    @field_validator("default_paths")
    @classmethod
    def _default_paths(cls, value: list[PathIn]) -> list[PathIn]:
        return _paths_given(value, "a flow")


# Paths and rules read back as written: a key left out on input is left out here too (the API
# dumps with exclude_unset), and means its default.


class WeightedRefOut(BaseModel):
    id: int
    weight: int = 100


class PathOut(BaseModel):
    name: str = ""
    weight: int = 100
    landers: list[WeightedRefOut] = Field(default_factory=list)
    offers: list[WeightedRefOut] = Field(default_factory=list)
    redirect_mode: str | None = None


class ConditionOut(BaseModel):
    field: str
    op: str
    values: list[str] = Field(default_factory=list)


class RuleOut(BaseModel):
    name: str = ""
    match: str = "all"
    conditions: list[ConditionOut] = Field(default_factory=list)
    paths: list[PathOut] = Field(default_factory=list)
    timezone: str | None = None


class FlowOut(SetupOut):
    rules: list[RuleOut]
    default_paths: list[PathOut]


# --- campaigns -----------------------------------------------------------------------------------

PAID_COST_MODELS = (CostModel.CPC, CostModel.CPM, CostModel.CPA, CostModel.REVSHARE)


class DestinationIn(Strict):
    """Where a campaign sends visitors: a flow, or one path of its own."""

    flow_id: ObjectId | None = None
    path: PathIn | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DestinationIn:
        if (self.flow_id is None) == (self.path is None):
            raise problem("destination", "give either flow_id or path (one of them)")
        return self


class CampaignIn(Strict):
    """A campaign: the URL in an ad, its source, its cost model and its destination."""

    name: Name
    traffic_source_id: ObjectId
    cost_model: CostModel = CostModel.NONE
    cost_value: MoneyIn | None = Field(
        default=None,
        validate_default=True,
        description="per visit (cpc), per 1,000 visits (cpm), per conversion (cpa), "
        "% of revenue (revshare); none for auto and none",
    )
    destination: DestinationIn
    redirect_mode: RedirectModeIn = RedirectMode.HTTP_302
    critical_client_hints: bool = False

    @model_validator(mode="before")
    @classmethod
    def _top_level_destination(cls, data: Any) -> Any:
        # {"flow_id": 3} or {"path": {...}} beside the other fields means the same destination.
        if isinstance(data, Mapping) and "destination" not in data:
            moved = {k: data[k] for k in ("flow_id", "path") if data.get(k) is not None}
            if moved:
                rest = {k: v for k, v in data.items() if k not in ("flow_id", "path")}
                return {**rest, "destination": moved}
        return data

    @field_validator("cost_value")
    @classmethod
    def _fits_cost_model(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        model = info.data.get("cost_model")
        if model is None:
            return value
        if model not in PAID_COST_MODELS:
            return None  # auto reads the visit's cost; none has none
        if value is None:
            raise problem("cost_value", f"the {model.value} cost model needs a cost_value")
        if model == CostModel.REVSHARE and value > 100:
            raise problem("cost_value", "revshare is a percentage of revenue: 0 to 100")
        return value


class DestinationFlowOut(BaseModel):
    flow_id: int


class DestinationPathOut(BaseModel):
    path: PathOut


class CampaignOut(SetupOut):
    key: str
    url: str = Field(description="the URL to paste into the ad platform")
    traffic_source_id: int
    cost_model: str
    cost_value: MoneyOut
    destination: DestinationFlowOut | DestinationPathOut
    flow_id: int | None
    path: PathOut | None
    redirect_mode: str
    critical_client_hints: bool


# --- partial changes -----------------------------------------------------------------------------


def patch_model(
    model: type[BaseModel],
    name: str,
    *,
    exclude: tuple[str, ...] = (),
    extra: dict[str, Any] | None = None,
) -> type[Strict]:
    """The PATCH shape of ``model``: every field optional, unknown fields refused. Only types are
    checked here; the change is then merged onto the object and validated whole by ``model``."""
    fields: dict[str, Any] = dict(extra or {})
    for field_name, info in model.model_fields.items():
        if field_name in exclude:
            continue
        # Keep the input conversions (302 as a number), leave the constraints to the whole check.
        hooks = [m for m in info.metadata if isinstance(m, BeforeValidator)]
        optional: Any = info.annotation
        optional = optional | None
        annotation = Annotated[(optional, *hooks)] if hooks else optional
        fields[field_name] = (annotation, Field(default=None, description=info.description))
    patch: type[Strict] = create_model(
        name, __base__=Strict, __doc__=f"A change to some fields of a {model.__name__}.", **fields
    )
    return patch


TrafficSourcePatch = patch_model(TrafficSourceIn, "TrafficSourcePatch", exclude=("preset",))
AffiliateNetworkPatch = patch_model(
    AffiliateNetworkIn, "AffiliateNetworkPatch", exclude=("preset",)
)
OfferPatch = patch_model(OfferIn, "OfferPatch")
LanderPatch = patch_model(LanderIn, "LanderPatch")
FlowPatch = patch_model(FlowIn, "FlowPatch")
CampaignPatch = patch_model(
    CampaignIn,
    "CampaignPatch",
    extra={
        "flow_id": (ObjectId | None, Field(default=None, description="destination.flow_id")),
        "path": (PathIn | None, Field(default=None, description="destination.path")),
    },
)


# --- presets -------------------------------------------------------------------------------------


class PresetOut(BaseModel):
    id: str
    kind: Literal["traffic_source", "affiliate_network"]
    name: str
    fields: dict[str, Any] = Field(description="what the preset fills in on create")
    notes: str
    click_id_param: str | None = Field(
        default=None, description="networks: the offer-URL parameter carrying our click ID"
    )
    offer_url_suffix: str | None = Field(
        default=None, description="networks: append this to the network's offer URLs"
    )
    postback_url: str | None = Field(
        default=None, description="networks: the tracker's postback URL to paste into the network"
    )


class PresetList(BaseModel):
    traffic_sources: list[PresetOut]
    affiliate_networks: list[PresetOut]
    items: list[PresetOut] = Field(description="both lists, sources first")
