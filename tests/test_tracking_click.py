"""/click and /click/<n>: the visit is found by cid, then by cookie; the click is counted on it
and the visitor sent to the path's offer (n-th, or by weight) with tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.visitors import IPHONE
from tracker.models import Campaign, Lander, Offer, Visit
from tracker.tracking.clickid import CLICK_COOKIE
from tracker.tracking.views import tracking_state


@pytest.fixture(autouse=True)
def write_behind(app: Flask) -> Iterator[None]:
    """The production path: visits go through the write-behind writer."""
    state = tracking_state(app)
    state.write_behind = True
    yield
    state.close_writer()  # nothing of this test reaches the next one's store


def visit_rows(db: Session) -> list[dict[str, Any]]:
    assert tracking_state().flush()
    db.rollback()
    return [dict(r) for r in db.execute(select(Visit.__table__).order_by(Visit.id)).mappings()]


@pytest.fixture
def lander_campaign(
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
    make_lander: Callable[..., Lander],
) -> dict[str, Any]:
    lander = make_lander(name="Quiz", url="https://lander.example/?cid={clickid}", offer_count=3)
    offers = [
        make_offer(
            name="First", url="https://one.example/?c={clickid}&l={lander.name}&o={offer.id}"
        ),
        make_offer(name="Second", url="https://two.example/?c={clickid}&o={offer.name}"),
        make_offer(name="Paused", url="https://three.example/?c={clickid}"),
    ]
    campaign = make_campaign(
        path={
            "weight": 100,
            "landers": [{"id": lander.id, "weight": 100}],
            "offers": [
                {"id": offers[0].id, "weight": 100},
                {"id": offers[1].id, "weight": 0},
                {"id": offers[2].id, "weight": 0},
            ],
        }
    )
    return {"campaign": campaign, "lander": lander, "offers": offers}


def land(client: FlaskClient, campaign: Campaign) -> str:
    response = client.get(
        f"/c/{campaign.key}",
        headers={"User-Agent": IPHONE},
        environ_base={"REMOTE_ADDR": "81.2.69.160"},
    )
    assert response.status_code == 302
    cookie = client.get_cookie(CLICK_COOKIE)
    assert cookie is not None
    return cookie.value


def test_click_by_cid_counts_the_click_and_sends_to_a_weighted_offer(
    client: FlaskClient, db: Session, lander_campaign: dict[str, Any]
) -> None:
    cid = land(client, lander_campaign["campaign"])
    first = lander_campaign["offers"][0]
    client.delete_cookie(CLICK_COOKIE)
    response = client.get(f"/click?cid={cid}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"https://one.example/?c={cid}&l=Quiz&o={first.id}"
    (visit,) = visit_rows(db)
    assert (visit["clicks"], visit["offer_id"]) == (1, first.id)
    clicked_at = visit["clicked_at"]
    assert clicked_at is not None
    client.get(f"/click?cid={cid}")
    (visit,) = visit_rows(db)
    assert visit["clicks"] == 2 and visit["clicked_at"] >= clicked_at  # the latest click's time


def test_click_by_cookie(client: FlaskClient, db: Session, lander_campaign: dict[str, Any]) -> None:
    cid = land(client, lander_campaign["campaign"])
    response = client.get("/click")
    assert response.headers["Location"].startswith(f"https://one.example/?c={cid}")
    assert visit_rows(db)[0]["clicks"] == 1


def test_cid_parameter_wins_over_the_cookie_and_an_unknown_cid_falls_back_to_it(
    client: FlaskClient, db: Session, lander_campaign: dict[str, Any]
) -> None:
    campaign = lander_campaign["campaign"]
    older = land(client, campaign)
    newer = land(client, campaign)  # the cookie now holds the newer visit
    assert client.get(f"/click?cid={older}").headers["Location"].find(older) > 0
    unknown = "0" * 26
    assert client.get(f"/click?cid={unknown}").headers["Location"].find(newer) > 0
    assert [v["clicks"] for v in visit_rows(db)] == [1, 1]


def test_click_n_takes_the_nth_offer_in_list_order(
    client: FlaskClient, db: Session, lander_campaign: dict[str, Any]
) -> None:
    cid = land(client, lander_campaign["campaign"])
    second, third = lander_campaign["offers"][1], lander_campaign["offers"][2]
    response = client.get(f"/click/2?cid={cid}")
    assert response.headers["Location"] == f"https://two.example/?c={cid}&o=Second"
    assert visit_rows(db)[0]["offer_id"] == second.id
    # A slot is a position on the lander: paused for weighted picks, still its own button.
    assert client.get(f"/click/3?cid={cid}").headers["Location"].startswith("https://three.")
    assert visit_rows(db)[0]["offer_id"] == third.id
    # Past the last offer: a weighted pick rather than a dead end.
    assert client.get(f"/click/9?cid={cid}").headers["Location"].startswith("https://one.")
    assert visit_rows(db)[0]["clicks"] == 3


def test_unknown_or_missing_visit_is_a_404_page(
    client: FlaskClient, db: Session, lander_campaign: dict[str, Any]
) -> None:
    for url in ("/click", "/click/1", "/click?cid=" + "0" * 26, "/click?cid=junk'--"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "not known" in response.text
    assert visit_rows(db) == []


def test_campaign_hint_sends_a_visitless_click_to_an_offer_without_recording(
    client: FlaskClient, db: Session, lander_campaign: dict[str, Any]
) -> None:
    key = lander_campaign["campaign"].key
    response = client.get(f"/click/2?campaign={key}")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://two.example/?c=&o=Second"
    assert client.get("/click?campaign=nope").status_code == 404
    assert visit_rows(db) == []


def test_click_uses_the_path_redirect_mode(
    client: FlaskClient,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
    make_lander: Callable[..., Lander],
) -> None:
    lander, offer = make_lander(), make_offer(url="https://offer.example/x")
    campaign = make_campaign(
        path={
            "weight": 100,
            "landers": [{"id": lander.id, "weight": 100}],
            "offers": [{"id": offer.id, "weight": 100}],
            "redirect_mode": "double_meta",
        }
    )
    client.get(f"/c/{campaign.key}", headers={"User-Agent": IPHONE})
    response = client.get("/click")
    assert response.status_code == 200 and "/go/" in response.text
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_a_visit_is_clickable_right_after_its_redirect_on_a_live_server(
    live_server: str, lander_campaign: dict[str, Any]
) -> None:
    import http.client
    from urllib.parse import urlsplit

    host, port = urlsplit(live_server).netloc.split(":")
    key = lander_campaign["campaign"].key
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", f"/c/{key}", headers={"User-Agent": IPHONE})
    landing = conn.getresponse()
    landing.read()
    cid = landing.getheader("Location", "").rsplit("=", 1)[1]
    conn.close()
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", f"/click?cid={cid}")
    click = conn.getresponse()
    assert click.status == 302 and cid in click.getheader("Location", "")
    conn.close()
