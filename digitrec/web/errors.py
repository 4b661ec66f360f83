"""Every error as JSON `{"error": "<sentence>"}` with its status, never a traceback; the one HTML
error is the 404 page a browser gets for a mistyped page address (API routes always answer JSON)."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from digitrec.drawing import BlankDrawing, DrawingError
from digitrec.service import InvalidRequest, NotFound, ServiceUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30  # told to clients when the store is down
_SENTENCES = {
    400: "The request is malformed.",
    401: "This needs an admin token.",
    403: "This is not allowed.",
    404: "There is nothing at this address.",
    413: "The request is too large.",
    415: "The request's content type is not supported.",
    429: "Too many requests; please wait a little and try again.",
}


def error_response(status: int, message: str) -> Response:
    """The JSON error body every failure uses."""
    response = jsonify(error=message)
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    """Register the handlers on `app` (for every blueprint)."""
    app.register_error_handler(BlankDrawing, _blank)
    app.register_error_handler(DrawingError, _bad_drawing)
    app.register_error_handler(InvalidRequest, _invalid)
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(ServiceUnavailable, _unavailable)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _blank(error: BlankDrawing) -> Response:
    return error_response(422, "Can't predict: nothing is drawn.")


def _bad_drawing(error: DrawingError) -> Response:
    return error_response(400, str(error))


def _invalid(error: InvalidRequest) -> Response:
    return error_response(400, str(error))


def _not_found(error: NotFound) -> Response:
    return error_response(404, str(error))


def _unavailable(error: ServiceUnavailable) -> Response:
    response = error_response(503, str(error))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def wants_page() -> bool:
    """Whether the request is a person's browser asking for a page (not the API, not a script)."""
    if request.path.startswith("/api/") or request.path == "/api" or request.path == "/healthz":
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _page_not_found() -> Response:
    return Response(render_template("404.html"), status=404, mimetype="text/html")


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404 and request.method in ("GET", "HEAD") and wants_page():
        return _page_not_found()
    if status == 405:
        message = f"This address does not accept {request.method} requests."
    elif status >= 500:
        message = "Something went wrong on the server. Please try again."
    else:
        message = _SENTENCES.get(status, "The request was refused.")
    response = error_response(status, message)
    headers = dict(error.get_headers())
    for name in ("Allow", "Retry-After", "WWW-Authenticate"):
        if name in headers:
            response.headers[name] = headers[name]
    return response


def _unexpected(error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.path)
    return error_response(500, "Something went wrong on the server. Please try again.")
