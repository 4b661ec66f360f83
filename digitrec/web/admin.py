"""Admin routes: reset or roll back the updated models, delete or relabel a sample.

They exist only when ``DIGITREC_ADMIN_TOKEN`` is set; otherwise every admin route
answers 403 "disabled" (a clear sentence beats a confusing 404 or 405 for the
owner who forgot the variable, and the routes are documented in docs/api.md anyway).
Each request needs ``Authorization: Bearer <token>``, compared in constant time;
a missing or wrong token is 401, and a client failing too often is 429.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from digitrec.config import Settings
from digitrec.ratelimit import Rate, RateLimiter, retry_after_header
from digitrec.service import DigitService, InvalidRequest
from digitrec.web.errors import error_response

bp = Blueprint("admin", __name__)

FAILED_LOGINS = Rate(10, 60, 10)  # wrong tokens per client before 429: guessing stays hopeless


def init_app(app: Flask, settings: Settings) -> None:
    """Register the admin routes; ``settings.admin_token`` None or "" keeps them disabled."""
    app.extensions["digitrec_admin_token"] = (settings.admin_token or "").encode()
    app.extensions["digitrec_admin_failures"] = RateLimiter(FAILED_LOGINS)
    app.register_blueprint(bp)


@bp.before_request
def require_token() -> Response | None:
    if request.method == "OPTIONS":
        return None  # a CORS preflight carries no credentials; the real request is checked
    expected: bytes = current_app.extensions["digitrec_admin_token"]
    if not expected:
        return error_response(403, "Admin endpoints are disabled: the server has no DIGITREC_ADMIN_TOKEN.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
        return None
    failures: RateLimiter = current_app.extensions["digitrec_admin_failures"]
    wait = failures.acquire(request.remote_addr or "unknown")
    if wait > 0:
        response = error_response(429, "Too many wrong admin tokens from your address; please wait.")
        response.headers["Retry-After"] = retry_after_header(wait)
        return response
    response = error_response(
        401, "This admin endpoint needs the header 'Authorization: Bearer <admin token>'."
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="digitrec admin"'
    return response


@bp.post("/api/models/reset")
def reset_models() -> Response:
    """The updated models become the shipped originals again, as a new version."""
    version = _service().reset_models()
    return jsonify(model_version=version, message="The updated models are the originals again.")


@bp.post("/api/models/rollback")
def roll_back_models() -> Response:
    """Body ``{"version": N}``: the updated models become version N's, as a new version."""
    target = _integer_field(_json_body(), "version", 0, None)
    version = _service().roll_back(target)
    source = f"version {target}'s" if target else "the originals"
    return jsonify(model_version=version, message=f"The updated models are {source} again.")


@bp.delete("/api/samples/<sample_id>")
def delete_sample(sample_id: str) -> Response:
    """Remove a stored drawing and its label."""
    _service().delete_sample(sample_id)
    return jsonify(sample_id=sample_id, deleted=True)


@bp.patch("/api/samples/<sample_id>")
def relabel_sample(sample_id: str) -> Response:
    """Body ``{"digit": 0-9}``: change the sample's label; answers the updated record."""
    digit = _integer_field(_json_body(), "digit", 0, 9)
    return jsonify(_service().relabel_sample(sample_id, digit))


@bp.post("/api/samples/import")
def import_samples() -> tuple[Response, int]:
    """Body: an npz or Kaggle-style CSV file, raw or as the multipart field ``file``: collect samples."""
    upload = request.files.get("file")
    data = upload.read() if upload is not None else request.get_data()
    if not data:
        raise InvalidRequest("Send an npz or CSV file as the body or in the multipart field 'file'.")
    return jsonify(_service().import_samples(data)), 201


def _service() -> DigitService:
    return current_app.extensions["digitrec"]


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


def _integer_field(body: dict[str, Any], name: str, low: int, high: int | None) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"'{name}' must be an integer.")
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidRequest(f"'{name}' must be {bounds}.")
    return value
