"""Every form that archives, deletes, revokes, removes, undoes or replaces asks first; a buyer
who answers no keeps what they had."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from tests.browser import log_in
from tracker.models import Campaign, Role, User

DESTRUCTIVE = re.compile(r"/(archive|delete|revoke|remove|undo)\b|/costs\"")


def _post_forms(html: str) -> list[str]:
    return re.findall(r'<form method="post"[^>]*>', html)


def test_destructive_forms_ask_first(
    client: Any, login: Callable[..., Any], make_campaign: Callable[..., Campaign]
) -> None:
    login("admin")
    make_campaign(name="Summer")
    pages = ["/campaigns", "/traffic-sources", "/offers", "/costs", "/conversions/types"]
    pages += ["/settings/tokens", "/settings/members"]
    checked = 0
    for path in pages:
        for form in _post_forms(client.get(path).text):
            if DESTRUCTIVE.search(form):
                assert "data-confirm=" in form, (path, form)
                checked += 1
    assert checked >= 4  # archive (three lists) and the manual cost update at least


def test_answering_no_keeps_the_campaign(
    live_server: str,
    page: Any,
    db: Session,
    make_user: Callable[..., User],
    make_campaign: Callable[..., Campaign],
) -> None:
    campaign = make_campaign(name="Keep me")
    log_in(page, live_server, make_user("ana@example.com", Role.BUYER))
    questions: list[str] = []

    def answer_no(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", answer_no)
    page.goto(f"{live_server}/campaigns")
    page.click(f"tr[data-id='{campaign.id}'] button:has-text('Archive')")
    page.wait_for_timeout(300)
    assert questions and "Keep me" in questions[0]
    db.expire_all()
    assert db.get(Campaign, campaign.id).archived_at is None  # type: ignore[union-attr]
    assert "/campaigns" in page.url and page.is_visible(f"tr[data-id='{campaign.id}']")
