"""A small fixed data set for report tests, with every figure computable by hand."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from tracker.models import Campaign, Conversion, CostModel, TrafficSource, Visit

_counter = itertools.count(1)
AT = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


def add_visit(db: Session, campaign: Campaign, at: datetime = AT, **values: Any) -> Visit:
    n = next(_counter)
    visit = Visit(
        click_id=f"testclick{n:08d}",
        created_at=at,
        workspace_id=campaign.workspace_id,
        campaign_id=campaign.id,
        traffic_source_id=campaign.traffic_source_id,
        clicks=values.pop("clicks", 1),
        cost=values.pop("cost", Decimal("0")),
        **values,
    )
    db.add(visit)
    db.flush()
    return visit


def add_conversion(
    db: Session, visit: Visit, payout: str, status: str = "approved", **values: Any
) -> Conversion:
    conversion = Conversion(
        dedupe_key=f"{visit.click_id}|{next(_counter)}|",
        workspace_id=visit.workspace_id,
        visit_id=visit.id,
        click_id=visit.click_id,
        campaign_id=visit.campaign_id,
        offer_id=visit.offer_id,
        status=status,
        payout=Decimal(payout),
        visit_at=visit.created_at,
        **values,
    )
    db.add(conversion)
    db.flush()
    return conversion


@dataclass
class Dataset:
    alpha: TrafficSource
    beta: TrafficSource
    gamma: TrafficSource
    c1: Campaign
    c2: Campaign
    c3: Campaign
    c4: Campaign
    visits: dict[str, Visit]


def build_dataset(
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
) -> Dataset:
    """Alpha: C1 (cpc 0.01) and C3 (revshare 50 %); Beta: C2 (cpa 2.00); Gamma: C4 (nothing).

    Bots excluded, by traffic source:
      Alpha: 5 visits, 4 unique, 4 clicks, 3 conversions (1 pending), revenue 11, cost 3.04
      Beta:  2 visits, 2 unique, 1 click,  1 conversion, revenue 4, cost 2 (cpa)
      Gamma: 1 visit,  1 unique, 0 clicks, 0 conversions
    """
    alpha = make_traffic_source(name="Alpha")
    beta = make_traffic_source(name="Beta")
    gamma = make_traffic_source(name="Gamma")
    c1 = make_campaign(
        name="C1", traffic_source_id=alpha.id, cost_model=CostModel.CPC, cost_value=Decimal("0.01")
    )
    c2 = make_campaign(
        name="C2", traffic_source_id=beta.id, cost_model=CostModel.CPA, cost_value=Decimal("2")
    )
    c3 = make_campaign(
        name="C3",
        traffic_source_id=alpha.id,
        cost_model=CostModel.REVSHARE,
        cost_value=Decimal("50"),
    )
    c4 = make_campaign(name="C4", traffic_source_id=gamma.id)
    cent = Decimal("0.01")
    v = {
        "v1": add_visit(db, c1, cost=cent, country="US", var1="z1", device_type="mobile"),
        "v2": add_visit(db, c1, clicks=0, cost=cent, country="US", var1="z1", device_type="mobile"),
        "v3": add_visit(db, c1, cost=cent, country="DE", var1="z2", device_type="desktop"),
        "v4": add_visit(db, c1, cost=cent, country="US", var1="z1", is_bot=True),
        "v5": add_visit(db, c1, cost=cent, country="DE", var1="z2", is_unique=False),
        "v6": add_visit(db, c2, country="FR"),
        "v7": add_visit(db, c2, clicks=0, country="FR"),
        "v8": add_visit(db, c3, country="US"),
        "v9": add_visit(db, c4, clicks=0, country="GB"),
    }
    add_conversion(db, v["v1"], "3.00")
    add_conversion(db, v["v3"], "2.00", status="pending")
    add_conversion(db, v["v5"], "5.00", status="declined")
    add_conversion(db, v["v4"], "10.00")
    add_conversion(db, v["v6"], "4.00")
    add_conversion(db, v["v8"], "6.00")
    add_conversion(db, v["v8"], "8.00", status="chargeback")  # a refund: not counted either
    db.commit()
    return Dataset(alpha, beta, gamma, c1, c2, c3, c4, v)
