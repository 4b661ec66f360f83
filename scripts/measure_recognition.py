"""Measure what people draw, read as predict reads it, with the shipped models (models/).

    .venv/bin/python scripts/measure_recognition.py [--digits 2000] [--nondigits 1400]
        [--strings 200] [--styles 1000] [--misses] [--write]

Prints (and with --write stores under "recognition" in models/report.json):

- not_a_digit: the share of non-digit drawings (digitrec/nondigits.py, seed
  evaluate.NONDIGIT_SEED) refused, per family; the share of test-split digits drawn
  in random canvas styles (canvas.random_style) refused, read right, and split;
- splitting: single digits (those drawings, and the same with a gap cut into one
  stroke) split into more than one digit; strings of 2-6 test-split digits side by
  side split into the right count and read right;
- canvas_styles: per named style (canvas.STYLES), the answer, CNN and FNN accuracy on
  test-split digits drawn in it.

--misses adds what was read wrong: each random-style digit not read right, each single
digit split, each string read wrong (its digits, answer and message); it is printed only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digitrec import notdigit
from digitrec.canvas import STYLES, render_ink, render_string_ink
from digitrec.data import Digits, load_split
from digitrec.evaluate import TrainedModels, not_a_digit_report, read_canvas
from digitrec.nondigits import as_sent, canvas_digits
from digitrec.segment import split_digits
from digitrec.weights import load_shipped

ROOT = Path(__file__).resolve().parent.parent


def spread(digits: Digits, count: int) -> Digits:
    """`count` digits evenly spread over the split (ordered by digit: every class is represented)."""
    return digits.subset(np.unique(np.linspace(0, len(digits) - 1, min(len(digits), count)).astype(int)))


def with_gap(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The drawing with one stroke cut: a disc 1.2-2 pens wide erased on a random stroke pixel."""
    from skimage.morphology import skeletonize

    skeleton = skeletonize(ink >= 0.5)
    ys, xs = np.nonzero(skeleton)
    pen = float(ink.sum()) / max(len(ys), 1)
    pick = int(rng.integers(len(ys)))
    radius = pen * rng.uniform(0.6, 1.0)
    yy, xx = np.indices(ink.shape)
    cut = ink.copy()
    cut[np.hypot(yy - ys[pick], xx - xs[pick]) < radius] = 0.0
    return cut


def splitting(
    models: TrainedModels,
    refusal: notdigit.Refusal | None,
    test: Digits,
    digits: int,
    strings: int,
    seed: int,
    misses: bool = False,
) -> dict:
    picked = spread(test, digits)
    inks = canvas_digits(picked.images, seed=seed)
    rng = np.random.default_rng(seed)
    gapped = [with_gap(ink, rng) for ink in inks]
    lengths = {}
    for length in range(2, 7):
        split_right, wrong = 0, []
        chosen = [rng.choice(len(test), length, replace=False) for _ in range(strings)]
        inks_of = [as_sent(render_string_ink(test.images[index])) for index in chosen]
        for index, ink, read in zip(chosen, inks_of, read_canvas(models, inks_of, refusal), strict=True):
            split_right += len(split_digits(ink)) == length
            text = "".join(map(str, test.labels[index]))
            if read["answer"] != text:
                wrong.append({"digits": text, "answer": read["answer"], "message": read["message"]})
        lengths[str(length)] = {
            "strings": strings,
            "split_right": round(split_right / strings, 4),
            "read_right": round(1 - len(wrong) / strings, 4),
        }
        if misses:
            lengths[str(length)]["misses"] = wrong
    pieces = [len(split_digits(ink)) for ink in inks]
    figures = {
        "single_digits": len(inks),
        "single_split": round(float(np.mean([count > 1 for count in pieces])), 4),
        "single_with_gap_split": round(float(np.mean([len(split_digits(ink)) > 1 for ink in gapped])), 4),
        "strings": lengths,
    }
    if misses:
        figures["single_split_digits"] = [
            {"position": i, "digit": int(picked.labels[i]), "pieces": count}
            for i, count in enumerate(pieces)
            if count > 1
        ]
    return figures


def canvas_styles(models: TrainedModels, refusal: notdigit.Refusal | None, test: Digits, count: int) -> dict:
    picked = spread(test, count)
    styles = {}
    for name, style in STYLES.items():
        inks = [as_sent(render_ink(image, **style)) for image in picked.images]
        read = read_canvas(models, inks, refusal)
        styles[name] = accuracies(read, picked.labels)
    return {"count": len(picked), "styles": styles}


def accuracies(read: list[dict], labels: np.ndarray) -> dict[str, float]:
    """{"answer", "cnn", "fnn"}: the share of drawings read right (the answer: the whole string)."""
    return {
        "answer": round(
            float(np.mean([r["answer"] == str(y) for r, y in zip(read, labels, strict=True)])), 4
        ),
        "cnn": round(float(np.mean([r["cnn"] == y for r, y in zip(read, labels, strict=True)])), 4),
        "fnn": round(float(np.mean([r["fnn"] == y for r, y in zip(read, labels, strict=True)])), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=2000, help="test-split digits in random styles")
    parser.add_argument("--nondigits", type=int, default=1400, help="non-digit drawings")
    parser.add_argument("--strings", type=int, default=200, help="strings per length 2-6")
    parser.add_argument("--styles", type=int, default=1000, help="test-split digits per named style")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--misses", action="store_true", help="also print what was read wrong")
    parser.add_argument("--write", action="store_true", help="store the figures in MODELS/report.json")
    args = parser.parse_args()
    if args.write and args.misses:
        parser.error("--misses is printed only: run it without --write")
    originals = load_shipped(args.models)
    models = TrainedModels(originals.fnn, originals.cnn)
    refusal = notdigit.shipped(args.models)  # the classifier of the same MODELS directory
    test = load_split("test")
    figures = {
        "command": " ".join([".venv/bin/python scripts/measure_recognition.py", *sys.argv[1:]]),
        "not_a_digit": not_a_digit_report(
            models, spread(test, args.digits), args.nondigits, refusal, misses=args.misses
        ),
        "splitting": splitting(models, refusal, test, args.digits, args.strings, args.seed, args.misses),
        "canvas_styles": canvas_styles(models, refusal, test, args.styles),
    }
    print(json.dumps(figures, indent=1))
    if args.write:
        path = args.models / "report.json"
        report = json.loads(path.read_text(encoding="utf-8"))
        report["recognition"] = figures
        path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
