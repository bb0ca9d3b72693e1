"""IP → geo: the configured MaxMind (.mmdb) databases, memory-mapped and opened once per
process, with the embedded offline ``iptocc`` table as the country fallback.

A broken or missing database is logged and skipped, never an error for the visitor: the visit
is recorded with what the other databases (or the fallback) know.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import iptocc
import maxminddb

from tracker.config import Settings

log = logging.getLogger(__name__)

# Lookup order: the city (or enterprise) database places the visitor; the ISP database names the
# ISP before the ASN database's AS organisation does.
ROLES = ("city", "isp", "asn", "connection_type")
FALLBACK = "iptocc (embedded, country only)"


@dataclass(frozen=True, slots=True)
class GeoInfo:
    """What the databases know of one IP; empty strings (and asn None) where nothing."""

    country: str = ""
    region: str = ""
    city: str = ""
    isp: str = ""
    asn: int | None = None
    connection_type: str = ""


EMPTY_GEO = GeoInfo()


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    """One configured database: whether it opened, its type and build date, or its error."""

    role: str
    path: str
    loaded: bool
    database_type: str = ""
    build_date: datetime | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class GeoStatus:
    """Every configured database, and whether the embedded country table stands in for one."""

    databases: tuple[DatabaseStatus, ...]
    country_fallback: str | None

    def lines(self) -> list[str]:
        """One human-readable line per database (what ``tracker geoip status`` prints)."""
        out = []
        for db in self.databases:
            if db.loaded:
                built = db.build_date.strftime("%Y-%m-%d") if db.build_date else "unknown"
                out.append(f"{db.role}: {db.database_type} built {built} ({db.path})")
            else:
                out.append(f"{db.role}: NOT LOADED: {db.error} ({db.path})")
        if self.country_fallback:
            out.append(f"country fallback: {self.country_fallback}")
        return out


def _open_mode() -> int:
    # The C extension's memory map: shared between workers by the page cache, fast lookups.
    return maxminddb.MODE_MMAP_EXT if _has_c_extension() else maxminddb.MODE_MMAP


def _has_c_extension() -> bool:
    try:
        import maxminddb.extension  # noqa: F401
    except ImportError:
        return False
    return True


class GeoResolver:
    """The configured databases of one process, opened on first use."""

    def __init__(self, paths: Mapping[str, str]) -> None:
        self._paths = {role: paths.get(role, "") for role in ROLES}
        self._readers: tuple[tuple[str, Any], ...] = ()
        self._statuses: tuple[DatabaseStatus, ...] = ()
        self._opened = False
        self._lock = threading.Lock()
        self._reported: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> GeoResolver:
        return cls(
            {
                "city": settings.geoip_city,
                "isp": settings.geoip_isp,
                "asn": settings.geoip_asn,
                "connection_type": settings.geoip_connection_type,
            }
        )

    def _open(self) -> None:
        with self._lock:
            if self._opened:
                return
            readers = []
            statuses = []
            for role in ROLES:
                path = self._paths[role]
                if not path:
                    continue
                try:
                    reader = maxminddb.open_database(path, _open_mode())
                    meta = reader.metadata()
                except Exception as exc:  # unreadable, missing or not an .mmdb: go on without it
                    log.error("GeoIP %s database %s cannot be opened: %s", role, path, exc)
                    statuses.append(DatabaseStatus(role, path, False, error=str(exc) or repr(exc)))
                    continue
                readers.append((role, reader))
                statuses.append(
                    DatabaseStatus(
                        role,
                        path,
                        True,
                        database_type=str(meta.database_type),
                        build_date=datetime.fromtimestamp(meta.build_epoch, UTC),
                    )
                )
            self._readers = tuple(readers)
            self._statuses = tuple(statuses)
            self._opened = True

    def status(self) -> GeoStatus:
        """Which databases are loaded (type, build date) or why not, and the country fallback."""
        if not self._opened:
            self._open()
        has_country_db = any(s.loaded and s.role == "city" for s in self._statuses)
        return GeoStatus(self._statuses, None if has_country_db else FALLBACK)

    def lookup(self, ip: str) -> GeoInfo:
        """Geo facts of a valid IP address ("" gives an empty answer)."""
        if not ip:
            return EMPTY_GEO
        if not self._opened:
            self._open()
        country = region = city = isp = as_org = connection_type = ""
        asn: int | None = None
        for role, reader in self._readers:
            try:
                record = reader.get(ip)
            except Exception as exc:  # a corrupt data section: log once, keep the visit
                self._report_failure(role, exc)
                continue
            if not record:
                continue
            traits = record.get("traits") or {}
            if not country:
                country = (record.get("country") or {}).get("iso_code") or ""
            if not region and record.get("subdivisions"):
                region = _english_name(record["subdivisions"][0])
            if not city and record.get("city"):
                city = _english_name(record["city"])
            if not isp:
                isp = record.get("isp") or traits.get("isp") or ""
            if not as_org:
                as_org = (
                    record.get("autonomous_system_organization")
                    or traits.get("autonomous_system_organization")
                    or ""
                )
            if asn is None:
                asn = record.get("autonomous_system_number") or traits.get(
                    "autonomous_system_number"
                )
            if not connection_type:
                connection_type = record.get("connection_type") or traits.get("connection_type", "")
        if not country:
            country = iptocc.country_code(ip) or ""
        return GeoInfo(
            country=country,
            region=region,
            city=city,
            isp=isp or as_org,
            asn=int(asn) if asn is not None else None,
            connection_type=connection_type,
        )

    def _report_failure(self, role: str, exc: Exception) -> None:
        if role not in self._reported:  # once per process: a broken file fails every lookup
            self._reported.add(role)
            log.error("GeoIP %s database %s fails lookups: %s", role, self._paths[role], exc)

    def close(self) -> None:
        """Close the readers (tests, and a settings change in a long-lived process)."""
        for _role, reader in self._readers:
            reader.close()
        self._readers = ()
        self._opened = False


def _english_name(entry: Mapping[str, Any]) -> str:
    names = entry.get("names") or {}
    return str(names.get("en") or entry.get("iso_code") or "")


def geoip_status(settings: Settings) -> GeoStatus:
    """The GeoIP status for these settings (a settings page and ``tracker geoip status``)."""
    resolver = GeoResolver.from_settings(settings)
    try:
        return resolver.status()
    finally:
        resolver.close()
