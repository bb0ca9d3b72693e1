"""The buyer's side of conversions: the conversions page and the postback log page (filters,
workspaces), manual upload by page and API (every row checked, all or nothing), conversion
types, the forwards page, the API list, and who may do what."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import ApiClient
from tests.test_auth import csrf_token
from tests.test_postback import add_visit, conversions, log_rows
from tracker.conversions.upload import MAX_UPLOAD_BYTES, MAX_UPLOAD_ROWS
from tracker.models import (
    Campaign,
    ConversionType,
    Offer,
    PostbackLog,
    TrafficSource,
    User,
    Visit,
    Workspace,
)
from tracker.models.types import utcnow


@pytest.fixture
def visit(db: Session, make_campaign: Callable[..., Campaign]) -> Visit:
    return add_visit(
        db,
        make_campaign(name="Spring sale"),
        country="BR",
        device_type="mobile",
        os="Android",
        external_id="src-click-9",
        var1="zone-42",
    )


@pytest.fixture
def other_workspace_visit(db: Session) -> Visit:
    """A visit of a campaign in another workspace (ask for ``workspace`` first: the default one
    is the first made)."""
    other = Workspace(name="Other team")
    db.add(other)
    db.flush()
    source = TrafficSource(workspace_id=other.id, name="Their source")
    offer = Offer(workspace_id=other.id, name="Their offer", url="https://x.example/")
    db.add_all([source, offer])
    db.flush()
    campaign = Campaign(
        workspace_id=other.id,
        name="Their campaign",
        key="theirkey0001",
        traffic_source_id=source.id,
        path={"weight": 100, "landers": [], "offers": [{"id": offer.id, "weight": 100}]},
    )
    db.add(campaign)
    db.commit()
    return add_visit(db, campaign, offer_id=offer.id)


# --- the conversions page ------------------------------------------------------------------------


def test_the_conversions_page_shows_each_conversion_with_its_visit(
    client: FlaskClient, login: Callable[..., User], visit: Visit
) -> None:
    client.get(f"/postback?cid={visit.click_id}&payout=12.5&txid=TX-5&status=pending")
    login("viewer")
    page = client.get("/conversions")
    assert page.status_code == 200
    for shown in (visit.click_id, "Spring sale", "BR", "mobile", "src-click-9", "zone-42", "12.50"):
        assert shown in page.text
    assert "TX-5" in page.text and "pending" in page.text
    assert "Content-Security-Policy" in page.headers


def test_conversions_filters(
    client: FlaskClient,
    db: Session,
    login: Callable[..., User],
    make_campaign: Callable[..., Campaign],
) -> None:
    first, second = make_campaign(name="Alpha"), make_campaign(name="Beta")
    v1, v2 = add_visit(db, first), add_visit(db, second)
    client.get(f"/postback?cid={v1.click_id}&status=pending")
    client.get(f"/postback?cid={v2.click_id}")
    login("viewer")
    by_campaign = client.get(f"/conversions?campaign_id={first.id}").text
    assert v1.click_id in by_campaign and v2.click_id not in by_campaign
    by_status = client.get("/conversions?status=approved").text
    assert v2.click_id in by_status and v1.click_id not in by_status
    by_click = client.get(f"/conversions?click_id={v2.click_id}").text
    assert v2.click_id in by_click and v1.click_id not in by_click
    today = utcnow().date()
    old = client.get(f"/conversions?date_to={today - timedelta(days=3)}").text
    assert v1.click_id not in old and "No conversions match" in old
    current = client.get(f"/conversions?date_from={today - timedelta(days=1)}").text
    assert v1.click_id in current and v2.click_id in current
    assert client.get("/conversions?date_from=not-a-date&page=x").status_code == 200
    live = client.get("/conversions?live=y").text
    assert 'http-equiv="refresh"' in live


def test_a_user_sees_only_their_workspace_conversions(
    client: FlaskClient,
    login: Callable[..., User],
    visit: Visit,
    other_workspace_visit: Visit,
) -> None:
    client.get(f"/postback?cid={visit.click_id}")
    client.get(f"/postback?cid={other_workspace_visit.click_id}")
    login("admin")
    page = client.get("/conversions").text
    assert visit.click_id in page and other_workspace_visit.click_id not in page
    log = client.get("/postback-log").text
    assert visit.click_id in log and other_workspace_visit.click_id not in log


def test_pages_need_a_login(client: FlaskClient) -> None:
    for url in ("/conversions", "/postback-log", "/conversions/upload", "/conversions/types"):
        assert client.get(url).status_code == 302


# --- the postback log page ------------------------------------------------------------------------


def test_the_postback_log_page_searches_by_click_id_result_and_day(
    client: FlaskClient, db: Session, login: Callable[..., User], visit: Visit
) -> None:
    client.get(f"/postback?cid={visit.click_id}&txid=1")
    client.get(f"/postback?cid={visit.click_id}&txid=1")
    client.get(f"/postback?cid={visit.click_id}&status=weird")
    login("viewer")
    page = client.get("/postback-log")
    assert page.status_code == 200
    for shown in ("recorded", "duplicate", "malformed", "unknown status", "txid=1"):
        assert shown in page.text
    only_dupes = client.get("/postback-log?result=duplicate").text
    assert "duplicate" in only_dupes and "unknown status" not in only_dupes
    assert visit.click_id in client.get(f"/postback-log?click_id={visit.click_id}").text
    assert "No postbacks match" in client.get("/postback-log?click_id=nothing-here").text
    tomorrow = utcnow().date() + timedelta(days=2)
    assert "No postbacks match" in client.get(f"/postback-log?date_from={tomorrow}").text


def test_unattributed_calls_show_to_admins_of_the_default_workspace_only(
    client: FlaskClient, login: Callable[..., User]
) -> None:
    client.get("/postback?cid=no-such-click-id-123")
    login("viewer")
    assert "no-such-click-id-123" not in client.get("/postback-log").text
    client.post("/logout", data={})
    client.delete_cookie("session")
    login("admin", email="boss@example.com")
    assert "no-such-click-id-123" in client.get("/postback-log").text


# --- upload --------------------------------------------------------------------------------------


def _upload(client: FlaskClient, text: str = "", apply: bool = True, **extra: Any) -> Any:
    data: dict[str, Any] = {"csrf_token": csrf_token(client, "/conversions/upload")}
    data["csv_text"] = text
    if apply:
        data["apply"] = "y"
    data.update(extra)
    return client.post("/conversions/upload", data=data, content_type="multipart/form-data")


def test_upload_records_every_row(
    client: FlaskClient,
    db: Session,
    login: Callable[..., User],
    make_campaign: Callable[..., Campaign],
) -> None:
    campaign = make_campaign()
    a, b = add_visit(db, campaign), add_visit(db, campaign)
    login("buyer")
    text = f'{a.click_id},12.5,T1,approved,\n{b.click_id},"3,25",T2,pending,deposit\n'
    response = _upload(client, text)
    assert response.status_code == 200, response.text
    assert "2 rows recorded" in response.text
    rows = {r["txid"]: r for r in conversions(db)}
    assert rows["T1"]["payout"] == Decimal("12.5")
    assert (rows["T2"]["status"], rows["T2"]["et"]) == ("pending", "deposit")
    assert {r["source"] for r in rows.values()} == {"upload"}
    assert [r["endpoint"] for r in log_rows(db)] == ["upload", "upload"]
    # The same file again: duplicates, and a status change updates.
    again = _upload(
        client, f"{a.click_id},12.5,T1,approved,\n{b.click_id},3.25,T2,approved,deposit"
    )
    assert "1 new" not in again.text and "1 updated" in again.text and "1 duplicates" in again.text
    assert len(conversions(db)) == 2


def test_upload_with_a_header_in_any_order(
    client: FlaskClient, db: Session, login: Callable[..., User], visit: Visit
) -> None:
    login("buyer")
    text = f"status;txid;clickid;payout;currency\nPending;H1;{visit.click_id};7,5;eur\n"
    assert _upload(client, text).status_code == 200
    [row] = conversions(db)
    assert (row["status"], row["txid"], row["payout"], row["currency"]) == (
        "pending",
        "H1",
        Decimal("7.5"),
        "EUR",
    )


def test_upload_applies_nothing_when_a_row_is_wrong(
    client: FlaskClient,
    db: Session,
    login: Callable[..., User],
    visit: Visit,
    other_workspace_visit: Visit,
) -> None:
    login("buyer")
    text = "\n".join(
        [
            f"{visit.click_id},1,OK1,approved,",
            "unknown-click-id-42,1,X,approved,",
            f"{visit.click_id},abc,X2,approved,",
            f"{visit.click_id},1,X3,sometimes,",
            f"{visit.click_id},-4,X4,approved,",
            f"{other_workspace_visit.click_id},1,X5,approved,",  # not this workspace's
            ",1,X6,approved,",
            f"{visit.click_id},1,X7,approved,,extra",
        ]
    )
    response = _upload(client, text)
    assert response.status_code == 400
    assert "nothing was recorded" in response.text
    for why in ("unknown click ID", "not a number", "unknown status", "negative", "no click ID"):
        assert why in response.text
    assert response.text.count("unknown click ID") >= 2
    assert conversions(db) == []
    assert log_rows(db) == []


def test_upload_check_only_and_file(
    client: FlaskClient, db: Session, login: Callable[..., User], visit: Visit
) -> None:
    login("buyer")
    checked = _upload(client, f"{visit.click_id},1,C1,approved,", apply=False)
    assert checked.status_code == 200 and "nothing recorded yet" in checked.text
    assert conversions(db) == []
    file = (io.BytesIO(f"cid,payout\n{visit.click_id},2\n".encode("utf-8-sig")), "conv.csv")
    assert _upload(client, csv_file=file).status_code == 200
    assert [r["payout"] for r in conversions(db)] == [Decimal("2")]


@pytest.mark.parametrize(
    "text", ["", "\n\n", "cid,payout\n", "\x00"], ids=["empty", "blank", "header", "nul"]
)
def test_upload_without_rows(client: FlaskClient, login: Callable[..., User], text: str) -> None:
    login("buyer")
    response = _upload(client, text)
    assert response.status_code == 400
    assert "no rows" in response.text


def test_upload_of_too_many_rows_or_too_many_fields(
    client: FlaskClient, db: Session, login: Callable[..., User], visit: Visit
) -> None:
    login("buyer")
    many = "\n".join(f"{visit.click_id},1,T{n}" for n in range(MAX_UPLOAD_ROWS + 1))
    response = _upload(client, many)
    assert response.status_code == 400
    assert f"at most {MAX_UPLOAD_ROWS} rows" in response.text.lower()
    wide = _upload(client, f"cid,payout\n{visit.click_id},1\n{visit.click_id},2,W2")
    assert wide.status_code == 400
    assert "3 fields where the header has 2" in wide.text
    assert conversions(db) == []


def test_upload_of_a_file_too_large(client: FlaskClient, login: Callable[..., User]) -> None:
    login("buyer")
    big = io.BytesIO(b"x" * (MAX_UPLOAD_BYTES + 1))
    response = _upload(client, csv_file=(big, "big.csv"))
    assert response.status_code == 400
    assert "larger than 5 mb" in response.text.lower()


def test_upload_of_a_file_that_is_not_utf8(client: FlaskClient, login: Callable[..., User]) -> None:
    login("buyer")
    response = _upload(client, csv_file=(io.BytesIO(b"\xff\xfe\x00c\x00i"), "x.csv"))
    assert response.status_code == 400
    assert "UTF-8" in response.text


def test_viewers_cannot_upload(client: FlaskClient, login: Callable[..., User]) -> None:
    login("viewer")
    assert client.get("/conversions/upload").status_code == 403


# --- conversion types ---------------------------------------------------------------------------


def _type_form(client: FlaskClient, url: str, **values: Any) -> Any:
    data = {"csrf_token": csrf_token(client, "/conversions/types"), **values}
    return client.post(url, data=data)


def test_a_buyer_defines_a_type_and_past_conversions_follow(
    client: FlaskClient, db: Session, login: Callable[..., User], visit: Visit
) -> None:
    client.get(f"/postback?cid={visit.click_id}&et=install&payout=1")
    client.get(f"/postback?cid={visit.click_id}&et=deposit&payout=50")
    login("buyer")
    created = _type_form(
        client,
        "/conversions/types",
        name="Install",
        et_values="install, app_install",
        counts_in_revenue="y",
    )
    assert created.status_code == 302
    kind = db.scalars(select(ConversionType)).one()
    assert kind.et_values == ["install", "app_install"]
    assert (kind.counts_as_conversion, kind.counts_in_revenue) == (False, True)
    rows = {r["et"]: r for r in conversions(db)}
    assert rows["install"]["conversion_type_id"] == kind.id
    assert rows["install"]["counts_as_conversion"] is False
    assert rows["deposit"]["conversion_type_id"] is None

    page = client.get("/conversions/types")
    assert "Install" in page.text and "app_install" in page.text
    assert "Install" in client.get("/conversions").text

    edited = _type_form(
        client,
        f"/conversions/types/{kind.id}",
        name="Deposit",
        et_values="deposit",
        counts_as_conversion="y",
        counts_in_revenue="y",
    )
    assert edited.status_code == 302
    rows = {r["et"]: r for r in conversions(db)}
    assert rows["deposit"]["conversion_type_id"] == kind.id
    assert rows["install"]["conversion_type_id"] is None
    assert rows["install"]["counts_as_conversion"] is True

    deleted = _type_form(client, f"/conversions/types/{kind.id}/delete")
    assert deleted.status_code == 302
    assert db.scalars(select(ConversionType)).all() == []
    assert {r["conversion_type_id"] for r in conversions(db)} == {None}


def test_type_names_and_et_values_are_unique_per_workspace(
    client: FlaskClient, db: Session, login: Callable[..., User]
) -> None:
    login("buyer")
    _type_form(client, "/conversions/types", name="Lead", et_values="lead")
    same_name = _type_form(client, "/conversions/types", name="lead", et_values="other")
    assert same_name.status_code == 400 and "exists already" in same_name.text
    same_et = _type_form(client, "/conversions/types", name="Signup", et_values="LEAD")
    assert same_et.status_code == 400 and "already means type" in same_et.text
    empty = _type_form(client, "/conversions/types", name="Nothing", et_values=" , ")
    assert empty.status_code == 400
    assert len(db.scalars(select(ConversionType)).all()) == 1


def test_viewers_read_types_but_cannot_define_them(
    client: FlaskClient, db: Session, login: Callable[..., User], workspace: Workspace
) -> None:
    db.add(ConversionType(workspace_id=workspace.id, name="Sale", et_values=["sale"]))
    db.commit()
    kind = db.scalars(select(ConversionType)).one()
    login("viewer")
    page = client.get("/conversions/types")
    assert page.status_code == 200 and "Sale" in page.text and "New type" not in page.text
    token = csrf_token(client, "/conversions/types")
    refused = client.post(
        "/conversions/types", data={"csrf_token": token, "name": "X", "et_values": "x"}
    )
    assert refused.status_code == 403
    assert client.get(f"/conversions/types/{kind.id}").status_code == 403
    delete = client.post(f"/conversions/types/{kind.id}/delete", data={"csrf_token": token})
    assert delete.status_code == 403


def test_another_workspace_type_is_not_found(
    client: FlaskClient,
    db: Session,
    login: Callable[..., User],
    workspace: Workspace,
    other_workspace_visit: Visit,
) -> None:
    db.add(
        ConversionType(workspace_id=other_workspace_visit.workspace_id, name="T", et_values=["t"])
    )
    db.commit()
    kind = db.scalars(select(ConversionType)).one()
    login("admin")
    assert client.get(f"/conversions/types/{kind.id}").status_code == 404


# --- forwards page -------------------------------------------------------------------------------


def test_the_forwards_page_shows_and_retries(
    client: FlaskClient,
    db: Session,
    login: Callable[..., User],
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
) -> None:
    from tracker.conversions.outbox import RetryPolicy, deliver_due

    source = make_traffic_source(postback_url="http://127.0.0.1:9/pb?c={clickid}")
    visit = add_visit(db, make_campaign(traffic_source_id=source.id))
    client.get(f"/postback?cid={visit.click_id}")
    deliver_due(db, utcnow, RetryPolicy(max_attempts=1))
    login("buyer")
    page = client.get("/conversions/forwards")
    assert page.status_code == 200
    assert "failed" in page.text and f"c={visit.click_id}" in page.text
    failed = client.get("/conversions/forwards?status=failed").text
    message_id = failed.split('name="message_id" value="')[1].split('"')[0]
    retried = client.post(
        "/conversions/forwards/retry",
        data={"csrf_token": csrf_token(client, "/conversions/forwards"), "message_id": message_id},
    )
    assert retried.status_code == 302
    assert "pending" in client.get("/conversions/forwards").text


# --- the API -------------------------------------------------------------------------------------


def test_api_lists_conversions_newest_first_with_the_contract_fields(
    client: FlaskClient,
    api: Callable[..., ApiClient],
    visit: Visit,
    other_workspace_visit: Visit,
) -> None:
    for n in range(3):
        client.get(f"/postback?cid={visit.click_id}&txid=N{n}&payout=1.{n}")
    client.get(f"/postback?cid={other_workspace_visit.click_id}")
    caller = api("viewer")
    response = caller.get("/api/v1/conversions?per_page=2")
    assert response.status_code == 200
    body = response.json
    assert (body["total"], body["page"], body["per_page"]) == (3, 1, 2)
    first = body["items"][0]
    for name in (
        "id",
        "click_id",
        "campaign_id",
        "txid",
        "et",
        "status",
        "payout",
        "currency",
        "created_at",
        "visit_at",
    ):
        assert name in first
    assert first["txid"] == "N2" and first["payout"] == 1.2
    assert first["click_id"] == visit.click_id and first["campaign_id"] == visit.campaign_id
    assert first["country"] == "BR" and first["external_id"] == "src-click-9"
    assert first["visit_at"].startswith(visit.created_at.isoformat()[:19])
    second = caller.get("/api/v1/conversions?per_page=2&page=2").json
    assert [i["txid"] for i in second["items"]] == ["N0"]


def test_api_list_filters(client: FlaskClient, api: Callable[..., ApiClient], visit: Visit) -> None:
    client.get(f"/postback?cid={visit.click_id}&txid=A&status=pending")
    client.get(f"/postback?cid={visit.click_id}&txid=B&et=install")
    caller = api("viewer")

    def txids(query: str) -> list[str]:
        response = caller.get(f"/api/v1/conversions?{query}")
        assert response.status_code == 200, response.json
        return sorted(i["txid"] for i in response.json["items"])

    assert txids("status=pending") == ["A"]
    assert txids("et=install") == ["B"]
    assert txids("et=") == ["A"]
    assert txids(f"campaign_id={visit.campaign_id}") == ["A", "B"]
    assert txids(f"campaign_id={visit.campaign_id + 999}") == []
    assert txids(f"click_id={visit.click_id}") == ["A", "B"]
    today = utcnow().date()
    assert txids(f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}") == ["A", "B"]
    assert txids(f"to={today - timedelta(days=2)}") == []
    assert txids("from=2000-01-01T00:00:00Z") == ["A", "B"]
    for bad in ("status=maybe", "campaign_id=x", "from=yesterday", "tz=Mars/Base", "page=0"):
        response = caller.get(f"/api/v1/conversions?{bad}")
        assert response.status_code == 400, bad
        assert "error" in response.json


def test_api_upload_json_rows(api: Callable[..., ApiClient], db: Session, visit: Visit) -> None:
    caller = api("buyer")
    response = caller.post(
        "/api/v1/conversions",
        json={
            "rows": [
                {"cid": visit.click_id, "payout": 4.2, "txid": "J1"},
                {"clickid": visit.click_id, "payout": "1,5", "txid": "J2", "status": "pending"},
            ]
        },
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["applied"], body["recorded"]) == (True, 2)
    assert [r["result"] for r in body["rows"]] == ["recorded", "recorded"]
    rows = {r["txid"]: r for r in conversions(db)}
    assert rows["J1"]["payout"] == Decimal("4.2") and rows["J2"]["status"] == "pending"


def test_api_upload_csv_text_and_body(
    api: Callable[..., ApiClient], db: Session, visit: Visit
) -> None:
    caller = api("buyer")
    as_json = caller.post("/api/v1/conversions", json={"csv": f"{visit.click_id},2,C1,approved,"})
    assert as_json.status_code == 200 and as_json.json["recorded"] == 1
    as_csv = caller.post(
        "/api/v1/conversions",
        data=f"cid,txid\n{visit.click_id},C2\n",
        content_type="text/csv",
    )
    assert as_csv.status_code == 200 and as_csv.json["rows"][0]["line"] == 2
    dry = caller.post(
        "/api/v1/conversions", json={"csv": f"{visit.click_id},2,C3", "dry_run": True}
    )
    assert dry.status_code == 200 and dry.json["applied"] is False
    assert sorted(r["txid"] for r in conversions(db)) == ["C1", "C2"]


def test_api_upload_errors_apply_nothing(
    api: Callable[..., ApiClient], db: Session, visit: Visit
) -> None:
    caller = api("buyer")
    response = caller.post(
        "/api/v1/conversions",
        json={
            "rows": [
                {"cid": visit.click_id, "txid": "fine"},
                {"cid": "unknown-click-id-77"},
                {"cid": visit.click_id, "status": "bogus"},
            ]
        },
    )
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "invalid" and "nothing was recorded" in error["message"]
    assert set(error["fields"]) == {"rows.1", "rows.2"}
    assert conversions(db) == []
    for body in ({}, {"rows": []}, {"rows": [1]}, {"rows": [], "csv": ""}, {"csv": ""}):
        bad = caller.post("/api/v1/conversions", json=body)
        assert 400 <= bad.status_code < 500, body
    not_json = caller.post("/api/v1/conversions", data="x", content_type="application/xml")
    assert not_json.status_code == 400


def test_api_roles_and_workspaces(
    api: Callable[..., ApiClient], visit: Visit, other_workspace_visit: Visit
) -> None:
    viewer = api("viewer")
    refused = viewer.post("/api/v1/conversions", json={"rows": [{"cid": visit.click_id}]})
    assert refused.status_code == 403
    buyer = api("buyer")
    theirs = buyer.post(
        "/api/v1/conversions", json={"rows": [{"cid": other_workspace_visit.click_id}]}
    )
    assert theirs.status_code == 422
    not_member = buyer.get(f"/api/v1/conversions?workspace_id={other_workspace_visit.workspace_id}")
    assert not_member.status_code == 404
    assert buyer.client.get("/api/v1/conversions").status_code == 401


def test_the_spec_documents_conversions(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").json
    assert {"get", "post"} <= set(spec["paths"]["/conversions"])
    assert "ConversionOut" in spec["components"]["schemas"]


def test_the_postback_log_keeps_every_refusal(client: FlaskClient, db: Session) -> None:
    client.get("/postback")
    client.get("/postback?cid=unknown-click-id-x")
    db.rollback()
    results = [r.result for r in db.scalars(select(PostbackLog).order_by(PostbackLog.id))]
    assert results == ["malformed", "unknown_click"]
