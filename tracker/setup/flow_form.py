"""The flow editor's form: a flow's name, its rules (conditions and weighted paths) and its
default paths as plain indexed form fields, and how they turn into the flow document the
services take, and back.

Field names follow WTForms' lists: ``rules-0-name``, ``rules-0-conditions-1-field``,
``rules-0-paths-0-offers-1-weight``, ``default_paths-0-weight``. The page works without
JavaScript: spare blank rows are rendered after the filled ones, and the row buttons (add,
remove, move up or down) are submit buttons named ``editor_action`` whose change is shown again
unsaved (``FlowForm.rearranged``); ``static/flow_editor.js`` does the same in place and renumbers
the names. Blank rows (no field, no value, no lander or offer) are left out. The services'
``InvalidSetup.fields`` places (``rules.0.conditions.1.values``) are laid beside their rows by
``FormErrors``, after ``readable_errors`` put them in the buyer's words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)

from tracker.numbers import is_whole_number
from tracker.setup.flow_editor import FIELDS, FIELDS_BY_NAME, OP_LABELS
from tracker.setup.forms import (
    FormErrors,
    PathFields,
    pad_path,
    path_data,
    path_initial,
    percent,
    set_ref_choices,
)
from tracker.setup.schemas import (
    CONDITION_OPS,
    MAX_CONDITIONS,
    MAX_PATHS,
    MAX_RULES,
    OPS_BY_KIND,
)

# How an empty value (no referrer, no var3) is written in a condition's values.
EMPTY_VALUE = "(empty)"
# A template row's index: flow_editor.js replaces it when it adds the row.
TEMPLATE_INDEX = "__new__"

OP_CHOICES = [SelectChoice(op, OP_LABELS[op]) for op in CONDITION_OPS]
MATCH_CHOICES = [SelectChoice("all", "all"), SelectChoice("any", "any")]
PAUSED = "paused"


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def field_choices(var_labels: Mapping[str, str]) -> list[SelectChoice]:
    """The condition fields by group, variables named after what the sources send in them."""
    choices = [SelectChoice("", "— pick a field —")]
    choices += [
        SelectChoice(f.name, var_labels.get(f.name, f.label), optgroup=f.group) for f in FIELDS
    ]
    return choices


def timezone_choices(
    account_zone: str, common: Sequence[str], chosen: Iterable[str]
) -> list[SelectChoice]:
    """The account's zone (the default), common zones, and any zone a rule already uses."""
    zones = list(common)
    zones += sorted({z for z in chosen if z and z not in zones})
    return [SelectChoice("", f"the account's ({account_zone})")] + [
        SelectChoice(zone, zone.replace("_", " ")) for zone in zones
    ]


# --- rows ----------------------------------------------------------------------------------------


class ConditionFields(Form):
    """One condition: a field, an operator, and its values (two of them for a between)."""

    field = SelectField("Field", choices=[], validate_choice=False, default="")
    op = SelectField("Operator", choices=OP_CHOICES, validate_choice=False, default="in")
    values = TextAreaField("Values")
    low = StringField("From")
    high = StringField("To")

    def is_blank(self) -> bool:
        return not any(_text(f.data) for f in (self.field, self.values, self.low, self.high))

    @property
    def info(self) -> Any:
        """The chosen field's description (labels, hints), if it is one the editor knows."""
        return FIELDS_BY_NAME.get(_text(self.field.data))


class RuleFields(Form):
    """A rule: a name, conditions that must all (or any) hold, and weighted paths."""

    name = StringField("Rule name")
    match = SelectField("Match", choices=MATCH_CHOICES, default="all")
    timezone = SelectField("Time zone", choices=[], validate_choice=False, default="")
    conditions = FieldList(FormField(ConditionFields), max_entries=MAX_CONDITIONS)
    paths = FieldList(FormField(PathFields), max_entries=MAX_PATHS)

    def is_blank(self) -> bool:
        return (
            not _text(self.name.data)
            and all(entry.form.is_blank() for entry in self.conditions)
            and all(entry.form.is_blank() for entry in self.paths)
        )


def split_values(text: str | None, field: str) -> list[str]:
    """A condition's values as typed: one per line, or comma-separated where a value cannot
    hold a comma; ``(empty)`` is the empty value; repeats dropped."""
    info = FIELDS_BY_NAME.get(field)
    lines_only = info.lines_only if info else False
    values: list[str] = []
    for line in (text or "").splitlines():
        for piece in [line] if lines_only else line.split(","):
            value = piece.strip()
            if value == EMPTY_VALUE:
                values.append("")
            elif value:
                values.append(value)
    return list(dict.fromkeys(values))


