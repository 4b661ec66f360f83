"""The Flask app factory: settings, one DigitService per process, one blueprint per concern."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from digitrec.config import ROOT, Settings
from digitrec.service import DigitService
from digitrec.web import admin, errors, security
from digitrec.web.api import api
from digitrec.web.pages import pages


def create_app(settings: Settings | Mapping[str, str] | None = None) -> Flask:
    """The WSGI app. `settings`: a Settings, a mapping of environment-style overrides, or None (env)."""
    if not isinstance(settings, Settings):
        settings = Settings.from_env(settings)
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        static_url_path="/static",
    )
    app.config.update(
        MODELS_DIR=str(settings.models_dir),
        MAX_CONTENT_LENGTH=settings.max_content_length,
        JSON_SORT_KEYS=False,
        PROPAGATE_EXCEPTIONS=False,
    )
    app.json.sort_keys = False
    app.extensions["digitrec_settings"] = settings
    app.extensions["digitrec"] = DigitService(settings)  # loads and warms up the models now
    errors.init_app(app)
    security.init_app(app, settings)
    admin.init_app(app, settings)
    app.register_blueprint(pages)
    app.register_blueprint(api)
    return app
