"""Forms of the setup pages, and how each turns into a service's input and back.

The forms only read what the buyer typed into the shapes of ``tracker.setup.schemas``; the rules
are the services' to check. Their ``InvalidSetup.fields`` places (``variables.2.param``,
``destination.path.offers.0.id``) are laid back onto the fields by ``FormErrors``, so each message
shows beside the field it is about and the buyer's input stays as typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.utils import unset_value
from wtforms.widgets import CheckboxInput, ListWidget

from tracker.models.events import VAR_COUNT
from tracker.models.setup import CostModel, RedirectMode
from tracker.setup.schemas import CONVERSION_STATUSES, MAX_REFS

# Blank rows offered below the filled ones in a weighted list; setup.js reveals them one by one.
SPARE_ROWS = 3

REDIRECT_MODE_CHOICES = [
    SelectChoice(
        RedirectMode.HTTP_302.value,
        "302 redirect: fastest; the destination sees the ad's site as referrer",
    ),
    SelectChoice(
        RedirectMode.META.value,
        "Meta refresh: a page of this tracker reloads to the destination, which sees this "
        "tracker as referrer",
    ),
    SelectChoice(
        RedirectMode.DOUBLE_META.value,
        "Double meta refresh: through a second page that strips the referrer; the destination "
        "sees none",
    ),
]
PATH_REDIRECT_CHOICES = [
    SelectChoice("", "the campaign's"),
    SelectChoice(RedirectMode.HTTP_302.value, "302"),
    SelectChoice(RedirectMode.META.value, "meta refresh"),
    SelectChoice(RedirectMode.DOUBLE_META.value, "double meta refresh"),
]
# What the cost value means under each model (shown beside the field, updated by setup.js).
COST_MODEL_HINTS = {
    CostModel.CPC: "Cost of each visit, e.g. 0.002.",
    CostModel.CPM: "Cost of 1,000 visits, e.g. 1.50.",
    CostModel.CPA: "Cost of each conversion, e.g. 12.",
    CostModel.REVSHARE: "Percentage of revenue paid to the source, 0 to 100.",
    CostModel.AUTO: "No value: each visit's cost comes from the source's cost parameter.",
    CostModel.NONE: "No value: visits cost nothing (or add costs by hand later).",
}
COST_MODEL_LABELS = {
    CostModel.CPC: "CPC: per visit",
    CostModel.CPM: "CPM: per 1,000 visits",
    CostModel.CPA: "CPA: per conversion",
    CostModel.REVSHARE: "RevShare: % of revenue",
    CostModel.AUTO: "Auto: from the URL's cost parameter",
    CostModel.NONE: "None",
}
DESTINATION_FLOW = "flow"
DESTINATION_OFFERS = "offers"
DESTINATION_LANDERS = "landers"
DESTINATION_CHOICES = [
    SelectChoice(DESTINATION_OFFERS, "Straight to offers"),
    SelectChoice(DESTINATION_LANDERS, "Through landers, then offers"),
    SelectChoice(DESTINATION_FLOW, "A flow (rules by country, device…)"),
]
STATUS_CHOICES = [SelectChoice(status, status) for status in CONVERSION_STATUSES]
OFFER_COUNT_CHOICES = [SelectChoice(str(n), str(n)) for n in range(1, 11)]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


# --- placing the services' messages -------------------------------------------------------------


@dataclass
class _Target:
    field: Field | None
    key: str
    label: str
    when_empty: str | None


@dataclass
class FormErrors:
    """Where each service place shows its message: a form field, or a named spot of the page
    (a whole list of rows); what has no place of its own is shown above the form."""

    targets: dict[str, _Target] = field(default_factory=dict)
    by_key: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def place(
        self,
        place: str,
        target: Field | str,
        *,
        label: str = "",
        when_empty: str | None = None,
    ) -> None:
        """Show errors at ``place`` (and below it) beside ``target``; ``when_empty`` replaces the
        message when the field was left empty (a select never chosen)."""
        if isinstance(target, str):
            self.targets[place] = _Target(None, target, label, when_empty)
        else:
            self.targets[place] = _Target(target, target.id, label, when_empty)

    def attach(self, fields: Mapping[str, str]) -> None:
        """Lay each ``{place: message}`` onto the nearest registered place."""
        for place, message in fields.items():
            parts = place.split(".")
            for size in range(len(parts), 0, -1):
                target = self.targets.get(".".join(parts[:size]))
                if target is None:
                    continue
                rest = ".".join(parts[size:])
                self._add(target, message, rest)
                break
            else:
                self.general.append(f"{place}: {_sentence(message)}")

    def _add(self, target: _Target, message: str, rest: str) -> None:
        if target.when_empty and target.field is not None and not _text(target.field.data):
            text = target.when_empty
        else:
            prefix = " ".join(p for p in (target.label, rest) if p)
            text = f"{prefix}: {message}" if prefix else _sentence(message)
        self.by_key.setdefault(target.key, []).append(text)
        if target.field is not None:
            target.field.errors = [*target.field.errors, text]

    def at(self, key: str) -> list[str]:
        """Messages shown at a named spot (or a field's id)."""
        return self.by_key.get(key, [])

    def __bool__(self) -> bool:
        return bool(self.by_key or self.general)


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


# --- weighted rows and paths ---------------------------------------------------------------------


class RefRow(Form):
    """One weighted lander or offer of a path."""

    id = SelectField("Pick", choices=[], validate_choice=False)
    weight = StringField("Weight", default="100")

    def is_blank(self) -> bool:
        return not _text(self.id.data)


class PathFields(Form):
    """A path: weighted landers (none: straight to an offer) and weighted offers."""

    name = StringField("Path name")
    weight = StringField("Weight", default="100")
    redirect_mode = SelectField("Redirect", choices=PATH_REDIRECT_CHOICES, default="")
    landers = FieldList(FormField(RefRow), max_entries=MAX_REFS)
    offers = FieldList(FormField(RefRow), max_entries=MAX_REFS)

    def is_blank(self) -> bool:
        return all(row.form.is_blank() for row in [*self.landers, *self.offers])


def _weight(raw: Any) -> Any:
    """A blank weight is the default (100); anything else goes to the service as typed."""
    text = _text(raw)
    return text if text else 100


def _refs(rows: FieldList, place: str, errors: FormErrors, what: str) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = []
    for row in rows:
        if row.form.is_blank():
            continue
        at = f"{place}.{len(refs)}"
        errors.place(at, row.form.id, label=what)
        errors.place(f"{at}.id", row.form.id)
        errors.place(f"{at}.weight", row.form.weight)
        refs.append({"id": _text(row.form.id.data), "weight": _weight(row.form.weight.data)})
    return refs


def path_data(
    path: PathFields,
    place: str,
    key: str,
    errors: FormErrors,
    *,
    landers: bool = True,
    own_fields: bool = True,
) -> dict[str, Any]:
    """The PATH a path editor describes; ``key`` names its spots on the page (``path``)."""
    errors.place(place, key)
    errors.place(f"{place}.landers", f"{key}-landers")
    errors.place(f"{place}.offers", f"{key}-offers")
    data: dict[str, Any] = {
        "landers": _refs(path.landers, f"{place}.landers", errors, "lander") if landers else [],
        "offers": _refs(path.offers, f"{place}.offers", errors, "offer"),
    }
    if own_fields:
        errors.place(f"{place}.name", path.name)
        errors.place(f"{place}.weight", path.weight)
        errors.place(f"{place}.redirect_mode", path.redirect_mode)
        if _text(path.name.data):
            data["name"] = _text(path.name.data)
        data["weight"] = _weight(path.weight.data)
        if _text(path.redirect_mode.data):
            data["redirect_mode"] = _text(path.redirect_mode.data)
    return data


def path_initial(path: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored PATH as a path editor's data."""
    path = path or {}
    return {
        "name": path.get("name", ""),
        "weight": str(path.get("weight", 100)),
        "redirect_mode": path.get("redirect_mode") or "",
        "landers": [
            {"id": str(r["id"]), "weight": str(r.get("weight", 100))}
            for r in path.get("landers", [])
        ],
        "offers": [
            {"id": str(r["id"]), "weight": str(r.get("weight", 100))}
            for r in path.get("offers", [])
        ],
    }


def pad_rows(rows: FieldList, limit: int = MAX_REFS, spare: int = SPARE_ROWS) -> None:
    """Blank rows after the filled ones, up to ``limit``: room to add without a round trip."""
    filled = sum(1 for row in rows if not row.form.is_blank())
    while len(rows) < min(limit, filled + spare):
        rows.append_entry()


def pad_path(path: PathFields) -> None:
    pad_rows(path.landers)
    pad_rows(path.offers)


def set_ref_choices(
    path: PathFields, landers: Sequence[SelectChoice], offers: Sequence[SelectChoice]
) -> None:
    """The lander and offer pickers of a path editor."""
    for row in path.landers:
        row.form.id.choices = list(landers)
    for row in path.offers:
        row.form.id.choices = list(offers)


def weight_shares(rows: Iterable[RefRow | PathFields]) -> list[str]:
    """Each row's share of the summed weights ("25%"), blank for rows left empty or weights that
    are not numbers: what the weights mean at a glance."""
    weights: list[int | None] = []
    for row in rows:
        try:
            weights.append(None if row.is_blank() else max(int(_text(row.weight.data) or "100"), 0))
        except ValueError:
            weights.append(None)
    total = sum(w for w in weights if w is not None)
    return ["" if w is None or total == 0 else percent(w, total) for w in weights]


def percent(part: int, total: int) -> str:
    """``part`` of ``total`` as a short percentage: 25%, 33.3%."""
    share = (Decimal(part * 100) / total).quantize(Decimal("0.1"))
    return f"{share.normalize():f}%"


# --- traffic sources -----------------------------------------------------------------------------


class MultiCheckboxField(SelectMultipleField):
    """Several checkboxes for one list value."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class FixedRows(FieldList):
    """Exactly ``min_entries`` rows, row n always read from ``<name>-n-...``: a row missing from
    the request is an empty row, and the rows after it keep their numbers (FieldList would
    close the gap, and refill the end from the request)."""

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        if not formdata:
            super().process(formdata, data, extra_filters)
            return
        self.last_index = -1
        self.entries: list[Field] = []
        self.object_data = data
        for index in range(self.min_entries):
            self._add_entry(formdata, index=index)


class VariableRow(Form):
    """One custom variable: its row number is its var number."""

    name = StringField("Name")
    param = StringField("Parameter")
    placeholder = StringField("Placeholder")

    def is_blank(self) -> bool:
        return not any(_text(f.data) for f in (self.name, self.param, self.placeholder))


TRAFFIC_SOURCE_TEXT_FIELDS = (
    "name",
    "external_id_param",
    "external_id_placeholder",
    "cost_param",
    "cost_placeholder",
    "postback_url",
    "postback_success_pattern",
)


class TrafficSourceForm(FlaskForm):
    preset = HiddenField()
    name = StringField("Name")
    external_id_param = StringField("Click ID parameter")
    external_id_placeholder = StringField("Click ID placeholder")
    cost_param = StringField("Cost parameter")
    cost_placeholder = StringField("Cost placeholder")
    variables = FixedRows(FormField(VariableRow), min_entries=VAR_COUNT, max_entries=VAR_COUNT)
    postback_url = StringField("Postback URL")
    postback_statuses = MultiCheckboxField(
        "Forward conversions with status", choices=STATUS_CHOICES, default=["approved"]
    )
    postback_first_only = BooleanField("Only a visit's first conversion")
    postback_success_pattern = StringField("Success pattern")

    def to_data(self, errors: FormErrors, *, creating: bool) -> dict[str, Any]:
        """The service input, with each place mapped to its field."""
        errors.place("preset", "preset")
        for name in (
            "name",
            "external_id_param",
            "external_id_placeholder",
            "cost_param",
            "cost_placeholder",
            "postback_url",
            "postback_statuses",
            "postback_first_only",
            "postback_success_pattern",
        ):
            errors.place(name, self[name])
        errors.place("variables", "variables")
        rows = [row.form for row in self.variables]
        # Trailing empty rows are nothing; an empty row between two filled ones keeps its var
        # number free, so var3 stays var3 in reports.
        while rows and rows[-1].is_blank():
            rows.pop()
        variables = []
        for index, row in enumerate(rows):
            errors.place(f"variables.{index}", row.param)
            for part in ("name", "param", "placeholder"):
                errors.place(f"variables.{index}.{part}", row[part])
            variables.append(
                {part: _text(row[part].data) for part in ("name", "param", "placeholder")}
            )
        data: dict[str, Any] = {
            "name": _text(self.name.data),
            "external_id_param": _text(self.external_id_param.data),
            "external_id_placeholder": _text(self.external_id_placeholder.data),
            "cost_param": _text(self.cost_param.data),
            "cost_placeholder": _text(self.cost_placeholder.data),
            "variables": variables,
            "postback_url": _text(self.postback_url.data),
            "postback_statuses": list(self.postback_statuses.data or []),
            "postback_first_only": bool(self.postback_first_only.data),
            "postback_success_pattern": _text(self.postback_success_pattern.data),
        }
        if creating and _text(self.preset.data):
            data["preset"] = _text(self.preset.data)
        return data


def traffic_source_initial(fields: Mapping[str, Any], preset: str | None = None) -> dict[str, Any]:
    """A source's (or a preset's) fields as the form's data."""
    data = {name: fields.get(name, "") for name in TRAFFIC_SOURCE_TEXT_FIELDS}
    data["variables"] = [dict(v) for v in fields.get("variables", [])]
    data["postback_statuses"] = list(fields.get("postback_statuses", ["approved"]))
    data["postback_first_only"] = bool(fields.get("postback_first_only", False))
    data["preset"] = preset or ""
    return data


# --- affiliate networks --------------------------------------------------------------------------


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _pairs(text: str | None) -> dict[str, str]:
    """``theirs=ours`` lines; a line without ``=`` goes through as a key with no value, so the
    service names what is missing."""
    pairs: dict[str, str] = {}
    for line in _lines(text):
        key, _, value = line.partition("=")
        pairs[key.strip()] = value.strip()
    return pairs


def pairs_text(pairs: Mapping[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in pairs.items())


class AffiliateNetworkForm(FlaskForm):
    preset = HiddenField()
    name = StringField("Name")
    postback_secret = StringField("Postback secret")
    allowed_ips = TextAreaField("Allowed IPs")
    accept_duplicates = BooleanField("Accept duplicate postbacks (same click ID, txid and event)")
    status_map = TextAreaField("Status map")
    param_map = TextAreaField("Parameter names")

    def to_data(self, errors: FormErrors, *, creating: bool) -> dict[str, Any]:
        """The service input, with each place mapped to its field."""
        errors.place("preset", "preset")
        for name in ("name", "postback_secret", "accept_duplicates"):
            errors.place(name, self[name])
        ips = _lines(self.allowed_ips.data)
        errors.place("allowed_ips", self.allowed_ips)
        errors.place("status_map", self.status_map)
        errors.place("param_map", self.param_map)
        data: dict[str, Any] = {
            "name": _text(self.name.data),
            "postback_secret": _text(self.postback_secret.data) or None,
            "allowed_ips": ips,
            "accept_duplicates": bool(self.accept_duplicates.data),
            "status_map": _pairs(self.status_map.data),
            "param_map": _pairs(self.param_map.data),
        }
        if creating and _text(self.preset.data):
            data["preset"] = _text(self.preset.data)
        return data


def affiliate_network_initial(
    fields: Mapping[str, Any], preset: str | None = None
) -> dict[str, Any]:
    """A network's (or a preset's) fields as the form's data."""
    return {
        "preset": preset or "",
        "name": fields.get("name", ""),
        "postback_secret": fields.get("postback_secret") or "",
        "allowed_ips": "\n".join(fields.get("allowed_ips", [])),
        "accept_duplicates": bool(fields.get("accept_duplicates", False)),
        "status_map": pairs_text(fields.get("status_map", {})),
        "param_map": pairs_text(fields.get("param_map", {})),
    }


# --- offers and landers --------------------------------------------------------------------------


class OfferForm(FlaskForm):
    name = StringField("Name")
    url = StringField("Offer URL")
    affiliate_network_id = SelectField("Affiliate network", choices=[], validate_choice=False)
    payout = StringField("Default payout")
    currency = StringField("Currency")

    def to_data(self, errors: FormErrors, *, creating: bool) -> dict[str, Any]:
        """The service input, with each place mapped to its field."""
        for name in ("name", "url", "affiliate_network_id", "payout", "currency"):
            errors.place(name, self[name])
        return {
            "name": _text(self.name.data),
            "url": _text(self.url.data),
            "affiliate_network_id": _text(self.affiliate_network_id.data) or None,
            "payout": _text(self.payout.data) or None,
            "currency": _text(self.currency.data) or None,
        }


def money_text(value: Decimal | None) -> str:
    """A stored amount as typed (2.5, not 2.500000)."""
    if value is None:
        return ""
    try:
        normal = value.normalize()
    except InvalidOperation:
        return str(value)
    return f"{normal:f}"


def offer_initial(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": fields.get("name", ""),
        "url": fields.get("url", ""),
        "affiliate_network_id": _text(fields.get("affiliate_network_id")),
        "payout": money_text(fields.get("payout")),
        "currency": fields.get("currency") or "",
    }


class LanderForm(FlaskForm):
    name = StringField("Name")
    url = StringField("Lander URL")
    offer_count = SelectField(
        "Offers on the page", choices=OFFER_COUNT_CHOICES, default="1", validate_choice=False
    )

    def to_data(self, errors: FormErrors, *, creating: bool) -> dict[str, Any]:
        """The service input, with each place mapped to its field."""
        for name in ("name", "url", "offer_count"):
            errors.place(name, self[name])
        return {
            "name": _text(self.name.data),
            "url": _text(self.url.data),
            "offer_count": _text(self.offer_count.data) or "1",
        }


def lander_initial(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": fields.get("name", ""),
        "url": fields.get("url", ""),
        "offer_count": str(fields.get("offer_count", 1)),
    }


# --- flows: tracker.setup.flow_form -------------------------------------------------------------


# --- campaigns -----------------------------------------------------------------------------------


class CampaignForm(FlaskForm):
    name = StringField("Name")
    traffic_source_id = SelectField("Traffic source", choices=[], validate_choice=False)
    cost_model = SelectField(
        "Cost model",
        choices=[
            SelectChoice(
                m.value, COST_MODEL_LABELS[m], render_kw={"data-hint": COST_MODEL_HINTS[m]}
            )
            for m in CostModel
        ],
        default=CostModel.NONE.value,
        validate_choice=False,
    )
    cost_value = StringField("Cost value")
    destination = RadioField(
        "Send visitors", choices=DESTINATION_CHOICES, default=DESTINATION_OFFERS
    )
    flow_id = SelectField("Flow", choices=[], validate_choice=False)
    path = FormField(PathFields)
    redirect_mode = RadioField(
        "Redirect mode",
        choices=REDIRECT_MODE_CHOICES,
        default=RedirectMode.HTTP_302.value,
        validate_choice=False,
    )
    critical_client_hints = BooleanField("Ask for client hints (Critical-CH)")

    def to_data(self, errors: FormErrors, *, creating: bool) -> dict[str, Any]:
        """The service input, with each place mapped to its field."""
        errors.place("name", self.name)
        errors.place(
            "traffic_source_id", self.traffic_source_id, when_empty="Pick a traffic source."
        )
        errors.place("cost_model", self.cost_model)
        errors.place("cost_value", self.cost_value, when_empty="This cost model needs a value.")
        errors.place("redirect_mode", self.redirect_mode)
        errors.place("critical_client_hints", self.critical_client_hints)
        errors.place("destination", self.destination)
        destination: dict[str, Any]
        if self.destination.data == DESTINATION_FLOW:
            errors.place("destination.flow_id", self.flow_id, when_empty="Pick a flow.")
            destination = {"flow_id": _text(self.flow_id.data)}
        else:
            destination = {
                "path": path_data(
                    self.path.form,
                    "destination.path",
                    "path",
                    errors,
                    landers=self.destination.data == DESTINATION_LANDERS,
                    own_fields=False,
                )
            }
        return {
            "name": _text(self.name.data),
            "traffic_source_id": _text(self.traffic_source_id.data),
            "cost_model": _text(self.cost_model.data),
            "cost_value": _text(self.cost_value.data) or None,
            "destination": destination,
            "redirect_mode": _text(self.redirect_mode.data),
            "critical_client_hints": bool(self.critical_client_hints.data),
        }

    def pad(self) -> None:
        pad_path(self.path.form)

    def set_choices(self, landers: Sequence[SelectChoice], offers: Sequence[SelectChoice]) -> None:
        set_ref_choices(self.path.form, landers, offers)


def campaign_initial(fields: Mapping[str, Any]) -> dict[str, Any]:
    path = fields.get("path")
    if fields.get("flow_id") is not None:
        destination = DESTINATION_FLOW
    elif path and path.get("landers"):
        destination = DESTINATION_LANDERS
    else:
        destination = DESTINATION_OFFERS
    return {
        "name": fields.get("name", ""),
        "traffic_source_id": _text(fields.get("traffic_source_id")),
        "cost_model": _text(fields.get("cost_model")) or CostModel.NONE.value,
        "cost_value": money_text(fields.get("cost_value")),
        "destination": destination,
        "flow_id": _text(fields.get("flow_id")),
        "path": path_initial(path),
        "redirect_mode": _text(fields.get("redirect_mode")) or RedirectMode.HTTP_302.value,
        "critical_client_hints": bool(fields.get("critical_client_hints", False)),
    }


class ArchiveForm(FlaskForm):
    """Archive or restore: the CSRF token is the whole form."""
