"""Settings: every ``TRACKER_*`` variable of the contract, read from the environment in one place.

``Settings.from_env()`` is the only reader of ``os.environ`` in the package; everything else asks
``current_app.config["SETTINGS"]`` (or gets a ``Settings`` passed in).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENV_PREFIX = "TRACKER_"


class ConfigError(ValueError):
    """A setting has a value the tracker cannot work with."""


def _default_instance_path() -> Path:
    # Beside the code checkout by default (like Flask's instance folder); overridable.
    return Path.cwd() / "instance"


@dataclass(frozen=True)
class Settings:
    """The tracker's configuration, with safe defaults for a single-machine SQLite install."""

    instance_path: Path = field(default_factory=_default_instance_path)
    # SQLAlchemy URL of the store. Empty means SQLite file ``tracker.db`` under instance_path.
    database_url: str = ""
    # Signs sessions and CSRF tokens. Empty means: generated once, kept in instance/secret_key.
    secret_key: str = ""
    # Paths to MaxMind (or compatible) .mmdb files; empty = not used.
    geoip_city: str = ""
    geoip_asn: str = ""
    geoip_isp: str = ""
    geoip_connection_type: str = ""
    # How many reverse-proxy hops to trust for the client IP (N-th X-Forwarded-For from the right).
    trusted_proxies: int = 0
    # The account's time zone (reports, the UI) and currency (postbacks without one).
    timezone: str = "UTC"
    currency: str = "USD"
    # Mark the session cookie Secure (behind TLS). Off by default so http://127.0.0.1 works.
    secure_cookies: bool = False
    # Failed logins per email+IP within login_throttle_window seconds before refusing more.
    login_throttle_attempts: int = 5
    login_throttle_window: int = 300
    # Largest page an API list answers.
    api_max_per_page: int = 200
    # Days the postback log keeps its rows (the worker deletes older ones); 0 keeps them all.
    postback_log_retention_days: int = 30
    # Days raw visits are kept (older ones are deleted; report rollups keep their totals, and
    # reports by rarer dimensions then cover only the kept days); 0 keeps them all.
    visit_retention_days: int = 0
    # Megabytes of visit spool files (instance/spool) kept on disk while the store is down;
    # past that, visits are still redirected but no longer journalled (counted and logged).
    spool_max_mb: int = 1024

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every ``TRACKER_*`` variable; unknown values raise ``ConfigError``."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse settings the tracker cannot run with, naming the variable."""
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"TRACKER_TIMEZONE: unknown time zone {self.timezone!r}") from exc
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise ConfigError(f"TRACKER_CURRENCY: not an ISO 4217 code: {self.currency!r}")
        if self.trusted_proxies < 0:
            raise ConfigError("TRACKER_TRUSTED_PROXIES: must be 0 or more")
        if self.postback_log_retention_days < 0:
            raise ConfigError("TRACKER_POSTBACK_LOG_RETENTION_DAYS: must be 0 or more")
        if self.visit_retention_days < 0:
            raise ConfigError("TRACKER_VISIT_RETENTION_DAYS: must be 0 or more")
        if self.spool_max_mb < 1:
            raise ConfigError("TRACKER_SPOOL_MAX_MB: must be 1 or more")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.instance_path / 'tracker.db'}"

    def resolved_secret_key(self) -> str:
        """The configured key, else one generated once and kept (mode 0600) under instance/."""
        if self.secret_key:
            return self.secret_key
        key_file = self.instance_path / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.instance_path.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # O_EXCL: two workers starting at once must agree on one key.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return key_file.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _coerce(name: str, annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    variable = ENV_PREFIX + name.upper()
    if kind == "int":
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(f"{variable}: not a whole number: {raw!r}") from exc
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{variable}: not a boolean: {raw!r}")
    if kind == "Path":
        return Path(raw)
    return raw
