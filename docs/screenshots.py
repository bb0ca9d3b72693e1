"""Re-make the README's screenshots from demo data.

    .venv/bin/python docs/screenshots.py            # writes docs/images/*.png

It builds a throw-away SQLite store with `tracker demo`'s data (seed 1, 30 days), serves it on a
free loopback port, logs in with headless Chromium (Debian's /usr/bin/chromium, or
TRACKER_CHROMIUM) and takes the dashboard and a report at 1280 px wide, and both again at phone
size (390 px). Needs the test extra (`pip install -e '.[test]'`) for Playwright.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EMAIL = "buyer@example.com"
PASSWORD = "demo password for screenshots"
TIMEZONE = "America/New_York"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def build_store(directory: Path, visits: int) -> Any:
    """A migrated SQLite store in ``directory`` with demo data and a buyer; the app."""
    from flask_migrate import upgrade

    from tracker import create_app
    from tracker.auth.services import create_user
    from tracker.config import Settings
    from tracker.demo import DemoOptions, build_demo
    from tracker.demo.cli import tqdm_progress
    from tracker.extensions import db
    from tracker.models import Role

    settings = Settings.from_env(
        environ={},
        instance_path=directory,
        database_url=f"sqlite:///{directory / 'screenshots.db'}",
        secret_key="screenshots",
        timezone=TIMEZONE,
    )
    app = create_app(settings)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        summary = build_demo(
            db.session, settings, DemoOptions(seed=1, visits=visits), progress=tqdm_progress
        )
        create_user(db.session, EMAIL, Role.BUYER, password=PASSWORD)
        db.session.commit()
        print(summary.line(), file=sys.stderr)
    return app


def serve(app: Any) -> tuple[str, Any]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def shoot(base: str, out: Path) -> list[Path]:
    """Log in and take the pictures; returns the files written."""
    from playwright.sync_api import sync_playwright

    today = datetime.now(UTC).astimezone(ZoneInfo(TIMEZONE)).date()
    month = f"from={today - timedelta(days=29)}&to={today}"
    pages = [
        ("dashboard", "/", None),
        ("report", f"/reports?group_by=traffic_source&{month}", "#report-table"),
    ]
    written: list[Path] = []
    chromium = os.environ.get("TRACKER_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        for suffix, viewport, mobile in (("", DESKTOP, False), ("-phone", PHONE, True)):
            context = browser.new_context(
                viewport=viewport, device_scale_factor=1, is_mobile=mobile, has_touch=mobile
            )
            page = context.new_page()
            page.goto(f"{base}/login")
            page.fill("input[name=email]", EMAIL)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            for name, path, ready in pages:
                page.goto(f"{base}{path}")
                page.wait_for_selector(ready or ".chart .main-svg")
                page.wait_for_timeout(300)  # the chart's last layout pass
                if mobile and ready:  # a phone shows the figures, below the form and chart
                    page.locator(ready).evaluate("table => table.scrollIntoView()")
                target = out / f"{name}{suffix}.png"
                page.screenshot(path=str(target))
                written.append(target)
            context.close()
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--visits", type=int, default=50_000)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tracker-screenshots-") as directory:
        app = build_store(Path(directory), args.visits)
        base, server = serve(app)
        try:
            for path in shoot(base, args.out):
                print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        finally:
            server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
