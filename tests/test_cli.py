"""The `tracker` command: scriptable output, clear failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.auth.services import user_for_token
from tracker.cli import main
from tracker.models import Membership, Role, User, Workspace


@pytest.fixture
def cli(
    app: object, database_url: str, tmp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    """A runner whose commands build their own app on the test store, as `tracker` would."""
    monkeypatch.setenv("TRACKER_DATABASE_URL", database_url)
    monkeypatch.setenv("TRACKER_INSTANCE_PATH", str(tmp_root / "instance"))
    monkeypatch.setenv("TRACKER_SECRET_KEY", "test-secret-key")
    return CliRunner()


def test_users_create_generates_a_password_printed_alone(cli: CliRunner, db: Session) -> None:
    result = cli.invoke(main, ["users", "create", "Boss@Example.com", "--role", "admin"])
    assert result.exit_code == 0, result.output
    password = result.stdout.strip()
    assert len(password) >= 16 and "\n" not in password
    assert "admin" in result.stderr
    db.expire_all()
    user = db.scalars(select(User)).one()
    assert user.email == "boss@example.com"
    membership = db.scalars(select(Membership)).one()
    assert membership.role is Role.ADMIN
    assert db.get(Workspace, membership.workspace_id).is_default  # type: ignore[union-attr]


def test_users_create_with_password_stdin_and_workspace(cli: CliRunner, db: Session) -> None:
    result = cli.invoke(
        main,
        [
            "users",
            "create",
            "v@example.com",
            "--role",
            "viewer",
            "--password-stdin",
            "--workspace",
            "Client A",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    membership = db.scalars(select(Membership)).one()
    assert membership.workspace.name == "Client A"
    assert membership.role is Role.VIEWER


def test_users_create_refuses_bad_input(cli: CliRunner) -> None:
    bad_role = cli.invoke(main, ["users", "create", "a@example.com", "--role", "god"])
    assert bad_role.exit_code != 0
    bad_email = cli.invoke(main, ["users", "create", "not-an-email", "--role", "buyer"])
    assert bad_email.exit_code == 1
    assert "not an email address" in bad_email.stderr
    short = cli.invoke(
        main,
        ["users", "create", "a@example.com", "--role", "buyer", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code == 1
    assert "at least" in short.stderr


def test_tokens_create_prints_only_the_token(cli: CliRunner, db: Session) -> None:
    cli.invoke(main, ["users", "create", "a@example.com", "--role", "buyer"])
    result = cli.invoke(main, ["tokens", "create", "a@example.com", "--name", "script"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    db.expire_all()
    user = user_for_token(db, token)
    assert user is not None and user.email == "a@example.com"


def test_tokens_create_for_unknown_user_fails_clearly(cli: CliRunner) -> None:
    result = cli.invoke(main, ["tokens", "create", "ghost@example.com"])
    assert result.exit_code == 1
    assert "no user" in result.stderr
    assert result.stdout == ""


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for args in (
        ["--help"],
        ["db", "upgrade", "--help"],
        ["users", "create", "--help"],
        ["tokens", "create", "--help"],
        ["serve", "--help"],
        ["quickstart", "--help"],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, args
        assert "Usage:" in result.output


def test_serve_refuses_a_bad_bind(cli: CliRunner) -> None:
    result = cli.invoke(main, ["serve", "--bind", "nonsense"])
    assert result.exit_code == 2
    assert "HOST:PORT" in result.output


def test_bad_setting_is_a_clear_error(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_TIMEZONE", "Mars/Olympus")
    result = cli.invoke(main, ["tokens", "create", "a@example.com"])
    assert result.exit_code == 1
    assert "TRACKER_TIMEZONE" in result.stderr


def test_console_script_db_upgrade_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    """The installed `tracker` command creates a store from nothing (no fixtures involved)."""
    env = {**os.environ, "TRACKER_INSTANCE_PATH": str(tmp_path), "TRACKER_DATABASE_URL": ""}
    env.pop("TRACKER_TEST_DATABASE_URL", None)
    tracker = Path(sys.executable).with_name("tracker")
    result = subprocess.run(
        [str(tracker), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tracker.db").exists()
    assert (tmp_path / "secret_key").exists()
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"
