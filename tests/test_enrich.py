"""Enrichment: user agents (ua-parser 1.0 with user-agents' classes), client hints, IP, language,
referrer, and GeoIP with MaxMind's test databases and the iptocc fallback."""

from __future__ import annotations

import ipaddress
import logging
import random

import pytest

from tests.visitors import ANDROID_REDUCED, CHROME_WINDOWS, GEOIP, GOOGLEBOT, IPHONE
from tracker.config import Settings
from tracker.tracking.enrich import (
    DEVICE_TYPES,
    ClientHints,
    apply_client_hints,
    normalize_ip,
    parse_user_agent,
    primary_language,
    referrer_domain,
)
from tracker.tracking.geoip import FALLBACK, GeoResolver, geoip_status

CITY = str(GEOIP / "GeoIP2-City-Test.mmdb")
ISP = str(GEOIP / "GeoIP2-ISP-Test.mmdb")
ASN = str(GEOIP / "GeoLite2-ASN-Test.mmdb")
CONNECTION = str(GEOIP / "GeoIP2-Connection-Type-Test.mmdb")
BROKEN_DATA = str(GEOIP / "GeoIP2-City-Test-Broken-Double-Format.mmdb")
BROKEN_HEADER = str(GEOIP / "GeoIP2-City-Test-Invalid-Node-Count.mmdb")

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
EDGE = CHROME_WINDOWS + " Edg/124.0.2478.51"
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
GALAXY_TAB = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAMSUNG_TV = (
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "76.0.3809.146/6.0 TV Safari/537.36"
)
LG_TV = (
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/87.0.4280.88 Safari/537.36 WebAppManager"
)
PS5 = (
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.0 Safari/605.1.15"
)
XBOX = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edge/44.18363.8131"
)
GALAXY_WATCH = (
    "Mozilla/5.0 (Linux; Android 11; SM-R860 Build/RWD2.220309.001; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/114.0.5735.196 Mobile Safari/537.36"
)
GOOGLEBOT_MOBILE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.6367.118 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
CURL = "curl/8.5.0"


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (IPHONE, ("mobile", "Apple", "iPhone", "iOS", "17.4", "Mobile Safari", "17.4", False)),
        (
            ANDROID_REDUCED,
            ("mobile", "Generic_Android", "K", "Android", "10", "Chrome Mobile", "124.0.0", False),
        ),
        (CHROME_WINDOWS, ("desktop", "", "", "Windows", "10", "Chrome", "124.0.0", False)),
        (FIREFOX_LINUX, ("desktop", "", "", "Linux", "", "Firefox", "125.0", False)),
        (EDGE, ("desktop", "", "", "Windows", "10", "Edge", "124.0.2478", False)),
        (MAC_SAFARI, ("desktop", "Apple", "Mac", "Mac OS X", "10.15.7", "Safari", "17.4", False)),
        (IPAD, ("tablet", "Apple", "iPad", "iOS", "17.4", "Mobile Safari", "17.4", False)),
        (GALAXY_TAB, ("tablet",) + (None,) * 7),
        (SAMSUNG_TV, ("tv", "Samsung", "SMART-TV", "Tizen", "6.0") + (None,) * 3),
        (LG_TV, ("tv", "LG") + (None,) * 6),
        (PS5, ("console", "Sony", "PlayStation 5") + (None,) * 5),
        (XBOX, ("console",) + (None,) * 7),
        (GALAXY_WATCH, ("wearable", "Samsung", "SM-R860") + (None,) * 5),
        (GOOGLEBOT, ("bot", "Spider", "Desktop", "Other", "", "Googlebot", "2.1", True)),
        (GOOGLEBOT_MOBILE, ("bot", "Spider", "Smartphone") + (None,) * 4 + (True,)),
        (CURL, ("other", "", "", "Other", "", "curl", "8.5.0", False)),
        ("", ("other", "", "", "Other", "", "Other", "", False)),
    ],
)
def test_user_agents_are_classified_with_ua_parser_family_names(
    user_agent: str, expected: tuple[object, ...]
) -> None:
    info = parse_user_agent(user_agent)
    got = (
        info.device_type,
        info.brand,
        info.model,
        info.os,
        info.os_version,
        info.browser,
        info.browser_version,
        info.is_bot,
    )
    for name, want, have in zip(
        ("device_type", "brand", "model", "os", "os_version", "browser", "version", "bot"),
        expected,
        got,
        strict=True,
    ):
        if want is not None:
            assert have == want, (name, user_agent)
    assert info.device_type in DEVICE_TYPES


