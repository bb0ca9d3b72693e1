"""Forms of the login pages (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectChoice, SelectField
from wtforms.validators import DataRequired, Length

from tracker.auth.services import memberships_of
from tracker.models.users import User


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class LogoutForm(FlaskForm):
    pass


class WorkspaceForm(FlaskForm):
    workspace_id = SelectField("Workspace", coerce=int)


def workspace_choices(user: User) -> list[SelectChoice]:
    """The user's workspaces as choices of the switcher."""
    return [SelectChoice(str(m.workspace_id), m.workspace.name) for m in memberships_of(user)]
