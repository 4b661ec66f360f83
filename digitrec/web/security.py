"""Secure defaults for every response: body limit, rate limits, CORS, security headers.

``init_app(app, settings)`` wires it all into the app factory:

- the client address comes from ``X-Forwarded-For`` only behind ``trusted_proxies``
  proxies (Heroku's router is one), so nobody can pick their own rate-limit key;
- request bodies over ``max_content_length`` are refused with 413 before they are read;
- uploads (feedback, samples), predictions and dataset exports each have a token
  bucket per client: 429 with ``Retry-After`` once it is empty;
- JSON nested too deeply to parse is a malformed body (400), not a RecursionError (500);
- CORS stays same-origin unless ``cors_origins`` lists origins (only ``/api/*``);
- every response carries a strict Content-Security-Policy (no inline script or
  style), ``nosniff``, ``Referrer-Policy``, frame denial and friends.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from digitrec.config import Settings
from digitrec.ratelimit import Rate, RateLimiter, retry_after_header
from digitrec.web.errors import error_response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
HSTS = "max-age=31536000"  # sent on HTTPS only: a plain-HTTP local run must stay reachable
_SECURITY_HEADERS_BY_KEY = {name.lower(): (name, value) for name, value in SECURITY_HEADERS.items()}

# (method, URL rule) -> which limiter counts the request.
LIMITED_ROUTES = {
    ("POST", "/api/feedback"): "uploads",
    ("POST", "/api/samples"): "uploads",
    ("POST", "/api/predict"): "predictions",
    ("GET", "/api/export.npz"): "exports",
    ("GET", "/api/export.csv"): "exports",
}
EXPORT_RATE = Rate(10, 600, 3)  # an export reads and preprocesses every stored sample: costly
_TOO_MANY = {
    "uploads": "Too many drawings sent from your address; please wait {} s and try again.",
    "predictions": "Too many predictions asked from your address; please wait {} s and try again.",
    "exports": "The dataset was exported from your address a moment ago; please wait {} s.",
}


class NestingSafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, but a body nested deeper than Python's recursion limit is invalid JSON."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("The JSON is nested too deeply.") from None


def init_app(app: Flask, settings: Settings) -> None:
    """Install the proxy fix, body limit, rate limits, CORS and security headers on ``app``.

    ``settings`` provides ``max_content_length``, ``trusted_proxies``, ``rate_uploads``,
    ``rate_predictions`` (Rate or None = unlimited) and ``cors_origins`` (tuple of str).
    """
    app.debug = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    json_provider = NestingSafeJSONProvider(app)
    json_provider.sort_keys = app.json.sort_keys
    app.json = json_provider
    if settings.trusted_proxies > 0:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    rates = {
        "uploads": settings.rate_uploads,
        "predictions": settings.rate_predictions,
        "exports": EXPORT_RATE,
    }
    limiters = {name: RateLimiter(rate) for name, rate in rates.items() if isinstance(rate, Rate)}
    app.extensions["digitrec_rate_limiters"] = limiters

    @app.before_request
    def refuse_large_bodies() -> Response | None:
        length = request.content_length
        if length is not None and length > settings.max_content_length:
            limit = _megabytes(settings.max_content_length)
            return error_response(413, f"The request is too large (the limit is {limit}).")
        return None

    @app.before_request
    def limit_rate() -> Response | None:
        rule = request.url_rule.rule if request.url_rule is not None else None
        limiter = limiters.get(LIMITED_ROUTES.get((request.method, rule), ""))
        if limiter is None:
            return None
        wait = limiter.acquire(request.remote_addr or "unknown")
        if wait <= 0:
            return None
        seconds = retry_after_header(wait)
        name = LIMITED_ROUTES[(request.method, rule)]
        response = error_response(429, _TOO_MANY[name].format(seconds))
        response.headers["Retry-After"] = seconds
        return response

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        # Those the response does not set itself, in one pass over its few headers.
        present = {name.lower() for name, _ in response.headers.items()}
        response.headers.extend(
            [pair for key, pair in _SECURITY_HEADERS_BY_KEY.items() if key not in present]
        )
        if request.is_secure and "strict-transport-security" not in present:
            response.headers["Strict-Transport-Security"] = HSTS
        return response

    if settings.cors_origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": list(settings.cors_origins)}},
            allow_headers=["Content-Type", "Authorization"],
            methods=["GET", "POST", "PATCH", "DELETE"],
            max_age=600,
        )


def _megabytes(size: int) -> str:
    return f"{size / 2**20:g} MB"
