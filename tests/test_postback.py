"""Postbacks, pixels and scripts: every parameter and alias, network dialects, macro leftovers,
payouts, statuses and their transitions, de-duplication, secrets and IP allow-lists, unknown
click IDs, malformed input, and the postback log line each call leaves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.conversions.params import parse_payout, read_click_id, resolve_status
from tracker.conversions.services import (
    counted_conversion,
    counted_revenue,
    ip_allowed,
    secret_matches,
)
from tracker.models import (
    AffiliateNetwork,
    Campaign,
    Conversion,
    ConversionType,
    Offer,
    PostbackLog,
    Visit,
)
from tracker.models.types import utcnow
from tracker.setup.presets import affiliate_network_preset
from tracker.setup.services import update_affiliate_network
from tracker.tracking.clickid import CLICK_COOKIE, new_click_id

GIF_MAGIC = b"GIF89a"


# --- helpers shared by the conversion test modules -----------------------------------------------


def add_visit(
    db: Session, campaign: Campaign, *, offer_id: int | None = None, **values: Any
) -> Visit:
    """A stored visit of ``campaign`` (to its first offer unless told otherwise)."""
    if offer_id is None and campaign.path:
        offer_id = campaign.path["offers"][0]["id"]
    visit = Visit(
        click_id=values.pop("click_id", new_click_id()),
        workspace_id=campaign.workspace_id,
        campaign_id=campaign.id,
        traffic_source_id=campaign.traffic_source_id,
        offer_id=offer_id,
        clicks=1,
        created_at=values.pop("created_at", utcnow() - timedelta(minutes=5)),
        **values,
    )
    db.add(visit)
    db.commit()
    return visit


def conversions(db: Session) -> list[dict[str, Any]]:
    db.rollback()  # see what the requests committed
    rows = db.execute(select(Conversion.__table__).order_by(Conversion.id)).mappings()
    return [dict(r) for r in rows]


def only_conversion(db: Session) -> dict[str, Any]:
    rows = conversions(db)
    assert len(rows) == 1, rows
    return rows[0]


def log_rows(db: Session) -> list[dict[str, Any]]:
    db.rollback()
    rows = db.execute(select(PostbackLog.__table__).order_by(PostbackLog.id)).mappings()
    return [dict(r) for r in rows]


def last_log(db: Session) -> dict[str, Any]:
    rows = log_rows(db)
    assert rows, "no postback log row"
    return rows[-1]


@pytest.fixture
def visit(db: Session, make_campaign: Callable[..., Campaign]) -> Visit:
    return add_visit(db, make_campaign())


@pytest.fixture
def network_visit(
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
    make_network: Callable[..., AffiliateNetwork],
) -> Callable[..., Visit]:
    """A visit whose offer belongs to a network made with the given fields."""

    def make(**network_fields: Any) -> Visit:
        network = make_network(**network_fields)
        offer = make_offer(affiliate_network_id=network.id, payout=Decimal("4.00"))
        campaign = make_campaign(
            path={"weight": 100, "landers": [], "offers": [{"id": offer.id, "weight": 100}]}
        )
        return add_visit(db, campaign, offer_id=offer.id)

    return make


# --- parameters ----------------------------------------------------------------------------------


def test_every_parameter_is_recorded_with_the_visit_time(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    response = client.get(
        "/postback",
        query_string={
            "cid": visit.click_id,
            "payout": "12.50",
            "txid": "TX-1",
            "et": "deposit",
            "status": "pending",
            "currency": "eur",
            **{f"param{n}": f"p{n}" for n in range(1, 6)},
        },
    )
    assert response.status_code == 200, response.text
    assert response.text.startswith("recorded")
    row = only_conversion(db)
    assert row["click_id"] == visit.click_id
    assert row["campaign_id"] == visit.campaign_id
    assert row["visit_id"] == visit.id
    assert row["payout"] == Decimal("12.5")
    assert (row["txid"], row["et"], row["status"], row["currency"]) == (
        "TX-1",
        "deposit",
        "pending",
        "EUR",
    )
    assert [row[f"param{n}"] for n in range(1, 6)] == ["p1", "p2", "p3", "p4", "p5"]
    assert row["visit_at"] == visit.created_at  # cohort: the visit's time, not the postback's
    assert row["source"] == "postback"
    log = last_log(db)
    assert (log["result"], log["http_status"], log["conversion_id"]) == ("recorded", 200, row["id"])
    assert log["workspace_id"] == visit.workspace_id
    assert "txid=TX-1" in log["raw_query"]
    assert log["ip"] == "127.0.0.1"


@pytest.mark.parametrize("name", ["cid", "clickid", "subid", "CID", "ClickID"])
def test_click_id_aliases(client: FlaskClient, db: Session, visit: Visit, name: str) -> None:
    response = client.get(f"/postback?{name}={visit.click_id}")
    assert response.status_code == 200, response.text
    assert only_conversion(db)["click_id"] == visit.click_id


def test_click_ids_are_case_insensitive(client: FlaskClient, db: Session, visit: Visit) -> None:
    response = client.get(f"/postback?cid={visit.click_id.upper()}")
    assert response.status_code == 200
    assert only_conversion(db)["visit_id"] == visit.id


def test_defaults_main_conversion_approved_offer_payout_account_currency(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    assert client.get(f"/postback?cid={visit.click_id}").status_code == 200
    row = only_conversion(db)
    assert (row["et"], row["status"], row["txid"]) == ("", "approved", "")
    assert row["payout"] == Decimal("2.5")  # make_offer's default payout
    assert row["currency"] == "USD"


def test_offer_currency_goes_with_the_offer_payout(
    client: FlaskClient,
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_offer: Callable[..., Offer],
) -> None:
    offer = make_offer(payout=Decimal("7.25"), currency="GBP")
    campaign = make_campaign(
        path={"weight": 100, "landers": [], "offers": [{"id": offer.id, "weight": 100}]}
    )
    v = add_visit(db, campaign)
    assert client.get(f"/postback?cid={v.click_id}").status_code == 200
    row = only_conversion(db)
    assert (row["payout"], row["currency"]) == (Decimal("7.25"), "GBP")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12,5", "12.5"),
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        (" 3 ", "3"),
        ("0.000350", "0.00035"),
        ("1e2", "100"),
    ],
)
def test_payout_formats(raw: str, expected: str) -> None:
    assert parse_payout(raw) == Decimal(expected)


@pytest.mark.parametrize(
    "macro", ["{payout}", "[PAYOUT]", "%payout%", "${payout}", "#payout#", "{{payout}}"]
)
def test_unreplaced_payout_macro_falls_back_to_the_offer_payout(
    client: FlaskClient, db: Session, visit: Visit, macro: str
) -> None:
    response = client.get("/postback", query_string={"cid": visit.click_id, "payout": macro})
    assert response.status_code == 200
    row = only_conversion(db)
    assert row["payout"] == Decimal("2.5")
    log = last_log(db)
    assert log["result"] == "recorded"
    assert "unreplaced macro" in log["reason"] and "payout" in log["reason"]


def test_unreplaced_macros_in_other_values_are_ignored_and_noted(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    response = client.get(
        "/postback",
        query_string={
            "cid": visit.click_id,
            "txid": "{transaction_id}",
            "et": "#et#",
            "status": "%STATUS%",
            "currency": "{currency}",
            "param1": "[SUB1]",
        },
    )
    assert response.status_code == 200
    row = only_conversion(db)
    assert (row["txid"], row["et"], row["status"], row["currency"], row["param1"]) == (
        "",
        "",
        "approved",
        "USD",
        "",
    )
    reason = last_log(db)["reason"]
    for name in ("txid", "et", "status", "currency", "param1"):
        assert f"{name}=" in reason


def test_a_payout_that_is_not_a_number_is_ignored_and_noted(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    for raw in ("abc", "NaN", "Infinity", "1.2.3"):
        client.get("/postback", query_string={"cid": visit.click_id, "payout": raw, "txid": raw})
    rows = conversions(db)
    assert len(rows) == 4
    assert {r["payout"] for r in rows} == {Decimal("2.5")}
    assert all("not a number" in r["reason"] for r in log_rows(db))


@pytest.mark.parametrize("payout", ["-5", "100000000", "1e30"])
def test_negative_or_huge_payouts_are_refused(
    client: FlaskClient, db: Session, visit: Visit, payout: str
) -> None:
    response = client.get("/postback", query_string={"cid": visit.click_id, "payout": payout})
    assert response.status_code == 400
    assert conversions(db) == []
    log = last_log(db)
    assert (log["result"], log["http_status"]) == ("malformed", 400)
    assert "payout" in log["reason"]


def test_the_largest_payout_the_store_keeps_is_accepted(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    response = client.get(f"/postback?cid={visit.click_id}&payout=99999999.999999")
    assert response.status_code == 200
    assert only_conversion(db)["payout"] == Decimal("99999999.999999")


def test_long_values_are_refused_or_cut(client: FlaskClient, db: Session, visit: Visit) -> None:
    assert client.get(f"/postback?cid={visit.click_id}&txid={'x' * 256}").status_code == 400
    assert client.get(f"/postback?cid={visit.click_id}&et={'x' * 65}").status_code == 400
    response = client.get(f"/postback?cid={visit.click_id}&param1={'y' * 300}")
    assert response.status_code == 200
    assert only_conversion(db)["param1"] == "y" * 255


# --- bodies --------------------------------------------------------------------------------------


def test_post_form_body(client: FlaskClient, db: Session, visit: Visit) -> None:
    response = client.post(
        "/postback", data={"cid": visit.click_id, "payout": "3,75", "txid": "F1"}
    )
    assert response.status_code == 200
    row = only_conversion(db)
    assert (row["payout"], row["txid"]) == (Decimal("3.75"), "F1")
    assert "txid=F1" in last_log(db)["raw_body"]


def test_post_json_body_keeps_the_payout_digits(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    response = client.post(
        "/postback", json={"clickid": visit.click_id, "payout": 0.1, "txid": 42, "et": None}
    )
    assert response.status_code == 200
    assert response.json is not None and response.json["result"] == "recorded"
    row = only_conversion(db)
    assert (row["payout"], row["txid"], row["et"]) == (Decimal("0.1"), "42", "")


def test_query_string_and_body_combine(client: FlaskClient, db: Session, visit: Visit) -> None:
    response = client.post(f"/postback?cid={visit.click_id}", json={"payout": "9"})
    assert response.status_code == 200
    assert only_conversion(db)["payout"] == Decimal("9")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"cid": "\xff\xfe"}', "application/json"),
    ],
)
def test_malformed_json_is_400_and_logged(
    client: FlaskClient, db: Session, body: bytes, content_type: str
) -> None:
    response = client.post("/postback", data=body, content_type=content_type)
    assert response.status_code == 400
    log = last_log(db)
    assert (log["result"], log["http_status"]) == ("malformed", 400)


def test_a_ten_megabyte_body_is_refused(client: FlaskClient, db: Session, visit: Visit) -> None:
    body = b"cid=" + visit.click_id.encode() + b"&x=" + b"a" * (10 * 1024 * 1024)
    response = client.post("/postback", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert conversions(db) == []
    assert last_log(db)["result"] == "malformed"


def test_nul_bytes_and_invalid_utf8_never_fail(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    cases = [
        f"cid={visit.click_id}&txid=a%00b&param2=%00",
        "cid=%00%00",
        "cid=%FF%FE%FD",
        f"cid={visit.click_id}&payout=%FF&et=%C3%28",
        "\x00=\x00",
    ]
    statuses = [client.get(f"/postback?{query}").status_code for query in cases]
    assert all(400 <= s < 500 or s == 200 for s in statuses), statuses
    assert statuses[0] == 200
    assert conversions(db)[0]["txid"] == "ab"
    body = client.post("/postback", data=b"cid=\xff\x00&payout=\xfe")
    assert body.status_code in (400, 404)
    raw = client.post("/postback", data=b'{"cid": "a\\u0000b"}', content_type="application/json")
    assert raw.status_code == 404
    assert len(log_rows(db)) == len(cases) + 2


def test_head_requests_record_nothing(client: FlaskClient, db: Session, visit: Visit) -> None:
    assert client.head(f"/postback?cid={visit.click_id}").status_code == 200
    assert conversions(db) == []


# --- answers -------------------------------------------------------------------------------------


def test_missing_click_id_is_400(client: FlaskClient, db: Session) -> None:
    response = client.get("/postback?payout=1")
    assert response.status_code == 400
    log = last_log(db)
    assert (log["result"], log["workspace_id"]) == ("malformed", None)


def test_unreplaced_click_id_macro_is_400(client: FlaskClient, db: Session) -> None:
    response = client.get("/postback?cid={clickid}&payout=1")
    assert response.status_code == 400
    assert "macro" in last_log(db)["reason"]


@pytest.mark.parametrize("cid", ["01jd8z6q3v5x7m9k2p4r6t8w0y", "nosuchclickid-12345", "x", "a b"])
def test_unknown_click_id_is_404(client: FlaskClient, db: Session, visit: Visit, cid: str) -> None:
    response = client.get("/postback", query_string={"cid": cid})
    assert response.status_code == 404
    assert conversions(db) == []
    log = last_log(db)
    assert (log["result"], log["http_status"], log["workspace_id"]) == ("unknown_click", 404, None)


def test_json_answer_when_asked(client: FlaskClient, visit: Visit) -> None:
    response = client.get(
        "/postback?cid=unknown-click-id-000", headers={"Accept": "application/json"}
    )
    assert response.status_code == 404
    assert response.json is not None and response.json["result"] == "unknown_click"


# --- de-duplication and status changes ----------------------------------------------------------


def test_a_repeat_is_a_duplicate_not_counted_again(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    url = f"/postback?cid={visit.click_id}&txid=T1&payout=5"
    first, second = client.get(url), client.get(url)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.text.startswith("duplicate")
    assert len(conversions(db)) == 1
    assert [r["result"] for r in log_rows(db)] == ["recorded", "duplicate"]


def test_txid_and_et_make_distinct_conversions(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    for query in ("txid=A", "txid=B", "txid=A&et=install", "txid=A&et=deposit", ""):
        assert client.get(f"/postback?cid={visit.click_id}&{query}").status_code == 200
    assert len(conversions(db)) == 5


@pytest.mark.parametrize(
    ("steps", "final", "results"),
    [
        (["pending", "approved"], "approved", ["recorded", "updated"]),
        (["approved", "declined"], "declined", ["recorded", "updated"]),
        (["approved", "chargeback"], "chargeback", ["recorded", "updated"]),
        (["pending", "rejected"], "declined", ["recorded", "updated"]),
        (["approved", "pending"], "approved", ["recorded", "duplicate"]),
        (["pending", "approved", "approved"], "approved", ["recorded", "updated", "duplicate"]),
        (["declined", "approved"], "approved", ["recorded", "updated"]),
    ],
)
def test_status_transitions(
    client: FlaskClient,
    db: Session,
    visit: Visit,
    steps: list[str],
    final: str,
    results: list[str],
) -> None:
    for status in steps:
        response = client.get(f"/postback?cid={visit.click_id}&txid=T9&status={status}")
        assert response.status_code == 200
    assert only_conversion(db)["status"] == final
    assert [r["result"] for r in log_rows(db)] == results


def test_a_status_update_may_bring_the_final_payout(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    client.get(f"/postback?cid={visit.click_id}&txid=T&status=pending&payout=0")
    client.get(f"/postback?cid={visit.click_id}&txid=T&status=approved&payout=8.5")
    row = only_conversion(db)
    assert (row["status"], row["payout"]) == ("approved", Decimal("8.5"))


def test_an_unknown_status_is_refused(client: FlaskClient, db: Session, visit: Visit) -> None:
    response = client.get(f"/postback?cid={visit.click_id}&status=maybe")
    assert response.status_code == 400
    assert "status" in last_log(db)["reason"]
    assert conversions(db) == []


def test_accept_duplicates_counts_every_postback_but_still_updates_status(
    client: FlaskClient, db: Session, network_visit: Callable[..., Visit]
) -> None:
    v = network_visit(accept_duplicates=True)
    for _ in range(3):
        assert client.get(f"/postback?cid={v.click_id}&payout=1").status_code == 200
    assert len(conversions(db)) == 3
    client.get(f"/postback?cid={v.click_id}&txid=R&status=pending")
    client.get(f"/postback?cid={v.click_id}&txid=R&status=approved")
    rows = [r for r in conversions(db) if r["txid"] == "R"]
    assert [r["status"] for r in rows] == ["approved"]


# --- network dialects ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"), [("1", "approved"), ("2", "pending"), ("3", "declined"), ("5", "pending")]
)
def test_affise_status_values(
    client: FlaskClient,
    db: Session,
    network_visit: Callable[..., Visit],
    sent: str,
    stored: str,
) -> None:
    preset = affiliate_network_preset("affise")
    v = network_visit(status_map=dict(preset.status_map), param_map=dict(preset.param_map))
    assert client.get(f"/postback?cid={v.click_id}&status={sent}").status_code == 200
    assert only_conversion(db)["status"] == stored


def test_impact_status_values_case_as_sent(
    client: FlaskClient, db: Session, network_visit: Callable[..., Visit]
) -> None:
    preset = affiliate_network_preset("impact")
    v = network_visit(status_map=dict(preset.status_map), param_map=dict(preset.param_map))
    client.get(f"/postback?cid={v.click_id}&txid=I1&status=PENDING")
    client.get(f"/postback?cid={v.click_id}&txid=I1&status=APPROVED")
    assert only_conversion(db)["status"] == "approved"
    client.get(f"/postback?cid={v.click_id}&txid=I1&status=REVERSED")
    assert only_conversion(db)["status"] == "declined"


def test_a_network_speaking_its_own_parameter_names(
    client: FlaskClient, db: Session, network_visit: Callable[..., Visit]
) -> None:
    preset = affiliate_network_preset("affise")
    v = network_visit(status_map=dict(preset.status_map), param_map=dict(preset.param_map))
    response = client.get(f"/postback?sub1={v.click_id}&sum=11,40&conversion_id=AF-77&status=2")
    assert response.status_code == 200, response.text
    row = only_conversion(db)
    assert (row["payout"], row["txid"], row["status"]) == (Decimal("11.4"), "AF-77", "pending")


def test_status_map_helpers() -> None:
    assert resolve_status("APPROVED") == "approved"
    assert resolve_status("sale", {"SALE": "approved"}) == "approved"  # any case as fallback
    assert resolve_status("RFND", {"RFND": "declined"}) == "declined"
    assert resolve_status("nope", {"1": "approved"}) is None
    reading = read_click_id({"aff_sub": "abcdefghijklmnop"}, ["aff_sub"])
    assert reading.click_id == "abcdefghijklmnop"
    assert read_click_id({}, cookie="abcdefghijklmnopq").click_id == "abcdefghijklmnopq"


# --- secrets and source IPs ----------------------------------------------------------------------


def test_the_network_secret_is_required(
    client: FlaskClient, db: Session, network_visit: Callable[..., Visit]
) -> None:
    v = network_visit(postback_secret="s3cret")
    missing = client.get(f"/postback?cid={v.click_id}")
    wrong = client.get(f"/postback?cid={v.click_id}&key=guess")
    right = client.get(f"/postback?cid={v.click_id}&key=s3cret")
    assert (missing.status_code, wrong.status_code, right.status_code) == (403, 403, 200)
    assert len(conversions(db)) == 1
    logs = log_rows(db)
    assert [r["result"] for r in logs] == ["forbidden", "forbidden", "recorded"]
    assert logs[0]["workspace_id"] == v.workspace_id  # the buyer sees refusals of their visits


def test_a_secret_changed_in_setup_applies_to_the_next_postback(
    client: FlaskClient, db: Session, network_visit: Callable[..., Visit]
) -> None:
    """Offers and networks are kept in the process for one setup version: a change made
    through setup bumps it, and the very next postback checks the new secret."""
    v = network_visit(postback_secret="old-secret")
    assert client.get(f"/postback?cid={v.click_id}&txid=1&key=old-secret").status_code == 200
    network_id = db.scalar(select(Offer.affiliate_network_id).where(Offer.id == v.offer_id))
    assert network_id is not None
    update_affiliate_network(db, v.workspace_id, network_id, {"postback_secret": "new-secret"})
    db.commit()
    assert client.get(f"/postback?cid={v.click_id}&txid=2&key=old-secret").status_code == 403
    assert client.get(f"/postback?cid={v.click_id}&txid=3&key=new-secret").status_code == 200
    assert [r["result"] for r in log_rows(db)] == ["recorded", "forbidden", "recorded"]


def test_allowed_ips_are_cidrs(
    client: FlaskClient, db: Session, network_visit: Callable[..., Visit]
) -> None:
    v = network_visit(allowed_ips=["203.0.113.0/24", "2001:db8::/32"])
    outside = client.get(f"/postback?cid={v.click_id}&txid=1")
    inside = client.get(
        f"/postback?cid={v.click_id}&txid=2", environ_base={"REMOTE_ADDR": "203.0.113.9"}
    )
    inside6 = client.get(
        f"/postback?cid={v.click_id}&txid=3", environ_base={"REMOTE_ADDR": "2001:db8::1"}
    )
    assert (outside.status_code, inside.status_code, inside6.status_code) == (403, 200, 200)
    assert "127.0.0.1" in log_rows(db)[0]["reason"]


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": 1}])
def test_allowed_ips_behind_a_trusted_proxy(
    client: FlaskClient, db: Session, network_visit: Callable[..., Visit]
) -> None:
    v = network_visit(allowed_ips=["198.51.100.7/32"])
    forged = client.get(
        f"/postback?cid={v.click_id}&txid=1",
        headers={"X-Forwarded-For": "198.51.100.7, 10.0.0.1"},
    )
    real = client.get(
        f"/postback?cid={v.click_id}&txid=2", headers={"X-Forwarded-For": "198.51.100.7"}
    )
    assert (forged.status_code, real.status_code) == (403, 200)
    assert log_rows(db)[-1]["ip"] == "198.51.100.7"


def test_a_network_without_a_secret_takes_postbacks_with_or_without_a_key(
    client: FlaskClient, db: Session, network_visit: Callable[..., Visit]
) -> None:
    v = network_visit(postback_secret=None)
    assert client.get(f"/postback?cid={v.click_id}&txid=1").status_code == 200
    assert client.get(f"/postback?cid={v.click_id}&txid=2&key=anything").status_code == 200
    assert len(conversions(db)) == 2


@pytest.mark.parametrize(
    ("expected", "given", "ok"),
    [
        ("s3cret", "s3cret", True),
        ("s3cret", "S3CRET", False),  # a secret is compared exactly
        ("s3cret", "s3cret ", False),
        ("s3cret", "", False),
        ("s3cret", None, False),
        ("", None, True),
        (None, "x", True),
        ("clé-ü", "clé-ü", True),
    ],
)
def test_secret_matches(expected: str | None, given: str | None, ok: bool) -> None:
    assert secret_matches(expected, given) is ok


@pytest.mark.parametrize(
    ("allowed", "ip", "ok"),
    [
        ([], "198.51.100.1", True),  # no list: every source
        (["203.0.113.0/24"], "203.0.113.255", True),
        (["203.0.113.0/24"], "203.0.114.0", False),
        (["203.0.113.7"], "203.0.113.7", True),  # a bare address is a /32
        (["203.0.113.7/24"], "203.0.113.200", True),  # host bits set: the network is meant
        ([" 203.0.113.0/24 "], "203.0.113.1", True),
        (["203.0.113.0/24"], "::ffff:203.0.113.9", True),  # IPv4 seen through an IPv6 socket
        (["2001:db8::/32"], "2001:db8:ffff::1", True),
        (["2001:db8::/32"], "203.0.113.1", False),
        (["not-a-cidr", "203.0.113.0/24"], "203.0.113.1", True),  # a bad entry is skipped
        (["not-a-cidr"], "203.0.113.1", False),  # only bad entries: nobody, not everybody
        (["203.0.113.0/24"], "not-an-ip", False),
        (["203.0.113.0/24"], "", False),
    ],
)
def test_allowed_ips_entries_and_addresses(allowed: list[str], ip: str, ok: bool) -> None:
    assert ip_allowed(allowed, ip) is ok


def test_a_bad_allowed_ips_entry_is_logged_once_not_at_every_postback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    allowed = ["203.0.113.0/24", "not-a-cidr-seen-once"]
    with caplog.at_level("WARNING", logger="tracker.conversions.services"):
        for _ in range(3):
            assert ip_allowed(allowed, "203.0.113.1") is True
            assert ip_allowed(allowed, "198.51.100.1") is False
    warnings = [r for r in caplog.records if "not-a-cidr-seen-once" in r.getMessage()]
    assert len(warnings) == 1


# --- pixel and script ----------------------------------------------------------------------------


def test_pixel_reads_the_click_id_from_the_cookie(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    client.set_cookie(CLICK_COOKIE, visit.click_id)
    response = client.get("/conversion.gif?payout=4&txid=px")
    assert response.status_code == 200
    assert response.mimetype == "image/gif" and response.data.startswith(GIF_MAGIC)
    assert "no-store" in response.headers["Cache-Control"]
    row = only_conversion(db)
    assert (row["payout"], row["source"]) == (Decimal("4"), "pixel")
    assert last_log(db)["endpoint"] == "pixel"


def test_pixel_prefers_the_cid_parameter_to_the_cookie(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    first, second = add_visit(db, campaign), add_visit(db, campaign)
    client.set_cookie(CLICK_COOKIE, first.click_id)
    client.get(f"/conversion.gif?cid={second.click_id}")
    assert only_conversion(db)["visit_id"] == second.id


def test_pixel_always_answers_a_gif(client: FlaskClient, db: Session) -> None:
    for query in ("", "cid=unknown-click-id-1", "cid={clickid}", "payout=-1"):
        response = client.get(f"/conversion.gif?{query}")
        assert response.status_code == 200
        assert response.data.startswith(GIF_MAGIC)
    assert [r["result"] for r in log_rows(db)] == [
        "malformed",
        "unknown_click",
        "malformed",
        "malformed",
    ]


def test_script_endpoint(client: FlaskClient, db: Session, visit: Visit) -> None:
    client.set_cookie(CLICK_COOKIE, visit.click_id)
    response = client.get("/conversion.js?et=lead")
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert "recorded" in response.text
    row = only_conversion(db)
    assert (row["et"], row["source"]) == ("lead", "script")


def test_postback_ignores_the_cookie(client: FlaskClient, db: Session, visit: Visit) -> None:
    client.set_cookie(CLICK_COOKIE, visit.click_id)
    assert client.get("/postback").status_code == 400


def test_a_visit_from_the_hot_path_takes_a_postback_at_once(
    client: FlaskClient, db: Session, make_campaign: Callable[..., Campaign]
) -> None:
    campaign = make_campaign()
    redirect = client.get(f"/c/{campaign.key}", headers={"User-Agent": "Mozilla/5.0"})
    assert redirect.status_code == 302
    cookie = client.get_cookie(CLICK_COOKIE)
    assert cookie is not None
    response = client.get(f"/postback?cid={cookie.value}&payout=1")
    assert response.status_code == 200
    assert only_conversion(db)["campaign_id"] == campaign.id


# --- types and what counts ----------------------------------------------------------------------


def test_the_conversion_type_is_resolved_when_recorded(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    kind = ConversionType(
        workspace_id=visit.workspace_id,
        name="Install",
        et_values=["install", "app_install"],
        counts_as_conversion=False,
        counts_in_revenue=True,
    )
    db.add(kind)
    db.commit()
    client.get(f"/postback?cid={visit.click_id}&et=INSTALL&payout=1")
    client.get(f"/postback?cid={visit.click_id}&et=signup&payout=2")
    client.get(f"/postback?cid={visit.click_id}&payout=3")
    rows = {r["et"]: r for r in conversions(db)}
    assert rows["INSTALL"]["conversion_type_id"] == kind.id
    assert rows["INSTALL"]["counts_as_conversion"] is False
    assert rows["signup"]["conversion_type_id"] is None
    assert rows["signup"]["counts_as_conversion"] is True
    assert rows[""]["counts_in_revenue"] is True


def test_counted_conversions_and_revenue_for_reports(
    client: FlaskClient, db: Session, visit: Visit
) -> None:
    db.add(
        ConversionType(
            workspace_id=visit.workspace_id,
            name="Lead",
            et_values=["lead"],
            counts_as_conversion=True,
            counts_in_revenue=False,
        )
    )
    db.commit()
    client.get(f"/postback?cid={visit.click_id}&txid=1&payout=10")
    client.get(f"/postback?cid={visit.click_id}&txid=2&payout=20&status=pending")
    client.get(f"/postback?cid={visit.click_id}&txid=3&payout=40&status=declined")
    client.get(f"/postback?cid={visit.click_id}&txid=4&payout=80&status=chargeback")
    client.get(f"/postback?cid={visit.click_id}&txid=5&payout=160&et=lead")
    db.rollback()
    count, revenue = db.execute(
        select(
            func.count().filter(counted_conversion()),
            func.sum(counted_revenue()),
        )
    ).one()
    assert count == 3  # approved, pending, the lead
    assert Decimal(revenue) == Decimal("30")  # the lead counts, but not in revenue
