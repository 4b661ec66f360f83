"""Augmentation as 2x2 transforms of a drawing's centre line (see drawing.render_strokes).

Working on the centre line rather than on pixels keeps every copy drawn with the
same pen as a real input, and makes a batch of copies one vectorised render.
Offline training also distorts the pixel rendering (drawing.pixel_image) with the
same random transforms.
"""

from __future__ import annotations

import numpy as np

from .drawing import pixel_image, render_strokes

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


def training_images(strokes: list[np.ndarray], rng: np.random.Generator, distort: bool = True) -> np.ndarray:
    """One randomly distorted rendering of each centre line: float32 (N, 28, 28)."""
    transforms = random_transforms(len(strokes), rng)
    out = np.empty((len(strokes), 28, 28), dtype=np.float32)
    for i, points in enumerate(strokes):
        moved = elastic(points, rng) if distort else points
        out[i] = render_strokes(moved, transforms[i : i + 1])[0]
    return out


def pixel_training_images(sources: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One randomly transformed pixel rendering of each source (N, 28, 28): float32 (N, 28, 28)."""
    transforms = random_transforms(len(sources), rng)
    return np.stack([pixel_image(source, turn) for source, turn in zip(sources, transforms, strict=True)])