def test_device_classes_agree_with_user_agents_own_parser() -> None:
    from user_agents import parse as slow_parse

    for user_agent in (IPHONE, ANDROID_REDUCED, CHROME_WINDOWS, IPAD, GALAXY_TAB, GOOGLEBOT):
        slow = slow_parse(user_agent)
        fast = parse_user_agent(user_agent)
        assert fast.is_bot == slow.is_bot
        assert (fast.device_type == "tablet") == slow.is_tablet
        assert (fast.device_type == "mobile") == (slow.is_mobile and not slow.is_bot)
        assert (fast.device_type == "desktop") == slow.is_pc
        assert fast.os == slow.os.family and fast.browser == slow.browser.family


def test_parsing_is_cached() -> None:
    parse_user_agent.cache_clear()
    first = parse_user_agent(IPHONE)
    assert parse_user_agent(IPHONE) is first
    assert parse_user_agent.cache_info().hits == 1


ANDROID_HINTS = ClientHints(
    ua='"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
    model='"Pixel 8"',
    platform='"Android"',
    platform_version='"14.0.0"',
    full_version_list=(
        '"Chromium";v="124.0.6367.82", "Google Chrome";v="124.0.6367.82", '
        '"Not-A.Brand";v="99.0.0.0"'
    ),
)


def test_client_hints_win_over_the_reduced_user_agent() -> None:
    info = apply_client_hints(parse_user_agent(ANDROID_REDUCED), ANDROID_HINTS)
    assert (info.brand, info.model) == ("Google", "Pixel 8")
    assert info.os_version == "14"
    assert info.browser == "Chrome Mobile"
    assert info.browser_version == "124.0.6367.82"
    assert info.device_type == "mobile"


def test_client_hints_name_windows_11_and_ignore_empty_desktop_model() -> None:
    hints = ClientHints(
        ua='"Google Chrome";v="124"',
        model='""',
        platform='"Windows"',
        platform_version='"15.0.0"',
        full_version_list='"Google Chrome";v="124.0.6367.91", "Chromium";v="124.0.6367.91"',
    )
    info = apply_client_hints(parse_user_agent(CHROME_WINDOWS), hints)
    assert info.os_version == "11"
    assert (info.brand, info.model) == ("", "")
    assert info.browser_version == "124.0.6367.91"


def test_client_hints_that_contradict_the_user_agent_are_ignored() -> None:
    hints = ClientHints(
        ua='"Google Chrome";v="99"',
        model='"Pixel 8"',
        platform='"Android"',
        platform_version='"14.0.0"',
        full_version_list='"Google Chrome";v="99.0.1.2"',
    )
    info = apply_client_hints(parse_user_agent(IPHONE), hints)
    assert info == parse_user_agent(IPHONE)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("81.2.69.160", "81.2.69.160"),
        (" 216.160.83.56 ", "216.160.83.56"),
        ("2001:0218:0000::0001", "2001:218::1"),
        ("::ffff:81.2.69.160", "81.2.69.160"),
        ("203.0.113.5:51000", "203.0.113.5"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("unknown", ""),
        ("", ""),
        (None, ""),
        ("1.2.3.4.5", ""),
        ("256.1.1.1", ""),
        ("01.2.3.4", ""),  # leading zeros: refused, as ipaddress refuses them
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("1.2.3.\u0664", ""),  # a non-ASCII digit is no IPv4 octet
    ],
)
def test_ip_addresses_are_validated_and_canonical(raw: str | None, expected: str) -> None:
    assert normalize_ip(raw) == expected


def test_the_dotted_quad_shortcut_agrees_with_ipaddress() -> None:
    rng = random.Random(5)
    parts = ["0", "00", "01", "1", "9", "10", "99", "100", "199", "249", "255", "256", "300"]
    for _ in range(20_000):
        raw = ".".join(rng.choice(parts) for _ in range(rng.choice((3, 4, 4, 5))))
        try:
            expected = str(ipaddress.ip_address(raw))
        except ValueError:
            expected = ""
        assert normalize_ip(raw) == expected, raw


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9", "en"),
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"),
        ("de;q=0.5, pt-BR;q=0.8", "pt"),
        ("*", ""),
        ("", ""),
        ("12345", ""),
        ("ZH-Hant-TW", "zh"),
    ],
)
def test_primary_language(header: str, expected: str) -> None:
    assert primary_language(header) == expected


