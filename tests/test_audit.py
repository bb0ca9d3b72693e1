"""The audit log: every setup change, with who and before/after."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.audit import set_actor
from tracker.models import AuditEntry, Offer, Workspace
from tracker.models.types import utcnow


def entries(db: Session) -> list[AuditEntry]:
    return list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_create_update_archive_delete_are_logged_with_the_actor(
    db: Session, workspace: Workspace
) -> None:
    set_actor(db, None, "ana@example.com")
    offer = Offer(
        workspace_id=workspace.id, name="Offer A", url="https://a.example/", payout=Decimal("2.5")
    )
    db.add(offer)
    db.commit()
    set_actor(db, None, "ana@example.com")
    offer.payout = Decimal("3.0")
    offer.url = "https://b.example/"
    db.commit()
    set_actor(db, None, "bob@example.com")
    offer.archived_at = utcnow()
    db.commit()
    db.delete(offer)
    db.commit()

    log = entries(db)
    assert [e.action for e in log] == ["create", "update", "archive", "delete"]
    create, update, archive, delete = log
    assert (
        create.entity == "offer"
        and create.entity_id == offer.id
        and create.entity_name == "Offer A"
    )
    assert Decimal(create.changes["payout"][1]) == Decimal("2.5")
    assert create.actor_email == "ana@example.com"
    assert set(update.changes) == {"payout", "url"}
    assert update.changes["url"] == ["https://a.example/", "https://b.example/"]
    assert archive.actor_email == "bob@example.com"
    assert delete.changes["name"] == ["Offer A", None]
    assert all(e.workspace_id == workspace.id for e in log)


def test_untouched_flush_logs_nothing(db: Session, make_offer: Callable[..., Offer]) -> None:
    offer = make_offer()
    before = len(entries(db))
    offer.name = offer.name  # same value: no change
    db.commit()
    assert len(entries(db)) == before


def test_without_an_actor_the_system_is_named(
    db: Session, make_offer: Callable[..., Offer]
) -> None:
    db.info.pop("audit_actor", None)
    make_offer()
    assert entries(db)[-1].actor_email == "system"


def test_change_log_page_shows_this_workspace_only(
    client: object, login: Callable[..., object], db: Session, make_offer: Callable[..., Offer]
) -> None:
    from flask.testing import FlaskClient

    assert isinstance(client, FlaskClient)
    make_offer(name="Visible offer")
    other = Workspace(name="Elsewhere")
    db.add(other)
    db.flush()
    db.add(Offer(workspace_id=other.id, name="Hidden offer", url="https://x.example/"))
    db.commit()
    login("buyer")
    page = client.get("/settings/audit")
    assert page.status_code == 200
    assert "Visible offer" in page.text
    assert "Hidden offer" not in page.text
    assert "Hidden offer" not in client.get("/settings/audit?entity=offer").text


def test_viewers_do_not_read_the_change_log(client: object, login: Callable[..., object]) -> None:
    from flask.testing import FlaskClient

    assert isinstance(client, FlaskClient)
    login("viewer")
    assert client.get("/settings/audit").status_code == 403
