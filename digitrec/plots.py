"""The training report's figures as PNG files (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

matplotlib.use("Agg")  # files only, no display

MODELS = {"fnn": "FNN", "cnn": "CNN"}


def write_all(report: dict[str, Any], out_dir: Path) -> list[str]:
    """Curves and confusion matrix per model, and the canvas-style bars; the file names written."""
    names = []
    for model, title in MODELS.items():
        section = report[model]
        names.append(_save(curves(section["history"], title), out_dir / f"{model}_curves.png"))
        names.append(
            _save(confusion(np.array(section["confusion"]), title), out_dir / f"{model}_confusion.png")
        )
    names.append(_save(robustness(report["robustness"]["styles"]), out_dir / "canvas_styles.png"))
    return names


def curves(history: list[dict[str, float]], title: str) -> plt.Figure:
    """Loss and train/validation accuracy per epoch, side by side."""
    epochs = [row["epoch"] for row in history]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(9, 3.4))
    loss_axes.plot(epochs, [row["loss"] for row in history], color="tab:red")
    loss_axes.set(title=f"{title}: training loss", xlabel="epoch", ylabel="cross-entropy")
    for key, label in (("train_accuracy", "train"), ("validation_accuracy", "validation")):
        if all(key in row for row in history):
            accuracy_axes.plot(epochs, [100 * row[key] for row in history], label=label)
    accuracy_axes.set(title=f"{title}: accuracy", xlabel="epoch", ylabel="%")
    accuracy_axes.legend()
    accuracy_axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def confusion(matrix: np.ndarray, title: str) -> plt.Figure:
    """Confusion matrix (10, 10), rows true digit, columns predicted; counts written in the cells."""
    figure, axes = plt.subplots(figsize=(4.6, 4.2))
    axes.imshow(np.log1p(matrix), cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if row == column else "black"
            axes.text(column, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    axes.set(title=f"{title}: test confusion matrix", xlabel="predicted", ylabel="true")
    axes.set_xticks(range(10))
    axes.set_yticks(range(10))
    figure.tight_layout()
    return figure


def robustness(styles: dict[str, dict[str, float]]) -> plt.Figure:
    """Accuracy per canvas drawing style, one bar per model."""
    names = list(styles)
    x = np.arange(len(names))
    figure, axes = plt.subplots(figsize=(8, 3.2))
    for offset, (model, title) in zip((-0.2, 0.2), MODELS.items(), strict=True):
        axes.bar(x + offset, [100 * styles[n][model] for n in names], width=0.4, label=title)
    low = min(100 * s[m] for s in styles.values() for m in MODELS)
    axes.set(title="Accuracy on test digits drawn on a canvas", ylabel="%", ylim=(max(0, low - 3), 100))
    axes.set_xticks(x, names)
    axes.legend(loc="lower right")
    figure.tight_layout()
    return figure


def _save(figure: plt.Figure, path: Path) -> str:
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path.name
