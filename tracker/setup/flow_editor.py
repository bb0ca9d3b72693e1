"""What the flow editor offers for a rule's conditions: the fields a condition can test (with
labels, groups and the operators each accepts), and the values to pick from where the tracker
knows them: ISO countries, device types, days of the week, common OS, browser and brand families,
and the ones actually seen in this workspace's recent visits; and the campaigns a flow routes.

The field names, kinds and operators are ``tracker.setup.schemas``' (the one source of truth);
this module only adds how a buyer reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from tracker.extensions import DbSession
from tracker.models.events import VAR_COUNT, Visit
from tracker.models.setup import Campaign, TrafficSource
from tracker.setup.schemas import DAYS_OF_WEEK, DEVICE_TYPES, FIELD_KINDS, OPS_BY_KIND
from tracker.tracking.countries import COUNTRY_NAMES

OP_LABELS: dict[str, str] = {
    "in": "is any of",
    "not_in": "is none of",
    "contains": "contains any of",
    "between": "is between",
    "in_cidr": "is in IP range",
}

# Values seen in visits are looked up over this window, in at most this many recent visits, and
# at most this many per field: enough to cover what a workspace sees, cheap to ask on each edit.
SEEN_DAYS = 30
SEEN_SAMPLE = 50_000
SEEN_LIMIT = 200
SEEN_FIELDS = ("os", "browser", "brand", "connection_type", "language")

# ua-parser's family names (what visits store), for a workspace without visits yet.
COMMON_VALUES: dict[str, tuple[str, ...]] = {
    "os": ("Android", "iOS", "Windows", "Mac OS X", "Linux", "Chrome OS", "Ubuntu", "KaiOS"),
    "browser": (
        "Chrome Mobile",
        "Chrome",
        "Mobile Safari",
        "Safari",
        "Chrome Mobile iOS",
        "Chrome Mobile WebView",
        "Mobile Safari UI/WKWebView",
        "Samsung Internet",
        "Firefox",
        "Firefox Mobile",
        "Firefox iOS",
        "Edge",
        "Opera",
        "Opera Mobile",
        "Opera Mini",
        "UC Browser",
        "Yandex Browser",
        "MiuiBrowser",
        "Facebook",
        "Instagram",
    ),
    "brand": (
        "Apple",
        "Samsung",
        "XiaoMi",
        "Huawei",
        "Oppo",
        "Google",
        "Motorola",
        "OnePlus",
        "LG",
        "Sony",
        "Nokia",
        "Lenovo",
        "Asus",
        "ZTE",
        "Generic_Android",
    ),
    # MaxMind's connection-type database names.
    "connection_type": ("Cable/DSL", "Cellular", "Corporate", "Satellite", "Dialup"),
}
LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic",
    "bn": "Bengali",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "fa": "Persian",
    "fi": "Finnish",
    "fil": "Filipino",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "ms": "Malay",
    "nb": "Norwegian",
    "nl": "Dutch",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sk": "Slovak",
    "sv": "Swedish",
    "th": "Thai",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "vi": "Vietnamese",
    "zh": "Chinese",
}

# Common zones for a rule's day and time conditions; a rule's own zone is offered too.
COMMON_TIMEZONES = (
    "UTC",
    "Europe/London",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Warsaw",
    "Europe/Bucharest",
    "Europe/Kyiv",
    "Europe/Istanbul",
    "Europe/Moscow",
    "Africa/Lagos",
    "Africa/Cairo",
    "Africa/Johannesburg",
    "Africa/Nairobi",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Jakarta",
    "Asia/Ho_Chi_Minh",
    "Asia/Singapore",
    "Asia/Manila",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Perth",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "America/Bogota",
    "America/Lima",
    "America/Mexico_City",
    "America/Halifax",
    "America/New_York",
    "America/Toronto",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "Pacific/Honolulu",
)


@dataclass(frozen=True)
class ConditionField:
    """A field a condition can test, as the editor shows it."""

    name: str
    label: str
    group: str
    hint: str = ""
    placeholder: str = ""
    # "e.g." values for the two inputs of a between.
    between: tuple[str, str] = ("", "")
    # Free text that may hold commas (user agents, ISP names): one value per line only.
    lines_only: bool = False
    # A list of values to pick from (the id of its <datalist>), where the tracker knows them.
    listed: bool = False

    @property
    def kind(self) -> str:
        return FIELD_KINDS[self.name]

    @property
    def ops(self) -> tuple[str, ...]:
        return OPS_BY_KIND[self.kind]

    @property
    def list_id(self) -> str:
        return f"flow-values-{self.name}" if self.listed else ""

    @property
    def separator_hint(self) -> str:
        return "one per line" if self.lines_only else "one per line or comma-separated"


_TEXT = "case-insensitive"
FIELDS: tuple[ConditionField, ...] = (
    ConditionField(
        "country", "Country", "Location", "ISO codes, e.g. FR, DE", "FR, DE", listed=True
    ),
    ConditionField("region", "Region", "Location", f"As GeoIP names it ({_TEXT})", "Île-de-France"),
    ConditionField(
        "city", "City", "Location", f"As GeoIP names it ({_TEXT})", "Paris", lines_only=True
    ),
    ConditionField(
        "device_type",
        "Device type",
        "Device",
        "mobile, tablet, desktop, tv, console, wearable, bot, other",
        "mobile",
        listed=True,
    ),
    ConditionField(
        "os", "OS", "Device", "ua-parser families, e.g. iOS, Android", "iOS", listed=True
    ),
    ConditionField(
        "os_version",
        "OS version",
        "Device",
        "17 matches 17.x; between includes both ends",
        "17.4",
        between=("14", "16.4"),
    ),
    ConditionField(
        "browser",
        "Browser",
        "Device",
        "e.g. Chrome Mobile, Mobile Safari",
        "Chrome Mobile",
        listed=True,
    ),
    ConditionField(
        "browser_version",
        "Browser version",
        "Device",
        "120 matches 120.x; between includes both ends",
        "120",
        between=("100", "120"),
    ),
    ConditionField("brand", "Brand", "Device", "e.g. Apple, Samsung", "Samsung", listed=True),
    ConditionField("model", "Model", "Device", f"e.g. iPhone, SM-S918B ({_TEXT})", "iPhone"),
    ConditionField(
        "language", "Language", "Device", "Primary language codes, e.g. en, fr", "fr", listed=True
    ),
    ConditionField(
        "user_agent",
        "User agent",
        "Device",
        f"Whole user agents, or parts with “contains” ({_TEXT})",
        "Instagram",
        lines_only=True,
    ),
    ConditionField(
        "connection_type",
        "Connection type",
        "Connection",
        "As GeoIP names it, e.g. Cellular, Cable/DSL",
        "Cellular",
        listed=True,
    ),
    ConditionField(
        "isp", "ISP", "Connection", f"As GeoIP names it ({_TEXT})", "Orange", lines_only=True
    ),
    ConditionField(
        "asn",
        "ASN (network number)",
        "Connection",
        "e.g. 3215 or AS3215",
        "3215",
        between=("64512", "65534"),
    ),
    ConditionField(
        "ip",
        "IP address",
        "Connection",
        "Addresses, or ranges with “is in IP range” (203.0.113.0/24, 2001:db8::/32)",
        "203.0.113.0/24",
    ),
    ConditionField(
        "referrer_domain",
        "Referrer domain",
        "Traffic",
        "Host names, e.g. m.facebook.com",
        "example.com",
    ),
    ConditionField(
        "referrer",
        "Referrer URL",
        "Traffic",
        f"Whole URLs, or parts with “contains” ({_TEXT}); (empty): no referrer",
        "facebook.com/",
        lines_only=True,
    ),
    *(
        ConditionField(
            f"var{n}", f"var{n}", "Traffic", "Values the source sent, e.g. zone IDs", "12345"
        )
        for n in range(1, VAR_COUNT + 1)
    ),
    ConditionField(
        "traffic_source", "Traffic source", "Traffic", "Traffic source ids", "", listed=True
    ),
    ConditionField("campaign", "Campaign", "Traffic", "Campaign ids", "", listed=True),
    ConditionField(
        "day_of_week",
        "Day of week",
        "Time",
        "In the rule's time zone, e.g. saturday, sunday",
        "saturday, sunday",
        listed=True,
    ),
    ConditionField(
        "time_of_day",
        "Time of day",
        "Time",
        "HH:MM in the rule's time zone; from included, to excluded; 22:00 to 06:00 spans midnight",
        "",
        between=("09:00", "17:00"),
    ),
    ConditionField(
        "hour_of_day",
        "Hour of day",
        "Time",
        "0 to 23 in the rule's time zone",
        "9, 10, 11",
        between=("9", "17"),
    ),
    ConditionField(
        "day",
        "Date",
        "Time",
        "YYYY-MM-DD in the rule's time zone",
        "2026-12-24",
        between=("2026-12-24", "2026-12-26"),
    ),
    ConditionField(
        "hour",
        "Date and hour",
        "Time",
        "YYYY-MM-DD HH in the rule's time zone",
        "2026-12-24 18",
        between=("2026-12-24 18", "2026-12-24 23"),
    ),
    ConditionField(
        "unique",
        "Unique visit",
        "Visitor",
        "true: the first visit of this IP and user agent in the campaign within 24 h",
        "true",
        listed=True,
    ),
)
# Every field the schemas accept has a place here (a test holds it), so no stored rule is lost
# when the editor saves it again.
FIELDS_BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class ValueOption:
    """A value to pick: what is stored, what it names (France for FR) and a note (how often
    visits had it)."""

    value: str
    name: str = ""
    note: str = ""

    @property
    def label(self) -> str:
        return " · ".join(part for part in (self.name, self.note) if part)


def var_labels(session: DbSession, workspace_id: int) -> dict[str, str]:
    """``{"var1": "var1 · zone (PropellerAds)"}``: what each variable carries in the
    workspace's traffic sources, where they name it."""
    names: dict[int, list[str]] = {}
    rows = session.execute(
        select(TrafficSource.name, TrafficSource.variables)
        .where(TrafficSource.workspace_id == workspace_id, TrafficSource.archived_at.is_(None))
        .order_by(TrafficSource.name)
    )
    for source_name, variables in rows:
        for number, variable in enumerate(variables or [], start=1):
            name = str((variable or {}).get("name") or (variable or {}).get("param") or "")
            if name and number <= VAR_COUNT:
                names.setdefault(number, []).append(f"{name} ({source_name})")
    labels: dict[str, str] = {}
    for number, described in names.items():
        text = ", ".join(described)
        labels[f"var{number}"] = f"var{number} · {text[:60]}{'…' if len(text) > 60 else ''}"
    return labels


