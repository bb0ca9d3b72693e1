"""Template globals and filters: the acting workspace, money, percentages, times in the
account's zone."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Flask, current_app, request
from flask_login import current_user

from tracker.auth.forms import LogoutForm, WorkspaceForm, workspace_choices
from tracker.auth.sessions import current_membership
from tracker.config import Settings


def format_money(value: Decimal | float | int | None, places: int = 2) -> str:
    if value is None:
        return "—"
    quantized = Decimal(value).quantize(Decimal(1).scaleb(-places))
    return f"{quantized:,.{places}f}"


# Currencies a buyer reads by their sign; any other shows its ISO code after the number.
CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "RUB": "₽"}


def format_amount(
    value: Decimal | float | int | None, currency: str | None = None, places: int = 2
) -> str:
    """Money as a buyer reads it: ``$1,234.50``, ``-$3.20``, ``12.00 CZK``; ``—`` for none."""
    if value is None:
        return "—"
    code = (currency or "").upper()
    number = format_money(abs(Decimal(value)), places)
    negative = Decimal(value).quantize(Decimal(1).scaleb(-places)) < 0
    sign = "-" if negative else ""
    if code in CURRENCY_SIGNS:
        return f"{sign}{CURRENCY_SIGNS[code]}{number}"
    return f"{sign}{number} {code}".rstrip()


def format_count(value: int | None) -> str:
    """A whole number with thousands separators; ``—`` for none."""
    return "—" if value is None else f"{value:,}"


def format_percent(value: Decimal | float | None) -> str:
    if value is None:
        return "—"
    return f"{Decimal(value):,.2f}%"


def format_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    settings: Settings = current_app.config["SETTINGS"]
    return value.astimezone(settings.zone).strftime(fmt)


# Main navigation, in a buyer's order; an entry shows once its endpoint exists.
NAVIGATION = [
    ("home.index", "Overview"),
    ("reports.index", "Reports"),
    ("setup.campaigns", "Campaigns"),
    ("setup.flows", "Flows"),
    ("setup.offers", "Offers"),
    ("setup.landers", "Landers"),
    ("setup.traffic_sources", "Traffic sources"),
    ("setup.affiliate_networks", "Networks"),
    ("conversions.index", "Conversions"),
    ("conversions.postback_log", "Postback log"),
    ("settings.index", "Settings"),
]


def register_template_helpers(app: Flask) -> None:
    """Filters and the layout's context (navigation, workspace switcher, logout form)."""
    app.jinja_env.filters.update(
        money=format_money,
        amount=format_amount,
        count=format_count,
        percent=format_percent,
        localtime=format_time,
    )

    @app.context_processor
    def layout_context() -> dict[str, Any]:
        if not current_user.is_authenticated or request.blueprint == "api":
            return {}
        membership = current_membership()
        switcher = WorkspaceForm()
        switcher.workspace_id.choices = workspace_choices(current_user)
        switcher.workspace_id.data = membership.workspace_id
        return {
            "nav_items": [(e, label) for e, label in NAVIGATION if e in current_app.view_functions],
            "membership": membership,
            "workspace_switcher": switcher,
            "logout_form": LogoutForm(),
            "settings": current_app.config["SETTINGS"],
        }
