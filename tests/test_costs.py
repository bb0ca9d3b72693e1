"""Costs: each cost model, manual cost updates (spread, variable, bots), undo, layering, CSV
import, the API and the page; reports (and their rollups) reflect each at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.report_data import AT, Dataset, add_visit
from tracker.models import Campaign, CostModel, Visit
from tracker.models.rollups import CostAdjustment
from tracker.reports import rollups
from tracker.reports.costs import (
    CostError,
    CostImportError,
    CostUpdateRequest,
    apply_cost_update,
    import_costs_csv,
    undo_cost_update,
    visit_cost,
)
from tracker.reports.query import parse_report_args, run_report

DAY = date(2026, 11, 10)


@pytest.mark.parametrize(
    ("model", "value", "param", "expected"),
    [
        (CostModel.CPC, "0.05", None, "0.05"),
        (CostModel.CPC, None, "9", "0"),
        (CostModel.CPM, "2.50", None, "0.0025"),
        (CostModel.CPM, "0.0001", None, "0"),  # below a millionth
        (CostModel.AUTO, None, "0.0035", "0.0035"),
        (CostModel.AUTO, None, "0,0035", "0.0035"),
        (CostModel.AUTO, None, "{cost}", "0"),
        (CostModel.AUTO, None, "${COST}", "0"),
        (CostModel.AUTO, None, "abc", "0"),
        (CostModel.AUTO, None, "-1", "0"),
        (CostModel.AUTO, None, "NaN", "0"),
        (CostModel.AUTO, None, None, "0"),
        (CostModel.AUTO, None, "1e300", "99999999.999999"),
        (CostModel.CPA, "2", "1", "0"),
        (CostModel.REVSHARE, "50", "1", "0"),
        (CostModel.NONE, "1", "1", "0"),
        ("bogus", "1", "1", "0"),
    ],
)
def test_visit_cost_of_each_model(
    model: CostModel | str, value: str | None, param: str | None, expected: str
) -> None:
    assert visit_cost(model, Decimal(value) if value else None, param) == Decimal(expected)


def campaign_cost(db: Session, data: Dataset, campaign: Campaign, bots: bool = False) -> Any:
    args = {
        "group_by": ["campaign"],
        "from": [DAY.isoformat()],
        "to": [DAY.isoformat()],
        "campaign_id": [str(campaign.id)],
        "include_bots": ["1" if bots else "0"],
    }
    return run_report(db, parse_report_args(args, data.c1.workspace_id, "UTC")).totals


def costs_of(db: Session, campaign: Campaign) -> dict[int, Decimal]:
    return dict(
        db.execute(select(Visit.id, Visit.cost).where(Visit.campaign_id == campaign.id))
        .tuples()
        .all()
    )


def request(data: Dataset, amount: str, **changes: Any) -> CostUpdateRequest:
    values: dict[str, Any] = {
        "workspace_id": data.c1.workspace_id,
        "campaign_id": data.c1.id,
        "amount": Decimal(amount),
        "date_from": DAY,
        "date_to": DAY,
        "tz": "UTC",
    }
    values.update(changes)
    return CostUpdateRequest(**values)


def test_a_manual_cost_is_spread_evenly_and_exactly(db: Session, data: Dataset) -> None:
    update = apply_cost_update(db, request(data, "10"))
    db.commit()
    assert update.visits_affected == 5  # four humans and one bot
    costs = costs_of(db, data.c1)
    assert costs[data.visits["v4"].id] == 0  # the bot carries none
    assert sum(costs.values()) == Decimal("10")
    assert campaign_cost(db, data, data.c1).cost == Decimal("10")
    assert campaign_cost(db, data, data.c1, bots=True).cost == Decimal("10")
    # An amount that does not divide: the remainder's millionths go to the first visits.
    apply_cost_update(db, request(data, "1", campaign_id=data.c2.id))
    db.commit()
    assert sorted(costs_of(db, data.c2).values()) == [Decimal("0.5"), Decimal("0.5")]
    apply_cost_update(db, request(data, "0.000007"))
    db.commit()
    assert sum(costs_of(db, data.c1).values()) == Decimal("0.000007")


def test_a_variable_value_limits_the_update_and_names_resolve(db: Session, data: Dataset) -> None:
    # The test source names its first variable "zone".
    apply_cost_update(db, request(data, "3", variable="zone", value="z2"))
    db.commit()
    costs = costs_of(db, data.c1)
    assert costs[data.visits["v3"].id] + costs[data.visits["v5"].id] == Decimal("3")
    assert costs[data.visits["v1"].id] == Decimal("0.01")  # z1 untouched
    with pytest.raises(CostError) as caught:
        apply_cost_update(db, request(data, "3", variable="placement", value="x"))
    assert caught.value.field == "variable"


def test_undo_restores_exact_previous_costs_and_reports(db: Session, data: Dataset) -> None:
    before = costs_of(db, data.c1)
    report_before = campaign_cost(db, data, data.c1)
    update = apply_cost_update(db, request(data, "7.5"))
    db.commit()
    assert campaign_cost(db, data, data.c1).cost == Decimal("7.5")
    undone = undo_cost_update(db, data.c1.workspace_id, update.id)
    db.commit()
    assert undone.undone_at is not None
    assert costs_of(db, data.c1) == before
    assert campaign_cost(db, data, data.c1) == report_before
    assert db.scalar(select(func.count()).select_from(CostAdjustment)) == 0
    with pytest.raises(CostError) as caught:
        undo_cost_update(db, data.c1.workspace_id, update.id)
    assert caught.value.status == 409


def test_layered_updates_undo_newest_first(db: Session, data: Dataset) -> None:
    original = costs_of(db, data.c1)
    first = apply_cost_update(db, request(data, "4"))
    second = apply_cost_update(db, request(data, "2", variable="var1", value="z1"))
    db.commit()
    with pytest.raises(CostError) as caught:
        undo_cost_update(db, data.c1.workspace_id, first.id)
    assert caught.value.status == 409 and f"#{second.id}" in caught.value.message
    undo_cost_update(db, data.c1.workspace_id, second.id)
    undo_cost_update(db, data.c1.workspace_id, first.id)
    db.commit()
    assert costs_of(db, data.c1) == original


def test_rollups_follow_cost_updates_at_once(
    db: Session, data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollups.refresh_rollups(db, now=AT + timedelta(days=2))
    db.commit()
    update = apply_cost_update(db, request(data, "12"))
    db.commit()
    from_rollups = campaign_cost(db, data, data.c1)
    assert from_rollups.cost == Decimal("12")
    monkeypatch.setattr(rollups, "plan", lambda session, query: None)
    assert campaign_cost(db, data, data.c1) == from_rollups
    monkeypatch.undo()
    undo_cost_update(db, data.c1.workspace_id, update.id)
    db.commit()
    assert campaign_cost(db, data, data.c1).cost == Decimal("0.04")


def test_bad_updates_name_the_field(db: Session, data: Dataset) -> None:
    cases = [
        (request(data, "1", campaign_id=999_999), "campaign_id", 404),
        (request(data, "1", tz="Nowhere/Land"), "tz", 422),
        (request(data, "1", date_from=DAY, date_to=DAY - timedelta(days=2)), "to", 422),
        (
            request(data, "1", date_from=DAY + timedelta(days=5), date_to=DAY + timedelta(days=5)),
            "from",
            422,
        ),
        (request(data, "-1"), "cost", 422),
        (request(data, "1", variable="var1", value=None), "value", 422),
    ]
    for req, field, status in cases:
        with pytest.raises(CostError) as caught:
            apply_cost_update(db, req)
        assert (caught.value.field, caught.value.status) == (field, status)
        db.rollback()


def test_time_range_in_a_zone(db: Session, data: Dataset) -> None:
    """10:00 UTC is 11:00 in Paris: a Paris range ending at 10:30 local excludes it."""
    from datetime import datetime

    late = add_visit(db, data.c2, at=AT + timedelta(hours=2))
    db.commit()
    update = apply_cost_update(
        db,
        request(
            data,
            "6",
            campaign_id=data.c2.id,
            date_from=datetime(2026, 11, 10, 0, 0),
            date_to=datetime(2026, 11, 10, 12, 0),
            tz="Europe/Paris",
        ),
    )
    db.commit()
    assert update.visits_affected == 2
    assert costs_of(db, data.c2)[late.id] == 0


def test_csv_import_all_or_nothing(db: Session, data: Dataset) -> None:
    applied = import_costs_csv(
        db,
        data.c1.workspace_id,
        "date,campaign,variable,cost\n2026-11-10,C1,var1=z1,2.00\n2026-11-10,C2,,3\n",
        "UTC",
    )
    db.commit()
    assert len(applied) == 2
    assert campaign_cost(db, data, data.c2).cost == Decimal("3") + Decimal("2")  # + cpa
    with pytest.raises(CostImportError) as caught:
        import_costs_csv(
            db,
            data.c1.workspace_id,
            "date,campaign,cost\n2026-11-10,C1,1\nnot-a-date,C1,1\n2026-11-10,Nope,1\n2026-11-10,C1,x\n",
            "UTC",
        )
    assert [line for line, _ in caught.value.errors] == [3, 4, 5]
    with pytest.raises(CostImportError):
        import_costs_csv(db, data.c1.workspace_id, "day,cost\n", "UTC")


def test_api_cost_update_and_undo(api: Callable[..., Any], data: Dataset, db: Session) -> None:
    buyer = api("buyer")
    body = {
        "campaign_id": data.c1.id,
        "cost": "8.5",
        "from": "2026-11-10",
        "to": "2026-11-10",
        "tz": "UTC",
    }
    response = buyer.post("/api/v1/costs", json=body)
    assert response.status_code == 201, response.text
    created = response.get_json()
    assert created["visits_affected"] == 5 and created["cost"] == 8.5 and not created["undone"]
    report = buyer.get("/api/v1/report?group_by=campaign&from=2026-11-10&to=2026-11-10").get_json()
    c1 = next(r for r in report["rows"] if r["campaign"] == "C1")
    assert c1["cost"] == 8.5
    undo = buyer.post(f"/api/v1/costs/{created['id']}/undo")
    assert undo.status_code == 200 and undo.get_json()["undone"]
    assert buyer.post(f"/api/v1/costs/{created['id']}/undo").status_code == 409


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"cost": "1", "from": "2026-11-10", "to": "2026-11-10"}, 422, "campaign_id"),
        ({"campaign_id": 1, "cost": "abc", "from": "2026-11-10", "to": "2026-11-10"}, 422, "cost"),
        ({"campaign_id": 1, "cost": "1", "from": "soon", "to": "2026-11-10"}, 422, "from"),
        (
            {"campaign_id": 999999, "cost": "1", "from": "2026-11-10", "to": "2026-11-10"},
            404,
            "campaign_id",
        ),
    ],
)
def test_api_cost_errors(
    api: Callable[..., Any], data: Dataset, body: dict[str, Any], status: int, field: str
) -> None:
    response = api("buyer").post("/api/v1/costs", json=body)
    assert response.status_code == status, response.text
    assert field in response.get_json()["error"]["fields"]


def test_api_costs_need_a_buyer_and_the_workspace(api: Callable[..., Any], data: Dataset) -> None:
    body = {"campaign_id": data.c1.id, "cost": "1", "from": "2026-11-10", "to": "2026-11-10"}
    assert api("viewer").post("/api/v1/costs", json=body).status_code == 403
    outsider = api("buyer", email="other@example.com", workspace="Other")
    assert outsider.post("/api/v1/costs", json=body).status_code == 404


def test_costs_page_applies_and_undoes(
    client: Any, login: Callable[..., Any], data: Dataset, db: Session
) -> None:
    login("buyer")
    client.application.config["WTF_CSRF_ENABLED"] = False
    page = client.get("/costs")
    assert page.status_code == 200 and "Manual cost update" in page.text
    response = client.post(
        "/costs",
        data={
            "update-campaign_id": data.c1.id,
            "update-cost": "5",
            "update-date_from": "2026-11-10",
            "update-date_to": "2026-11-10",
            "update-tz": "UTC",
            "update-submit": "Apply cost",
        },
    )
    assert response.status_code == 302, response.text
    assert sum(costs_of(db, data.c1).values()) == Decimal("5")
    listing = client.get("/costs").text
    assert "C1" in listing and "5.00" in listing
    update_id = db.scalar(select(func.max(CostAdjustment.cost_update_id)))
    assert client.post(f"/costs/{update_id}/undo").status_code == 302
    assert sum(costs_of(db, data.c1).values()) == Decimal("0.05")
    bad = client.post(
        "/costs",
        data={
            "update-campaign_id": data.c1.id,
            "update-cost": "5",
            "update-date_from": "2026-12-10",
            "update-date_to": "2026-12-10",
            "update-tz": "UTC",
            "update-submit": "Apply cost",
        },
    )
    assert bad.status_code == 200 and "no visits" in bad.text


def test_api_lists_and_imports_costs(api: Callable[..., Any], data: Dataset) -> None:
    buyer = api("buyer")
    csv_body = "date,campaign,variable,cost\n2026-11-10,C1,zone=z1,2.5\n2026-11-10,C2,,1\n"
    response = buyer.post(
        "/api/v1/costs/import?tz=UTC", data=csv_body, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 201, response.text
    assert response.get_json()["total"] == 2
    listing = buyer.get("/api/v1/costs").get_json()
    assert listing["total"] == 2 and listing["items"][0]["campaign_id"] == data.c2.id
    assert listing["items"][1]["variable"] == "var1" and listing["items"][1]["value"] == "z1"
    bad = buyer.post("/api/v1/costs/import", data="date,campaign,cost\n2026-11-10,Nope,1\n")
    assert bad.status_code == 422 and "line 2" in bad.get_json()["error"]["fields"]
    assert api("viewer").post("/api/v1/costs/import", data=csv_body).status_code == 403


def test_undo_of_an_id_past_the_column_range_is_404(api: Any) -> None:
    """Found by the API schema walk on PostgreSQL: a 500 for an id beyond 32 bits."""
    caller = api("buyer")
    response = caller.post("/api/v1/costs/6227020799/undo")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
