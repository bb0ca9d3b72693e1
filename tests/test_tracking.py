"""The hot path end to end: /c/<key> records every field and redirects by the campaign's mode;
tokens, cookies, client hints, trusted proxies, GeoIP (good, broken, absent), unique flag,
archived and unknown campaigns, snapshot refresh, and no open redirect."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.visitors import ALL_GEOIP, ANDROID_REDUCED, GEOIP, GOOGLEBOT, IPHONE
from tracker.models import Campaign, Flow, Lander, Offer, TrafficSource, Visit
from tracker.models.types import utcnow
from tracker.store import bump_setup_version
from tracker.tracking.clickid import CLICK_COOKIE
from tracker.tracking.tokens import VISIT_TOKENS
from tracker.tracking.views import tracking_state

ANDROID_HINT_HEADERS = {
    "Sec-CH-UA": '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"',
    "Sec-CH-UA-Mobile": "?1",
    "Sec-CH-UA-Platform": '"Android"',
    "Sec-CH-UA-Model": '"SM-S911B"',
    "Sec-CH-UA-Platform-Version": '"14.0.0"',
    "Sec-CH-UA-Full-Version-List": (
        '"Chromium";v="124.0.6367.82", "Google Chrome";v="124.0.6367.82", '
        '"Not-A.Brand";v="99.0.0.0"'
    ),
}


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Every GeoIP test database, unless a test asks for other settings."""
    return getattr(request, "param", ALL_GEOIP)


@pytest.fixture(autouse=True)
def write_behind(app: Flask) -> Iterator[None]:
    """The production path: visits go through the write-behind writer."""
    state = tracking_state(app)
    state.write_behind = True
    yield
    state.close_writer()  # nothing of this test reaches the next one's store


def visits(db: Session) -> list[dict[str, Any]]:
    assert tracking_state().flush()  # the write-behind has stored every visit so far
    db.rollback()  # a fresh read of what the requests committed
    rows = db.execute(select(Visit.__table__).order_by(Visit.id)).mappings().all()
    return [dict(r) for r in rows]


def only_visit(db: Session) -> dict[str, Any]:
    rows = visits(db)
    assert len(rows) == 1, rows
    return rows[0]


def hit(client: FlaskClient, key: str, query: str = "", ip: str = "81.2.69.160", **headers: str):
    headers.setdefault("User-Agent", IPHONE)
    return client.get(
        f"/c/{key}{'?' + query if query else ''}",
        headers=headers,
        environ_base={"REMOTE_ADDR": ip},
    )


@pytest.fixture
def source(make_traffic_source: Callable[..., TrafficSource]) -> TrafficSource:
    return make_traffic_source(
        name="Zeropark",
        external_id_param="cid",
        cost_param="cost",
        variables=[
            {"name": "zone", "param": "zone", "placeholder": "{target}"},
            {"name": "geo", "param": "g", "placeholder": "{geo}"},
            {"name": "", "param": "", "placeholder": ""},
            {"name": "site", "param": "site", "placeholder": "{site}"},
        ],
    )


def direct_path(offer: Offer, **extra: Any) -> dict[str, Any]:
    return {"weight": 100, "landers": [], "offers": [{"id": offer.id, "weight": 100}], **extra}


# --- recording ------------------------------------------------------------------------------------


