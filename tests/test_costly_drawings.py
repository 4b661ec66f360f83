"""Costly-but-valid drawings cost a bounded amount: each is answered quickly, in bounded memory, not stored.

Each drawing passes the size limits (at most 2048 x 2048 pixels, a few KB of PNG) but would cost a
naive pipeline seconds and gigabytes: long strips, 2048-pixel stripes, checkerboards and dots, and
a row of 64 digits. Against the real server each is answered 200 or a 4xx sentence; the worker's
peak memory (VmHWM from /proc) grows by at most MAX_GROWTH_MB; a correction refused as costly
leaves no sample behind. The wall-time bound here is generous (a shared machine); run with -s to
see the figures that docs/serving.md reports.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitrec.canvas import render_digit
from digitrec.data import load_split
from digitrec.store import open_blob_store
from digitrec.store.samples import SampleStore
from tests import live_server
from tests.live_server import LiveServer
from tests.scaleout import post_json

MAX_SECONDS = 2.0  # wall time per answer on a shared machine (docs/serving.md: the quiet figure)
MAX_GROWTH_MB = 100


def _png(pixels: np.ndarray, mode: str = "L") -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def costly_drawings() -> dict[str, str]:
    """name -> data URL of each costly drawing."""
    stripes = np.tile(np.repeat(np.array([0, 255], np.uint8), 3), 699_051)[: 2048 * 2048]
    y, x = np.indices((2048, 2048))
    transparent = np.zeros((2048, 2048, 4), np.uint8)
    transparent[..., 3] = np.where((x // 3) % 2 == 0, 255, 0)
    test = load_split("test")
    digits = [
        np.asarray(Image.open(io.BytesIO(render_digit(test.images[i]))).convert("L")) for i in range(64)
    ]
    row = np.concatenate(
        [np.asarray(Image.fromarray(d).resize((56, 56), Image.Resampling.BOX)) for d in digits], 1
    )
    return {
        "strip 1 x 4,194,304": _png(stripes.reshape(1, -1)),
        "strip 2 x 2,097,152": _png(stripes.reshape(2, -1)),
        "stripes 2048 x 2048, 3 px": _png(np.where((x // 3) % 2 == 0, 0, 255).astype(np.uint8)),
        "checkerboard 2048 x 2048, 1 px": _png(np.where((x + y) % 2 == 0, 0, 255).astype(np.uint8)),
        "checkerboard 2048 x 2048, 3 px": _png(np.where((x // 3 + y // 3) % 2 == 0, 0, 255).astype(np.uint8)),
        "dots 2048 x 2048, 2 px every 8": _png(np.where((x % 8 < 2) & (y % 8 < 2), 0, 255).astype(np.uint8)),
        "RGBA stripes 2048 x 2048": _png(transparent, "RGBA"),
        f"row of 64 digits {row.shape[1]} x {row.shape[0]}": _png(row),
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(live_server, "STARTUP_TIMEOUT", 300.0)
        env = {"DIGITREC_RATE_UPLOADS": "off", "DIGITREC_RATE_PREDICT": "off"}
        with LiveServer(env=env, workers=1) as live:
            yield live


def test_each_costly_drawing_is_answered_quickly_in_bounded_memory(server: LiveServer) -> None:
    drawings = costly_drawings()
    [worker] = server.pids()
    ordinary = {"image": _png(np.asarray(Image.open(io.BytesIO(render_digit(load_split("test").images[0])))))}
    for _ in range(3):  # warm: the models' and the decoder's working memory is counted before
        assert post_json(f"{server.url}/api/predict", ordinary)[0] == 200
    before = peak_rss_mb(worker)
    answers = {}
    for name, image in drawings.items():
        started = time.monotonic()
        status, body = post_json(f"{server.url}/api/predict", {"image": image}, timeout=60)
        answers[name] = (status, time.monotonic() - started, body)
    growth = peak_rss_mb(worker) - before
    for name, (status, seconds, body) in answers.items():
        outcome = body.get("answer") if status == 200 else body.get("error")
        print(f"\n{name}: {status} in {seconds * 1000:.0f} ms ({outcome})", end="")
    print(f"\npeak worker memory grew {growth:.0f} MB")
    for name, (status, seconds, body) in answers.items():
        assert status == 200 or (400 <= status < 500 and set(body) == {"error"}), name
        assert seconds <= MAX_SECONDS, name
    assert growth <= MAX_GROWTH_MB
    assert "Traceback" not in server.log()


def test_a_costly_correction_is_neither_stored_nor_learned(server: LiveServer) -> None:
    drawings = costly_drawings()
    before = post_json(f"{server.url}/api/predict", {"image": drawings["strip 1 x 4,194,304"]})
    assert before[0] == 400
    for name in ("strip 1 x 4,194,304", "strip 2 x 2,097,152"):
        status, body = post_json(f"{server.url}/api/feedback", {"image": drawings[name], "digit": 1})
        assert status == 400, name
        assert "too long and thin" in body["error"]
    assert SampleStore(open_blob_store(server.store)).list()[0] == []
    assert server.get_json("/healthz")["model_version"] == 0
