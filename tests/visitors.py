"""Visitors the tests send: user agents, IPs of MaxMind's test databases (see
tests/data/geoip/README), and the settings that load those databases."""

from __future__ import annotations

from pathlib import Path

GEOIP = Path(__file__).parent / "data" / "geoip"
ALL_GEOIP = {
    "geoip_city": str(GEOIP / "GeoIP2-City-Test.mmdb"),
    "geoip_isp": str(GEOIP / "GeoIP2-ISP-Test.mmdb"),
    "geoip_asn": str(GEOIP / "GeoLite2-ASN-Test.mmdb"),
    "geoip_connection_type": str(GEOIP / "GeoIP2-Connection-Type-Test.mmdb"),
}

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
# Chrome's reduced user agent: model "K", Android 10, whatever the phone.
ANDROID_REDUCED = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36"
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

LONDON = "81.2.69.160"  # GB, England, London; Andrews & Arnold Ltd
MILTON = "216.160.83.56"  # US, Washington, Milton; Century Link, AS209, Corporate
