"""The ``tracker`` command: thin wrappers over the services.

A command prints its result alone on stdout and its messages on stderr, and exits non-zero with
a clear message on failure, so scripts can use it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar, cast

import click
from flask import Flask

from tracker.config import ConfigError, Settings

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_BIND = "127.0.0.1:8000"


def _say(message: str) -> None:
    click.echo(message, err=True)


def _build_app() -> Flask:
    from tracker import create_app

    try:
        return create_app(Settings.from_env())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def _app_context() -> Any:
    app = _build_app()
    with app.app_context():
        yield app


def _fails_cleanly(command: F) -> F:
    """Turn service errors into a one-line message and exit status 1, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        from tracker.auth.services import AuthError

        try:
            return command(*args, **kwargs)
        except AuthError as exc:
            raise click.ClickException(str(exc)) from exc
        except (OperationalError, ProgrammingError) as exc:
            raise click.ClickException(
                f"the store is not ready ({exc.orig}); run `tracker db upgrade` first"
            ) from exc

    return cast(F, wrapper)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """A self-hosted campaign tracker. Settings come from TRACKER_* environment variables."""


# --- db ---------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The store: create and migrate it."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store named by TRACKER_DATABASE_URL to the newest schema."""
    from flask_migrate import upgrade

    with _app_context() as app:
        upgrade(directory=app.extensions["migrate"].directory)
        from tracker.extensions import db as store

        _say(f"store is at the newest schema: {store.engine.url.render_as_string()}")


# --- users and tokens ------------------------------------------------------------------------


@main.group()
def users() -> None:
    """People who log in."""


@users.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice(["admin", "buyer", "viewer"]),
    required=True,
    help="The role in the workspace: admin manages users and everything, buyer manages setup "
    "and reads reports, viewer reads.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--workspace", default=None, help="Workspace name (default: the default workspace).")
@_fails_cleanly
def users_create(email: str, role: str, password_stdin: bool, workspace: str | None) -> None:
    """Create a user (or give a known user a role); prints a generated password once."""
    from tracker.auth.services import create_user
    from tracker.extensions import db as store
    from tracker.models.users import Role

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input")
    with _app_context():
        created = create_user(
            store.session, email, Role(role), password=password, workspace_name=workspace
        )
        store.session.commit()
        _say(f"{created.user.email} is {role} in workspace {created.workspace.name!r}")
        if created.generated_password:
            _say("generated password (shown once):")
            click.echo(created.generated_password)


@main.group()
def tokens() -> None:
    """API tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="", help="A label to tell this token apart.")
@_fails_cleanly
def tokens_create(email: str, name: str) -> None:
    """Create an API token acting as the user; prints the token, and only it."""
    from tracker.auth.services import create_api_token, find_user
    from tracker.extensions import db as store

    with _app_context():
        user = find_user(store.session, email)
        if user is None:
            raise click.ClickException(f"no user with email {email!r}")
        created = create_api_token(store.session, user, name)
        store.session.commit()
        click.echo(created.raw)


# --- serving ------------------------------------------------------------------------------------


def _parse_bind(bind: str) -> str:
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"expected HOST:PORT, got {bind!r}", param_hint="--bind")
    return bind


def _default_workers() -> int:
    # The hot path is short and I/O-bound on the store: two per core, at least two.
    return max(2, (os.cpu_count() or 1) * 2)


@main.command("serve")
@click.option("--bind", default=DEFAULT_BIND, show_default=True, help="HOST:PORT to listen on.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes (default: two per CPU core, at least two).",
)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Do not run the background worker beside the server (run `tracker worker` elsewhere).",
)
def serve(bind: str, workers: int | None, no_worker: bool) -> None:
    """Run the production server (gunicorn) and the background worker; SIGTERM stops both."""
    from tracker.server import run_server

    _build_app()  # fail here, with a clear message, on a bad setting
    run_server(_parse_bind(bind), workers or _default_workers(), background_worker=not no_worker)


@main.command("quickstart")
@click.option("--bind", default=DEFAULT_BIND, show_default=True, help="HOST:PORT to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--demo", is_flag=True, help="Start with a month of demo data (`tracker demo`).")
@_fails_cleanly
def quickstart(bind: str, workers: int, demo: bool) -> None:
    """Create or migrate the store, make a first admin if there is none, and serve."""
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from tracker.auth.services import create_user
    from tracker.extensions import db as store
    from tracker.models.users import Role, User
    from tracker.server import run_server

    bind = _parse_bind(bind)
    with _app_context() as app:
        upgrade(directory=app.extensions["migrate"].directory)
        credentials = os.path.join(app.instance_path, "initial-admin.txt")
        if not store.session.scalar(select(func.count()).select_from(User)):
            created = create_user(store.session, "admin@example.com", Role.ADMIN)
            store.session.commit()
            fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(f"email: admin@example.com\npassword: {created.generated_password}\n")
        login_hint = (
            f"log in with the credentials in {credentials}"
            if os.path.exists(credentials)
            else "log in with your account (`tracker users create` adds one)"
        )
        if os.path.exists(credentials):
            with open(credentials) as fh:
                login_hint = "log in as " + " / ".join(
                    line.split(": ", 1)[1].strip() for line in fh if ": " in line
                )
        if demo:
            from tracker.demo.cli import quickstart_demo

            quickstart_demo()
    _say(f"tracker at http://{bind}/ : {login_hint}")
    run_server(bind, workers)


# --- GeoIP status and the benchmarks' group -------------------------------------------


@main.group()
def geoip() -> None:
    """GeoIP databases (TRACKER_GEOIP_CITY, _ASN, _ISP, _CONNECTION_TYPE)."""


@geoip.command("status")
def geoip_status_command() -> None:
    """Print which GeoIP databases are loaded, their type and build date, or the fallback."""
    from tracker.tracking.geoip import geoip_status

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    status = geoip_status(settings)
    for line in status.lines():
        click.echo(line)
    broken = [db.role for db in status.databases if not db.loaded]
    if broken:
        raise click.ClickException(f"not loaded: {', '.join(broken)} (see above)")


def bench_group() -> click.Group:
    """The ``tracker bench`` group, which the areas' CLI modules add their benchmarks to."""
    existing = main.commands.get("bench")
    if isinstance(existing, click.Group):
        return existing

    @main.group("bench")
    def bench() -> None:
        """Benchmarks of bench/: each builds its own store and prints its figures."""

    return bench


BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def load_bench_module(name: str) -> ModuleType:
    """``bench/<name>.py`` of the checkout, imported (benchmarks are not part of the package)."""
    path = BENCH_DIR / f"{name}.py"
    if not path.exists():
        raise click.ClickException(f"{path} not found: benchmarks run from a checkout")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@bench_group().command(
    "clicks",
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.pass_context
def bench_clicks(ctx: click.Context) -> None:
    """The tracker's /c/<key> against a bare Flask 302 (bench/clicks.py; its options, --help)."""
    ctx.exit(load_bench_module("clicks").main(list(ctx.args)))


# --- the areas' commands (each module attaches its own to `main` and `bench`) ------------------

from tracker.conversions import cli as _conversions_cli  # noqa: E402,F401  (worker, bench)
from tracker.demo.cli import demo as _demo_command  # noqa: E402
from tracker.reports import cli as _reports_cli  # noqa: E402,F401  (attaches bench reports, reports)

main.add_command(_demo_command)
