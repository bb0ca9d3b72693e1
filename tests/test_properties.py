"""Properties of the parsers that read what strangers send: token rendering, postback values,
report parameters and flow documents. For any input, each answers a value of its own kind or
its own error (never another exception), and what it answers has the shape the next step needs.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tracker.conversions.params import (
    PAYOUT_MAX,
    STATUSES,
    MalformedPostback,
    first_values,
    has_macro,
    parse_payout,
    read_click_id,
    read_postback,
)
from tracker.reports.query import ReportError, parse_report_args
from tracker.setup.schemas import (
    CONDITION_FIELDS,
    CONDITION_OPS,
    FIELD_KINDS,
    OPS_BY_KIND,
    ConditionIn,
    FlowIn,
)
from tracker.tracking.clickid import new_click_id, normalize_click_id
from tracker.tracking.routing import compile_routes
from tracker.tracking.tokens import KNOWN_TOKENS, compile_template, format_value, render

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # CI repeats the same cases: a failure there can be reproduced here
)

# Text as networks and visitors send it: any code point but surrogates (not in UTF-8).
any_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=80)
value_maps = st.dictionaries(any_text, any_text, max_size=12)
postback_names = st.sampled_from(
    ["cid", "clickid", "subid", "payout", "txid", "et", "status", "currency", "key", "param1",
     "param5", "PAYOUT", "Status", "aff_sub"]
)  # fmt: skip
postback_maps = st.dictionaries(postback_names | any_text, any_text, max_size=12)


# --- tokens ------------------------------------------------------------------------------------

URL_SAFE = set(string.ascii_letters + string.digits + "-._~%")


@PROPERTY_SETTINGS
@given(value=any_text, token=st.sampled_from(sorted(KNOWN_TOKENS)))
def test_a_token_value_is_encoded_so_it_cannot_break_out_of_its_parameter(
    value: str, token: str
) -> None:
    url = f"https://offer.example/path?a=1&t={{{token}}}&b=2#frag"
    rendered = render(url, {token: value})
    prefix, suffix = "https://offer.example/path?a=1&t=", "&b=2#frag"
    assert rendered.startswith(prefix) and rendered.endswith(suffix)
    encoded = rendered[len(prefix) : -len(suffix)]
    assert set(encoded) <= URL_SAFE  # no &, #, /, ?, space or quote of the value survives
    assert unquote(encoded) == value
    assert urlsplit(rendered).netloc == "offer.example"


@PROPERTY_SETTINGS
@given(url=any_text, values=st.dictionaries(st.sampled_from(sorted(KNOWN_TOKENS)), any_text))
@example(url="{clickid}{CLICKID}{unknown}{", values={"clickid": "x"})
def test_rendering_keeps_everything_but_known_tokens_as_written(
    url: str, values: dict[str, str]
) -> None:
    template = compile_template(url)
    assert "".join(template.literals).count("{clickid}") == 0 or "clickid" not in values
    rendered = template.render(values)
    # With no values, every token stays as written: the URL comes back unchanged.
    assert template.render({}) == url
    # Literal text between tokens is never altered.
    for literal in template.literals:
        assert literal in rendered


@PROPERTY_SETTINGS
@given(name=st.text(alphabet=string.ascii_letters + string.digits + "_.", min_size=1, max_size=32))
def test_unknown_tokens_stay_as_they_are(name: str) -> None:
    assume(name.lower() not in KNOWN_TOKENS)
    url = f"https://o.example/?x={{{name}}}"
    assert render(url, {k: "v" for k in KNOWN_TOKENS}) == url


@PROPERTY_SETTINGS
@given(
    amount=st.decimals(
        min_value=Decimal("-99999999"), max_value=Decimal("99999999"), places=6, allow_nan=False
    )
)
def test_money_tokens_read_back_as_the_same_amount_without_exponents(amount: Decimal) -> None:
    text = format_value(amount)
    assert "e" not in text.lower()
    assert Decimal(text) == amount


# --- postback parameters ---------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(raw=any_text)
@example(raw="1e400")
@example(raw="-0")
@example(raw="1,234.56")
@example(raw="NaN")
@example(raw="99999999.9999999")
def test_a_payout_is_a_storable_amount_or_a_value_error(raw: str) -> None:
    try:
        amount = parse_payout(raw)
    except ValueError:  # MalformedPostback is one too: the postback says which
        return
    assert amount.is_finite()
    assert Decimal(0) <= amount <= PAYOUT_MAX
    assert amount == amount.quantize(Decimal("0.000001"))


@PROPERTY_SETTINGS
@given(
    amount=st.decimals(min_value=0, max_value=Decimal("99999999"), places=2, allow_nan=False),
    comma=st.booleans(),
)
def test_a_payout_reads_back_with_either_decimal_separator(amount: Decimal, comma: bool) -> None:
    text = format(amount, "f")
    if comma:
        text = text.replace(".", ",")
    assert parse_payout(text) == amount


@PROPERTY_SETTINGS
@given(values=postback_maps)
def test_a_postback_reads_into_storable_values_or_is_malformed(values: dict[str, str]) -> None:
    cleaned = first_values(values.items())
    try:
        params = read_postback(cleaned)
    except MalformedPostback as exc:
        assert str(exc)  # the network is told why
        return
    assert params.status is None or params.status in STATUSES
    assert params.currency is None or (len(params.currency) == 3 and params.currency.isupper())
    assert params.payout is None or Decimal(0) <= params.payout <= PAYOUT_MAX
    assert len(params.txid) <= 255 and len(params.et) <= 64
    assert all(len(p) <= 255 and "\x00" not in p for p in params.params)
    assert "\x00" not in params.txid and "\x00" not in params.et


@PROPERTY_SETTINGS
@given(values=postback_maps, cookie=st.none() | any_text)
def test_a_click_id_read_from_a_postback_is_one_we_can_look_up(
    values: dict[str, str], cookie: str | None
) -> None:
    reading = read_click_id(first_values(values.items()), cookie=cookie)
    if reading.click_id is not None:
        assert normalize_click_id(reading.click_id) == reading.click_id
        assert 16 <= len(reading.click_id) <= 32
    else:
        assert reading.problem


@PROPERTY_SETTINGS
@given(word=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True))
def test_every_macro_style_left_unreplaced_is_spotted(word: str) -> None:
    for wrapped in (f"{{{word}}}", f"[{word}]", f"%{word}%", f"${{{word}}}", f"#{word}#"):
        assert has_macro(wrapped), wrapped


@PROPERTY_SETTINGS
@given(click_id=st.builds(new_click_id))
def test_our_click_ids_survive_any_case_and_are_found_in_postbacks(click_id: str) -> None:
    assert normalize_click_id(click_id.upper()) == click_id
    assert read_click_id({"clickid": click_id.upper()}).click_id == click_id


# --- report parameters -------------------------------------------------------------------------

report_names = st.sampled_from(
    ["group_by", "from", "to", "tz", "include_bots", "sort", "limit", "campaign", "campaign_id",
     "country", "day", "hour", "hour_of_day", "day_of_week", "asn", "var1", "offer_id", "bogus"]
)  # fmt: skip
report_values = st.one_of(
    any_text,
    st.sampled_from(
        ["campaign", "country,day", "campaign,offer,country,device_type", "2026-11-01",
         "2026-02-30", "9999-12-31", "0001-01-01", "Europe/Paris", "../etc/passwd", "UTC", "1",
         "0", "visits", "-profit", "²", "99999999999999999999999", "7", "Monday", "13335"]
    ),
)  # fmt: skip
NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)


@PROPERTY_SETTINGS
@given(args=st.dictionaries(report_names, st.lists(report_values, min_size=1, max_size=3)))
def test_report_parameters_make_a_query_or_name_the_bad_one(args: dict[str, list[str]]) -> None:
    try:
        query = parse_report_args(args, 1, "UTC", now=NOW)
    except ReportError as exc:
        assert exc.param and str(exc)
        return
    assert 1 <= len(query.group_by) <= 3
    assert query.period is not None


# --- flow documents ----------------------------------------------------------------------------

condition_values = st.lists(
    st.one_of(
        any_text,
        st.sampled_from(
            ["US", "de", "mobile", "13335", "AS13335", "16.4", "10.0.0.0/8", "81.2.69.160",
             "2026-11-01", "2026-11-01 13", "Monday", "8", "22:30", "07:00", "true", "²"]
        ),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.booleans(),
    ),
    max_size=4,
)  # fmt: skip
random_conditions = st.fixed_dictionaries(
    {
        "field": st.sampled_from(CONDITION_FIELDS) | any_text,
        "op": st.sampled_from(CONDITION_OPS) | any_text,
        "values": condition_values,
    }
)
VALUES_BY_KIND: dict[str, list[Any]] = {
    "entity": ["1", "2", 3],
    "text": ["iPhone", "Chrome Mobile", "zone 7", "<script>"],
    "version": ["16.4", "17", "120.0.1"],
    "country": ["US", "de", "FR"],
    "device_type": ["mobile", "desktop", "TV"],
    "asn": ["13335", "AS15169", 64512],
    "ip": ["81.2.69.160", "10.0.0.0/8", "2001:db8::/32"],
    "day": ["2026-11-01", "2026-11-30"],
    "hour": ["2026-11-01 13", "2026-11-01T14:00"],
    "hour_of_day": ["0", "8", "23"],
    "day_of_week": ["Monday", "sunday", "1"],
    "time_of_day": ["07:00", "22:30"],
    "unique": ["true", True, "0"],
}


@st.composite
def likely_conditions(draw: st.DrawFn) -> dict[str, Any]:
    """A condition of a real field, with an op and values of its kind (mostly valid)."""
    field = draw(st.sampled_from(CONDITION_FIELDS))
    kind = FIELD_KINDS[field]
    op = draw(st.sampled_from(OPS_BY_KIND[kind]))
    count = 2 if op == "between" else draw(st.integers(1, 3))
    values = draw(st.lists(st.sampled_from(VALUES_BY_KIND[kind]), min_size=count, max_size=count))
    return {"field": field, "op": op, "values": values}


conditions = likely_conditions() | random_conditions


@PROPERTY_SETTINGS
@given(condition=conditions)
def test_a_condition_is_valid_and_normalised_once_for_all_or_refused(
    condition: dict[str, Any],
) -> None:
    try:
        checked = ConditionIn.model_validate(condition)
    except ValidationError as exc:
        assert exc.errors()
        return
    again = ConditionIn.model_validate(checked.model_dump())
    assert again == checked  # normalising a normalised condition changes nothing


paths = st.lists(
    st.fixed_dictionaries(
        {
            "offers": st.lists(
                st.fixed_dictionaries({"id": st.integers(1, 4)}), min_size=1, max_size=2
            )
        },
        optional={"weight": st.integers(-5, 200), "landers": st.just([{"id": 9}])},
    ),
    min_size=1,
    max_size=2,
)
rules = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["R1", "R2", "r1", " "]),
            "conditions": st.lists(conditions, min_size=1, max_size=2),
            "paths": paths,
        },
        optional={"timezone": st.sampled_from(["Europe/Paris", "Mars/Base", "UTC"])},
    ),
    max_size=3,
)
flows = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["Flow", "Flow", "", "x" * 300]),
        "rules": rules,
        "default_paths": paths,
    }
)
VISIT = {
    "country": "US",
    "device_type": "mobile",
    "os_version": "17.4",
    "browser_version": "120.0",
    "ip": "81.2.69.160",
    "asn": 13335,
    "created_at": NOW,
    "is_unique": True,
    "campaign_id": 1,
    "traffic_source_id": 1,
    **{name: "" for name in ("region", "city", "isp", "brand", "model", "os", "browser")},
}


@PROPERTY_SETTINGS
@given(document=flows)
def test_a_valid_flow_always_compiles_and_routes_in_the_hot_path(document: dict[str, Any]) -> None:
    try:
        flow = FlowIn.model_validate(document)
    except ValidationError:
        return
    dumped = flow.model_dump(mode="json", exclude_unset=True)
    offers = {n: (f"Offer {n}", f"https://o{n}.example/?c={{clickid}}") for n in range(1, 5)}
    table = compile_routes(
        flow_id=1,
        campaign_path=None,
        rules=dumped.get("rules", []),
        default_paths=dumped.get("default_paths", []),
        landers={9: ("Lander", "https://l.example/")},
        offers=offers,
    )
    route = table.route(VISIT)
    if route is not None and route.offer is not None:
        assert route.offer.id in offers


@pytest.mark.parametrize("raw", ["", " ", "US,CA", "\x00"])
def test_condition_values_that_are_not_values_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        ConditionIn.model_validate({"field": "asn", "op": "in", "values": [raw]})
