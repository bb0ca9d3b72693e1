"""WSGI entry point for any server: ``gunicorn wsgi:app``."""

from tracker import create_app
from tracker.server import freeze_loaded_objects

app = create_app()
freeze_loaded_objects()  # each worker imports this module after its fork (no preload)
