"""Turning the four models' probabilities into an answer a person reads.

The original project's rule (`original_rule`): only the two updated models vote.
If their top digits agree, that is the answer; else if both are less than 50%
sure, the drawing is not recognised; else the more confident one wins.

That rule almost never says "not a digit": a scribble or a letter still gets a
digit. `decide` keeps the original's choice of digit and refuses it in two more
cases: the digit's redrawn rendering (drawing.redrawn, the model input of a canvas
drawing) does not have the shape of a digit (more ink, holes or
crossings than any training digit has, or a stroke inside a loop), or the two
updated models together are not sure of it (their normalised geometric-mean
probability is below JOINT_CONFIDENT, chosen on the validation split and on
non-digits of a seed other than the one reported). For canvas drawings,
notdigit.py judges each segment first (taps, lines, drawings too small for the
pen, letters, symbols, shapes, scribbles); its sentence is the answer's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

TOP = 3
CONFIDENT = 0.5  # the original rule's bar for each updated model
JOINT_CONFIDENT = 0.4  # the bar for the two updated models' joint confidence in the answer
NOT_RECOGNISED = "Can't recognize this as a digit."
# Shape limits of a digit's 28x28 redrawn rendering (ink = 1.0), just above the largest values among
# the 8,000 training-split digits (ink 178.8, 4 holes, 24 crossing pixels, no islands).
MAX_INK = 185.0  # total ink: the strokes' length x the fixed pen (scribbles, hatching)
MAX_HOLES = 4  # enclosed paper regions (an 8 has 2; a grid, a star or a tangle more)
MAX_CROSSINGS = 25  # skeleton pixels where three or more strokes meet
MAX_ISLANDS = 0  # strokes inside a loop of another stroke (a smiley's eyes)
_EIGHT = np.ones((3, 3), dtype=bool)
_CROSS = ndimage.generate_binary_structure(2, 1)  # label's default (4-connected), built once


@dataclass(frozen=True)
class Answer:
    """One drawn digit's verdict: the digit (None if not recognised) and a sentence."""

    digit: int | None
    message: str


def top_digits(probs: np.ndarray, count: int = TOP) -> list[dict]:
    """Probabilities (10,) -> the `count` likeliest digits, most likely first (ties: the lower digit).

    Sorted as a Python list: for 10 numbers, numpy's per-call cost was most of the time.
    """
    values = probs.tolist()
    order = sorted(range(len(values)), key=values.__getitem__, reverse=True)[:count]  # stable
    return [{"digit": d, "probability": round(values[d], 4)} for d in order]


def original_rule(probs: Mapping[str, np.ndarray]) -> Answer:
    """The original project's rule: {model name: probabilities (10,)} for one digit -> the answer."""
    fnn, cnn = probs["fnn_updated"], probs["cnn_updated"]
    fnn_digit, cnn_digit = int(np.argmax(fnn)), int(np.argmax(cnn))
    fnn_sure, cnn_sure = float(fnn[fnn_digit]), float(cnn[cnn_digit])
    if fnn_digit == cnn_digit:
        return Answer(fnn_digit, f"Both models say it's {_article(fnn_digit)} {fnn_digit}.")
    if fnn_sure < CONFIDENT and cnn_sure < CONFIDENT:
        return Answer(None, NOT_RECOGNISED)
    if cnn_sure >= fnn_sure:
        return Answer(
            cnn_digit, f"It's {_article(cnn_digit)} {cnn_digit}, says the CNN ({fnn_digit}, says the FNN)."
        )
    return Answer(
        fnn_digit, f"It's {_article(fnn_digit)} {fnn_digit}, says the FNN ({cnn_digit}, says the CNN)."
    )


def _article(digit: int) -> str:
    """'an 8', 'a 7': the article as the digit's name is spoken."""
    return "an" if digit == 8 else "a"


def decide(
    probs: Mapping[str, np.ndarray],
    image: np.ndarray | None = None,
    shaped: bool | None = None,
    refusal: str | None = None,
) -> Answer:
    """{model name: probabilities (10,)} for one digit, and its redrawn rendering (28, 28) -> the answer.

    `shaped`: `has_digit_shape(image)` when the caller has it already. Without `image` or
    `shaped` only the probabilities are judged (the shape check is skipped). `refusal`: a
    sentence saying why the drawing is not a digit (notdigit.judge), or None.
    """
    if refusal is not None:
        return Answer(None, refusal)
    answer = original_rule(probs)
    if answer.digit is None:
        return answer
    if shaped is None and image is not None:
        shaped = has_digit_shape(image)
    if shaped is False:
        return Answer(None, NOT_RECOGNISED)
    if joint_confidence(probs, answer.digit) < JOINT_CONFIDENT:
        return Answer(None, NOT_RECOGNISED)
    return answer


