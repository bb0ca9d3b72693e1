"""What a request tells about the visitor: device, OS and browser from the user agent (and
Chromium's client hints), the client IP, language and referrer domain.

User agents are parsed by ua-parser 1.0 on its Rust core and classified with ``user-agents``'
device rules (mobile, tablet, PC, bot) fed from that result; an LRU cache in front serves the
heavily repeated user agents of real traffic without parsing them again.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from ua_parser import (
    BasicResolver,
    Domain,
    Parser,
    RegexResolver,  # the Rust core (ua-parser[regex]); None when the extra is missing
    load_builtins,
    load_lazy_builtins,
)
from user_agents.parsers import (
    UserAgent,
    parse_browser,
    parse_device,
    parse_operating_system,
)

DEVICE_TYPES = ("mobile", "tablet", "desktop", "tv", "console", "wearable", "bot", "other")
UA_MAX_LENGTH = 1024  # real user agents are far shorter; longer ones are junk or attacks
UA_CACHE_SIZE = 4096

# Big screens, consoles and wearables, which user-agents' classes do not tell apart. Each class
# has a cheap substring pre-check (most user agents match none) before its exact pattern; both
# read the lower-cased user agent.
_TV_HINTS = (
    "tv",
    "web0s",
    "webos",
    "crkey",
    "bravia",
    "roku",
    "netcast",
    "viera",
    "aft",
)
_TV = re.compile(
    r"smart-?tv|\bweb0s\b|\bwebos\b|hbbtv|\btizen\b[^)]*\btv\b|\btv safari\b|apple ?tv|\bcrkey\b"
    r"|google ?tv|android ?tv|\bbravia\b|\broku\b|netcast|\bviera\b|philipstv|\baft[a-z]{1,5}\b"
)
_CONSOLE_HINTS = ("playstation", "xbox", "nintendo")
_WEARABLE_HINTS = ("watch", "wear", "sm-r")
_WEARABLE = re.compile(r"watch ?os|wear ?os|; watch\b|\bsm-r[0-9]{3}\b|smartwatch")


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Device, OS and browser of a visitor, in ua-parser's family names."""

    device_type: str
    brand: str
    model: str
    os: str
    os_version: str
    browser: str
    browser_version: str
    is_bot: bool


@dataclass(frozen=True, slots=True)
class ClientHints:
    """The raw ``Sec-CH-UA-*`` request headers (None when absent)."""

    ua: str | None = None
    model: str | None = None
    platform: str | None = None
    platform_version: str | None = None
    full_version_list: str | None = None


NO_HINTS = ClientHints()

# Asked on every campaign response: Chromium sends them on the next request to the tracker.
ACCEPT_CH = (
    "Sec-CH-UA, Sec-CH-UA-Mobile, Sec-CH-UA-Platform, Sec-CH-UA-Model, "
    "Sec-CH-UA-Platform-Version, Sec-CH-UA-Full-Version-List"
)
# With a campaign's opt-in, these are worth a retried request (Chromium retries it at once).
CRITICAL_CH = "Sec-CH-UA-Model, Sec-CH-UA-Platform-Version"


# --- user agent --------------------------------------------------------------------------------

_parser: Parser | None = None
_parser_lock = threading.Lock()


def ua_parser() -> Parser:
    """The process's ua-parser 1.0 parser (built once; about 0.1 s and 25 MB)."""
    global _parser
    if _parser is None:
        with _parser_lock:
            if _parser is None:
                if RegexResolver is not None:
                    _parser = Parser(RegexResolver(load_lazy_builtins()))
                else:  # pragma: no cover - same answers, about 20 times slower
                    _parser = Parser(BasicResolver(load_builtins()))
    return _parser


class _ParsedUserAgent(UserAgent):
    """``user-agents``' classification (is_mobile, is_tablet, is_pc, is_bot) over a result of
    ua-parser 1.0, instead of the slow legacy parser its constructor would call."""

    def __init__(self, ua_string: str) -> None:
        result = ua_parser()(ua_string, Domain.ALL).complete().with_defaults()
        agent, os_, device = result.user_agent, result.os, result.device
        self.ua_string = ua_string
        self.os = parse_operating_system(
            os_.family, os_.major, os_.minor, os_.patch, os_.patch_minor
        )
        self.browser = parse_browser(
            agent.family, agent.major, agent.minor, agent.patch, agent.patch_minor
        )
        self.device = parse_device(device.family, device.brand, device.model)


def _device_type(agent: _ParsedUserAgent) -> str:
    if agent.is_bot:
        return "bot"
    ua = agent.ua_string.lower()
    if any(hint in ua for hint in _TV_HINTS) and _TV.search(ua):
        return "tv"
    if any(hint in ua for hint in _CONSOLE_HINTS):
        return "console"
    if any(hint in ua for hint in _WEARABLE_HINTS) and _WEARABLE.search(ua):
        return "wearable"
    if agent.is_tablet:
        return "tablet"
    if agent.is_mobile:
        return "mobile"
    if agent.is_pc:
        return "desktop"
    return "other"


@lru_cache(maxsize=UA_CACHE_SIZE)
def parse_user_agent(user_agent: str) -> DeviceInfo:
    """Device, OS and browser of a user agent string (cached)."""
    agent = _ParsedUserAgent(user_agent[:UA_MAX_LENGTH])
    return DeviceInfo(
        device_type=_device_type(agent),
        brand=agent.device.brand or "",
        model=agent.device.model or "",
        os=agent.os.family,
        os_version=agent.os.version_string,
        browser=agent.browser.family,
        browser_version=agent.browser.version_string,
        is_bot=bool(agent.is_bot),
    )


