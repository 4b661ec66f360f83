"""The WSGI entry point: `gunicorn --config gunicorn.conf.py app:app` (see Procfile)."""

from digitrec.web import create_app

app = create_app()
