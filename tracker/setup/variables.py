"""A traffic source's own names for the sub IDs it sends (``zone`` for var1, ``campaignid``
for var2...), so pages show a visit's sub IDs as the buyer knows them, not as var1..var10."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from tracker.extensions import DbSession
from tracker.models.events import VAR_COUNT
from tracker.models.setup import TrafficSource

VAR_KEYS = tuple(f"var{n}" for n in range(1, VAR_COUNT + 1))


@dataclass(frozen=True)
class SubIdNames:
    """One source's names: its click-ID parameter and ``{"var1": "zone"}``."""

    click_id: str = ""
    names: dict[str, str] = field(default_factory=dict)

    def label(self, key: str) -> str:
        """The name a sub ID is shown by: the source's own, else ``var1``; ``click ID`` for
        the source's click ID (``ext``)."""
        if key == "ext":
            return self.click_id or "click ID"
        return self.names.get(key) or key


NO_NAMES = SubIdNames()


def names_of(source: TrafficSource | Mapping[str, Any]) -> SubIdNames:
    """A source's sub-ID names from its stored variables (name, else the URL parameter)."""
    variables: Any
    click_param: Any
    if isinstance(source, TrafficSource):
        variables, click_param = source.variables, source.external_id_param
    else:
        variables, click_param = source.get("variables"), source.get("external_id_param")
    names: dict[str, str] = {}
    for key, variable in zip(VAR_KEYS, variables or [], strict=False):
        name = str((variable or {}).get("name") or (variable or {}).get("param") or "").strip()
        if name:
            names[key] = name
    return SubIdNames(str(click_param or ""), names)


def sub_id_names(
    session: DbSession, workspace_id: int, source_ids: Iterable[int | None]
) -> dict[int, SubIdNames]:
    """The names of the given sources of a workspace, in one query."""
    wanted = {i for i in source_ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(TrafficSource.id, TrafficSource.variables, TrafficSource.external_id_param).where(
            TrafficSource.workspace_id == workspace_id, TrafficSource.id.in_(wanted)
        )
    )
    return {
        source_id: names_of({"variables": variables, "external_id_param": param})
        for source_id, variables, param in rows
    }


def named_sub_ids(row: Mapping[str, Any], names: SubIdNames) -> list[tuple[str, str, str]]:
    """A visit's non-empty sub IDs as (shown name, var key, value): the source's click ID
    first, then var1..var10."""
    keys = ("ext", *VAR_KEYS)
    values = {"ext": row.get("external_id"), **{k: row.get(k) for k in VAR_KEYS}}
    return [(names.label(k), k, str(values[k])) for k in keys if values[k]]
