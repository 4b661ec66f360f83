"""Median time of one drawing through preprocessing + FNN + CNN, in one process.

Usage: .venv/bin/python scripts/measure_inference.py [--runs 300]
Prints a JSON object: median and 90th percentile in ms for the preprocessing alone, and
for the models alone and the whole path (PNG bytes -> probabilities) two ways:
`core`, one FNN and one CNN (the recognition core), and `serving`,
all four models as a prediction runs them (originals and updated, `Recognizer.predict`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from digitrec.canvas import STYLES, render_digit
from digitrec.cnn import configure_threads
from digitrec.config import ROOT
from digitrec.data import load_split
from digitrec.drawing import preprocess_drawing
from digitrec.recognizer import Recognizer
from digitrec.weights import load_shipped


def _timings(function, inputs) -> dict[str, float]:
    times = []
    for item in inputs:
        start = time.perf_counter()
        function(item)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "median_ms": round(float(np.median(times)), 3),
        "p90_ms": round(float(np.percentile(times, 90)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    configure_threads()
    digits = load_split("test")
    styles = list(STYLES.values())
    pngs = [render_digit(digits.images[i], **styles[i % len(styles)]) for i in range(args.runs)]
    recognizer = Recognizer(load_shipped(ROOT / "models"))
    fnn, cnn = recognizer.originals.fnn, recognizer.cnn
    cnn_weights = recognizer.original_snapshot.cnn_tensors

    def core(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One FNN and one CNN (one compiled TensorFlow call) on images (1, 28, 28)."""
        return fnn(image.reshape(1, -1)), cnn.probabilities(cnn_weights, image)

    images = [preprocess_drawing(png)[None] for png in pngs]
    for image in images[:20]:  # warm up the traced graphs and caches
        recognizer.predict(image)
        core(image)
    result = {
        "runs": args.runs,
        "preprocess": _timings(preprocess_drawing, pngs),
        "core": {
            "models": _timings(core, images),
            "total": _timings(lambda png: core(preprocess_drawing(png)[None]), pngs),
        },
        "serving": {
            "models": _timings(recognizer.predict, images),
            "total": _timings(lambda png: recognizer.predict(preprocess_drawing(png)[None]), pngs),
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
