"""Every setting of the app, read once from the environment (the table in README "Configuration").

`Settings.from_env()` reads `os.environ`; tests build `Settings(...)` directly or
pass `Settings.from_env(overrides)`, or call `settings.replace(field=value)`.
Adding a setting is one field plus one line in `_ENV`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digitrec.ratelimit import Rate

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """An environment variable holds a value the app cannot use."""


@dataclass(frozen=True)
class Settings:
    """The app's configuration; immutable once built."""

    port: int = 5000
    store: str = str(ROOT / "tmp" / "store")  # local directory or s3://bucket/prefix
    s3_endpoint_url: str | None = None
    admin_token: str | None = None
    cors_origins: tuple[str, ...] = ()  # empty: same origin only
    web_concurrency: int = 2
    models_dir: Path = ROOT / "models"
    canary_size: int = 500  # test-split digits scored before publishing an update
    canary_quick_size: int = 128  # ...of which the CNN scores these first (0: all; docs/online-learning.md)
    canary_max_drop: float = 0.01  # refuse an update losing more canary accuracy than this (fraction)
    canary_max_confidence_drop: float = 0.02  # ...or more of the true digit's mean probability
    fnn_learning_rate: float = 0.1  # ~110x the original's 0.1 * 0.95**24 / 32; docs/online-learning.md
    fnn_l2: float = 0.001
    cnn_learning_rate: float = 0.035  # RMSProp from a mean square of 1 (TF1's): ~plain SGD at this rate
    fnn_replay_size: int = 200  # training digits rehearsed in each online FNN step...
    cnn_replay_size: int = 32  # ...and CNN step (its cost is ~linear in the batch)
    fnn_replay_weight: float = 900.0  # training digits the FNN's rehearsed ones count as in its loss
    cnn_replay_weight: float = 480.0  # ...and the CNN's (docs/online-learning.md)
    replay_pool: int = 1200  # preprocessed training digits to draw them from
    follow_interval: float | None = None  # seconds between checks for a newer version; None: auto
    keep_last: int = 20  # weights kept for the newest versions...
    keep_every: int = 50  # ...and for every keep_every-th version
    publish_retries: int = 64  # publish attempts while other writers win
    max_content_length: int = 2 * 1024 * 1024  # request body limit, bytes
    rate_uploads: Rate | None = Rate(30, 60, 15)  # feedback + samples per client and worker; None: off
    rate_predictions: Rate | None = Rate(600, 60, 60)  # predictions per client and worker; None: off
    trusted_proxies: int = 0  # proxies in front that append to X-Forwarded-For (Heroku: 1)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from environment variables (os.environ by default); unset ones keep defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (field, parse) in _ENV.items():
            raw = environ.get(name)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[field] = parse(raw.strip())
            except ValueError as err:
                raise ConfigError(f"{name}={raw!r} is not valid: {err}") from None
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests)."""
        return dataclasses.replace(self, **changes)

    @property
    def is_s3(self) -> bool:
        return self.store.startswith("s3://")

    @property
    def follow_seconds(self) -> float:
        """How often predictions look for a newer version: every time locally, every 2 s on S3."""
        if self.follow_interval is not None:
            return self.follow_interval
        return 2.0 if self.is_s3 else 0.0


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be a whole number >= 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # also rejects NaN
        raise ValueError("must be a number >= 0")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 65535:
        raise ValueError("must be 1-65535")
    return value


def _origins(raw: str) -> tuple[str, ...]:
    return tuple(origin.strip() for origin in raw.split(",") if origin.strip())


def _text(raw: str) -> str:
    return raw


_ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "PORT": ("port", _port),
    "DIGITREC_STORE": ("store", _text),
    "DIGITREC_S3_ENDPOINT_URL": ("s3_endpoint_url", _text),
    "DIGITREC_ADMIN_TOKEN": ("admin_token", _text),
    "DIGITREC_CORS_ORIGINS": ("cors_origins", _origins),
    "WEB_CONCURRENCY": ("web_concurrency", _positive_int),
    "DIGITREC_MODELS_DIR": ("models_dir", Path),
    "DIGITREC_CANARY_SIZE": ("canary_size", _positive_int),
    "DIGITREC_CANARY_QUICK_SIZE": ("canary_quick_size", _non_negative_int),
    "DIGITREC_CANARY_MAX_DROP": ("canary_max_drop", _non_negative_float),
    "DIGITREC_CANARY_MAX_CONFIDENCE_DROP": ("canary_max_confidence_drop", _non_negative_float),
    "DIGITREC_FNN_LEARNING_RATE": ("fnn_learning_rate", _non_negative_float),
    "DIGITREC_FNN_L2": ("fnn_l2", _non_negative_float),
    "DIGITREC_CNN_LEARNING_RATE": ("cnn_learning_rate", _non_negative_float),
    "DIGITREC_FNN_REPLAY_SIZE": ("fnn_replay_size", _non_negative_int),
    "DIGITREC_CNN_REPLAY_SIZE": ("cnn_replay_size", _non_negative_int),
    "DIGITREC_FNN_REPLAY_WEIGHT": ("fnn_replay_weight", _non_negative_float),
    "DIGITREC_CNN_REPLAY_WEIGHT": ("cnn_replay_weight", _non_negative_float),
    "DIGITREC_REPLAY_POOL": ("replay_pool", _positive_int),
    "DIGITREC_FOLLOW_INTERVAL": ("follow_interval", _non_negative_float),
    "DIGITREC_KEEP_LAST": ("keep_last", _positive_int),
    "DIGITREC_KEEP_EVERY": ("keep_every", _positive_int),
    "DIGITREC_PUBLISH_RETRIES": ("publish_retries", _positive_int),
    "DIGITREC_MAX_CONTENT_LENGTH": ("max_content_length", _positive_int),
    "DIGITREC_RATE_UPLOADS": ("rate_uploads", Rate.parse),
    "DIGITREC_RATE_PREDICT": ("rate_predictions", Rate.parse),
    "DIGITREC_TRUSTED_PROXIES": ("trusted_proxies", _non_negative_int),
}
