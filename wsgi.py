"""WSGI entry point for any server: ``gunicorn wsgi:app``."""

from tracker import create_app

app = create_app()
