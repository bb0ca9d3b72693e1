"""Fixtures: an app on a migrated store (SQLite, or PostgreSQL when TRACKER_TEST_DATABASE_URL is
set), emptied after every test; clients, a CLI runner, logged-in users, factories, a browser."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from tests.report_data import Dataset, build_dataset
from tracker import create_app
from tracker.auth.services import create_api_token, create_user
from tracker.config import Settings
from tracker.extensions import db as store
from tracker.models import (
    AffiliateNetwork,
    Campaign,
    Lander,
    Offer,
    Role,
    TrafficSource,
    User,
    Workspace,
)

TEST_DATA = Path(__file__).parent / "data"
GEOIP_DIR = TEST_DATA / "geoip"
TEST_PASSWORD = "correct horse battery"


def _test_database_url(tmp_root: Path) -> str:
    return os.environ.get("TRACKER_TEST_DATABASE_URL") or f"sqlite:///{tmp_root / 'test.db'}"


def reset_database(url: str) -> None:
    """Drop everything, so the schema is built by the migrations alone."""
    engine = create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tracker")


@pytest.fixture(scope="session")
def database_url(tmp_root: Path) -> str:
    """A store migrated once per test session with `tracker db upgrade`'s own code."""
    from flask_migrate import upgrade

    url = _test_database_url(tmp_root)
    reset_database(url)
    app = create_app(base_settings(tmp_root, url))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        store.engine.dispose()
    return url


def base_settings(tmp_root: Path, url: str, **overrides: Any) -> Settings:
    return Settings.from_env(
        environ={},
        instance_path=tmp_root / "instance",
        database_url=url,
        secret_key="test-secret-key",
        **overrides,
    )


def empty_all_tables(session: Session) -> None:
    """Delete every row (children first), so each test starts from an empty store; on
    PostgreSQL the id sequences start again at 1, as in a new store.

    A test leaves a few rows behind: deleting them costs PostgreSQL ~5 ms, where TRUNCATE (new
    files for every table and index) costs 80-250 ms, minutes over the whole suite."""
    tables = list(reversed(store.metadata.sorted_tables))
    if session.get_bind().dialect.name == "postgresql":
        sequences = session.scalars(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        )
        script = [f'DELETE FROM "{table.name}"' for table in tables]
        script += [f'ALTER SEQUENCE "{name}" RESTART' for name in sequences]
        session.connection().exec_driver_sql("; ".join(script))
    else:
        for table in tables:
            session.execute(table.delete())
    session.commit()


class _SharedBytecode(BytecodeCache):
    """Compiled templates kept in memory for the whole test session."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if (code := self.compiled.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATES_COMPILED = _SharedBytecode()


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashes() -> Iterator[None]:
    """Users made in tests get a cheap hash (a login costs two hashes: ~0.2 s with the real
    scrypt cost, a few minutes over the suite). Every hash goes through the same check;
    test_auth.py checks the real hasher."""
    from tracker.auth import services

    real = services.generate_password_hash
    services.generate_password_hash = _cheap_password_hash  # type: ignore[assignment]
    yield
    services.generate_password_hash = real


def _cheap_password_hash(password: str) -> str:
    return generate_password_hash(password, method="pbkdf2:sha256:1000")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def app(database_url: str, tmp_root: Path, settings_overrides: dict[str, Any]) -> Iterator[Flask]:
    application = create_app(
        base_settings(tmp_root, database_url, **settings_overrides), TESTING=True
    )
    # The fixture keeps an app context pushed so that tests and factories can use the store;
    # Flask then reuses it for every request, so clear `g` first thing in each request, as a
    # fresh context in production would have it (Flask-Login and CSRF cache in `g`).
    application.before_request_funcs.setdefault(None, []).insert(0, _fresh_request_globals)
    # Every test has an app of its own: compile each template once for them all.
    application.jinja_env.bytecode_cache = TEMPLATES_COMPILED
    with application.app_context():
        yield application
        store.session.remove()
        empty_all_tables(store.session)
        store.session.remove()
        store.engine.dispose()


def _fresh_request_globals() -> None:
    from flask import g

    for name in list(g):
        g.pop(name)


@pytest.fixture
def db(app: Flask) -> Session:
    """The app's session, inside the app context."""
    return store.session


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


# --- people -------------------------------------------------------------------------------------


@pytest.fixture
def make_user(db: Session) -> Callable[..., User]:
    def make(
        email: str = "buyer@example.com",
        role: Role | str = Role.BUYER,
        workspace: str | None = None,
        password: str = TEST_PASSWORD,
    ) -> User:
        created = create_user(db, email, Role(role), password=password, workspace_name=workspace)
        db.commit()
        return created.user

    return make


@pytest.fixture
def login(client: FlaskClient, make_user: Callable[..., User]) -> Callable[..., User]:
    """Log the test client in as a new user with the given role."""

    def do_login(
        role: Role | str = Role.BUYER, email: str | None = None, workspace: str | None = None
    ) -> User:
        user = make_user(email or f"{Role(role).value}@example.com", role, workspace)
        client.application.config["WTF_CSRF_ENABLED"] = False
        response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
        client.application.config["WTF_CSRF_ENABLED"] = True
        assert response.status_code == 302, response.text
        return user

    return do_login


