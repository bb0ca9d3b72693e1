"""The flow editor without JavaScript: rules, conditions and paths as indexed form fields that
round-trip a flow, row buttons that add, remove and reorder, errors beside their rows, value
lists drawn from visits, read-only for viewers, no inline code."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from unittest.mock import ANY

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.test_setup_pages import no_inline_code
from tracker.models import Campaign, Lander, Offer, Role, TrafficSource, User, Workspace
from tracker.models.events import Visit
from tracker.models.setup import Flow
from tracker.models.types import utcnow
from tracker.setup import flow_editor, flow_form, services
from tracker.setup.schemas import FIELD_KINDS

# --- a browser without JavaScript ----------------------------------------------------------------


class FormFields(HTMLParser):
    """The fields the page's form submits, as a browser without JavaScript would: text inputs,
    textareas, each select's selected (else first) option; nothing inside a <template>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: dict[str, str] = {}
        self._in_template = 0
        self._textarea: str | None = None
        self._select: str | None = None
        self._first_option: str | None = None
        self._selected: str | None = None
        self._option_value: str | None = None
        self._option_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "template":
            self._in_template += 1
        if self._in_template:
            return
        if tag == "input" and a.get("name") and a.get("type", "text") in ("text", "hidden"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.fields[a["name"]] = ""
        elif tag == "select" and a.get("name"):
            self._select, self._first_option, self._selected = a["name"], None, None
        elif tag == "option" and self._select is not None:
            self._option_value = a.get("value")
            self._option_text = ""
            if self._first_option is None:
                self._first_option = a.get("value", "")
            if "selected" in a:
                self._selected = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self._in_template -= 1
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = self._selected if self._selected is not None else self._first_option
            self.fields[self._select] = chosen or ""
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None and not self._in_template:
            # A textarea's first newline belongs to the markup.
            text = self.fields[self._textarea] + data
            self.fields[self._textarea] = text.removeprefix("\r\n").removeprefix("\n")


def page_fields(html: str) -> dict[str, str]:
    parser = FormFields()
    parser.feed(html)
    return parser.fields


def row_html(html: str, prefix: str) -> str:
    """A row's markup (a rule's head, a condition, a path's first part): from its element up to
    the next row's."""
    start = html.index(f'data-prefix="{prefix}"')
    end = html.find('data-prefix="', start + 1)
    return html[start : end if end != -1 else len(html)]


def after(html: str, element_id: str) -> str:
    """The markup from an element up to the next row: where its messages are."""
    start = html.index(f'id="{element_id}"')
    end = html.find('data-prefix="', start)
    return html[start : end if end != -1 else len(html)]


def submit(client: FlaskClient, url: str, fields: dict[str, str], **changes: str) -> Any:
    """Post the page's fields back, with some changed (a value of None drops a field)."""
    data = {**fields, **changes}
    return client.post(url, data={k: v for k, v in data.items() if v is not None})


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def buyer(login: Callable[..., User]) -> User:
    return login(Role.BUYER)


@pytest.fixture
def ws_id(buyer: User) -> int:
    return buyer.memberships[0].workspace_id


@pytest.fixture
def things(db: Session, ws_id: int) -> dict[str, Any]:
    offers = [
        services.create_offer(db, ws_id, {"name": name, "url": f"https://o.example/{name[-1]}"})
        for name in ("Offer A", "Offer B", "Offer C")
    ]
    lander = services.create_lander(
        db, ws_id, {"name": "Quiz", "url": "https://l.example/?cid={clickid}", "offer_count": 2}
    )
    db.commit()
    return {"a": offers[0], "b": offers[1], "c": offers[2], "lander": lander}


def _rich_flow(db: Session, ws_id: int, things: dict[str, Any]) -> Flow:
    a, b, c, lander = things["a"].id, things["b"].id, things["c"].id, things["lander"].id
    flow = services.create_flow(
        db,
        ws_id,
        {
            "name": "Everything",
            "rules": [
                {
                    "name": "iOS 14 to 16.4 in FR or BE",
                    "conditions": [
                        {"field": "country", "op": "in", "values": ["FR", "BE"]},
                        {"field": "os", "op": "in", "values": ["iOS"]},
                        {"field": "os_version", "op": "between", "values": ["14", "16.4"]},
                        {"field": "device_type", "op": "not_in", "values": ["tablet", "bot"]},
                    ],
                    "paths": [
                        {
                            "name": "quiz",
                            "weight": 3,
                            "landers": [{"id": lander, "weight": 100}],
                            "offers": [{"id": a, "weight": 70}, {"id": b, "weight": 30}],
                            "redirect_mode": "double_meta",
                        },
                        {"name": "direct", "weight": 0, "offers": [{"id": c, "weight": 100}]},
                    ],
                },
                {
                    "name": "Nights, in-app or office",
                    "match": "any",
                    "timezone": "America/La_Paz",
                    "conditions": [
                        {"field": "time_of_day", "op": "between", "values": ["22:00", "06:00"]},
                        {"field": "user_agent", "op": "contains", "values": ["FBAN", "Instagram"]},
                        {"field": "ip", "op": "in_cidr", "values": ["2001:db8::/32", "10.0.0.0/8"]},
                        {"field": "referrer", "op": "in", "values": [""]},
                        {"field": "isp", "op": "in", "values": ["Comcast Cable, LLC"]},
                    ],
                    "paths": [{"weight": 100, "offers": [{"id": b, "weight": 100}]}],
                },
                {
                    "name": "Weekend zones",
                    "conditions": [
                        {"field": "day_of_week", "op": "in", "values": ["saturday", "sunday"]},
                        {"field": "var1", "op": "not_in", "values": ["123", "456"]},
                        {"field": "asn", "op": "between", "values": ["64512", "65534"]},
                        {"field": "unique", "op": "in", "values": ["true"]},
                    ],
                    "paths": [{"weight": 100, "offers": [{"id": c, "weight": 100}]}],
                },
            ],
            "default_paths": [
                {"weight": 100, "landers": [], "offers": [{"id": a, "weight": 100}]},
                {"name": "test", "weight": 10, "offers": [{"id": c, "weight": 0}, {"id": b}]},
            ],
        },
    )
    db.commit()
    return flow


# --- round trips ---------------------------------------------------------------------------------


def test_the_form_round_trips_a_flow_with_every_kind_of_condition(
    client: FlaskClient, buyer: User, ws_id: int, db: Session, things: dict[str, Any]
) -> None:
    flow = _rich_flow(db, ws_id, things)
    before = services.describe_flow(flow).model_dump(exclude={"updated_at"})
    url = f"/flows/{flow.id}/edit"
    html = client.get(url).text
    fields = page_fields(html)
    assert fields["rules-0-conditions-0-values"] == "FR\nBE"
    assert (fields["rules-0-conditions-2-low"], fields["rules-0-conditions-2-high"]) == (
        "14",
        "16.4",
    )
    assert fields["rules-1-conditions-2-op"] == "in_cidr"
    assert fields["rules-1-conditions-3-values"] == "(empty)"
    assert fields["rules-1-match"] == "any"
    assert fields["rules-1-timezone"] == "America/La_Paz"
    assert fields["rules-0-paths-0-redirect_mode"] == "double_meta"
    # Spare rows to fill in without JavaScript: a rule, a condition and a path in each rule.
    assert fields["rules-3-name"] == "" and fields["rules-0-conditions-4-field"] == ""
    assert "rules-0-paths-2-offers-0-id" in fields
    # Shares beside the weights, a weight of 0 shown paused.
    quiz = row_html(html, "rules-0-paths-0")
    assert "100%" in quiz and "70%" in quiz and "30%" in quiz
    assert "paused" in row_html(html, "rules-0-paths-1")
    assert "paused" in row_html(html, "default_paths-1")

    response = submit(client, url, fields)
    assert response.status_code == 302, response.text
    db.expire_all()
    after = services.describe_flow(db.get(Flow, flow.id)).model_dump(exclude={"updated_at"})
    assert after == before


def test_a_flow_with_rules_is_created_from_the_empty_form(
    client: FlaskClient, buyer: User, ws_id: int, db: Session, things: dict[str, Any]
) -> None:
    html = client.get("/flows/new").text
    fields = page_fields(html)
    # One blank rule to fill in (hidden behind "Add a rule" when the script runs).
    assert fields["rules-0-name"] == "" and "rules-1-name" not in fields
    a, lander = str(things["a"].id), str(things["lander"].id)
    response = submit(
        client,
        "/flows/new",
        fields,
        **{
            "name": "Geo",
            "rules-0-name": "DE, AT, CH mobile",
            "rules-0-conditions-0-field": "country",
            "rules-0-conditions-0-values": "de, at\nch",
            "rules-0-paths-0-landers-0-id": lander,
            "rules-0-paths-0-offers-0-id": a,
            "default_paths-0-offers-0-id": a,
        },
    )
    assert response.status_code == 302, response.text
    flow = db.scalars(select(Flow)).one()
    assert flow.rules == [
        {
            "name": "DE, AT, CH mobile",
            "conditions": [{"field": "country", "op": "in", "values": ["DE", "AT", "CH"]}],
            "paths": [
                {
                    "weight": 100,
                    "landers": [{"id": things["lander"].id, "weight": 100}],
                    "offers": [{"id": things["a"].id, "weight": 100}],
                }
            ],
        }
    ]


def test_renumbered_fields_save_rules_in_their_new_order_and_drop_the_missing(
    client: FlaskClient, buyer: User, ws_id: int, db: Session, things: dict[str, Any]
) -> None:
    """What the script posts after moving rule 3 to the top and removing rule 2."""
    flow = _rich_flow(db, ws_id, things)
    url = f"/flows/{flow.id}/edit"
    fields = page_fields(client.get(url).text)
    moved: dict[str, str] = {}
    for name, value in fields.items():
        if name.startswith("rules-2-"):
            moved["rules-0-" + name.removeprefix("rules-2-")] = value
        elif name.startswith("rules-0-"):
            moved["rules-1-" + name.removeprefix("rules-0-")] = value
        elif not name.startswith(("rules-1-", "rules-3-")):
            moved[name] = value
    response = client.post(url, data=moved)
    assert response.status_code == 302, response.text
    db.expire_all()
    assert [r["name"] for r in db.get(Flow, flow.id).rules] == [
        "Weekend zones",
        "iOS 14 to 16.4 in FR or BE",
    ]


# --- row buttons without JavaScript --------------------------------------------------------------


def test_row_buttons_reorder_remove_and_add_without_saving_until_save(
    client: FlaskClient, buyer: User, ws_id: int, db: Session, things: dict[str, Any]
) -> None:
    flow = _rich_flow(db, ws_id, things)
    url = f"/flows/{flow.id}/edit"
    html = client.get(url).text
    assert 'name="editor_action" value="up:rules-1"' in html
    fields = page_fields(html)

    moved = submit(client, url, fields, editor_action="up:rules-2", **{"rules-2-name": "Weekend!"})
    assert moved.status_code == 200
    assert "Not saved yet" in moved.text
    fields = page_fields(moved.text)
    # The typed change is kept, and the rows carry their new numbers.
    assert [fields[f"rules-{i}-name"] for i in range(3)] == [
        "iOS 14 to 16.4 in FR or BE",
        "Weekend!",
        "Nights, in-app or office",
    ]
    assert fields["rules-1-conditions-0-values"] == "saturday\nsunday"
    db.expire_all()
    assert db.get(Flow, flow.id).rules[2]["name"] == "Weekend zones"  # nothing saved yet

    removed = submit(client, url, fields, editor_action="remove:rules-0")
    fields = page_fields(removed.text)
    assert fields["rules-0-name"] == "Weekend!"
    dropped = submit(client, url, fields, editor_action="remove:rules-0-conditions-1")
    fields = page_fields(dropped.text)
    assert fields["rules-0-conditions-1-field"] == "asn"
    path_gone = submit(client, url, fields, editor_action="remove:default_paths-1")
    fields = page_fields(path_gone.text)
    assert fields["default_paths-1-offers-0-id"] == ""
    added = submit(client, url, fields, editor_action="add:rules-1-conditions")
    fields = page_fields(added.text)
    assert fields["rules-1-conditions-5-field"] == fields["rules-1-conditions-6-field"] == ""

    # A button that cannot apply (or names nothing) changes nothing and saves nothing.
    for action in ("up:rules-0", "down:rules-9", "remove:nothing-3", "sideways:rules-0", "add:x"):
        again = submit(client, url, fields, editor_action=action)
        assert again.status_code == 200 and "Not saved yet" in again.text, action
        assert page_fields(again.text) == {**fields, "csrf_token": ANY}, action
    top = submit(client, url, fields, editor_action="up:rules-0")
    assert "that row cannot move further up" in top.text

    saved = submit(client, url, fields)
    assert saved.status_code == 302, saved.text
    db.expire_all()
    flow = db.get(Flow, flow.id)
    assert [r["name"] for r in flow.rules] == ["Weekend!", "Nights, in-app or office"]
    assert [c["field"] for c in flow.rules[0]["conditions"]] == ["day_of_week", "asn", "unique"]
    assert len(flow.default_paths) == 1


def test_enter_in_a_text_box_saves_rather_than_pressing_a_row_button(
    client: FlaskClient, buyer: User, ws_id: int, db: Session, things: dict[str, Any]
) -> None:
    html = client.get("/flows/new").text
    form = html[html.index('<form method="post" novalidate class="setup-form"') :]
    first_button = re.search(r"<button[^>]*>", form)
    assert first_button and "editor_action" not in first_button.group(0)
    assert 'type="submit"' in first_button.group(0)


# --- errors ---------------------------------------------------------------------------------------


def test_errors_show_beside_their_rule_condition_and_path_with_the_input_kept(
    client: FlaskClient, buyer: User, ws_id: int, db: Session, things: dict[str, Any]
) -> None:
    fields = page_fields(client.get("/flows/new").text)
    a = str(things["a"].id)
    response = submit(
        client,
        "/flows/new",
        fields,
        editor_action=None,
        **{
            "name": "Broken",
            "rules-0-name": "Geo",
            "rules-0-conditions-0-field": "country",
            "rules-0-conditions-0-values": "FR, FRA",
            "rules-0-paths-0-offers-0-id": a,
            "default_paths-0-offers-0-id": a,
            # A second rule: a value without a field, an operator that does not fit, a between
            # with one end.
            "rules-1-name": "Mixed",
            "rules-1-conditions-0-field": "",
            "rules-1-conditions-0-values": "something",
            "rules-1-conditions-1-field": "country",
            "rules-1-conditions-1-op": "contains",
            "rules-1-conditions-1-values": "F",
            "rules-1-conditions-2-field": "os_version",
            "rules-1-conditions-2-op": "between",
            "rules-1-conditions-2-low": "14",
            "rules-1-paths-0-offers-0-id": a,
            "rules-1-paths-0-offers-0-weight": "-5",
            # A third rule with a name alone.
            "rules-2-name": "Lonely",
        },
    )
    assert response.status_code == 422
    html = response.text
    assert "Nothing was saved" in html and db.scalars(select(Flow)).first() is None
    geo = row_html(html, "rules-0-conditions-0")
    assert "&#39;FRA&#39; is not an ISO 3166-1 alpha-2 country code" in geo
    assert "FR, FRA</textarea>" in geo  # as typed
    assert "values.1" not in html
    assert "Pick a field." in row_html(html, "rules-1-conditions-0")
    assert "something</textarea>" in row_html(html, "rules-1-conditions-0")
    op = row_html(html, "rules-1-conditions-1")
    assert "“contains any of” does not apply to Country: use “is any of”, “is none of”" in op
    between = row_html(html, "rules-1-conditions-2")
    assert "Between takes exactly two values" in between and 'value="14"' in between
    weight = row_html(html, "rules-1-paths-0")
    assert "greater than or equal to 0" in weight and 'value="-5"' in weight
    assert "Add at least one condition" in row_html(html, "rules-2")
    assert "A rule needs at least one path" in after(html, "rules-2-conditions-0-field")

    # Once each rule is right, their names must differ: said beside the second one.
    twice = {
        "name": "Twice",
        "default_paths-0-offers-0-id": a,
        **{
            f"rules-{i}-{name}": value
            for i in (0, 1)
            for name, value in (
                ("name", "Geo" if i == 0 else "geo"),
                ("conditions-0-field", "country"),
                ("conditions-0-values", "FR"),
                ("paths-0-offers-0-id", a),
            )
        },
    }
    named = submit(client, "/flows/new", fields, **twice)
    assert named.status_code == 422
    assert "A rule above is also named &#39;geo&#39;" in after(named.text, "rules-1-name")
    assert "is also named" not in after(named.text, "rules-0-name")

    # A value too long is counted from 1, beside the values.
    long = submit(
        client,
        "/flows/new",
        fields,
        **{
            "name": "Long",
            "rules-0-name": "Zones",
            "rules-0-conditions-0-field": "var1",
            "rules-0-conditions-0-values": "123\n" + "9" * 600,
            "rules-0-paths-0-offers-0-id": a,
            "default_paths-0-offers-0-id": a,
        },
    )
    assert long.status_code == 422
    assert "Value 2: String should have at most 500 characters" in row_html(
        long.text, "rules-0-conditions-0"
    )

    # Ids are checked once the shapes are right: an offer of no one, beside its row.
    unknown = submit(
        client,
        "/flows/new",
        fields,
        **{
            "name": "Unknown",
            "rules-0-name": "Geo",
            "rules-0-conditions-0-field": "ip",
            "rules-0-conditions-0-op": "in_cidr",
            "rules-0-conditions-0-values": "2001:db8::/32",
            "rules-0-paths-0-offers-0-id": "99999",
            "default_paths-0-offers-0-id": a,
        },
    )
    assert unknown.status_code == 422
    assert "No offer 99999 in this workspace" in row_html(unknown.text, "rules-0-paths-0")


def test_a_time_zone_a_rule_already_has_is_offered_and_a_bad_one_is_named(
    client: FlaskClient, buyer: User, ws_id: int, db: Session, things: dict[str, Any]
) -> None:
    flow = _rich_flow(db, ws_id, things)
    html = client.get(f"/flows/{flow.id}/edit").text
    assert '<option selected value="America/La_Paz">America/La Paz</option>' in html
    assert "the account&#39;s (UTC)" in html and 'value="Europe/Paris"' in html
    fields = page_fields(html)
    response = submit(client, f"/flows/{flow.id}/edit", fields, **{"rules-1-timezone": "Mars/Base"})
    assert response.status_code == 422
    assert "Not an IANA time zone: &#39;Mars/Base&#39;" in after(response.text, "rules-1-timezone")


# --- what the pickers offer ----------------------------------------------------------------------


def _visit(db: Session, workspace_id: int, campaign_id: int, n: int, **values: Any) -> Visit:
    visit = Visit(
        click_id=f"click{n:012d}",
        workspace_id=workspace_id,
        campaign_id=campaign_id,
        created_at=values.pop("created_at", utcnow() - timedelta(hours=1)),
        **values,
    )
    db.add(visit)
    return visit


def test_value_lists_come_from_the_workspaces_recent_human_visits(
    client: FlaskClient,
    buyer: User,
    db: Session,
    workspace: Workspace,
    make_campaign: Callable[..., Campaign],
) -> None:
    campaign = make_campaign()
    n = iter(range(1, 1000))
    for _ in range(3):
        _visit(db, workspace.id, campaign.id, next(n), os="HarmonyOS", brand="Tecno")
    _visit(db, workspace.id, campaign.id, next(n), os="Tizen", language="sw")
    _visit(db, workspace.id, campaign.id, next(n), browser="Mi Browser", connection_type="Cellular")
    _visit(db, workspace.id, campaign.id, next(n), os="BotOS", is_bot=True)
    old = utcnow() - timedelta(days=40)
    _visit(db, workspace.id, campaign.id, next(n), os="OldOS", created_at=old)
    other = Workspace(name="Other")
    db.add(other)
    db.flush()
    other_source = TrafficSource(workspace_id=other.id, name="S")
    db.add(other_source)
    db.flush()
    other_campaign = Campaign(
        workspace_id=other.id, name="C", key="otherkey01", traffic_source_id=other_source.id
    )
    db.add(other_campaign)
    db.flush()
    _visit(db, other.id, other_campaign.id, next(n), os="OtherOS")
    db.commit()

    seen = flow_editor.seen_values(db, workspace.id, utcnow())
    assert seen["os"] == [("HarmonyOS", 3), ("Tizen", 1)]
    assert seen["brand"] == [("Tecno", 3)]
    html = client.get("/flows/new").text
    os_list = html[html.index('<datalist id="flow-values-os">') :]
    os_list = os_list[: os_list.index("</datalist>")]
    assert '<option value="HarmonyOS">3 visits in 30 days</option>' in os_list
    assert os_list.index("HarmonyOS") < os_list.index("Tizen") < os_list.index('"Android"')
    assert "BotOS" not in html and "OldOS" not in html and "OtherOS" not in html
    assert '<option value="sw">1 visit in 30 days</option>' in html
    assert '<option value="Mi Browser">' in html and '<option value="Tecno">' in html
    assert '<option value="FR" data-name="France">France</option>' in html
    assert '<option value="wearable">' in html and '<option value="saturday">' in html
    assert f'<option value="{campaign.id}" data-name="{campaign.name}">' in html


def test_fields_are_grouped_and_variables_named_after_the_sources(
    client: FlaskClient, buyer: User, make_traffic_source: Callable[..., TrafficSource]
) -> None:
    make_traffic_source(
        name="PropellerAds",
        variables=[{"name": "zone", "param": "zoneid", "placeholder": "{zoneid}"}],
    )
    html = client.get("/flows/new").text
    assert '<optgroup label="Location">' in html and '<optgroup label="Time">' in html
    assert ">var1 · zone (PropellerAds)</option>" in html and ">var2</option>" in html
    catalog = html[html.index("data-field-catalog") :]
    assert (
        'data-field="country" data-label="Country" data-group="Location" data-ops="in not_in"'
        in (catalog)
    )
    assert (
        'data-field="time_of_day" data-label="Time of day" data-group="Time" data-ops="between"'
        in (catalog)
    )
    assert 'data-field="user_agent"' in catalog and "data-lines-only" in catalog


def test_every_field_the_schemas_accept_has_a_place_in_the_editor() -> None:
    assert set(flow_editor.FIELDS_BY_NAME) == set(FIELD_KINDS)
    assert len(flow_editor.FIELDS) == len(FIELD_KINDS)


def test_values_are_split_by_lines_or_commas_as_the_field_allows() -> None:
    assert flow_form.split_values("FR, DE\nIT,,\n FR ", "country") == ["FR", "DE", "IT"]
    assert flow_form.split_values("Comcast Cable, LLC\nOrange", "isp") == [
        "Comcast Cable, LLC",
        "Orange",
    ]
    assert flow_form.split_values("(empty)\nfacebook.com", "referrer") == ["", "facebook.com"]
    assert flow_form.values_text(["", "a"]) == "(empty)\na"


# --- who sees what ------------------------------------------------------------------------------


def test_viewers_read_the_flow_and_cannot_change_it(
    client: FlaskClient,
    db: Session,
    make_user: Callable[..., User],
    login: Callable[..., User],
    workspace: Workspace,
    make_offer: Callable[..., Offer],
    make_lander: Callable[..., Lander],
) -> None:
    things = {"a": make_offer(), "b": make_offer(), "c": make_offer(), "lander": make_lander()}
    flow = _rich_flow(db, workspace.id, things)
    login(Role.VIEWER)
    url = f"/flows/{flow.id}/edit"
    page = client.get(url)
    assert page.status_code == 200
    html = page.text
    assert '<fieldset class="plain" disabled>' in html
    assert "editor_action" not in html and "<template" not in html
    assert "iOS 14 to 16.4 in FR or BE" in html and "FR\nBE</textarea>" in html
    token = page_fields(html)["csrf_token"]
    assert client.post(url, data={"name": "Mine", "csrf_token": token}).status_code == 403
    remove = {"editor_action": "remove:rules-0", "csrf_token": token}
    assert client.post(url, data=remove).status_code == 403
    assert client.get("/flows/new").status_code == 403
    db.expire_all()
    assert db.get(Flow, flow.id).name == "Everything"


def test_no_inline_script_or_style_on_the_flow_editor(
    client: FlaskClient, buyer: User, ws_id: int, db: Session, things: dict[str, Any]
) -> None:
    flow = _rich_flow(db, ws_id, things)
    for url in ("/flows/new", f"/flows/{flow.id}/edit"):
        response = client.get(url)
        no_inline_code(response.text)
        assert "flow_editor.js" in response.text
    fields = page_fields(client.get("/flows/new").text)
    errors = submit(client, "/flows/new", fields, **{"rules-0-name": "x"})
    assert errors.status_code == 422
    no_inline_code(errors.text)
    static = client.get("/static/flow_editor.js")
    assert static.status_code == 200 and "innerHTML" not in static.text


# --- the way in from campaigns -------------------------------------------------------------------


def test_a_campaign_through_a_flow_links_to_its_editor(
    client: FlaskClient,
    buyer: User,
    ws_id: int,
    db: Session,
    things: dict[str, Any],
    make_campaign: Callable[..., Campaign],
) -> None:
    flow = _rich_flow(db, ws_id, things)
    campaign = make_campaign(flow_id=flow.id, name="Push FR")
    page = client.get(f"/campaigns/{campaign.id}").text
    assert f'href="/flows/{flow.id}/edit" id="flow-editor-link"' in page
    assert "iOS 14 to 16.4 in FR or BE → Nights, in-app or office → Weekend zones" in page
    form = client.get(f"/campaigns/{campaign.id}/edit").text
    assert f'data-flow-link="/flows/0/edit" href="/flows/{flow.id}/edit"' in form
    editor = client.get(f"/flows/{flow.id}/edit").text
    assert f'href="/campaigns/{campaign.id}">Push FR</a>' in editor
    assert f"/campaigns/{campaign.id}/test-visit" in editor
