"""The pages a person sees: draw, collect, models, how it works, about (HTML only, no JSON)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, render_template, send_from_directory
from werkzeug.wrappers import Response

pages = Blueprint("pages", __name__)

PLOT_NAME = re.compile(r"^[a-z0-9_-]+\.png$")
MODEL_NAMES = ("fnn", "cnn")
_HIDDEN_KEYS = ("hidden", "hidden_size", "hidden_units")
_PLOT_WORDS = {"curves": "training curves", "confusion": "confusion matrix"}


@dataclass(frozen=True)
class ModelSummary:
    """What the training report says about one model, ready to print."""

    name: str
    test_accuracy: float | None = None
    accuracies: list[tuple[str, str]] = field(default_factory=list)  # ("validation", "97.1%")
    hyperparameters: list[tuple[str, str]] = field(default_factory=list)
    plots: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    hidden: int | None = None  # FNN hidden layer width, when the report gives it
    optimizer: str | None = None  # the offline training optimiser, when the report names it


@dataclass(frozen=True)
class ReportSummary:
    found: bool
    models: dict[str, ModelSummary]
    other_plots: list[tuple[str, str]]
    training_time: str | None


@pages.get("/")
def draw() -> str:
    return render_template("draw.html")


@pages.get("/collect")
def collect() -> str:
    return render_template("collect.html")


@pages.get("/gallery")
def gallery() -> str:
    return render_template("gallery.html")


@pages.get("/about")
def about() -> str:
    return render_template("about.html")


@pages.get("/how-it-works")
def how_it_works() -> str:
    return render_template("how_it_works.html")


@pages.get("/models")
def models() -> str:
    directory = _models_dir()
    return render_template("models.html", report=summarise_report(read_report(directory), directory))


@pages.get("/models/files/<name>")
def model_file(name: str) -> Response:
    directory = _models_dir()
    if not PLOT_NAME.fullmatch(name) or not (directory / name).is_file():
        abort(404)
    return send_from_directory(directory, name)


def _models_dir() -> Path:
    return Path(current_app.config["MODELS_DIR"])


def read_report(models_dir: Path) -> dict[str, Any]:
    """`report.json` of the models dir, or {} when it is missing or unreadable."""
    try:
        report = json.loads((models_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def summarise_report(report: dict[str, Any], models_dir: Path) -> ReportSummary:
    """The training report reduced to printable values; missing or odd keys are skipped."""
    plots = [
        name
        for name in _as_list(report.get("plots"))
        if isinstance(name, str) and PLOT_NAME.fullmatch(name) and (models_dir / name).is_file()
    ]
    models = {name: _summarise_model(name, _as_dict(report.get(name)), plots) for name in MODEL_NAMES}
    other_plots = [(plot, _plot_caption(plot)) for plot in plots if plot.split("_")[0] not in MODEL_NAMES]
    return ReportSummary(
        found=bool(report),
        models=models,
        other_plots=other_plots,
        training_time=_format_duration(report.get("training_seconds")),
    )


def _summarise_model(name: str, section: dict[str, Any], plots: list[str]) -> ModelSummary:
    accuracies = [
        (key.removesuffix("_accuracy").replace("_", " "), format_percent(value))
        for key, value in section.items()
        if key.endswith("_accuracy") and _is_number(value)
    ]
    accuracies.sort(key=lambda item: item[0] != "test")
    hyperparameters = _as_dict(section.get("hyperparameters"))
    hidden = next(
        (int(hyperparameters[key]) for key in _HIDDEN_KEYS if _is_number(hyperparameters.get(key))),
        None,
    )
    test_accuracy = section.get("test_accuracy")
    optimizer = hyperparameters.get("optimizer")
    return ModelSummary(
        name=name,
        test_accuracy=float(test_accuracy) if _is_number(test_accuracy) else None,
        accuracies=accuracies,
        hyperparameters=[
            (key.replace("_", " "), format_value(value)) for key, value in hyperparameters.items()
        ],
        plots=[(plot, _plot_caption(plot)) for plot in plots if plot.split("_")[0] == name],
        hidden=hidden,
        optimizer=optimizer if isinstance(optimizer, str) else None,
    )


def format_percent(fraction: float) -> str:
    """0.9712 -> '97.1%'."""
    return f"{fraction * 100:.1f}%"


def format_value(value: Any) -> str:
    """A hyperparameter as a person reads it: 0.0001 -> '0.0001', [1, 2] -> '1, 2'."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "—"}[value]
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key} {format_value(item)}" for key, item in value.items())
    return str(value)


def _plot_caption(name: str) -> str:
    """'fnn_confusion.png' -> 'FNN confusion matrix'."""
    words = name.removesuffix(".png").replace("-", "_").split("_")
    caption = " ".join(word.upper() if word in MODEL_NAMES else _PLOT_WORDS.get(word, word) for word in words)
    return caption[:1].upper() + caption[1:]


def _format_duration(seconds: Any) -> str | None:
    if not _is_number(seconds) or seconds < 0:
        return None
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
