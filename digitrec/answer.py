"""Turning the four models' probabilities into an answer a person reads.

The original project's rule: only the two updated models vote. If their top
digits agree, that is the answer; else if both are less than 50% sure, the
drawing is not recognised; else the more confident one wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

TOP = 3
CONFIDENT = 0.5
NOT_RECOGNISED = "Can't recognize this as a digit."


@dataclass(frozen=True)
class Answer:
    """One drawn digit's verdict: the digit (None if not recognised) and a sentence."""

    digit: int | None
    message: str


def top_digits(probs: np.ndarray, count: int = TOP) -> list[dict]:
    """Probabilities (10,) -> the `count` likeliest digits, most likely first."""
    order = np.argsort(-probs, kind="stable")[:count]
    return [{"digit": int(d), "probability": round(float(probs[d]), 4)} for d in order]


def decide(probs: Mapping[str, np.ndarray]) -> Answer:
    """{model name: probabilities (10,)} for one digit -> the answer (updated models vote)."""
    fnn, cnn = probs["fnn_updated"], probs["cnn_updated"]
    fnn_digit, cnn_digit = int(np.argmax(fnn)), int(np.argmax(cnn))
    fnn_sure, cnn_sure = float(fnn[fnn_digit]), float(cnn[cnn_digit])
    if fnn_digit == cnn_digit:
        return Answer(fnn_digit, f"Both models say it's a {fnn_digit}.")
    if fnn_sure < CONFIDENT and cnn_sure < CONFIDENT:
        return Answer(None, NOT_RECOGNISED)
    if cnn_sure >= fnn_sure:
        return Answer(cnn_digit, f"It's a {cnn_digit}, says the CNN ({fnn_digit}, says the FNN).")
    return Answer(fnn_digit, f"It's a {fnn_digit}, says the FNN ({cnn_digit}, says the CNN).")


def combine(answers: list[Answer]) -> tuple[str | None, str]:
    """Per-digit answers, left to right -> (the digit string or None, a sentence).

    One unrecognised digit makes the whole drawing unrecognised: a number with a
    wrong or missing digit would be a wrong number.
    """
    if len(answers) == 1:
        only = answers[0]
        return (None if only.digit is None else str(only.digit)), only.message
    unknown = [i + 1 for i, answer in enumerate(answers) if answer.digit is None]
    if unknown:
        which = ", ".join(str(i) for i in unknown)
        noun = "digit" if len(unknown) == 1 else "digits"
        return None, f"Can't recognize {noun} {which} of {len(answers)} as a digit."
    text = "".join(str(answer.digit) for answer in answers)
    return text, f"It reads {text}."
