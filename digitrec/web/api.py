"""The JSON API of CONTRACT.md: HTTP in, `DigitService` calls, JSON out (no numpy here)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from digitrec.drawing import decode_base64_image
from digitrec.service import DigitService, InvalidRequest

api = Blueprint("api", __name__)

NO_IMAGE = (
    'Send the drawing as JSON {"image": "<PNG or JPEG data URL or base64>"}, '
    "as a file upload in the field 'image', or in the form field 'imageBase64'."
)


def service() -> DigitService:
    """The process's one DigitService (built by create_app)."""
    return current_app.extensions["digitrec"]


@api.post("/api/predict")
def predict() -> Response:
    return jsonify(service().predict(_image()))


@api.post("/api/feedback")
def feedback() -> Response:
    return jsonify(service().feedback(_image(), _digit_field()))


@api.post("/api/samples")
def add_sample() -> tuple[Response, int]:
    return jsonify(service().collect(_image(), _digit_field())), 201


@api.get("/api/samples")
def list_samples() -> Response:
    args = request.args
    digit = _query_int("digit", 0, 9) if "digit" in args else None
    limit = _query_int("limit", 1, None) if "limit" in args else 50
    cursor = args.get("cursor") or None
    return jsonify(service().list_samples(digit=digit, limit=limit, cursor=cursor))


@api.get("/api/samples/<sample_id>.png")
def sample_png(sample_id: str) -> Response:
    return Response(service().sample_png(sample_id), mimetype="image/png")


@api.get("/api/samples/<sample_id>")
def sample(sample_id: str) -> Response:
    return jsonify(service().sample(sample_id))


@api.get("/api/export.npz")
def export() -> Response:
    response = Response(service().export(), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = 'attachment; filename="digitrec-samples.npz"'
    return response


@api.get("/api/export.csv")
def export_csv() -> Response:
    response = Response(service().export_csv(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="digitrec-samples.csv"'
    return response


@api.get("/api/models")
def models() -> Response:
    args = request.args
    page = {"cursor": args.get("cursor") or None}
    if "limit" in args:
        page["limit"] = _query_int("limit", 1, None)
    return jsonify(service().models(**page))


@api.get("/healthz")
def healthz() -> Response:
    return jsonify(service().health())


def _json_body() -> dict[str, Any] | None:
    """The JSON object body, None if the request is not JSON; 400 if it is JSON but not an object."""
    if not request.is_json:
        return None
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


def _image() -> bytes:
    """The drawing's bytes from JSON `image`, multipart file `image`, or form field `imageBase64`."""
    body = _json_body()
    if body is not None:
        if "image" not in body:
            raise InvalidRequest(NO_IMAGE)
        return decode_base64_image(body["image"])
    upload = request.files.get("image")
    if upload is not None:
        return upload.read()
    text = request.form.get("imageBase64") or request.form.get("image")
    if text:
        return decode_base64_image(text)
    raise InvalidRequest(NO_IMAGE)


def _digit_field() -> int | str:
    """`digit` from the JSON body (an integer, or a string of digits) or the form."""
    body = _json_body()
    value = body.get("digit") if body is not None else request.form.get("digit")
    if value is None:
        raise InvalidRequest("Say which digit it is: the field 'digit' must be a whole number from 0 to 9.")
    if isinstance(value, str) and len(value) == 1 and value.isascii() and value.isdigit():
        return int(value)  # form fields are text: "7" is the digit 7
    return value


def _query_int(name: str, low: int, high: int | None) -> int:
    raw = request.args.get(name, "")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
        raise InvalidRequest(f"'{name}' must be a whole number.")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InvalidRequest(f"'{name}' must be {bounds}.")
    return value
