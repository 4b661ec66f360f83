"""The naive baseline: what a typical Flask + Keras digit app does per request, timed in-process.

Per request it decodes the data URL with Pillow, shrinks the image to 28x28 and calls
`model.predict` on the same CNN (`build_cnn` with the shipped weights). The timing
leaves out HTTP, JSON and the other three models, so it is a lower bound of such an
app's cost and the speed-up the benchmark reports is conservative. Running it in
this process (rather than as a second server) also spares a second TensorFlow server
start on a 2-core machine shared with others.

Run as `python -m bench.baseline COUNT < data_urls.json`; prints one JSON object. `python -m
bench.baseline --rounds` is how `python -m bench` drives it between the server's rounds: the data
URLs as a JSON line on stdin, then one count per line, each answered by a JSON line.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import time
from pathlib import Path
from typing import TextIO

import numpy as np
from PIL import Image

from digitrec.cnn import build_cnn, load_weights

SHIPPED_CNN = Path(__file__).resolve().parent.parent / "models" / "cnn.npz"
WARMUP = 5  # untimed calls: Keras builds its predict function on the first ones


def naive_predict(model, data_url: str) -> np.ndarray:
    """One request the typical way: data URL -> 28x28 -> model.predict -> probs (1, 10)."""
    png = base64.b64decode(data_url.split(",", 1)[1])
    image = Image.open(io.BytesIO(png)).convert("L").resize((28, 28))
    x = 1.0 - np.asarray(image, dtype=np.float32)[None] / 255.0
    return model.predict(x, verbose=0)


class NaiveApp:
    """The shipped CNN loaded as a typical app loads it, warmed up, and timed on request."""

    def __init__(self, data_urls: list[str]):
        self.data_urls = data_urls
        self.model = build_cnn()
        self.model.set_weights(load_weights(SHIPPED_CNN))
        for data_url in data_urls[:WARMUP]:
            naive_predict(self.model, data_url)
        self.sent = 0  # requests so far: each round goes on with the next drawings

    def time(self, count: int) -> dict[str, float | list[float]]:
        """Seconds per request over `count` requests: each latency, and CPU (mean)."""
        latencies = []
        cpu_began = time.process_time()
        for _ in range(count):
            began = time.perf_counter()
            naive_predict(self.model, self.data_urls[self.sent % len(self.data_urls)])
            latencies.append(time.perf_counter() - began)
            self.sent += 1
        return {"latencies": latencies, "cpu": (time.process_time() - cpu_began) / max(count, 1)}


def time_baseline(data_urls: list[str], count: int) -> dict[str, float | list[float]]:
    """Seconds per request over `count` requests (after WARMUP): each latency, and CPU (mean)."""
    return NaiveApp(data_urls).time(count)


def serve_rounds(lines: TextIO, out: TextIO) -> None:
    """The data URLs (a JSON line), then one count per line: a JSON line of `NaiveApp.time` for each."""
    app = NaiveApp(json.loads(lines.readline()))
    out.write('{"ready": true}\n')
    out.flush()
    for line in lines:
        json.dump(app.time(int(line)), out)
        out.write("\n")
        out.flush()


if __name__ == "__main__":
    if sys.argv[1:] == ["--rounds"]:
        serve_rounds(sys.stdin, sys.stdout)
    else:
        json.dump(time_baseline(json.load(sys.stdin), int(sys.argv[1])), sys.stdout)