def test_visit_records_every_field_and_counts_a_direct_click(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
    source: TrafficSource,
) -> None:
    offer = make_offer(name="Offer X", url="https://offer.example/lp?sub={clickid}")
    campaign = make_campaign(
        path=direct_path(offer), traffic_source_id=source.id, cost_model="auto"
    )
    response = hit(
        client,
        campaign.key,
        "cid=ext-123&cost=0.0035&zone=z%209&g=uk&site=news.example&other=ignored",
        ip="216.160.83.56",
        **{"Accept-Language": "en-US,en;q=0.9", "Referer": "https://News.Example.com/a?b=1"},
    )
    assert response.status_code == 302
    visit = only_visit(db)
    assert response.headers["Location"] == f"https://offer.example/lp?sub={visit['click_id']}"
    assert re.fullmatch(r"[0-9a-hjkmnp-tv-z]{26}", visit["click_id"])
    expected = {
        "workspace_id": campaign.workspace_id,
        "campaign_id": campaign.id,
        "traffic_source_id": source.id,
        "flow_id": None,
        "rule": None,
        "path": "1",
        "lander_id": None,
        "offer_id": offer.id,
        "clicks": 1,
        "ip": "216.160.83.56",
        "user_agent": IPHONE,
        "is_bot": False,
        "is_unique": True,
        "device_type": "mobile",
        "brand": "Apple",
        "model": "iPhone",
        "os": "iOS",
        "os_version": "17.4",
        "browser": "Mobile Safari",
        "browser_version": "17.4",
        "country": "US",
        "region": "Washington",
        "city": "Milton",
        "isp": "Century Link",
        "asn": 209,
        "connection_type": "Corporate",
        "language": "en",
        "referrer": "https://News.Example.com/a?b=1",
        "referrer_domain": "news.example.com",
        "external_id": "ext-123",
        "cost": Decimal("0.0035"),
        "var1": "z 9",
        "var2": "uk",
        "var3": "",
        "var4": "news.example",
        "var5": "",
        "var10": "",
    }
    assert {k: visit[k] for k in expected} == expected
    assert visit["clicked_at"] == visit["created_at"]
    assert abs((utcnow() - visit["created_at"]).total_seconds()) < 60


def test_visit_to_a_lander_leaves_the_offer_for_the_click(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
    make_lander: Callable[..., Lander],
) -> None:
    lander = make_lander(url="https://lander.example/?c={clickid}&o={offer.id}")
    offer = make_offer()
    campaign = make_campaign(
        path={
            "weight": 100,
            "landers": [{"id": lander.id, "weight": 100}],
            "offers": [{"id": offer.id, "weight": 100}],
        }
    )
    response = hit(client, campaign.key)
    visit = only_visit(db)
    assert response.headers["Location"] == (f"https://lander.example/?c={visit['click_id']}&o=")
    assert (visit["lander_id"], visit["offer_id"], visit["clicks"]) == (lander.id, None, 0)
    assert visit["clicked_at"] is None


@pytest.mark.parametrize(
    ("cost_model", "cost_value", "query", "expected"),
    [
        ("cpc", Decimal("0.02"), "cost=9", Decimal("0.02")),
        ("cpm", Decimal("1.5"), "", Decimal("0.0015")),
        ("auto", None, "cost=0,004", Decimal("0.004")),
        ("auto", None, "cost=${COST}", Decimal("0")),
        ("cpa", Decimal("3"), "cost=9", Decimal("0")),
        ("none", None, "cost=9", Decimal("0")),
    ],
)
def test_visit_cost_follows_the_campaign_cost_model(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    cost_model: str,
    cost_value: Decimal | None,
    query: str,
    expected: Decimal,
) -> None:
    campaign = make_campaign(cost_model=cost_model, cost_value=cost_value)
    hit(client, campaign.key, query)
    assert only_visit(db)["cost"] == expected