def seen_values(
    session: DbSession, workspace_id: int, now: datetime
) -> dict[str, list[tuple[str, int]]]:
    """The OS, browser, brand, connection type and language values of the workspace's recent
    human visits, most frequent first, with their counts: what a rule can target that traffic
    actually has. Reads at most ``SEEN_SAMPLE`` visits of the last ``SEEN_DAYS`` days."""
    recent = (
        select(*(getattr(Visit, name) for name in SEEN_FIELDS))
        .where(
            Visit.workspace_id == workspace_id,
            Visit.created_at >= now - timedelta(days=SEEN_DAYS),
            Visit.is_bot.is_(False),
        )
        .order_by(Visit.created_at.desc())
        .limit(SEEN_SAMPLE)
        .subquery()
    )
    seen: dict[str, list[tuple[str, int]]] = {}
    for name in SEEN_FIELDS:
        column = recent.c[name]
        count = func.count()
        rows = session.execute(
            select(column, count)
            .where(column != "")
            .group_by(column)
            .order_by(count.desc(), column)
            .limit(SEEN_LIMIT)
        )
        seen[name] = [(str(value), int(n)) for value, n in rows]
    return seen


def _seen_note(count: int) -> str:
    return f"{count:,} visit{'s' if count != 1 else ''} in {SEEN_DAYS} days"


