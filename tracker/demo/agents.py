"""User agents of the demo's visitors: a few hundred real browser strings, built from the
formats browsers send (versions and devices of recent years), weighted like ad traffic is.

Each device class has its own list; a class is drawn by the traffic source's device mix, then a
string within it with a skew towards recent versions and popular devices (the first entries),
so a few strings carry most visits and a long tail the rest, as in real logs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from itertools import accumulate

# iOS versions as (user-agent form, Safari version).
_IOS = (
    ("18_5", "18.5"),
    ("18_6", "18.6"),
    ("18_4_1", "18.4"),
    ("17_6_1", "17.6"),
    ("18_3_2", "18.3"),
    ("17_5_1", "17.5"),
    ("18_1_1", "18.1"),
    ("16_7_10", "16.6"),
    ("17_4_1", "17.4.1"),
    ("18_2_1", "18.2"),
    ("17_3_1", "17.3"),
    ("16_6_1", "16.6"),
    ("15_8_3", "15.6.6"),
    ("17_1_2", "17.1.2"),
    ("18_0_1", "18.0.1"),
)
# Full builds of older Chrome releases, which still sent the device model.
_CHROME_BUILDS = {
    "131": "131.0.6778.135",
    "127": "127.0.6533.103",
    "124": "124.0.6367.179",
    "120": "120.0.6099.230",
    "116": "116.0.5845.172",
}
_CHROME = ("138", "137", "139", "136", "135", "134", "131", "127", "124", "120", "116", "109")
_FIREFOX = ("140", "139", "141", "138", "128", "136", "115")
_EDGE = ("138", "137", "139", "136", "131")
_SAMSUNG = (("28.0", "130"), ("27.0", "125"), ("26.0", "122"), ("25.0", "121"), ("23.0", "115"))
_ANDROID_PHONES = (
    ("14", "SM-A155F"),
    ("15", "SM-S928B"),
    ("14", "SM-A546B"),
    ("13", "SM-A145F"),
    ("15", "Pixel 8"),
    ("14", "23106RN0DA"),
    ("13", "SM-G991B"),
    ("14", "Redmi Note 13"),
    ("12", "M2101K7BG"),
    ("14", "CPH2581"),
    ("13", "RMX3710"),
    ("15", "Pixel 9 Pro"),
    ("12", "SM-A125F"),
    ("13", "V2207"),
    ("14", "Infinix X6833B"),
    ("11", "moto g(30)"),
    ("13", "TECNO KI5q"),
    ("14", "SM-S918B"),
    ("10", "SM-A105F"),
    ("13", "2201117TY"),
)
_ANDROID_TABLETS = (
    ("14", "SM-X210"),
    ("13", "SM-X200"),
    ("13", "SM-T505"),
    ("12", "Lenovo TB-X606F"),
    ("14", "SM-X710"),
)
_IPAD = (("17_5_1", "17.5"), ("18_5", "18.5"), ("16_7_10", "16.6"), ("18_3_2", "18.3"))
_MAC_SAFARI = ("18.5", "17.6", "18.4", "17.4.1", "16.6")

BOTS = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/138.0.7204.92 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 14_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/14.0 Mobile/15E148 Safari/604.1 (compatible; AdsBot-Google-Mobile; "
    "+http://www.google.com/mobile/adsbot.html)",
    "python-requests/2.32.3",
    "curl/8.5.0",
)


def _iphone() -> list[str]:
    agents = []
    for ios, safari in _IOS:
        agents.append(
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
            f"(KHTML, like Gecko) Version/{safari} Mobile/15E148 Safari/604.1"
        )
    for ios, _safari in _IOS[:8]:  # in-app browsers and Chrome for iOS
        agents.append(
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/512.0.0.45.104;FBBV/7342312;"
            "FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/" + ios.replace("_", ".") + ";FBSS/3;"
            "FBCR/;FBID/phone;FBLC/en_US;FBOP/5]"
        )
        agents.append(
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
            f"(KHTML, like Gecko) CriOS/{_CHROME[0]}.0.7204.119 Mobile/15E148 Safari/604.1"
        )
        agents.append(
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148 Instagram 389.0.0.49.87 (iPhone15,3; iOS "
            + ios
            + "; en_US; en; scale=3.00; 1290x2796; 772359428)"
        )
    return agents


def _android_phone() -> list[str]:
    agents = []
    for chrome in _CHROME[:8]:  # Chrome's reduced user agent: no model, Android 10
        agents.append(
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{chrome}.0.0.0 Mobile Safari/537.36"
        )
    for android, model in _ANDROID_PHONES:
        for build in _CHROME_BUILDS.values():  # older builds and WebViews still name the model
            agents.append(
                f"Mozilla/5.0 (Linux; Android {android}; {model}) AppleWebKit/537.36 (KHTML, "
                f"like Gecko) Chrome/{build} Mobile Safari/537.36"
            )
        agents.append(
            f"Mozilla/5.0 (Linux; Android {android}; {model} Build/UP1A.231005.007; wv) "
            "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
            f"Chrome/{_CHROME[1]}.0.7151.89 Mobile Safari/537.36"
        )
    for android, model in _ANDROID_PHONES[:10]:
        if model.startswith("SM-"):
            for samsung, chrome in _SAMSUNG:
                agents.append(
                    f"Mozilla/5.0 (Linux; Android {android}; SAMSUNG {model}) AppleWebKit/537.36 "
                    f"(KHTML, like Gecko) SamsungBrowser/{samsung} Chrome/{chrome}.0.0.0 "
                    "Mobile Safari/537.36"
                )
    for firefox in _FIREFOX[:3]:
        agents.append(
            f"Mozilla/5.0 (Android 14; Mobile; rv:{firefox}.0) Gecko/{firefox}.0 "
            f"Firefox/{firefox}.0"
        )
    for android, model in _ANDROID_PHONES[:6]:
        agents.append(
            f"Mozilla/5.0 (Linux; Android {android}; {model}) AppleWebKit/537.36 (KHTML, like "
            f"Gecko) Chrome/{_CHROME[2]}.0.0.0 Mobile Safari/537.36 OPR/90.0.4820.87654"
        )
    return agents


def _tablet() -> list[str]:
    agents = []
    for ios, safari in _IPAD:
        agents.append(
            f"Mozilla/5.0 (iPad; CPU OS {ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
            f"Gecko) Version/{safari} Mobile/15E148 Safari/604.1"
        )
    for android, model in _ANDROID_TABLETS:
        for chrome in _CHROME[:3]:
            agents.append(
                f"Mozilla/5.0 (Linux; Android {android}; {model}) AppleWebKit/537.36 (KHTML, "
                f"like Gecko) Chrome/{chrome}.0.0.0 Safari/537.36"
            )
    return agents


def _desktop() -> list[str]:
    agents = []
    for chrome in _CHROME:
        agents.append(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{chrome}.0.0.0 Safari/537.36"
        )
    for edge in _EDGE:
        agents.append(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{edge}.0.0.0 Safari/537.36 Edg/{edge}.0.0.0"
        )
    for chrome in _CHROME[:7]:
        agents.append(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
            f"Gecko) Chrome/{chrome}.0.0.0 Safari/537.36"
        )
    for safari in _MAC_SAFARI:
        agents.append(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
            f"Gecko) Version/{safari} Safari/605.1.15"
        )
    for firefox in _FIREFOX:
        agents.append(
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{firefox}.0) Gecko/20100101 "
            f"Firefox/{firefox}.0"
        )
    for firefox in _FIREFOX[:4]:
        agents.append(
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{firefox}.0) Gecko/20100101 "
            f"Firefox/{firefox}.0"
        )
        agents.append(
            f"Mozilla/5.0 (X11; Linux x86_64; rv:{firefox}.0) Gecko/20100101 Firefox/{firefox}.0"
        )
    for chrome in _CHROME[:4]:
        agents.append(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{chrome}.0.0.0 Safari/537.36"
        )
        agents.append(
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{chrome}.0.0.0 Safari/537.36"
        )
    agents.append(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/134.0.0.0 Safari/537.36 OPR/119.0.0.0"
    )
    agents.append(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/137.0.0.0 YaBrowser/25.6.0.0 Safari/537.36"
    )
    return agents


def _smart_tv() -> list[str]:
    return [
        "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.5) AppleWebKit/537.36 (KHTML, like Gecko) "
        "94.0.4606.31/6.5 TV Safari/537.36",
        "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/87.0.4280.88 Safari/537.36 WebAppManager",
    ]


class UserAgentPool:
    """Weighted user agents per device class (``iphone``, ``android``, ``tablet``,
    ``desktop``, ``tv``, ``bot``)."""

    def __init__(self) -> None:
        self.classes: dict[str, tuple[str, ...]] = {
            "iphone": tuple(_iphone()),
            "android": tuple(_android_phone()),
            "tablet": tuple(_tablet()),
            "desktop": tuple(_desktop()),
            "tv": tuple(_smart_tv()),
            "bot": BOTS,
        }
        # Zipf-like weights, 1/(n+2) for the n-th string: the first few of a class carry most
        # visits, the tail a trickle.
        self._cumulative = {
            name: tuple(accumulate(1 / (n + 2) for n in range(len(agents))))
            for name, agents in self.classes.items()
        }

    def __len__(self) -> int:
        return sum(len(agents) for agents in self.classes.values())

    def pick(self, rng: random.Random, device_class: str) -> str:
        """One user agent of the class, skewed towards the popular ones."""
        agents = self.classes[device_class]
        return rng.choices(agents, cum_weights=self._cumulative[device_class])[0]

    def all(self) -> Sequence[str]:
        return [agent for agents in self.classes.values() for agent in agents]