def values_text(values: Iterable[str]) -> str:
    """Stored values as the editor shows them: one per line."""
    return "\n".join(EMPTY_VALUE if value == "" else value for value in values)


def condition_initial(condition: Mapping[str, Any]) -> dict[str, Any]:
    values = [str(v) for v in condition.get("values", [])]
    op = str(condition.get("op", "in"))
    between = op == "between"
    return {
        "field": str(condition.get("field", "")),
        "op": op,
        "values": "" if between else values_text(values),
        "low": values[0] if between and values else "",
        "high": values[1] if between and len(values) > 1 else "",
    }


def rule_initial(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A stored rule as the editor's data."""
    return {
        "name": rule.get("name", ""),
        "match": rule.get("match") or "all",
        "timezone": rule.get("timezone") or "",
        "conditions": [condition_initial(c) for c in rule.get("conditions", [])],
        "paths": [path_initial(p) for p in rule.get("paths", [])],
    }


def flow_initial(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A stored flow (``describe_flow``'s dump) as the editor's data."""
    return {
        "name": fields.get("name", ""),
        "rules": [rule_initial(r) for r in fields.get("rules", [])],
        "default_paths": [path_initial(p) for p in fields.get("default_paths", [])],
    }


def _condition_data(
    condition: ConditionFields, place: str, key: str, errors: FormErrors
) -> dict[str, Any]:
    errors.place(place, key)
    errors.place(f"{place}.field", condition.field, when_empty="Pick a field.")
    errors.place(f"{place}.op", condition.op)
    errors.place(f"{place}.values", condition.values)
    field = _text(condition.field.data)
    op = _text(condition.op.data) or "in"
    if op == "between":
        values = [v for v in (_text(condition.low.data), _text(condition.high.data)) if v]
    else:
        values = split_values(condition.values.data, field)
    return {"field": field, "op": op, "values": values}


def _paths_data(paths: FieldList, place: str, key: str, errors: FormErrors) -> list[dict[str, Any]]:
    errors.place(place, key)
    found: list[dict[str, Any]] = []
    for entry in paths:
        if entry.form.is_blank():
            continue
        found.append(
            path_data(entry.form, f"{place}.{len(found)}", entry.id, errors, own_fields=True)
        )
    return found


def _rule_data(rule: RuleFields, place: str, key: str, errors: FormErrors) -> dict[str, Any]:
    errors.place(place, key)
    errors.place(f"{place}.name", rule.name)
    errors.place(f"{place}.match", rule.match)
    errors.place(f"{place}.timezone", rule.timezone)
    errors.place(f"{place}.conditions", f"{key}-conditions")
    conditions: list[dict[str, Any]] = []
    for entry in rule.conditions:
        if not entry.form.is_blank():
            at = f"{place}.conditions.{len(conditions)}"
            conditions.append(_condition_data(entry.form, at, entry.id, errors))
    data: dict[str, Any] = {"name": _text(rule.name.data), "conditions": conditions}
    # Defaults are left out, as the API stores them when not given.
    if _text(rule.match.data) == "any":
        data["match"] = "any"
    if _text(rule.timezone.data):
        data["timezone"] = _text(rule.timezone.data)
    data["paths"] = _paths_data(rule.paths, f"{place}.paths", f"{key}-paths", errors)
    return data


def _pad_rule(rule: RuleFields) -> None:
    """A spare condition and a spare path after the filled ones."""
    filled = sum(1 for entry in rule.conditions if not entry.form.is_blank())
    while len(rule.conditions) < min(MAX_CONDITIONS, filled + 1):
        rule.conditions.append_entry()
    paths = sum(1 for entry in rule.paths if not entry.form.is_blank())
    while len(rule.paths) < min(MAX_PATHS, paths + 1):
        rule.paths.append_entry()
    for entry in rule.paths:
        pad_path(entry.form)


class FlowForm(FlaskForm):
    name = StringField("Name")
    rules = FieldList(FormField(RuleFields), max_entries=MAX_RULES)
    default_paths = FieldList(FormField(PathFields), max_entries=MAX_PATHS)
    # Set by the row buttons of the page without JavaScript: "up:rules-2", "remove:rules-0-paths-1".
    editor_action = StringField()

    # What the last no-JavaScript row button changed (shown as "not saved yet").
    unsaved_change = ""
    # What each variable carries in the workspace's sources ("var1 · zone (PropellerAds)").
    var_names: dict[str, str] = {}
    _choices: tuple[list[SelectChoice], ...] = ([], [], [], [])

    def to_data(self, errors: FormErrors, *, creating: bool) -> dict[str, Any]:
        """The flow document: name, rules and default paths, blank rows left out."""
        errors.place("name", self.name)
        errors.place("rules", "rules")
        rules: list[dict[str, Any]] = []
        for entry in self.rules:
            if not entry.form.is_blank():
                rules.append(_rule_data(entry.form, f"rules.{len(rules)}", entry.id, errors))
        return {
            "name": _text(self.name.data),
            "rules": rules,
            "default_paths": _paths_data(
                self.default_paths, "default_paths", "default_paths", errors
            ),
        }

    def pad(self) -> None:
        """Spare rows: a blank rule, a condition and a path in each rule, a default path (two
        for a new flow), and blank lander and offer rows in every path."""
        filled = sum(1 for entry in self.rules if not entry.form.is_blank())
        while len(self.rules) < min(MAX_RULES, filled + 1):
            self.rules.append_entry()
        for entry in self.rules:
            _pad_rule(entry.form)
        paths = sum(1 for entry in self.default_paths if not entry.form.is_blank())
        while len(self.default_paths) < min(MAX_PATHS, max(paths + 1, 2)):
            self.default_paths.append_entry()
        for entry in self.default_paths:
            pad_path(entry.form)

    def all_paths(self) -> list[PathFields]:
        """Every path editor of the form: the rules' and the default ones."""
        paths = [p.form for rule in self.rules for p in rule.form.paths]
        return paths + [p.form for p in self.default_paths]

    def set_choices(
        self,
        landers: Sequence[SelectChoice],
        offers: Sequence[SelectChoice],
        fields: Sequence[SelectChoice],
        timezones: Sequence[SelectChoice],
    ) -> None:
        """The pickers of every row (kept for the blank rule the page copies from)."""
        self._choices = (list(landers), list(offers), list(fields), list(timezones))
        for path in self.all_paths():
            set_ref_choices(path, landers, offers)
        for entry in self.rules:
            _set_rule_choices(entry.form, self._choices)

    def blank_rule(self) -> RuleFields:
        """A blank rule named ``rules-__new__-…``, which the page's script copies to add rules,
        conditions and paths."""
        rule = RuleFields(formdata=None, prefix=f"rules-{TEMPLATE_INDEX}-")
        rule.conditions.append_entry()
        rule.paths.append_entry()
        pad_path(rule.paths[0].form)
        _set_rule_choices(rule, self._choices)
        return rule

    def chosen_timezones(self) -> list[str]:
        return [_text(entry.form.timezone.data) for entry in self.rules]

    def rearranged(self) -> FlowForm | None:
        """The form after a row button pressed without JavaScript (add, remove, move a row), to
        show again unsaved (unchanged, with a note, when the button cannot apply); None when
        no row button was pressed: the form asks to be saved."""
        action = _text(self.editor_action.data)
        if not action:
            return None
        change = _apply_row_action(self, action)
        data = {k: v for k, v in self.data.items() if k not in ("csrf_token", "editor_action")}
        changed = FlowForm(formdata=None, data=data)
        changed.unsaved_change = change
        return changed


def _apply_row_action(form: FlowForm, action: str) -> str:
    """Apply ``verb:row`` to the form's rows; what changed, in words."""
    verb, _, target = action.partition(":")
    parent, _, index_text = target.rpartition("-")
    rows = _rows_named(form, target if verb == "add" else parent)
    if rows is None:
        return "nothing changed"
    entries = rows.entries
    if verb == "add":
        if len(entries) >= (rows.max_entries or MAX_RULES):
            return "no room for another row"
        rows.append_entry()
        return "added a row"
    index = int(index_text) if is_whole_number(index_text) else len(entries)
    if index >= len(entries):
        return "nothing changed"
    if verb == "remove":
        entries.pop(index)
        return "removed a row"
    if verb in ("up", "down"):
        other = index - 1 if verb == "up" else index + 1
        if not 0 <= other < len(entries):
            return f"that row cannot move further {verb}"
        entries[index], entries[other] = entries[other], entries[index]
        return f"moved a row {verb}"
    return "nothing changed"


def _set_rule_choices(rule: RuleFields, choices: tuple[list[SelectChoice], ...]) -> None:
    landers, offers, fields, timezones = choices
    for condition in rule.conditions:
        condition.form.field.choices = list(fields)
    rule.timezone.choices = list(timezones)
    for path in rule.paths:
        set_ref_choices(path.form, landers, offers)


def _rows_named(form: Form, name: str) -> FieldList | None:
    """The list of rows (rules, conditions, paths) whose field name is ``name``."""
    for field in form:
        if not isinstance(field, FieldList):
            continue
        if field.name == name:
            return field
        for entry in field:
            if isinstance(entry, FormField) and name.startswith(entry.name + "-"):
                return _rows_named(entry.form, name)
    return None


# --- shares --------------------------------------------------------------------------------------


def _weight_of(row: Any) -> int | None:
    """A filled row's weight (a blank weight is the default 100); None for a blank row or a
    weight that is not a whole number."""
    if row.is_blank():
        return None
    text = _text(row.weight.data) or "100"
    return max(int(text), 0) if is_whole_number(text) else None


def shares(rows: Iterable[Any]) -> list[str]:
    """Each row's share of its list's weights: "75%", "paused" for a weight of 0, blank for a
    blank row or a weight that is not a number."""
    weights = [_weight_of(row) for row in rows]
    total = sum(w for w in weights if w)
    return [
        "" if w is None else PAUSED if w == 0 else percent(w, total) if total else ""
        for w in weights
    ]


# --- the services' messages in the buyer's words -------------------------------------------------

_DUPLICATE_RULE = re.compile(r"^rules (\d+) and (\d+) are both named (.+?) \(")
_DUPLICATE_PATH = re.compile(r"^paths (\d+) and (\d+) are both known as (.+?) \(")
_VALUE_AT = re.compile(r"^values\.\d+: ")
_CONDITION = re.compile(r"^rules\.(\d+)\.conditions\.(\d+)\.(op|values)$")
_ONE_VALUE = re.compile(r"^(rules\.\d+\.conditions\.\d+\.values)\.(\d+)$")


def _condition_at(document: Mapping[str, Any], rule: int, index: int) -> Mapping[str, Any]:
    try:
        found = document["rules"][rule]["conditions"][index]
    except (KeyError, IndexError, TypeError):
        return {}
    return found if isinstance(found, Mapping) else {}


def readable_errors(fields: Mapping[str, str], document: Mapping[str, Any]) -> dict[str, str]:
    """The services' ``{place: message}`` for ``document`` (what ``FlowForm.to_data`` gave),
    reworded for the editor and moved where the buyer fixes them: a repeated rule or path name
    beside the second one, operators by their labels, no list positions counted from 0."""
    readable: dict[str, str] = {}
    for place, message in fields.items():
        place, message = _readable(place, message, document)
        readable.setdefault(place, message)
    return readable


def _readable(place: str, message: str, document: Mapping[str, Any]) -> tuple[str, str]:
    if place == "rules" and (found := _DUPLICATE_RULE.match(message)):
        return (
            f"rules.{found.group(2)}.name",
            f"a rule above is also named {found.group(3)}: a visit records the rule it took by "
            "name, so give each rule its own",
        )
    if place.endswith("paths") and (found := _DUPLICATE_PATH.match(message)):
        return (
            f"{place}.{found.group(2)}.name",
            f"a path above is also known as {found.group(3)} (a path without a name is known by "
            "its number): give the paths names of their own",
        )
    if place.endswith(".conditions") and "at least 1 item" in message:
        return place, (
            "add at least one condition (to send every visitor somewhere, use the default paths)"
        )
    if place.endswith(".name") and "at least 1 character" in message:
        return place, "give the rule a name (reports show it)"
    one_value = _ONE_VALUE.match(place)
    if one_value:  # a value too long: said beside the values, counted from 1
        return one_value.group(1), f"value {int(one_value.group(2)) + 1}: {message}"
    condition = _CONDITION.match(place)
    if condition:
        return place, _condition_message(
            condition.group(3),
            message,
            _condition_at(document, int(condition.group(1)), int(condition.group(2))),
        )
    return place, message


def _condition_message(part: str, message: str, condition: Mapping[str, Any]) -> str:
    field = FIELDS_BY_NAME.get(str(condition.get("field", "")))
    if part == "op" and field is not None and "does not apply" in message:
        op = str(condition.get("op", ""))
        allowed = ", ".join(f"“{OP_LABELS[o]}”" for o in OPS_BY_KIND[field.kind])
        return f"“{OP_LABELS.get(op, op)}” does not apply to {field.label}: use {allowed}"
    if part == "values" and "at least 1 item" in message:
        return "give at least one value"
    return _VALUE_AT.sub("", message)
