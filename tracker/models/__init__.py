"""Typed SQLAlchemy 2.0 models; importing this package registers every table."""

from tracker.models.audit import AuditEntry
from tracker.models.conversions import ConversionType
from tracker.models.events import (
    VAR_COUNT,
    Conversion,
    CostUpdate,
    OutboxMessage,
    PostbackLog,
    Visit,
)
from tracker.models.rollups import CostAdjustment, RollupState  # noqa: F401  (report tables)
from tracker.models.setup import (
    AffiliateNetwork,
    Campaign,
    CostModel,
    Flow,
    Lander,
    Offer,
    RedirectMode,
    SetupVersion,
    TrafficSource,
)
from tracker.models.users import ApiToken, LoginFailure, Membership, Role, User, Workspace

__all__ = [
    "VAR_COUNT",
    "AffiliateNetwork",
    "ApiToken",
    "AuditEntry",
    "Campaign",
    "Conversion",
    "ConversionType",
    "CostModel",
    "CostUpdate",
    "Flow",
    "Lander",
    "LoginFailure",
    "Membership",
    "Offer",
    "OutboxMessage",
    "PostbackLog",
    "RedirectMode",
    "Role",
    "SetupVersion",
    "TrafficSource",
    "User",
    "Visit",
    "Workspace",
]
