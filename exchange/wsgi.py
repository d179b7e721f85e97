"""The WSGI entry point for production servers: `gunicorn 'exchange.wsgi:app'`.

Settings come from the `CONGVAN_*` environment and are checked here; the database is not touched
until the first request.
"""

from __future__ import annotations

from exchange.app import create_app

app = create_app()
