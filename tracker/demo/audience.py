"""Where the demo's visitors are: countries with their share of traffic, time offset, languages
and payout tier, and public IPv4 addresses that the country lookup places in each.

Addresses come from the same offline allocation table the tracker reads without GeoIP files
(``iptocc``): every /16 of the public IPv4 space is looked up once, and a visitor of a country
gets a random address in one of that country's blocks, checked again. So a country in the demo
is the country the tracker itself finds for the address.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import iptocc


@dataclass(frozen=True)
class Country:
    """A country of the demo: share of traffic, UTC offset (hours, no DST), Accept-Language
    headers its browsers send, and tier (1 pays most)."""

    code: str
    share: float
    utc_offset: float
    languages: tuple[str, ...]
    tier: int


COUNTRIES: tuple[Country, ...] = (
    Country("US", 20, -5, ("en-US,en;q=0.9", "en-US", "es-US,es;q=0.9,en;q=0.8"), 1),
    Country("GB", 5, 0, ("en-GB,en;q=0.9", "en-GB,en-US;q=0.9,en;q=0.8"), 1),
    Country("CA", 3, -5, ("en-CA,en;q=0.9", "fr-CA,fr;q=0.9,en-CA;q=0.8"), 1),
    Country("AU", 2, 10, ("en-AU,en;q=0.9",), 1),
    Country("DE", 5, 1, ("de-DE,de;q=0.9,en;q=0.8", "de"), 1),
    Country("FR", 4, 1, ("fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7",), 1),
    Country("NL", 1.5, 1, ("nl-NL,nl;q=0.9,en;q=0.8",), 1),
    Country("JP", 2, 9, ("ja-JP,ja;q=0.9", "ja"), 1),
    Country("KR", 1, 9, ("ko-KR,ko;q=0.9,en-US;q=0.8",), 1),
    Country("SE", 0.8, 1, ("sv-SE,sv;q=0.9,en;q=0.8",), 1),
    Country("CH", 0.5, 1, ("de-CH,de;q=0.9,fr;q=0.8",), 1),
    Country("AT", 0.5, 1, ("de-AT,de;q=0.9,en;q=0.8",), 1),
    Country("NZ", 0.4, 12, ("en-NZ,en;q=0.9",), 1),
    Country("IT", 3, 1, ("it-IT,it;q=0.9,en;q=0.8",), 2),
    Country("ES", 3, 1, ("es-ES,es;q=0.9",), 2),
    Country("PL", 2, 1, ("pl-PL,pl;q=0.9,en-US;q=0.8",), 2),
    Country("PT", 0.8, 0, ("pt-PT,pt;q=0.9,en;q=0.8",), 2),
    Country("RO", 0.8, 2, ("ro-RO,ro;q=0.9,en;q=0.8",), 2),
    Country("BR", 8, -3, ("pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7", "pt-BR"), 2),
    Country("MX", 4, -6, ("es-MX,es;q=0.9,en;q=0.8", "es-419,es;q=0.9"), 2),
    Country("ZA", 1.5, 2, ("en-ZA,en;q=0.9",), 2),
    Country("SA", 1, 3, ("ar-SA,ar;q=0.9,en;q=0.8",), 2),
    Country("AE", 0.8, 4, ("en-AE,en;q=0.9,ar;q=0.8",), 2),
    Country("AR", 1, -3, ("es-AR,es;q=0.9",), 3),
    Country("CO", 1, -5, ("es-CO,es;q=0.9",), 3),
    Country("CL", 0.6, -4, ("es-CL,es;q=0.9",), 3),
    Country("PE", 0.6, -5, ("es-PE,es;q=0.9",), 3),
    Country("IN", 8, 5.5, ("en-IN,en;q=0.9,hi;q=0.8", "hi-IN,hi;q=0.9,en-IN;q=0.8"), 3),
    Country("ID", 6, 7, ("id-ID,id;q=0.9,en-US;q=0.8", "in-ID"), 3),
    Country("TH", 3, 7, ("th-TH,th;q=0.9,en;q=0.8",), 3),
    Country("VN", 3, 7, ("vi-VN,vi;q=0.9,en-US;q=0.8",), 3),
    Country("PH", 3, 8, ("en-PH,en;q=0.9,fil;q=0.8",), 3),
    Country("MY", 1, 8, ("ms-MY,ms;q=0.9,en;q=0.8", "en-MY,en;q=0.9"), 3),
    Country("TR", 2, 3, ("tr-TR,tr;q=0.9,en;q=0.8",), 3),
    Country("EG", 1, 2, ("ar-EG,ar;q=0.9,en;q=0.8",), 3),
    Country("NG", 1, 1, ("en-NG,en;q=0.9",), 3),
    Country("KE", 0.5, 3, ("en-KE,en;q=0.9,sw;q=0.8",), 3),
    Country("PK", 1.5, 5, ("en-PK,en;q=0.9,ur;q=0.8",), 3),
    Country("BD", 1, 6, ("bn-BD,bn;q=0.9,en;q=0.8",), 3),
    Country("UA", 0.8, 2, ("uk-UA,uk;q=0.9,ru;q=0.8,en;q=0.7",), 3),
)
COUNTRY_BY_CODE = {country.code: country for country in COUNTRIES}
TIER_1 = tuple(c.code for c in COUNTRIES if c.tier == 1)
# Where crawlers and scripts come from: data centres.
BOT_COUNTRIES = ("US", "US", "US", "DE", "NL", "FR", "GB", "SE")


class AddressPool:
    """Public IPv4 addresses by country, as the embedded allocation table places them."""

    def __init__(self) -> None:
        prefixes = [(a, b) for a in range(1, 224) for b in range(256) if a not in (10, 127)]
        codes = iptocc.country_code([f"{a}.{b}.0.1" for a, b in prefixes])
        self.blocks: dict[str, list[int]] = {}
        for (a, b), code in zip(prefixes, codes, strict=True):
            if code:
                self.blocks.setdefault(code, []).append(a << 24 | b << 16)

    def address(self, rng: random.Random, country: str) -> str:
        """A public address the table places in ``country`` (another country's where a /16
        is shared, which real traffic also has)."""
        blocks = self.blocks.get(country) or self.blocks["US"]
        for _ in range(4):
            value = rng.choice(blocks) | rng.randrange(1, 0xFFFF)
            text = _dotted(value)
            if iptocc.country_code(text) == country:
                return text
        return text


def _dotted(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


# Local hour of day → relative traffic (people browse in the evening, little at 4 am).
HOURLY_CURVE = (
    0.45, 0.3, 0.2, 0.15, 0.13, 0.18, 0.35, 0.6, 0.75, 0.8, 0.85, 0.9,
    0.95, 0.92, 0.88, 0.9, 0.95, 1.0, 1.1, 1.25, 1.35, 1.3, 1.05, 0.7,
)  # fmt: skip
