"""Measure multi-digit strings and the not-a-digit rule on the shipped models (issue 7).

    .venv/bin/python scripts/measure_recognition.py [--strings 200] [--nondigits 240] [--seed 0]

Prints, per string length 2-6, how often a canvas drawing of that many test-split
digits side by side is split into the right number of digits and read exactly
(under the original answer rule and the current one);
then, for the original answer rule and the current one (digitrec/answer.py):
accuracy on the test split's digits, on canvas drawings of them, and how often
the non-digit drawings of digitrec/nondigits.py are answered "not a digit".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digitrec import answer
from digitrec.canvas import render_ink, render_string_ink
from digitrec.data import load_split
from digitrec.drawing import preprocess_ink, redrawn
from digitrec.nondigits import nondigit_drawings
from digitrec.recognizer import MODEL_NAMES, Recognizer
from digitrec.service import Drawing
from digitrec.weights import load_shipped

Rule = Callable[[dict, np.ndarray], answer.Answer]
RULES: dict[str, Rule] = {
    "original": lambda probs, image: answer.original_rule(probs),
    "current": answer.decide,
}


def read(drawing: Drawing, probs: dict[str, np.ndarray], rule: Rule) -> str | None:
    """The answer string the service gives `drawing`, the models' reading `probs` (None: not recognised)."""
    verdicts = [
        rule({n: probs[n][i] for n in MODEL_NAMES}, drawing.redrawn[i]) for i in range(len(drawing.inputs))
    ]
    return answer.combine(verdicts)[0]


def read_all(recognizer: Recognizer, ink: np.ndarray) -> tuple[Drawing, dict[str, str | None]]:
    """A canvas ink array -> its split drawing and {rule name: answer string} (split and read once)."""
    drawing = Drawing.from_ink(ink)
    probs = recognizer.predict(drawing.inputs)
    return drawing, {name: read(drawing, probs, rule) for name, rule in RULES.items()}


def strings(recognizer: Recognizer, count: int, seed: int) -> None:
    test = load_split("test")
    rng = np.random.default_rng(seed)
    print("length  strings  split right  read right: " + "  ".join(f"{name:>8s}" for name in RULES))
    for length in range(2, 7):
        split_right = 0
        read_right = dict.fromkeys(RULES, 0)
        for _ in range(count):
            index = rng.choice(len(test), length, replace=False)
            drawing, said = read_all(recognizer, render_string_ink(test.images[index]))
            split_right += len(drawing.boxes) == length
            truth = "".join(map(str, test.labels[index]))
            for name in RULES:
                read_right[name] += said[name] == truth
        reads = "  ".join(f"{read_right[name] / count:8.3f}" for name in RULES)
        print(f"{length:6d}  {count:7d}  {split_right / count:11.3f}              {reads}")


def rules(recognizer: Recognizer, count: int, seed: int) -> None:
    test = load_split("test")
    inputs = np.stack([preprocess_ink(image) for image in test.images])
    shapes = [redrawn(image) for image in test.images]
    probs = recognizer.predict(inputs)
    canvas_answers = [read_all(recognizer, render_ink(image))[1] for image in test.images]
    drawings = nondigit_drawings(count, seed)
    nondigit_answers = [read_all(recognizer, drawing.ink)[1] for drawing in drawings]
    kinds = sorted({d.kind for d in drawings})
    print(f"rule      test digits  canvas digits  non-digits refused ({count}: " + ", ".join(kinds) + ")")
    for name, rule in RULES.items():
        digits = [rule({n: probs[n][i] for n in MODEL_NAMES}, shapes[i]).digit for i in range(len(test))]
        test_accuracy = np.mean([d == label for d, label in zip(digits, test.labels, strict=True)])
        canvas_accuracy = np.mean(
            [said[name] == str(label) for said, label in zip(canvas_answers, test.labels, strict=True)]
        )
        refused = {kind: [] for kind in kinds}
        for drawing, said in zip(drawings, nondigit_answers, strict=True):
            refused[drawing.kind].append(said[name] is None)
        overall = np.mean([r for values in refused.values() for r in values])
        per_kind = ", ".join(f"{np.mean(refused[kind]):.3f}" for kind in kinds)
        print(f"{name:8s}  {test_accuracy:11.4f}  {canvas_accuracy:13.4f}  {overall:.3f} ({per_kind})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strings", type=int, default=200, help="strings per length")
    parser.add_argument("--nondigits", type=int, default=240, help="non-digit drawings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", type=Path, default=Path(__file__).resolve().parent.parent / "models")
    args = parser.parse_args()
    recognizer = Recognizer(load_shipped(args.models))
    strings(recognizer, args.strings, args.seed)
    rules(recognizer, args.nondigits, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
