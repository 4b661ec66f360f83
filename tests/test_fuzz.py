"""Fuzzing the image routes: whatever arrives, the answer is never a 5xx, errors are JSON,
and a refused request stores nothing.

One app (and one store) is shared by the whole module so hypothesis can run many
examples quickly; every example compares the number of stored samples before and after.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from digitrec.canvas import render_digit
from digitrec.config import ROOT, Settings
from digitrec.data import load_split
from digitrec.web import create_app

ROUTES = ["/api/predict", "/api/feedback", "/api/samples"]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

routes = st.sampled_from(ROUTES)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
digits = st.one_of(st.integers(-3, 12), st.just("7"), json_values)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    store = tmp_path_factory.mktemp("fuzz") / "store"
    return create_app(
        Settings(store=str(store), models_dir=ROOT / "models", rate_uploads=None, rate_predictions=None)
    )


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def real_pngs() -> list[bytes]:
    """A few real canvas drawings of test-split digits, to mutate."""
    test = load_split("test")
    return [render_digit(test.images[i]) for i in (0, 7, 42)]


def stored(app) -> int:
    return sum(app.extensions["digitrec"].samples.count_by_digit().values())


def check(app, client, path: str, **request) -> int:
    """Send one request; assert the invariants every answer keeps; the status."""
    before = stored(app)
    response = client.post(path, **request)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)[:200]
    if response.status_code >= 400:
        assert isinstance(response.json.get("error"), str) and response.json["error"]
        assert stored(app) == before, "a refused request stored a sample"
    elif path == "/api/predict":
        assert stored(app) == before, "a prediction stored a sample"
    return response.status_code


def fuzz(app, client, path: str, **request) -> None:
    """check() inside a hypothesis example, tallying the statuses (--hypothesis-show-statistics)."""
    event(f"{path} -> {check(app, client, path, **request)}")


def mutate(png: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """Overwrite bytes at (position, value) pairs, then optionally truncate."""
    data = bytearray(png)
    for position, value in edits:
        data[position % len(data)] = value
    return bytes(data[:cut] if cut is not None else data)


@FUZZ
@given(
    path=routes,
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/octet-stream",
            "text/plain",
            "application/x-www-form-urlencoded",
            None,
        ]
    ),
)
def test_random_bytes(app, client, path, body, content_type):
    fuzz(app, client, path, data=body, content_type=content_type)


@FUZZ
@given(
    path=routes,
    payload=st.binary(max_size=3000),
    prefix=st.sampled_from(
        ["", "data:image/png;base64,", "data:image/jpeg;base64,", "data:text/html;base64,"]
    ),
    digit=digits,
)
def test_random_base64(app, client, path, payload, prefix, digit):
    image = prefix + base64.b64encode(payload).decode("ascii")
    fuzz(app, client, path, json={"image": image, "digit": digit})


@FUZZ
@given(path=routes, body=json_values)
def test_random_json(app, client, path, body):
    fuzz(app, client, path, data=json.dumps(body), content_type="application/json")


@FUZZ
@given(path=routes, image=json_values, digit=digits)
def test_random_json_fields(app, client, path, image, digit):
    fuzz(app, client, path, json={"image": image, "digit": digit})


@FUZZ
@given(
    path=routes,
    which=st.integers(0, 2),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
    cut=st.none() | st.integers(0, 3000),
    digit=st.integers(0, 9),
    as_upload=st.booleans(),
)
def test_mutated_real_pngs(app, client, real_pngs, path, which, edits, cut, digit, as_upload):
    png = mutate(real_pngs[which], edits, cut)
    if as_upload:
        form = {"image": (io.BytesIO(png), "drawing.png"), "digit": str(digit)}
        fuzz(app, client, path, data=form, content_type="multipart/form-data")
    else:
        fuzz(app, client, path, json={"image": base64.b64encode(png).decode("ascii"), "digit": digit})


@settings(FUZZ, max_examples=100)  # most of these train the models: fewer, slower examples
@given(
    path=routes,
    size=st.tuples(st.integers(1, 400), st.integers(1, 400)),
    mode=st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]),
    fmt=st.sampled_from(["PNG", "JPEG"]),
    seed=st.integers(0, 2**32 - 1),
    ink=st.floats(0, 1),
    digit=st.integers(0, 9),
)
def test_random_valid_images(app, client, path, size, mode, fmt, seed, ink, digit):
    """Well-formed images of any size, mode and amount of ink: 2xx or 422, never a 5xx."""
    pixels = np.random.default_rng(seed).random((size[1], size[0])) < ink
    image = Image.fromarray(np.where(pixels, 0, 255).astype(np.uint8)).convert(mode)
    if fmt == "JPEG" and mode not in ("1", "L", "RGB"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    fuzz(
        app, client, path, json={"image": base64.b64encode(buffer.getvalue()).decode("ascii"), "digit": digit}
    )


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"image": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"image": "\\ud800", "digit": 1}',
        b'{"image": 1e999999, "digit": 1}',
        b'{"image": "iVBORw0KGgo=", "digit": 1' + b"0" * 500 + b"}",
        b"\xff\xfe{\x00",
    ],
)
@pytest.mark.parametrize("path", ROUTES)
def test_pathological_json(app, client, path, body):
    check(app, client, path, data=body, content_type="application/json")


def test_the_worker_is_still_healthy_after_fuzzing(client, real_pngs):
    assert client.get("/healthz").json["status"] == "ok"
    answer = client.post("/api/predict", json={"image": base64.b64encode(real_pngs[0]).decode("ascii")})
    assert answer.status_code == 200
    assert np.isfinite([d["probability"] for d in answer.json["models"]["cnn"]]).all()
