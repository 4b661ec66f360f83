"""Augmentation as 2x2 transforms of a drawing's centre line (see drawing.render_strokes).

Working on the centre line rather than on pixels keeps every copy drawn with the
same pen as a real input, and makes a batch of copies one vectorised render.
Offline training may also distort the ink image itself and take its centre line
again (`distort_ink`): the skeleton then varies the way real inputs' skeletons do.
"""

from __future__ import annotations

import contextlib

import numpy as np
from scipy.ndimage import gaussian_filter, grey_dilation, grey_erosion, map_coordinates

from .drawing import DrawingError, render_strokes, stroke_points

ORIGINAL_ANGLES = np.arange(-30, 30, 5)  # degrees, -30..25 step 5 (the original project)
ANGLES_PER_SIZE = 6


def _rotation(degrees: np.ndarray) -> np.ndarray:
    """Rotation matrices (B, 2, 2) acting on (y, x) points."""
    theta = np.deg2rad(degrees)
    cos, sin = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)


def original_transforms(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The original's 24 variants: 4 sizes x 6 random angles -> transforms (24, 2, 2).

    Sizes: height and width each set to the digit's shorter or longer side.
    """
    height, width = np.ptp(points, axis=0) + 1.0
    short, long = sorted((float(height), float(width)))
    sizes = [(h, w) for h in (short, long) for w in (short, long)]
    scales = np.array([np.diag([h / height, w / width]) for h, w in sizes])
    angles = np.concatenate([rng.choice(ORIGINAL_ANGLES, ANGLES_PER_SIZE, replace=False) for _ in sizes])
    return _rotation(angles) @ np.repeat(scales, ANGLES_PER_SIZE, axis=0)


def original_variants(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A drawing's centre line -> its 24 training images float32 (24, 28, 28)."""
    return render_strokes(points, original_transforms(points, rng).astype(np.float32))


def random_transforms(count: int, rng: np.random.Generator) -> np.ndarray:
    """Mild random rotation, aspect change and shear for offline training: (count, 2, 2)."""
    rotate = _rotation(np.clip(rng.normal(0.0, 8.0, count), -20, 20))
    aspect = np.exp(np.clip(rng.normal(0.0, 0.15, count), -0.4, 0.4))
    shear = np.clip(rng.normal(0.0, 0.15, count), -0.35, 0.35)
    warp = np.zeros((count, 2, 2))
    warp[:, 0, 0] = aspect
    warp[:, 1, 1] = 1.0 / aspect
    warp[:, 1, 0] = shear
    return (rotate @ warp).astype(np.float32)


def elastic(points: np.ndarray, rng: np.random.Generator, strength: float = 0.035) -> np.ndarray:
    """Smooth random displacement of the centre line (a cheap elastic distortion)."""
    extent = float(np.ptp(points, axis=0).max()) or 1.0
    freq = rng.uniform(0.5, 2.0, (2, 2)) * (2 * np.pi / extent)
    phase = rng.uniform(0, 2 * np.pi, (2, 2))
    amplitude = rng.normal(0.0, strength * extent, 2)
    shift = (
        amplitude
        * np.sin(points[:, ::-1] * freq[:, 0] + phase[:, 0])
        * np.cos(points * freq[:, 1] + phase[:, 1])
    )
    return (points + shift).astype(np.float32)


def distort_ink(
    ink: np.ndarray,
    rng: np.random.Generator,
    alpha: float = 16.0,
    sigma: float = 4.0,
    thicker: float = 0.2,
    thinner: float = 0.2,
) -> np.ndarray:
    """Elastic distortion of an ink image (H, W) and, at random, a thicker or thinner pen.

    Simard et al. (2003): a random displacement field smoothed by a Gaussian of `sigma`
    px, scaled by `alpha` px. With probability `thicker` (`thinner`) the strokes then grow
    (shrink) by a pixel. Taking the centre line of the result again yields the spurs,
    merged and opened loops that skeletons of real drawings show.
    """
    shape = ink.shape
    grid = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    field = np.stack([gaussian_filter(rng.uniform(-1, 1, shape), sigma) * alpha for _ in range(2)])
    out = map_coordinates(ink, grid + field, order=1, mode="constant")
    pen = rng.random()
    if pen < thicker:
        out = grey_dilation(out, size=(2, 2))
    elif pen >= 1.0 - thinner:
        out = grey_erosion(out, size=(2, 2))
    return out


def training_images(
    strokes: list[np.ndarray],
    rng: np.random.Generator,
    distort: bool = True,
    inks: list[np.ndarray] | None = None,
) -> np.ndarray:
    """One randomly distorted rendering of each centre line: float32 (N, 28, 28).

    With `inks` (the ink image (H, W) each centre line came from), the centre line is
    first taken again from a `distort_ink` copy (the given one if nothing survives).
    """
    transforms = random_transforms(len(strokes), rng)
    out = np.empty((len(strokes), 28, 28), dtype=np.float32)
    for i, points in enumerate(strokes):
        if inks is not None:
            with contextlib.suppress(DrawingError):  # distorted to nothing: keep the digit's own centre line
                points = stroke_points(distort_ink(inks[i], rng))
        moved = elastic(points, rng) if distort else points
        out[i] = render_strokes(moved, transforms[i : i + 1])[0]
    return out
