"""Where a visit goes: a campaign's own path, or a flow's rules (first match) then its default
paths; in a path, a lander by weight (none: straight to an offer) and an offer by weight.

Everything here is compiled once per snapshot into frozen objects; choosing is a bisect over
cumulative weights. Weight 0 pauses a path, lander or offer.

PATH (JSON, as stored): ``{"weight", "landers": [{"id", "weight"}], "offers": [{"id", "weight"}],
"redirect_mode", "name"?}``. Flow rules: ``{"name", "conditions": [...], "paths": [PATH]}``.
"""

from __future__ import annotations

import logging
import random
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from itertools import accumulate
from typing import Any, Generic, TypeVar

from tracker.models.setup import RedirectMode
from tracker.tracking.conditions import ConditionError, Predicate, compile_rule, zone_named
from tracker.tracking.tokens import Template, compile_template

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["Predicate", "RouteTable", "compile_conditions", "compile_routes"]


@dataclass(frozen=True, slots=True)
class Destination:
    """A lander or offer as the hot path needs it: id, name, compiled URL, weight."""

    id: int
    name: str
    url: Template
    weight: int


class WeightedChoice(Generic[T]):
    """Picks among items by weight; items of weight 0 (paused) are never picked."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, items: Sequence[tuple[T, int]]) -> None:
        live = [(item, weight) for item, weight in items if weight > 0]
        self._items = tuple(item for item, _ in live)
        self._cumulative = tuple(accumulate(weight for _, weight in live))
        self._total = self._cumulative[-1] if self._cumulative else 0

    def __bool__(self) -> bool:
        return self._total > 0

    def pick(self, rand: Callable[[], float] = random.random) -> T | None:
        if not self._total:
            return None
        if len(self._items) == 1:
            return self._items[0]
        return self._items[bisect_right(self._cumulative, rand() * self._total)]


@dataclass(frozen=True, slots=True)
class PathRoute:
    """One path: its landers and offers (list order kept for /click/<n>) and redirect mode."""

    label: str
    weight: int
    landers: tuple[Destination, ...]
    offers: tuple[Destination, ...]
    redirect_mode: RedirectMode | None
    lander_choice: WeightedChoice[Destination] = field(compare=False)
    offer_choice: WeightedChoice[Destination] = field(compare=False)

    @property
    def is_live(self) -> bool:
        """True when a visitor sent here can be sent somewhere."""
        return bool(self.lander_choice) or bool(self.offer_choice)

    def pick_lander(self) -> Destination | None:
        return self.lander_choice.pick()

    def pick_offer(self) -> Destination | None:
        return self.offer_choice.pick()

    def offer_at(self, slot: int) -> Destination | None:
        """The offer in 1-based list position ``slot`` (what a lander's n-th button means)."""
        if 1 <= slot <= len(self.offers):
            return self.offers[slot - 1]
        return None


@dataclass(frozen=True, slots=True)
class RuleRoute:
    """A flow rule: all its predicates must hold for its paths to be used."""

    name: str
    predicates: tuple[Predicate, ...]
    paths: tuple[PathRoute, ...]
    path_choice: WeightedChoice[PathRoute] = field(compare=False)

    def matches(self, facts: Mapping[str, Any]) -> bool:
        # A plain loop: all() over a generator costs a frame per predicate, and a visit goes
        # through most of a flow's rules (a 10-rule flow: ~9 rules, ~20 predicates a visit).
        for predicate in self.predicates:  # noqa: SIM110
            if not predicate(facts):
                return False
        return True


@dataclass(frozen=True, slots=True)
class Route:
    """The outcome for one visit: which rule (None: default), path, lander and offer."""

    rule: str | None
    path: PathRoute
    lander: Destination | None
    offer: Destination | None


@dataclass(frozen=True, slots=True)
class RouteTable:
    """A campaign's whole routing, compiled."""

    flow_id: int | None
    rules: tuple[RuleRoute, ...]
    default_paths: tuple[PathRoute, ...]
    default_choice: WeightedChoice[PathRoute] = field(compare=False)
    # True when a rule routes by unique visit: the caller adds ``is_unique`` to the facts.
    needs_unique: bool = False

    def route(self, facts: Mapping[str, Any]) -> Route | None:
        """Pick rule, path, and lander (else offer) for a visit; None when all are paused."""
        path: PathRoute | None = None
        rule_name: str | None = None
        for rule in self.rules:
            if rule.matches(facts):
                path = rule.path_choice.pick()
                if path is not None:
                    rule_name = rule.name
                    break
        if path is None:
            path = self.default_choice.pick()
        if path is None:
            return None
        lander = path.pick_lander()
        offer = None if lander is not None else path.pick_offer()
        return Route(rule_name, path, lander, offer)

    def find_path(self, rule: str | None, label: str | None) -> PathRoute | None:
        """The path a stored visit took (by rule name and path label), if it still exists."""
        paths = self.default_paths
        if rule is not None:
            paths = next((r.paths for r in self.rules if r.name == rule), ())
        return next((p for p in paths if p.label == label), None)

    def path_with_lander(self, lander_id: int | None) -> PathRoute | None:
        """A live path showing this lander (a visit whose own path was since edited away)."""
        candidates = [p for r in self.rules for p in r.paths] + list(self.default_paths)
        for path in candidates:
            shows_lander = any(d.id == lander_id for d in path.landers)
            if lander_id is not None and shows_lander and path.offer_choice:
                return path
        return next((p for p in candidates if p.offer_choice), None)


# --- compiling ------------------------------------------------------------------------------------


def compile_conditions(
    conditions: Sequence[Mapping[str, Any]], *, match: str = "all", zone: tzinfo = UTC
) -> tuple[Predicate, ...] | None:
    """The predicates of a rule's conditions (see ``tracker.tracking.conditions``), all of which
    must hold; None when one cannot be checked (a stored rule the schemas would now refuse), so
    that rule is left out and visitors go on down the flow."""
    try:
        return compile_rule(conditions, match=match, zone=zone)
    except ConditionError as exc:
        log.warning("flow rule left out of routing: %s", exc)
        return None


def _destinations(
    entries: Any, catalogue: Mapping[int, tuple[str, str]]
) -> tuple[Destination, ...]:
    out = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            ident = int(entry["id"])
            weight = max(0, int(entry.get("weight", 100)))
        except (KeyError, TypeError, ValueError):
            continue
        known = catalogue.get(ident)
        if known is None:  # deleted, or not a URL we may send anyone to
            continue
        name, url = known
        out.append(Destination(ident, name, compile_template(url), weight))
    return tuple(out)


def compile_path(
    raw: Mapping[str, Any],
    position: int,
    landers: Mapping[int, tuple[str, str]],
    offers: Mapping[int, tuple[str, str]],
) -> PathRoute:
    """One PATH document compiled; unknown landers/offers are dropped."""
    lander_list = _destinations(raw.get("landers"), landers)
    offer_list = _destinations(raw.get("offers"), offers)
    try:
        mode = RedirectMode(raw["redirect_mode"]) if raw.get("redirect_mode") else None
    except ValueError:
        mode = None
    try:
        weight = max(0, int(raw.get("weight", 100)))
    except (TypeError, ValueError):
        weight = 0
    label = str(raw.get("name") or position)[:200]
    return PathRoute(
        label=label,
        weight=weight,
        landers=lander_list,
        offers=offer_list,
        redirect_mode=mode,
        lander_choice=WeightedChoice([(d, d.weight) for d in lander_list]),
        offer_choice=WeightedChoice([(d, d.weight) for d in offer_list]),
    )


def _path_choice(paths: Sequence[PathRoute]) -> WeightedChoice[PathRoute]:
    return WeightedChoice([(p, p.weight if p.is_live else 0) for p in paths])


def compile_routes(
    *,
    flow_id: int | None,
    campaign_path: Mapping[str, Any] | None,
    rules: Sequence[Mapping[str, Any]],
    default_paths: Sequence[Mapping[str, Any]],
    landers: Mapping[int, tuple[str, str]],
    offers: Mapping[int, tuple[str, str]],
    account_zone: tzinfo = UTC,
) -> RouteTable:
    """A campaign's routing: its own path (always taken), or its flow's rules and defaults
    (time conditions read the rule's time zone, else ``account_zone``)."""
    if flow_id is None:
        own = compile_path(campaign_path or {}, 1, landers, offers)
        # A campaign's own path is taken whatever its weight says.
        choice = WeightedChoice([(own, 1 if own.is_live else 0)])
        return RouteTable(None, (), (own,), choice)
    compiled_rules = []
    needs_unique = False
    for index, rule in enumerate(rules, 1):
        if not isinstance(rule, Mapping):
            continue
        conditions = rule.get("conditions") or []
        try:
            zone = zone_named(rule.get("timezone"), account_zone)
        except ConditionError as exc:
            log.warning("flow %s rule %s left out of routing: %s", flow_id, index, exc)
            continue
        predicates = compile_conditions(conditions, match=rule.get("match") or "all", zone=zone)
        if predicates is None:
            continue
        needs_unique = needs_unique or any(
            isinstance(c, Mapping) and c.get("field") == "unique" for c in conditions
        )
        paths = tuple(
            compile_path(p, n, landers, offers)
            for n, p in enumerate(rule.get("paths") or [], 1)
            if isinstance(p, Mapping)
        )
        name = str(rule.get("name") or f"rule {index}")[:200]
        compiled_rules.append(RuleRoute(name, predicates, paths, _path_choice(paths)))
    defaults = tuple(
        compile_path(p, n, landers, offers)
        for n, p in enumerate(default_paths, 1)
        if isinstance(p, Mapping)
    )
    return RouteTable(
        flow_id, tuple(compiled_rules), defaults, _path_choice(defaults), needs_unique
    )


def referenced_ids(
    campaign_path: Mapping[str, Any] | None,
    rules: Sequence[Mapping[str, Any]],
    default_paths: Sequence[Mapping[str, Any]],
) -> tuple[set[int], set[int]]:
    """The lander and offer ids a campaign's routing names (to load them in one query each)."""
    paths: list[Any] = [campaign_path or {}, *default_paths]
    for rule in rules:
        if isinstance(rule, Mapping):
            paths.extend(rule.get("paths") or [])
    landers: set[int] = set()
    offers: set[int] = set()
    for path in paths:
        if not isinstance(path, Mapping):
            continue
        for key, into in (("landers", landers), ("offers", offers)):
            for entry in path.get(key) or []:
                try:
                    into.add(int(entry["id"]))
                except (KeyError, TypeError, ValueError):
                    continue
    return landers, offers