def test_bots_are_redirected_and_flagged(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    response = hit(client, campaign.key, **{"User-Agent": GOOGLEBOT})
    assert response.status_code == 302
    visit = only_visit(db)
    assert visit["is_bot"] is True and visit["device_type"] == "bot"
    assert visit["browser"] == "Googlebot"


def test_unique_flag_is_first_visit_of_ip_and_user_agent_in_the_campaign_within_a_day(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    first, second = make_campaign(), make_campaign()
    hit(client, first.key, ip="81.2.69.160")
    hit(client, first.key, ip="81.2.69.160")
    hit(client, first.key, ip="81.2.69.160", **{"User-Agent": ANDROID_REDUCED})
    hit(client, first.key, ip="216.160.83.56")
    hit(client, second.key, ip="81.2.69.160")
    assert [v["is_unique"] for v in visits(db)] == [True, False, True, True, True]


def test_a_visit_older_than_a_day_does_not_make_the_next_one_repeat(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    campaign = make_campaign()
    hit(client, campaign.key)
    assert len(visits(db)) == 1
    db.execute(update(Visit).values(created_at=utcnow() - timedelta(hours=25)))
    db.commit()
    hit(client, campaign.key)
    assert [v["is_unique"] for v in visits(db)] == [True, True]


def test_overlong_values_are_cut_to_fit(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    source: TrafficSource,
) -> None:
    campaign = make_campaign(traffic_source_id=source.id)
    hit(
        client,
        campaign.key,
        "zone=" + "z" * 600 + "&cid=" + "e" * 600 + "&site=a%00b",
        **{"Accept-Language": "x" * 40},
    )
    visit = only_visit(db)
    assert visit["var1"] == "z" * 255 and visit["external_id"] == "e" * 255
    assert visit["var4"] == "ab"  # PostgreSQL stores no NUL character
    assert visit["language"] == ""


def test_head_requests_are_answered_without_recording(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    assert client.head(f"/c/{campaign.key}").status_code == 200
    assert visits(db) == []


# --- tokens -------------------------------------------------------------------------------------


def test_every_token_is_replaced_url_encoded_and_unknown_ones_stay(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    source = make_traffic_source(
        name="Source & Co",
        external_id_param="ext",
        cost_param="cost",
        variables=[{"name": f"v{n}", "param": f"p{n}", "placeholder": ""} for n in range(1, 11)],
    )
    tokens = [t for t in VISIT_TOKENS]
    url = "https://offer.example/t?" + "&".join(f"{t}={{{t}}}" for t in tokens) + "&u={nope}"
    offer = make_offer(name="Offer/1", url=url)
    campaign = make_campaign(
        name="Camp 50%", path=direct_path(offer), traffic_source_id=source.id, cost_model="auto"
    )
    query = "ext=E%201&cost=0.25&" + "&".join(f"p{n}=val{n}" for n in range(1, 11))
    response = hit(
        client,
        campaign.key,
        query,
        ip="216.160.83.56",
        **{"Referer": "https://ref.example/x", "Accept-Language": "de-DE"},
    )
    location = response.headers["Location"]
    got = {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}
    assert got["u"] == "{nope}"  # left alone (the Location header percent-encodes the braces)
    visit = only_visit(db)
    expected = {
        "clickid": visit["click_id"],
        "campaign.id": str(campaign.id),
        "campaign.name": "Camp 50%",
        "trafficsource.id": str(source.id),
        "trafficsource.name": "Source & Co",
        "lander.id": "",
        "lander.name": "",
        "offer.id": str(offer.id),
        "offer.name": "Offer/1",
        "country": "US",
        "countryname": "United States",
        "region": "Washington",
        "city": "Milton",
        "isp": "Century Link",
        "asn": "209",
        "connection.type": "Corporate",
        "device": "mobile",
        "brand": "Apple",
        "model": "iPhone",
        "os": "iOS",
        "osversion": "17.4",
        "browser": "Mobile Safari",
        "browserversion": "17.4",
        "language": "de",
        "ip": "216.160.83.56",
        "useragent": IPHONE,
        "referrerdomain": "ref.example",
        **{f"var{n}": f"val{n}" for n in range(1, 11)},
        "externalid": "E 1",
        "cost": "0.25",
    }
    assert {t: got.get(t) for t in tokens} == expected
    # Encoded, not raw: the user agent's spaces and the names' reserved characters.
    assert "useragent=Mozilla%2F5.0%20%28iPhone" in location
    assert "trafficsource.name=Source%20%26%20Co" in location


# --- redirect modes -------------------------------------------------------------------------------


def meta_target(response: Any) -> str:
    match = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', response.text)
    assert match, response.text
    return unescape(match.group(1))


def test_meta_refresh_mode(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
) -> None:
    offer = make_offer(url="https://offer.example/?a=1&c={clickid}")
    campaign = make_campaign(path=direct_path(offer), redirect_mode="meta")
    response = hit(client, campaign.key)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "&amp;c=" in response.text  # the URL is escaped in the page
    assert meta_target(response) == f"https://offer.example/?a=1&c={only_visit(db)['click_id']}"
    assert "no-referrer" not in response.text


def test_double_meta_goes_through_a_referrer_stripping_page(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
) -> None:
    offer = make_offer(url="https://offer.example/?c={clickid}")
    campaign = make_campaign(path=direct_path(offer), redirect_mode="double_meta")
    first = hit(client, campaign.key, **{"Referer": "https://adsite.example/"})
    assert first.status_code == 200
    assert first.headers["Referrer-Policy"] == "no-referrer"
    hop = meta_target(first)
    assert hop.startswith("/go/")
    assert "offer.example" not in first.text
    second = client.get(hop, headers={"Referer": f"http://localhost/c/{campaign.key}"})
    assert second.status_code == 200
    assert second.headers["Referrer-Policy"] == "no-referrer"
    assert '<meta name="referrer" content="no-referrer">' in second.text
    assert meta_target(second) == f"https://offer.example/?c={only_visit(db)['click_id']}"


def test_a_path_redirect_mode_overrides_the_campaign(
    client: FlaskClient, make_campaign: Callable[..., Campaign], make_offer: Callable[..., Offer]
) -> None:
    offer = make_offer()
    campaign = make_campaign(path=direct_path(offer, redirect_mode="meta"), redirect_mode="302")
    response = hit(client, campaign.key)
    assert response.status_code == 200 and 'http-equiv="refresh"' in response.text


def test_non_ascii_destinations_are_sent_as_valid_uris(
    client: FlaskClient, make_campaign: Callable[..., Campaign], make_offer: Callable[..., Offer]
) -> None:
    offer = make_offer(url="https://offer.example/bücher?q=ü")
    campaign = make_campaign(path=direct_path(offer))
    response = hit(client, campaign.key)
    assert response.headers["Location"] == "https://offer.example/b%C3%BCcher?q=%C3%BC"


# --- cookie, unknown and archived campaigns, paused destinations -------------------------------


def test_click_id_cookie_is_first_party_httponly_lax(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    response = hit(client, campaign.key)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{CLICK_COOKIE}={only_visit(db)['click_id']};")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Max-Age=2592000" in cookie and "Domain" not in cookie
    assert response.headers["Cache-Control"].startswith("no-store")


def test_unknown_campaign_is_a_404_page_and_records_nothing(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    make_campaign()
    for key in ("nope", "x" * 40, "%00"):
        response = hit(client, key)
        assert response.status_code == 404
        assert "Not found" in response.text and "Set-Cookie" not in response.headers
    assert visits(db) == []


def test_archived_campaign_keeps_redirecting(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign(archived_at=utcnow())
    assert hit(client, campaign.key).status_code == 302
    assert len(visits(db)) == 1


def test_everything_paused_records_the_visit_and_shows_a_page(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
) -> None:
    offer = make_offer()
    campaign = make_campaign(
        path={"weight": 100, "landers": [], "offers": [{"id": offer.id, "weight": 0}]}
    )
    response = hit(client, campaign.key)
    assert response.status_code == 404
    visit = only_visit(db)
    assert visit["offer_id"] is None and visit["clicks"] == 0


def test_flow_default_paths_route_and_are_recorded(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
    workspace: Any,
) -> None:
    paused, live = (
        make_offer(url="https://paused.example/"),
        make_offer(url="https://live.example/"),
    )
    flow = Flow(
        workspace_id=workspace.id,
        name="Flow",
        rules=[],
        default_paths=[
            {"weight": 0, "landers": [], "offers": [{"id": paused.id, "weight": 100}]},
            {"weight": 100, "landers": [], "offers": [{"id": live.id, "weight": 100}]},
        ],
    )
    db.add(flow)
    db.commit()
    campaign = make_campaign(flow_id=flow.id, path=None)
    for _ in range(5):
        assert hit(client, campaign.key).headers["Location"] == "https://live.example/"
    rows = visits(db)
    assert {(v["flow_id"], v["rule"], v["path"], v["offer_id"]) for v in rows} == {
        (flow.id, None, "2", live.id)
    }


# --- no open redirect -----------------------------------------------------------------------------


def test_destinations_never_come_from_the_request(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
) -> None:
    offer = make_offer(url="https://offer.example/")
    campaign = make_campaign(path=direct_path(offer))
    evil = "https://evil.example/"
    response = hit(client, campaign.key, f"url={evil}&redirect={evil}&to={evil}&next={evil}")
    assert response.headers["Location"] == "https://offer.example/"
    click = client.get(f"/click?cid={only_visit(db)['click_id']}&url={evil}")
    assert click.headers["Location"] == "https://offer.example/"
    assert client.get("/go/" + "x" * 40).status_code == 404


def test_double_meta_hop_refuses_tampered_tokens(
    client: FlaskClient, make_campaign: Callable[..., Campaign], app: Flask
) -> None:
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("not-our-key", salt="tracking.double-meta").dumps(
        "https://evil.example/"
    )
    assert client.get(f"/go/{forged}").status_code == 404


def test_non_web_urls_are_never_destinations(
    client: FlaskClient, make_campaign: Callable[..., Campaign], make_offer: Callable[..., Offer]
) -> None:
    offer = make_offer(url="javascript:alert(1)")
    campaign = make_campaign(path=direct_path(offer), redirect_mode="meta")
    response = hit(client, campaign.key)
    assert response.status_code == 404 and "javascript" not in response.text


# --- snapshots ----------------------------------------------------------------------------------


def test_snapshot_is_refreshed_when_the_setup_version_changes(
    client: FlaskClient,
    app: Flask,
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
) -> None:
    clock = [1000.0]
    cache = tracking_state(app).snapshots
    cache.clock = lambda: clock[0]
    offer = make_offer(url="https://before.example/")
    campaign = make_campaign(path=direct_path(offer))
    assert hit(client, campaign.key).headers["Location"] == "https://before.example/"

    offer_row = db.get(Offer, offer.id)
    assert offer_row is not None
    offer_row.url = "https://after.example/"
    bump_setup_version(db)
    db.commit()
    clock[0] += 0.5  # within the check interval: the cached snapshot still answers
    assert hit(client, campaign.key).headers["Location"] == "https://before.example/"
    clock[0] += 1.0
    assert hit(client, campaign.key).headers["Location"] == "https://after.example/"


def test_a_new_campaign_is_found_on_a_cache_miss(
    client: FlaskClient, app: Flask, make_campaign: Callable[..., Campaign]
) -> None:
    cache = tracking_state(app).snapshots
    cache.clock = lambda: 5.0  # frozen: only a miss can read the store
    first = make_campaign()
    assert hit(client, first.key).status_code == 302
    second = make_campaign()
    assert hit(client, second.key).status_code == 302


# --- client IP ------------------------------------------------------------------------------------


def _ip_of_visit(client: FlaskClient, db: Session, key: str, remote: str, xff: str | None) -> str:
    headers = {"User-Agent": IPHONE}
    if xff is not None:
        headers["X-Forwarded-For"] = xff
    client.get(f"/c/{key}", headers=headers, environ_base={"REMOTE_ADDR": remote})
    return str(visits(db)[-1]["ip"])


@pytest.mark.parametrize(
    ("settings_overrides", "remote", "xff", "expected"),
    [
        ({"trusted_proxies": 0}, "81.2.69.160", "1.1.1.1", "81.2.69.160"),
        ({"trusted_proxies": 1}, "10.0.0.2", "6.6.6.6, 216.160.83.56", "216.160.83.56"),
        ({"trusted_proxies": 2}, "10.0.0.2", "6.6.6.6, 89.160.20.112, 10.0.0.1", "89.160.20.112"),
        ({"trusted_proxies": 1}, "10.0.0.2", "2001:0218::0001", "2001:218::1"),
        ({"trusted_proxies": 0}, "2001:218::1", None, "2001:218::1"),
        ({"trusted_proxies": 1}, "10.0.0.2", "not-an-ip", ""),
    ],
    indirect=["settings_overrides"],
)
def test_client_ip_honours_trusted_proxies(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    remote: str,
    xff: str | None,
    expected: str,
) -> None:
    campaign = make_campaign()
    assert _ip_of_visit(client, db, campaign.key, remote, xff) == expected


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": 1}], indirect=True)
def test_ipv6_visitor_is_placed_by_the_fallback(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    client.get(
        f"/c/{campaign.key}",
        headers={"User-Agent": IPHONE, "X-Forwarded-For": "2001:218::1"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert only_visit(db)["country"] == "JP"


# --- GeoIP configurations -------------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{}], indirect=True)
def test_without_databases_the_country_comes_from_the_embedded_table(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    hit(client, campaign.key, ip="8.8.8.8")
    visit = only_visit(db)
    assert visit["country"] == "US"
    assert (visit["region"], visit["city"], visit["isp"], visit["asn"]) == ("", "", "", None)


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {"geoip_city": str(GEOIP / "GeoIP2-City-Test-Broken-Double-Format.mmdb")},
        {"geoip_city": str(GEOIP / "GeoIP2-City-Test-Invalid-Node-Count.mmdb")},
        {"geoip_city": str(GEOIP / "missing.mmdb"), "geoip_asn": str(GEOIP / "README.md")},
    ],
    indirect=True,
)
def test_broken_databases_never_break_a_visit(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    assert hit(client, campaign.key, ip="81.2.69.160").status_code == 302
    assert hit(client, campaign.key, ip="81.2.69.160").status_code == 302
    assert [v["country"] for v in visits(db)] == ["GB", "GB"]


# --- client hints -------------------------------------------------------------------------------


def test_client_hints_are_asked_for_and_preferred(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    response = hit(client, campaign.key, **{"User-Agent": ANDROID_REDUCED}, **ANDROID_HINT_HEADERS)
    assert "Sec-CH-UA-Model" in response.headers["Accept-CH"]
    assert "Critical-CH" not in response.headers
    visit = only_visit(db)
    assert (visit["brand"], visit["model"], visit["os_version"]) == ("Samsung", "SM-S911B", "14")
    assert visit["browser_version"] == "124.0.6367.82"


def test_without_hints_the_user_agent_answers(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    response = hit(client, campaign.key, **{"User-Agent": ANDROID_REDUCED})
    assert response.status_code == 302 and "Accept-CH" in response.headers
    visit = only_visit(db)
    assert (visit["model"], visit["os_version"], visit["browser_version"]) == ("K", "10", "124.0.0")


def test_critical_client_hints_ask_chromium_first_and_record_once(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign(critical_client_hints=True)
    low_entropy = {
        k: ANDROID_HINT_HEADERS[k] for k in ("Sec-CH-UA", "Sec-CH-UA-Mobile", "Sec-CH-UA-Platform")
    }
    first = hit(client, campaign.key, "zone=1", **{"User-Agent": ANDROID_REDUCED}, **low_entropy)
    assert first.status_code == 200
    assert first.headers["Critical-CH"] == "Sec-CH-UA-Model, Sec-CH-UA-Platform-Version"
    assert "Sec-CH-UA-Model" in first.headers["Accept-CH"]
    assert meta_target(first) == f"/c/{campaign.key}?zone=1&_ch=1"
    assert visits(db) == []
    # Chromium retries with the hints: one visit, with the exact model.
    retried = hit(
        client, campaign.key, "zone=1", **{"User-Agent": ANDROID_REDUCED}, **ANDROID_HINT_HEADERS
    )
    assert retried.status_code == 302
    assert only_visit(db)["model"] == "SM-S911B"


def test_critical_client_hints_never_loop(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign(critical_client_hints=True)
    # The reload after a browser that did not retry: recorded with what it has.
    again = hit(
        client,
        campaign.key,
        "_ch=1",
        **{"User-Agent": ANDROID_REDUCED, "Sec-CH-UA": '"Chromium";v="124"'},
    )
    assert again.status_code == 302
    # Browsers without client hints (Safari, Firefox) are never asked.
    assert hit(client, campaign.key).status_code == 302
    assert len(visits(db)) == 2


def test_visits_are_counted_under_concurrent_load(
    live_server: str, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    key = make_campaign().key
    host, port = urlsplit(live_server).netloc.split(":")

    def one(n: int) -> int:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", f"/c/{key}?n={n}", headers={"User-Agent": f"{IPHONE} {n}"})
        status = conn.getresponse().status
        conn.close()
        return status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(one, range(80)))
    assert statuses == [302] * 80
    assert tracking_state().flush()
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Visit)) == 80