def test_referrer_domain() -> None:
    assert referrer_domain("https://WWW.Example.com:8443/path?q=1") == "www.example.com"
    assert referrer_domain("") == ""
    assert referrer_domain("http://[::1") == ""
    assert referrer_domain("not a url") == ""


# --- GeoIP -----------------------------------------------------------------------------------


def resolver(**paths: str) -> GeoResolver:
    return GeoResolver(paths)


def test_maxmind_test_databases_give_country_region_city_isp_asn_connection() -> None:
    geo = resolver(city=CITY, isp=ISP, asn=ASN, connection_type=CONNECTION)
    london = geo.lookup("81.2.69.160")
    assert (london.country, london.region, london.city) == ("GB", "England", "London")
    assert london.isp == "Andrews & Arnold Ltd" and london.asn is None
    milton = geo.lookup("216.160.83.56")
    assert (milton.country, milton.region, milton.city) == ("US", "Washington", "Milton")
    assert (milton.isp, milton.asn, milton.connection_type) == ("Century Link", 209, "Corporate")
    assert geo.lookup("2001:218::1").country == "JP"  # IPv6
    assert geo.lookup("2.125.160.216").connection_type == "Cable/DSL"


def test_asn_database_alone_names_the_as_organisation_as_isp() -> None:
    geo = resolver(asn=ASN)
    info = geo.lookup("89.160.20.112")
    assert (info.asn, info.isp) == (29518, "Bredband2 AB")
    assert info.country == "SE"  # from the embedded fallback: no city database here


def test_country_falls_back_to_iptocc_without_databases() -> None:
    geo = resolver()
    assert geo.lookup("81.2.69.160").country == "GB"
    assert geo.lookup("8.8.8.8").country == "US"
    assert geo.lookup("10.0.0.1").country == ""
    assert geo.lookup("").country == ""
    status = geo.status()
    assert status.databases == () and status.country_fallback == FALLBACK


def test_city_database_wins_over_the_fallback() -> None:
    # The test database places 2.125.160.216 in GB; it is not a lookup the fallback answers so.
    geo = resolver(city=CITY)
    assert geo.lookup("202.196.224.5").country == "PH"  # not the represented country (US)
    assert geo.status().country_fallback is None


def test_broken_databases_are_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    geo = resolver(city=BROKEN_DATA, isp=BROKEN_HEADER, asn=ASN)
    info = geo.lookup("81.2.69.160")
    assert info.country == "GB"  # from the fallback
    geo.lookup("216.160.83.56")
    assert geo.lookup("216.160.83.56").asn == 209  # the good database still answers
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot be opened" in m for m in messages) == 1
    assert sum("fails lookups" in m for m in messages) == 1  # once, not per visit
    status = {s.role: s for s in geo.status().databases}
    assert not status["isp"].loaded and status["isp"].error
    assert status["city"].loaded and status["asn"].loaded


def test_geoip_status_names_type_and_build_date() -> None:
    settings = Settings.from_env(environ={}, geoip_city=CITY, geoip_asn=ASN, geoip_isp="/nope.mmdb")
    status = geoip_status(settings)
    by_role = {s.role: s for s in status.databases}
    assert by_role["city"].database_type == "GeoIP2-City"
    assert by_role["city"].build_date is not None and by_role["city"].build_date.year >= 2020
    assert by_role["asn"].database_type == "GeoLite2-ASN"
    assert not by_role["isp"].loaded
    lines = status.lines()
    assert any(line.startswith("city: GeoIP2-City built ") for line in lines)
    assert any(line.startswith("isp: NOT LOADED") for line in lines)


def test_geoip_status_command_prints_databases_and_fails_on_a_broken_one() -> None:
    from click.testing import CliRunner

    from tracker.cli import main

    runner = CliRunner()
    loaded = runner.invoke(main, ["geoip", "status"], env={"TRACKER_GEOIP_CITY": CITY})
    assert loaded.exit_code == 0, loaded.output
    assert loaded.stdout.startswith("city: GeoIP2-City built 2026-")
    fallback = runner.invoke(main, ["geoip", "status"], env={"TRACKER_GEOIP_CITY": ""})
    assert fallback.exit_code == 0 and fallback.stdout == f"country fallback: {FALLBACK}\n"
    broken = runner.invoke(main, ["geoip", "status"], env={"TRACKER_GEOIP_ASN": BROKEN_HEADER})
    assert broken.exit_code == 1
    assert "asn: NOT LOADED" in broken.stdout and "not loaded: asn" in broken.stderr