def joint_confidence(probs: Mapping[str, np.ndarray], digit: int) -> float:
    """The updated models' agreement on `digit`: their normalised geometric-mean probability."""
    joint = np.sqrt(
        np.asarray(probs["fnn_updated"], np.float64) * np.asarray(probs["cnn_updated"], np.float64)
    )
    return float(joint[digit] / max(joint.sum(), 1e-12))


def has_digit_shape(image: np.ndarray) -> bool:
    """Whether a redrawn rendering (28, 28), ink = 1.0 (drawing.redrawn), keeps within digits' limits."""
    ink, holes, islands, crossings, _ = shape_statistics(image)
    return ink <= MAX_INK and holes <= MAX_HOLES and islands <= MAX_ISLANDS and crossings <= MAX_CROSSINGS


def shape_statistics(image: np.ndarray) -> tuple[float, int, int, int, int]:
    """A redrawn rendering (28, 28), ink = 1.0 -> (total ink, holes, islands, crossings, stroke ends).

    Holes: enclosed paper regions; islands: strokes inside a loop of another stroke; crossings and
    ends: skeleton pixels with three or more, and with one, skeleton neighbours.
    """
    ink = float(image.sum())
    strokes = image >= 0.5
    paper, regions = ndimage.label(~strokes, structure=_CROSS)
    is_outside = _flags(regions, np.concatenate([paper[0], paper[-1], paper[:, 0], paper[:, -1]]))
    holes = regions - int(np.count_nonzero(is_outside))
    islands = _islands(strokes, is_outside[paper])
    skeleton = skeletonize(strokes)
    neighbours = _box_sum(skeleton) - 1  # 8-neighbours of each skeleton pixel
    crossings = int(np.count_nonzero(skeleton & (neighbours >= 3)))
    ends = int(np.count_nonzero(skeleton & (neighbours == 1)))
    return ink, holes, islands, crossings, ends


def _islands(strokes: np.ndarray, outside: np.ndarray) -> int:
    """Stroke pieces that touch no outside paper: ink enclosed by another stroke (a smiley's eyes)."""
    pieces, count = ndimage.label(strokes, structure=_EIGHT)
    shore = (_box_sum(outside) > 0) & strokes  # strokes 8-adjacent to outside paper
    return count - np.count_nonzero(_flags(count, pieces[shore]))


def _box_sum(image: np.ndarray) -> np.ndarray:
    """Bool or uint8 image (H, W) -> uint8 sum of each pixel's 3x3 neighbourhood (itself included;
    zeros beyond the edges).

    Equal to ndimage.convolve with a 3x3 kernel of ones, mode "constant", and for a bool image > 0
    to binary_dilation with _EIGHT; summing shifted rows, then shifted columns, is faster than
    either on 28x28 images.
    """
    padded = np.zeros((image.shape[0] + 2, image.shape[1] + 2), np.uint8)
    padded[1:-1, 1:-1] = image
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    return rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]


def _flags(count: int, labels: np.ndarray) -> np.ndarray:
    """bool (count + 1,): which of the labels 1..count occur in `labels` (a lookup table; 0 is never set)."""
    flags = np.zeros(count + 1, dtype=bool)
    flags[labels] = True
    flags[0] = False
    return flags


def combine(answers: list[Answer]) -> tuple[str | None, str]:
    """Per-digit answers, left to right -> (the digit string or None, a sentence).

    One unrecognised digit makes the whole drawing unrecognised: a number with a
    wrong or missing digit would be a wrong number.
    """
    if len(answers) == 1:
        only = answers[0]
        return (None if only.digit is None else str(only.digit)), only.message
    unknown = [i + 1 for i, answer in enumerate(answers) if answer.digit is None]
    if len(unknown) == len(answers) and len({answer.message for answer in answers}) == 1:
        return None, answers[0].message  # every piece refused for one reason (a row of dots)
    if unknown:
        which = ", ".join(str(i) for i in unknown)
        noun = "digit" if len(unknown) == 1 else "digits"
        return None, f"Can't recognize {noun} {which} of {len(answers)} as a digit."
    text = "".join(str(answer.digit) for answer in answers)
    return text, f"It reads {text}."