@dataclass
class ApiClient:
    """A test client that sends a bearer token on every request."""

    client: FlaskClient
    token: str
    user: User

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.client.patch(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.client.delete(url, headers=self._headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def api(
    client: FlaskClient, db: Session, make_user: Callable[..., User]
) -> Callable[..., ApiClient]:
    """An API client acting as a new user with the given role (and workspace)."""

    def make(
        role: Role | str = Role.BUYER, email: str | None = None, workspace: str | None = None
    ) -> ApiClient:
        user = make_user(email or f"api-{Role(role).value}@example.com", role, workspace)
        token = create_api_token(db, user, "test").raw
        db.commit()
        return ApiClient(client, token, user)

    return make


# --- setup factories ---------------------------------------------------------------------------


@pytest.fixture
def workspace(db: Session) -> Workspace:
    from tracker.auth.services import default_workspace

    ws = default_workspace(db)
    db.commit()
    return ws


@pytest.fixture
def make_traffic_source(db: Session, workspace: Workspace) -> Callable[..., TrafficSource]:
    def make(**overrides: Any) -> TrafficSource:
        values: dict[str, Any] = {
            "workspace_id": workspace.id,
            "name": "PropellerAds",
            "external_id_param": "visitor_id",
            "external_id_placeholder": "${SUBID}",
            "cost_param": "cost",
            "cost_placeholder": "${COST}",
            "variables": [{"name": "zone", "param": "zoneid", "placeholder": "${ZONEID}"}],
            "postback_url": "",
        }
        values.update(overrides)
        source = TrafficSource(**values)
        db.add(source)
        db.commit()
        return source

    return make


@pytest.fixture
def make_offer(db: Session, workspace: Workspace) -> Callable[..., Offer]:
    def make(**overrides: Any) -> Offer:
        values: dict[str, Any] = {
            "workspace_id": workspace.id,
            "name": "Offer A",
            "url": "https://offer.example/?click={clickid}",
            "payout": Decimal("2.50"),
        }
        values.update(overrides)
        offer = Offer(**values)
        db.add(offer)
        db.commit()
        return offer

    return make


@pytest.fixture
def make_lander(db: Session, workspace: Workspace) -> Callable[..., Lander]:
    def make(**overrides: Any) -> Lander:
        values: dict[str, Any] = {
            "workspace_id": workspace.id,
            "name": "Lander 1",
            "url": "https://lander.example/?cid={clickid}",
            "offer_count": 1,
        }
        values.update(overrides)
        lander = Lander(**values)
        db.add(lander)
        db.commit()
        return lander

    return make


@pytest.fixture
def make_network(db: Session, workspace: Workspace) -> Callable[..., AffiliateNetwork]:
    def make(**overrides: Any) -> AffiliateNetwork:
        values: dict[str, Any] = {"workspace_id": workspace.id, "name": "Network"}
        values.update(overrides)
        network = AffiliateNetwork(**values)
        db.add(network)
        db.commit()
        return network

    return make


@pytest.fixture
def make_campaign(
    db: Session,
    workspace: Workspace,
    make_traffic_source: Callable[..., TrafficSource],
    make_offer: Callable[..., Offer],
) -> Callable[..., Campaign]:
    """A campaign straight to a new offer unless ``path``/``flow_id`` say otherwise."""
    counter = iter(range(1, 10_000))

    def make(**overrides: Any) -> Campaign:
        n = next(counter)
        values: dict[str, Any] = {"workspace_id": workspace.id, "name": f"Campaign {n}"}
        if "traffic_source_id" not in overrides:
            values["traffic_source_id"] = make_traffic_source().id
        if "path" not in overrides and "flow_id" not in overrides:
            offer = make_offer()
            values["path"] = {
                "weight": 100,
                "landers": [],
                "offers": [{"id": offer.id, "weight": 100}],
            }
        values["key"] = overrides.pop("key", f"testkey{n:04d}")
        values.update(overrides)
        campaign = Campaign(**values)
        db.add(campaign)
        from tracker.store import bump_setup_version

        bump_setup_version(db)
        db.commit()
        return campaign

    return make


@pytest.fixture
def lander_offer_campaign(
    make_campaign: Callable[..., Campaign],
    make_lander: Callable[..., Lander],
    make_offer: Callable[..., Offer],
) -> Campaign:
    """A campaign to a lander whose call to action goes to an offer; both URLs carry the
    click ID as ``cid``."""
    lander = make_lander(url="https://lander.example/?cid={clickid}")
    offer = make_offer(url="https://offer.example/?cid={clickid}")
    return make_campaign(
        path={
            "weight": 100,
            "landers": [{"id": lander.id, "weight": 100}],
            "offers": [{"id": offer.id, "weight": 100}],
        }
    )


# --- the reports' data set ---------------------------------------------------------------------


@pytest.fixture
def data(
    db: Session,
    make_campaign: Callable[..., Campaign],
    make_traffic_source: Callable[..., TrafficSource],
) -> Dataset:
    """The reports' small fixed data set with hand-computed figures (tests/report_data.py)."""
    return build_dataset(db, make_campaign, make_traffic_source)


# --- a live server and a browser -----------------------------------------------------------------


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served on a free loopback port in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


CHROMIUM = os.environ.get("TRACKER_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright; skips (or fails in CI) without it."""
    required = os.environ.get("TRACKER_REQUIRE_BROWSER") == "1"
    reason = None
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[test]')"
    if reason:
        if required:
            pytest.fail(f"browser tests required but: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield instance
        instance.close()


ARTIFACTS = Path(os.environ.get("TRACKER_TEST_ARTIFACTS", "test-artifacts"))


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser page; a screenshot is kept under test-artifacts/ when the test fails."""
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    pg = context.new_page()
    yield pg
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failed.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
