"""How the not-a-digit classifier's refusal threshold trades digits for non-digits, on validation drawings.

    .venv/bin/python scripts/refusal_validation.py [--models models] [THRESHOLD ...]

Validation drawings, none of them reported: 1,500 train-split digits in random canvas styles
of seed 5000, the digits of 300 train-split strings of that seed (train.training_strings), and
1,400 non-digits of seed 5000. For each threshold on P(digit) (default: the shipped one), prints
the share of digits refused, of digits in strings refused, and of non-digits refused per family,
by the rules and the classifier together (notdigit.refusals).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digitrec import notdigit
from digitrec.data import load_split
from digitrec.nondigits import FAMILIES, each_canvas_digit, each_nondigit
from digitrec.train import NotDigitConfig, training_strings

ROOT = Path(__file__).resolve().parent.parent
SEED = 5000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("thresholds", type=float, nargs="*")
    args = parser.parse_args()
    shipped = notdigit.shipped(args.models)
    train = load_split("train")
    picked = train.images[np.random.default_rng(SEED).permutation(len(train))[:1500]]
    # Drawings made one at a time (each ink is 300 KB): only their looks are kept.
    digits = [notdigit.segment_looks(ink)[0] for ink in each_canvas_digit(picked, SEED)]
    config = dataclasses.replace(NotDigitConfig(), strings=300, seed=SEED)
    strings = [notdigit.segment_looks(ink)[0] for _, ink in training_strings(train, config)]
    looked = [(d.kind, notdigit.segment_looks(d.ink)[0]) for d in each_nondigit(1400, SEED)]
    kinds, others = zip(*looked, strict=True)
    for threshold in args.thresholds or [shipped.threshold]:
        refusal = dataclasses.replace(shipped, threshold=threshold)

        def refused(looks: list[notdigit.Look], judge: notdigit.Refusal = refusal) -> list[bool]:
            return [reason is not None for reason in notdigit.refusals(looks, len(looks), judge)]

        families = {
            family: np.mean(
                [any(refused(looks)) for kind, looks in zip(kinds, others, strict=True) if kind == family]
            )
            for family in FAMILIES
        }
        print(
            f"threshold {threshold:.4f}:",
            f"digits refused {np.mean([any(refused(looks)) for looks in digits if len(looks) == 1]):.2%},",
            f"digits in strings {np.mean([r for looks in strings for r in refused(looks)]):.2%},",
            f"non-digits {np.mean(list(families.values())):.1%}",
            "(" + ", ".join(f"{family} {share:.1%}" for family, share in families.items()) + ")",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