# --- client hints ------------------------------------------------------------------------------

_SF_ITEM = re.compile(r'"((?:[^"\\]|\\.)*)"\s*;\s*v\s*=\s*"((?:[^"\\]|\\.)*)"')
_GREASE = re.compile(r"not.?a.?brand", re.IGNORECASE)
# Sec-CH-UA brands whose full version answers for ua-parser's family of the same browser.
_BRAND_FAMILIES = {
    "Google Chrome": ("Chrome", "Chrome Mobile", "Chrome Mobile WebView"),
    "Microsoft Edge": ("Edge", "Edge Mobile"),
    "Opera": ("Opera",),
    "Brave": ("Brave", "Chrome", "Chrome Mobile"),
    "Samsung Internet": ("Samsung Internet",),
    "YaBrowser": ("Yandex Browser",),
    "Chromium": ("Chromium", "Chrome", "Chrome Mobile", "Chrome Mobile WebView"),
}
_PLATFORM_OS = {"Android": "Android", "Windows": "Windows", "macOS": "Mac OS X"}
_MODEL_JUNK = re.compile(r"[;()\x00-\x1f]")


def _sf_string(value: str | None) -> str:
    """The text of a structured-field string header (``"Pixel 8"`` → ``Pixel 8``)."""
    if not value:
        return ""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value[:64]


def _short_version(version: str) -> str:
    """Trailing zero parts dropped, as the user agent would say it (14.0.0 → 14)."""
    parts = version.split(".")
    if not all(p.isdigit() for p in parts):
        return ""
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return ".".join(parts)[:32]


def apply_client_hints(info: DeviceInfo, hints: ClientHints) -> DeviceInfo:
    """Prefer what the browser's client hints say over its (frozen, reduced) user agent."""
    if hints is NO_HINTS or info.is_bot:
        return info
    changes: dict[str, Any] = {}
    platform = _sf_string(hints.platform)
    same_os = _PLATFORM_OS.get(platform) == info.os
    version = _short_version(_sf_string(hints.platform_version))
    if same_os and version:
        if platform == "Windows":
            # Windows reports its UA platform version: 13 and up is Windows 11, 1 to 12 is 10.
            major = int(version.split(".")[0])
            if major >= 13:
                changes["os_version"] = "11"
            elif major >= 1:
                changes["os_version"] = "10"
        else:
            changes["os_version"] = version
    model = _MODEL_JUNK.sub("", _sf_string(hints.model)).strip()
    if model and platform == "Android" and info.os == "Android":
        # Let ua-parser's device rules name the brand of the exact model.
        device = parse_user_agent(
            f"Mozilla/5.0 (Linux; Android 10; {model}) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
        )
        changes["brand"] = device.brand
        changes["model"] = device.model or model
    full_version = _browser_full_version(hints.full_version_list, info)
    if full_version:
        changes["browser_version"] = full_version
    return replace(info, **changes) if changes else info


def _browser_full_version(header: str | None, info: DeviceInfo) -> str:
    if not header:
        return ""
    major = info.browser_version.split(".")[0]
    chromium = ""
    for brand, version in _SF_ITEM.findall(header[:512]):
        if _GREASE.search(brand) or version.split(".")[0] != major:
            continue
        if brand == "Chromium":
            chromium = version
        elif info.browser in _BRAND_FAMILIES.get(brand, ()):
            return version[:32]
    if chromium and info.browser in _BRAND_FAMILIES["Chromium"]:
        return chromium[:32]
    return ""


# --- request facts -----------------------------------------------------------------------------


# An IPv4 address in canonical form (no leading zeros), as str(ipaddress.ip_address(...)) writes it.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)


def normalize_ip(raw: str | None) -> str:
    """A valid IPv4 or IPv6 address in canonical form, or "" (proxies' ports are dropped)."""
    if not raw:
        return ""
    candidate = raw.strip()
    if CANONICAL_IPV4.fullmatch(candidate):
        return candidate  # already canonical: most visitors, at a fifth of ip_address's cost
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        host = _strip_port(candidate)
        if host is None:
            return ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _strip_port(value: str) -> str | None:
    if value.startswith("["):  # [2001:db8::1]:443
        host, sep, _rest = value[1:].partition("]")
        return host if sep else None
    if value.count(":") == 1:  # 203.0.113.5:51000
        return value.split(":", 1)[0]
    return None


_LANGUAGE = re.compile(r"[a-z]{2,8}")


@lru_cache(maxsize=1024)  # browsers send a few distinct headers: most visits are a hit
def primary_language(accept_language: str | None) -> str:
    """The primary subtag of the preferred Accept-Language entry (``en-US,en;q=0.9`` → ``en``)."""
    if not accept_language:
        return ""
    best, best_q = "", -1.0
    for entry in accept_language.split(",", 20)[:20]:
        tag, _, params = entry.partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        q = 1.0
        if params:
            name, _, value = params.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = tag, q
            if q >= 1.0:
                break
    primary = best.split("-", 1)[0].lower()
    return primary if _LANGUAGE.fullmatch(primary) else ""


def referrer_domain(referrer: str | None) -> str:
    """The host name of the referrer URL, lower-case, or ""."""
    if not referrer:
        return ""
    try:
        host = urlsplit(referrer.strip()).hostname
    except ValueError:
        return ""
    return (host or "")[:255]
