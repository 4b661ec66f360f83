"""Shared fixtures: settings on a temp local store, a fresh app and client per test, test drawings.

The shipped models, their compiled CNN and the canary are loaded once per test run
(`Engine.load` caches them); each app still gets its own store, recognizer and learner.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, sync_playwright

from digitrec.canvas import render_digit
from digitrec.config import ROOT, Settings
from digitrec.data import Digits, load_split
from digitrec.service import Engine
from digitrec.store.blobs import BlobStore, LocalBlobStore, S3BlobStore
from digitrec.web import create_app
from tests.browser_helpers import launch
from tests.s3_server import S3Server, running_s3


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The shipped models, compiled CNN, canary and replay digits every app of the test run shares."""
    defaults = Settings()
    return Engine.load(ROOT / "models", defaults.canary_size, defaults.replay_pool)


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Defaults, but a fresh local store under tmp_path and the shipped models."""
    # Rate limits off: tests post many drawings from one address (test_security.py tests the limits).
    return Settings(
        store=str(tmp_path / "store"),
        models_dir=ROOT / "models",
        follow_interval=0.0,
        rate_uploads=None,
        rate_predictions=None,
    )


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def test_digits() -> Digits:
    """The bootstrap test split (raw MNIST 28x28, ink = 1.0)."""
    return load_split("test")


@pytest.fixture(scope="session")
def draw(test_digits) -> Callable[..., bytes]:
    """draw(digit, nth=0, **style) -> PNG bytes of the nth test-split `digit` drawn on a canvas."""

    def draw_digit(digit: int, nth: int = 0, **style) -> bytes:
        index = np.flatnonzero(test_digits.labels == digit)[nth]
        return render_digit(test_digits.images[index], **style)

    return draw_digit


def data_url(png: bytes) -> str:
    """PNG bytes -> the data URL a browser canvas sends."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 for one test module."""
    with running_s3() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """The same test on both backends: a local directory, and a fresh bucket under a nested prefix."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "store")
    server = request.getfixturevalue("s3")
    return S3BlobStore(server.create_bucket(), "digitrec/test", endpoint_url=server.endpoint_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian Chromium for one test module (sync Playwright allows one instance at a time)."""
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()
