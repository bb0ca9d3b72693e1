"""The lean path in front of Flask: the tracking endpoints answer from the WSGI environ, any
other request (and a malformed tracking path) goes on to Flask, and a crash is answered."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.test_postback import add_visit
from tracker.edge import LeanEdge, query_values
from tracker.models import Campaign, Conversion
from tracker.tracking import views as tracking_views


def test_the_tracking_endpoints_are_served_ahead_of_flask(
    app: Flask, client: FlaskClient, make_campaign: Callable[..., Campaign]
) -> None:
    assert isinstance(app.wsgi_app, LeanEdge)
    campaign = make_campaign()
    # No session is opened, so no session cookie and no Vary: Cookie; the click cookie is set.
    response = client.get(f"/c/{campaign.key}")
    assert response.status_code == 302
    assert "Vary" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Length"] == "0"
    assert [c.split("=")[0] for c in response.headers.getlist("Set-Cookie")] == ["cid"]


def test_the_flask_route_answers_with_the_same_handler(
    app: Flask, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    with app.test_request_context(f"/c/{campaign.key}?zone=7"):
        response = app.full_dispatch_request()
    assert response.status_code == 302
    assert response.headers["Set-Cookie"].startswith("cid=")
    assert "Accept-CH" in response.headers


def test_what_the_lean_path_does_not_serve_goes_to_flask(
    client: FlaskClient, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    assert client.post(f"/c/{campaign.key}").status_code == 405
    options = client.open(f"/c/{campaign.key}", method="OPTIONS")
    assert options.status_code == 200 and "GET" in options.headers["Allow"]
    assert client.get(f"/c/{campaign.key}/").status_code == 404
    assert client.get("/click/x1").status_code == 404  # not a number: Flask's 404 page
    head = client.head(f"/c/{campaign.key}")
    assert head.status_code == 200 and head.data == b""


def test_a_crash_in_the_lean_path_is_logged_and_answered_500(
    client: FlaskClient,
    make_campaign: Callable[..., Campaign],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    campaign = make_campaign()

    def broken(*_args: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(tracking_views, "track_visit", broken)
    with caplog.at_level(logging.ERROR, logger="tracker.edge"):
        response = client.get(f"/c/{campaign.key}")
    assert response.status_code == 500
    assert b"Something went wrong" in response.data
    assert any("boom" in (r.exc_text or "") for r in caplog.records)
    monkeypatch.undo()
    assert client.get(f"/c/{campaign.key}").status_code == 302  # and the next one is served


def test_conversion_endpoints_are_served_ahead_of_flask_and_posts_through_it(
    app: Flask, client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    through_flask: list[str] = []
    app.before_request(lambda: through_flask.append(request.path) and None)
    visit = add_visit(db, make_campaign())
    response = client.get("/postback", query_string={"cid": visit.click_id, "txid": "A"})
    assert response.status_code == 200 and response.text == "recorded\n"
    assert response.headers["X-Conversion-Result"] == "recorded"
    pixel = client.get("/conversion.gif", query_string={"cid": visit.click_id, "txid": "B"})
    script = client.get("/conversion.js", query_string={"cid": visit.click_id, "txid": "C"})
    assert pixel.mimetype == "image/gif" and script.mimetype == "application/javascript"
    assert "Vary" not in response.headers and "Set-Cookie" not in response.headers
    assert through_flask == []
    # A body to parse, or an answer in JSON: Flask's route, the same handler.
    form = client.post("/postback", data={"cid": visit.click_id, "txid": "D"})
    as_json = client.get(
        "/postback",
        query_string={"cid": visit.click_id, "txid": "E"},
        headers={"Accept": "application/json"},
    )
    assert form.text == "recorded\n"
    assert as_json.json is not None and as_json.json["result"] == "recorded"
    assert through_flask == ["/postback", "/postback"]
    stored = db.scalars(select(Conversion.txid).order_by(Conversion.id)).all()
    assert stored == ["A", "B", "C", "D", "E"]


@pytest.mark.parametrize(
    "query",
    [
        "sub=1-17&zone=12&cost=0.0021",
        "a&b=&=c&a=2&&x=y=z&;k=v",  # nothing to decode: split as parse_qsl splits
        "q=caf%C3%A9+au+lait&q=second&bad=%ff%fe",  # decoded by parse_qsl
        "",
    ],
)
def test_query_values_read_the_query_as_flasks_request_args(app: Flask, query: str) -> None:
    with app.test_request_context(f"/?{query}"):
        expected = {name: request.args[name] for name in request.args}
    assert query_values({"QUERY_STRING": query}) == expected
