"""Settings from TRACKER_* variables: defaults, parsing, refusals, the secret key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.config import ConfigError, Settings


def test_defaults_are_safe_for_a_single_machine(tmp_path: Path) -> None:
    settings = Settings.from_env(environ={}, instance_path=tmp_path)
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path / 'tracker.db'}"
    assert settings.trusted_proxies == 0
    assert settings.timezone == "UTC"
    assert settings.currency == "USD"
    assert settings.geoip_city == ""


def test_every_contract_variable_is_read() -> None:
    env = {
        "TRACKER_DATABASE_URL": "postgresql+psycopg://u@h/db",
        "TRACKER_SECRET_KEY": "s3cret",
        "TRACKER_GEOIP_CITY": "/g/city.mmdb",
        "TRACKER_GEOIP_ASN": "/g/asn.mmdb",
        "TRACKER_GEOIP_ISP": "/g/isp.mmdb",
        "TRACKER_GEOIP_CONNECTION_TYPE": "/g/ct.mmdb",
        "TRACKER_TRUSTED_PROXIES": "2",
        "TRACKER_TIMEZONE": "Europe/Paris",
        "TRACKER_CURRENCY": "EUR",
    }
    settings = Settings.from_env(environ=env)
    assert settings.resolved_database_url() == "postgresql+psycopg://u@h/db"
    assert settings.resolved_secret_key() == "s3cret"
    assert (settings.geoip_city, settings.geoip_asn) == ("/g/city.mmdb", "/g/asn.mmdb")
    assert (settings.geoip_isp, settings.geoip_connection_type) == ("/g/isp.mmdb", "/g/ct.mmdb")
    assert settings.trusted_proxies == 2
    assert settings.zone.key == "Europe/Paris"
    assert settings.currency == "EUR"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRACKER_TRUSTED_PROXIES", "two", "whole number"),
        ("TRACKER_TRUSTED_PROXIES", "-1", "0 or more"),
        ("TRACKER_TIMEZONE", "Mars/Olympus", "time zone"),
        ("TRACKER_CURRENCY", "dollars", "ISO 4217"),
        ("TRACKER_SECURE_COOKIES", "maybe", "boolean"),
    ],
)
def test_bad_values_are_refused_by_name(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=name) as excinfo:
        Settings.from_env(environ={name: value})
    assert message in str(excinfo.value)


def test_generated_secret_key_is_kept_and_private(tmp_path: Path) -> None:
    settings = Settings.from_env(environ={}, instance_path=tmp_path)
    first = settings.resolved_secret_key()
    assert len(first) >= 32
    assert settings.resolved_secret_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    other = Settings.from_env(environ={}, instance_path=tmp_path / "other")
    assert other.resolved_secret_key() != first
