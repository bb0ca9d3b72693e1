"""Custom conversion types: a buyer names an event (``Deposit``), lists the ``et`` values that
mean it, and says whether it counts in "conversions" and in revenue.

A conversion's type is resolved when it is recorded (``Conversion.conversion_type_id``) and the
type's two flags are copied onto it, so reports group and count without a join; changing a type
re-applies it to the workspace's conversions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, select, update

from tracker.conversions.params import ET_MAX
from tracker.extensions import DbSession
from tracker.models.conversions import ConversionType
from tracker.models.events import Conversion
from tracker.models.types import utcnow

NAME_MAX = 100
MAX_ET_VALUES = 50


class ConversionTypeError(ValueError):
    """A type that cannot be saved, naming the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TypeFlags:
    """What a conversion of this ``et`` is: its type (if any) and whether it counts."""

    type_id: int | None = None
    counts_as_conversion: bool = True
    counts_in_revenue: bool = True


NO_TYPE = TypeFlags()
_TYPES_OF_WORKSPACE = select(
    ConversionType.id,
    ConversionType.et_values,
    ConversionType.counts_as_conversion,
    ConversionType.counts_in_revenue,
).where(ConversionType.workspace_id == bindparam("workspace_id"))


def resolve_type(conn: Connection, workspace_id: int, et: str) -> TypeFlags:
    """The workspace's type whose ``et`` values hold ``et`` (any case); none for the main
    conversion or an ``et`` no type lists (such conversions count)."""
    if not et:
        return NO_TYPE
    wanted = et.lower()
    rows = conn.execute(_TYPES_OF_WORKSPACE, {"workspace_id": workspace_id})
    for type_id, et_values, counts, revenue in rows:
        if any(str(value).lower() == wanted for value in et_values or []):
            return TypeFlags(type_id, bool(counts), bool(revenue))
    return NO_TYPE


def list_types(session: DbSession, workspace_id: int) -> list[ConversionType]:
    """The workspace's conversion types, by name."""
    return list(
        session.scalars(
            select(ConversionType)
            .where(ConversionType.workspace_id == workspace_id)
            .order_by(func.lower(ConversionType.name))
        )
    )


def get_type(session: DbSession, workspace_id: int, type_id: int) -> ConversionType | None:
    """One of the workspace's types, or None (another workspace's is not found)."""
    return session.scalar(
        select(ConversionType).where(
            ConversionType.id == type_id, ConversionType.workspace_id == workspace_id
        )
    )


def clean_et_values(raw: list[str] | str) -> list[str]:
    """``et`` values from a list or a comma/space/newline separated text, without repeats."""
    items = raw.replace("\n", ",").replace(" ", ",").split(",") if isinstance(raw, str) else raw
    seen: dict[str, str] = {}
    for item in items:
        value = str(item).strip()
        if value and value.lower() not in seen:
            seen[value.lower()] = value
    return list(seen.values())


def _validate(
    session: DbSession, workspace_id: int, name: str, et_values: list[str], type_id: int | None
) -> tuple[str, list[str]]:
    name = name.strip()
    if not name:
        raise ConversionTypeError("name", "a type needs a name")
    if len(name) > NAME_MAX:
        raise ConversionTypeError("name", f"at most {NAME_MAX} characters")
    values = clean_et_values(et_values)
    if not values:
        raise ConversionTypeError("et_values", "list at least one et value, e.g. deposit")
    if len(values) > MAX_ET_VALUES:
        raise ConversionTypeError("et_values", f"at most {MAX_ET_VALUES} values")
    for value in values:
        if len(value) > ET_MAX:
            raise ConversionTypeError("et_values", f"{value[:20]!r}…: at most {ET_MAX} characters")
    for other in list_types(session, workspace_id):
        if other.id == type_id:
            continue
        if other.name.lower() == name.lower():
            raise ConversionTypeError("name", f"a type named {other.name!r} exists already")
        taken = {str(v).lower() for v in other.et_values or []}
        clash = [v for v in values if v.lower() in taken]
        if clash:
            raise ConversionTypeError(
                "et_values", f"{clash[0]!r} already means type {other.name!r}"
            )
    return name, values


def create_type(
    session: DbSession,
    workspace_id: int,
    name: str,
    et_values: list[str],
    counts_as_conversion: bool = True,
    counts_in_revenue: bool = True,
) -> ConversionType:
    """Define a conversion type and apply it to the workspace's conversions of its ``et``."""
    name, values = _validate(session, workspace_id, name, et_values, None)
    kind = ConversionType(
        workspace_id=workspace_id,
        name=name,
        et_values=values,
        counts_as_conversion=counts_as_conversion,
        counts_in_revenue=counts_in_revenue,
    )
    session.add(kind)
    session.flush()
    _apply(session, kind)
    return kind


def update_type(
    session: DbSession,
    kind: ConversionType,
    name: str,
    et_values: list[str],
    counts_as_conversion: bool,
    counts_in_revenue: bool,
) -> ConversionType:
    """Change a type; its conversions follow (also those whose ``et`` joins or leaves it)."""
    name, values = _validate(session, kind.workspace_id, name, et_values, kind.id)
    kind.name = name
    kind.et_values = values
    kind.counts_as_conversion = counts_as_conversion
    kind.counts_in_revenue = counts_in_revenue
    session.flush()
    _apply(session, kind)
    return kind


def delete_type(session: DbSession, kind: ConversionType) -> None:
    """Remove a type; its conversions become untyped again (and count)."""
    session.execute(
        update(Conversion)
        .where(Conversion.conversion_type_id == kind.id)
        .values(
            conversion_type_id=None,
            counts_as_conversion=True,
            counts_in_revenue=True,
            updated_at=utcnow(),  # reports refresh what changed since their last pass
        )
    )
    session.delete(kind)
    session.flush()


def _apply(session: DbSession, kind: ConversionType) -> None:
    lowered = [str(v).lower() for v in kind.et_values]
    # Conversions whose et left the type become untyped.
    session.execute(
        update(Conversion)
        .where(
            Conversion.conversion_type_id == kind.id,
            func.lower(Conversion.et).not_in(lowered),
        )
        .values(
            conversion_type_id=None,
            counts_as_conversion=True,
            counts_in_revenue=True,
            updated_at=utcnow(),  # reports refresh what changed since their last pass
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Conversion)
        .where(
            Conversion.workspace_id == kind.workspace_id,
            func.lower(Conversion.et).in_(lowered),
        )
        .values(
            conversion_type_id=kind.id,
            counts_as_conversion=kind.counts_as_conversion,
            counts_in_revenue=kind.counts_in_revenue,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