def _merged(common: tuple[str, ...], seen: list[tuple[str, int]]) -> list[ValueOption]:
    """Values seen in visits first (with their counts), then the common ones not seen."""
    options = [ValueOption(value, note=_seen_note(n)) for value, n in seen]
    known = {value.casefold() for value, _ in seen}
    options += [ValueOption(value) for value in common if value.casefold() not in known]
    return options


def value_lists(
    session: DbSession, workspace_id: int, now: datetime
) -> dict[str, list[ValueOption]]:
    """Each listed field's values to pick from (the editor's datalists), by field name."""
    seen = seen_values(session, workspace_id, now)
    languages = [
        ValueOption(value, LANGUAGE_NAMES.get(value, ""), _seen_note(n))
        for value, n in seen["language"]
    ]
    known = {option.value for option in languages}
    languages += [
        ValueOption(code, name) for code, name in LANGUAGE_NAMES.items() if code not in known
    ]
    sources = session.execute(
        select(TrafficSource.id, TrafficSource.name)
        .where(TrafficSource.workspace_id == workspace_id)
        .order_by(TrafficSource.name)
    )
    campaigns = session.execute(
        select(Campaign.id, Campaign.name)
        .where(Campaign.workspace_id == workspace_id, Campaign.archived_at.is_(None))
        .order_by(Campaign.name)
        .limit(SEEN_LIMIT)
    )
    return {
        "country": [
            ValueOption(code, name)
            for code, name in sorted(COUNTRY_NAMES.items(), key=lambda item: item[1])
        ],
        "device_type": [ValueOption(value) for value in DEVICE_TYPES],
        "os": _merged(COMMON_VALUES["os"], seen["os"]),
        "browser": _merged(COMMON_VALUES["browser"], seen["browser"]),
        "brand": _merged(COMMON_VALUES["brand"], seen["brand"]),
        "connection_type": _merged(COMMON_VALUES["connection_type"], seen["connection_type"]),
        "language": languages,
        "traffic_source": [ValueOption(str(i), name) for i, name in sources],
        "campaign": [ValueOption(str(i), name) for i, name in campaigns],
        "day_of_week": [ValueOption(day) for day in DAYS_OF_WEEK],
        "unique": [
            ValueOption("true", note="the first visit of this IP and user agent in 24 h"),
            ValueOption("false", note="a repeat within 24 h"),
        ],
    }


def campaigns_using_flow(session: DbSession, workspace_id: int, flow_id: int) -> list[Campaign]:
    """The workspace's campaigns that send their visitors through this flow, by name."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.workspace_id == workspace_id, Campaign.flow_id == flow_id)
            .order_by(Campaign.archived_at.is_not(None), Campaign.name)
        )
    )


def field_catalog(var_names: dict[str, str]) -> list[dict[str, Any]]:
    """Each field with what the editor's script needs to know of it (operators, list, hints)."""
    return [
        {
            "name": f.name,
            "label": var_names.get(f.name, f.label),
            "group": f.group,
            "ops": " ".join(f.ops),
            "list": f.list_id,
            "hint": f.hint,
            "placeholder": f.placeholder,
            "low": f.between[0],
            "high": f.between[1],
            "separator": f.separator_hint,
            "lines_only": f.lines_only,
        }
        for f in FIELDS
    ]
