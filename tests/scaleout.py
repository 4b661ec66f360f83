"""Helpers for the scale-out tests (concurrency, faults): corrections to send, and the store's invariants.

``check_consistent`` reads a BlobStore directly. Consistent: every listed sample
has its drawing; versions 1..N each exist once and each one's parent is the one
before; every version has its weights unless it is a reset or its weights were
pruned by the keep policy; no correction is applied or refused more than once.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from digitrec.canvas import render_digit
from digitrec.data import load_split
from digitrec.store import BlobStore, ModelHistory, SampleRecord, SampleStore
from digitrec.store.samples import _image_key

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def corrections(count: int, seed: int = 404) -> list[dict[str, Any]]:
    """``count`` feedback bodies {"image": data URL, "digit": true label}: test-split digits on a canvas."""
    test = load_split("test")
    picks = np.random.default_rng(seed).choice(len(test), count, replace=False)
    return [{"image": data_url(render_digit(test.images[i])), "digit": int(test.labels[i])} for i in picks]


def data_url(png: bytes) -> str:
    """PNG bytes -> the data URL a browser canvas sends."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def post_json(url: str, body: dict[str, Any], timeout: float = 120.0) -> tuple[int, dict[str, Any]]:
    """POST a JSON body; (status, decoded JSON answer), also for 4xx/5xx answers."""
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@dataclass(frozen=True)
class StoreSummary:
    """What a consistent store holds: samples newest first, the latest version, refusal events."""

    samples: list[SampleRecord]
    latest: int
    applied_sample_ids: list[str]  # one per published version that came from a correction
    refused_sample_ids: list[str]  # one per update_refused event


def check_consistent(blobs: BlobStore, keep_last: int = 20, keep_every: int = 50) -> StoreSummary:
    """Assert the invariants in the module docstring; the summary for further checks."""
    samples = SampleStore(blobs)
    records = [record for record, _key in samples._scan()]
    for record in records:
        assert blobs.exists(_image_key(record)), f"sample {record.sample_id} is listed without its PNG"

    history = ModelHistory(blobs, keep_last=keep_last, keep_every=keep_every)
    versions = history.history()
    latest = history.latest()
    assert [v.version for v in versions] == list(range(1, latest + 1)), "the version numbers have gaps"
    for version in versions:
        assert version.parent == version.version - 1, f"version {version.version} has parent {version.parent}"
        kept = version.version > latest - keep_last or version.version % keep_every == 0
        if version.weights_key is not None and kept:
            assert blobs.exists(version.weights_key), f"version {version.version} lost its weights"

    applied = [sid for v in versions for sid in v.info.get("sample_ids", [])]
    refused = [
        sid
        for event in history.events()
        if event.get("event") == "update_refused"
        for sid in event.get("sample_ids", [])
    ]
    twice = [sid for sid, n in Counter(applied + refused).items() if n > 1]
    assert not twice, f"corrections applied or refused more than once: {twice}"
    return StoreSummary(records, latest, applied, refused)
