"""Two `tracker serve` nodes over one store behave as one tracker.

A campaign changed through node A routes the next visit on node B accordingly, a visit made
on A converts by a postback sent to B, and both nodes' reports agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.orm import Session

from tests.test_serve import _stop, _tracker, free_port, wait_for
from tracker.auth.services import create_api_token, create_user
from tracker.models import Role


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirect)
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def call(base: str, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            # a person's browser: scripts' user agents count as bots, left out of reports
            "User-Agent": BROWSER_UA,
            **({"Authorization": f"Bearer {token}"} if token else {}),
            **({"Content-Type": "application/json"} if body is not None else {}),
        },
    )
    try:
        with OPENER.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:  # 3xx (not followed) and 4xx land here
        return error.code, error.headers, error.read()


@pytest.fixture
def two_nodes(database_url: str, tmp_path: Path, app: object) -> Iterator[tuple[str, str]]:
    """Nodes A and B: separate processes, separate caches, one store."""
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_SECRET_KEY": "shared-secret-of-the-cluster",
        "TRACKER_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    env.pop("TRACKER_TEST_DATABASE_URL", None)
    processes, bases = [], []
    for _ in range(2):
        port = free_port()
        processes.append(
            subprocess.Popen(
                [_tracker(), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base, process in zip(bases, processes, strict=True):
            wait_for(f"{base}/healthz", process)
        yield bases[0], bases[1]
    finally:
        for process in processes:
            _stop(process)


def test_two_nodes_share_setup_visits_conversions_and_reports(
    two_nodes: tuple[str, str], db: Session
) -> None:
    node_a, node_b = two_nodes
    user = create_user(db, "buyer@example.com", Role.BUYER, password="long enough password").user
    token = create_api_token(db, user, "cluster test").raw
    db.commit()

    status, _, body = call(node_a, "POST", "/api/v1/traffic-sources", token, {"name": "Source"})
    assert status == 201, body
    source_id = json.loads(body)["id"]
    offers = []
    for name in ("Offer A", "Offer B"):
        status, _, body = call(
            node_a,
            "POST",
            "/api/v1/offers",
            token,
            {
                "name": name,
                "url": f"https://{name[-1].lower()}.example/?cid={{clickid}}",
                "payout": 3,
            },
        )
        assert status == 201, body
        offers.append(json.loads(body)["id"])
    path_to = lambda offer_id: {"offers": [{"id": offer_id, "weight": 100}]}  # noqa: E731
    status, _, body = call(
        node_a,
        "POST",
        "/api/v1/campaigns",
        token,
        {
            "name": "Cluster",
            "traffic_source_id": source_id,
            "cost_model": "cpc",
            "cost_value": 0.5,
            "destination": {"path": path_to(offers[0])},
        },
    )
    assert status == 201, body
    campaign = json.loads(body)

    status, headers, _ = call(node_b, "GET", f"/c/{campaign['key']}")
    assert status == 302 and headers["Location"].startswith("https://a.example/")

    status, _, body = call(
        node_a,
        "PATCH",
        f"/api/v1/campaigns/{campaign['id']}",
        token,
        {"destination": {"path": path_to(offers[1])}},
    )
    assert status == 200, body
    # Each node checks the setup version at most about once a second.
    deadline = time.monotonic() + 5
    location = ""
    while time.monotonic() < deadline:
        status, headers, _ = call(node_b, "GET", f"/c/{campaign['key']}")
        location = headers["Location"]
        if location.startswith("https://b.example/"):
            break
        time.sleep(0.2)
    assert location.startswith("https://b.example/"), "node B kept the old destination"

    status, headers, _ = call(node_a, "GET", f"/c/{campaign['key']}")
    click_id = parse_qs(urlsplit(headers["Location"]).query)["cid"][0]
    # The contract gives a visit 1 s to become visible to postbacks (node A writes behind).
    deadline = time.monotonic() + 1.0
    while True:
        status, _, body = call(node_b, "GET", f"/postback?cid={click_id}&payout=7.25&txid=t1")
        if status != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200, body

    today = datetime.now(UTC).date().isoformat()
    query = f"/api/v1/report?group_by=campaign&from={today}&to={today}&tz=UTC"
    reports = []
    deadline = time.monotonic() + 10  # reports see visits within 5 s
    while time.monotonic() < deadline:
        reports = [json.loads(call(node, "GET", query, token)[2]) for node in (node_a, node_b)]
        totals = reports[0]["totals"]
        if totals["conversions"] == 1 and totals["visits"] >= 2 and reports[0] == reports[1]:
            break
        time.sleep(0.3)
    assert reports[0] == reports[1]
    totals = reports[0]["totals"]
    assert totals["conversions"] == 1, reports
    assert float(totals["revenue"]) == 7.25
    assert totals["visits"] >= 2
