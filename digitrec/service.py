"""`DigitService`: everything the web layer can ask of digitrec, with no HTTP in it.

predict: image bytes -> split into digits -> preprocess -> one batch through the four
models -> answers. feedback: store the sample first, then learn online. Plus collect,
samples, export, model history, health, and the admin operations.

When the store is unreachable the service degrades instead of failing: predictions
go on with the models it holds, storage operations raise `ServiceUnavailable` with
a sentence for the user, and it recovers by itself once the store answers again.
Predictions and health never call the store: a background thread per service looks
for newer model versions and notes whether the store answers.
"""

from __future__ import annotations

import base64
import functools
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from digitrec import answer as answers
from digitrec import notdigit
from digitrec.cnn import CNNFunctions, configure_threads
from digitrec.config import Settings
from digitrec.data import Digits
from digitrec.dataset import (
    DatasetError,
    csv_chunks,
    import_dataset,
    ink_model_input,
    labelled_inputs,
    npz_chunks,
    to_uint8,
)
from digitrec.drawing import (
    INK_THRESHOLD,
    MAX_UPLOAD_PIXELS,
    BlankDrawing,
    decode_image,
)
from digitrec.online import Correction, OnlineLearner, PublishRaceLost, load_canary, load_replay
from digitrec.png import gray_png
from digitrec.recognizer import MODEL_NAMES, Recognizer, Snapshot
from digitrec.segment import Drawing
from digitrec.store import ModelHistory, SampleStore, StoreUnavailable, open_blob_store
from digitrec.weights import ModelWeights, load_shipped

log = logging.getLogger(__name__)

# Threads that write corrections' samples while the request thread goes on computing.
_STORE_WRITES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sample-writes")
MIN_REFRESH_SECONDS = 0.1  # the refresh thread's shortest pause (a local store's follow interval is 0)
MAX_LIST_LIMIT = 200
HISTORY_PAGE = 50  # versions per page of GET /api/models when no limit is given
SAMPLE_MARGIN = 0.15  # padding around one digit of a multi-digit drawing when it is stored, x its size
UNAVAILABLE = (
    "The drawing store is unavailable right now, so nothing was saved. Please try again in a minute."
)


class ServiceUnavailable(RuntimeError):
    """The store cannot be used now (HTTP 503); the message is a sentence for the user."""


class NotFound(LookupError):
    """No such sample (HTTP 404)."""


class InvalidRequest(ValueError):
    """The request makes no sense (HTTP 400); the message is a sentence for the user."""


class Engine:
    """What every service in a process shares: the originals, their compiled CNN, and the canary
    and replay digits of online learning.

    Those digits are prepared on first use, once per process: they are most of a worker's start-up
    CPU, which its first prediction need not wait for (DigitService prepares them in the background).
    """

    def __init__(self, originals: ModelWeights, cnn: CNNFunctions, canary_size: int, replay_pool: int):
        self.originals = originals
        self.cnn = cnn
        self._sizes = (canary_size, replay_pool)
        self._online: tuple[Digits, Digits] | None = None
        self._lock = threading.Lock()

    @staticmethod
    @functools.cache
    def load(models_dir: Path, canary_size: int, replay_pool: int) -> Engine:
        """Loaded once per argument set per process; later calls share it."""
        configure_threads()
        originals = load_shipped(models_dir)
        return Engine(originals, CNNFunctions(originals.cnn), canary_size, replay_pool)

    @property
    def canary(self) -> Digits:
        return self._online_digits()[0]

    @property
    def replay(self) -> Digits:
        return self._online_digits()[1]

    def _online_digits(self) -> tuple[Digits, Digits]:
        with self._lock:
            if self._online is None:
                self._online = (load_canary(self._sizes[0]), load_replay(self._sizes[1]))
            return self._online


class DigitService:
    """The core facade: one per process, safe to call from many threads."""

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self.engine = engine or Engine.load(
            Path(settings.models_dir), settings.canary_size, settings.replay_pool
        )
        blobs = open_blob_store(settings.store, settings.s3_endpoint_url)
        self.samples = SampleStore(blobs)
        self.history = ModelHistory(blobs, keep_last=settings.keep_last, keep_every=settings.keep_every)
        self.recognizer = Recognizer(self.engine.originals, settings.follow_seconds, cnn=self.engine.cnn)
        self.refusal = notdigit.shipped(Path(settings.models_dir))  # the not-a-digit classifier
        self._learner: OnlineLearner | None = None
        self._learner_lock = threading.Lock()
        self.store_error: str | None = None  # why the store is considered down, or None
        self.refresh()
        pause = max(settings.follow_seconds, MIN_REFRESH_SECONDS)
        # The thread holds a weak reference: it ends once the service is gone (tests make many).
        threading.Thread(
            target=_refresh_while_alive, args=(weakref.ref(self), pause), name="model-refresh", daemon=True
        ).start()
        # The learner's canary and replay digits (see Engine) are prepared here while predictions
        # are answered; a correction that comes first waits for them.
        threading.Thread(target=lambda: self.learner, name="learner-warm-up").start()

    @property
    def learner(self) -> OnlineLearner:
        """The online learner, made on first use (see Engine)."""
        with self._learner_lock:
            if self._learner is None:
                self._learner = OnlineLearner(
                    self.recognizer, self.history, self.settings, self.engine.canary, self.engine.replay
                )
            return self._learner

    # --- store health -------------------------------------------------------------------------

    def _store_failed(self, err: Exception) -> None:
        if self.store_error is None:
            log.warning("store unavailable: %s", err)
        self.store_error = str(err) or type(err).__name__

    def _store_ok(self) -> None:
        if self.store_error is not None:
            log.warning("store available again")
        self.store_error = None

    def refresh(self) -> Snapshot:
        """Install the latest published version if it is newer, and note whether the store answered.

        The refresh thread calls this every follow interval; requests that need the newest
        version (model history, admin publishes) call it themselves. Never raises a store error.
        """
        try:
            snapshot = self.recognizer.follow(self.history, force=True)
        except (StoreUnavailable, OSError) as err:
            self._store_failed(err)
            return self.recognizer.snapshot
        self._store_ok()
        return snapshot

    def _stored(self, operation, *args):
        """Run a store call; a store outage becomes ServiceUnavailable with a sentence."""
        try:
            result = operation(*args)
        except (StoreUnavailable, OSError) as err:
            self._store_failed(err)
            raise ServiceUnavailable(UNAVAILABLE) from err
        self._store_ok()
        return result

    # --- predictions --------------------------------------------------------------------------

    def predict(self, image: bytes) -> dict[str, Any]:
        """Image bytes -> the answer JSON of CONTRACT.md (answer, message, models, digits, ...)."""
        drawing = Drawing.from_bytes(image)
        snapshot = self.recognizer.snapshot

        def judge_shapes_and_preview() -> tuple[list[bool], list | None, str]:
            looks = notdigit.looks_of(drawing.ink, drawing.inks, drawing.strokes, drawing.redrawn)
            if looks is None:
                shaped = [answers.has_digit_shape(image) for image in drawing.redrawn]
            else:
                shaped = [look.shaped for look in looks]
            return shaped, looks, png_data_url(np.hstack(list(drawing.inputs)))

        probs, (shaped, looks, preview) = self.recognizer.predict_with(
            drawing.inputs, judge_shapes_and_preview, snapshot
        )
        refusals = notdigit.refusals(looks, len(drawing.boxes), self.refusal)
        digits, verdicts = [], []
        for i, box in enumerate(drawing.boxes):
            one = {name: probs[name][i] for name in MODEL_NAMES}
            verdict = answers.decide(one, shaped=shaped[i], refusal=refusals[i])
            verdicts.append(verdict)
            digits.append(
                {
                    "answer": None if verdict.digit is None else str(verdict.digit),
                    "message": verdict.message,
                    "box": list(box),
                    "models": {name: answers.top_digits(p) for name, p in one.items()},
                }
            )
        text, message = answers.combine(verdicts)
        return {
            "answer": text,
            "message": message,
            "models": digits[0]["models"],
            "digits": digits,
            "model_version": snapshot.version,
            "input_preview": preview,
        }

    # --- corrections and samples --------------------------------------------------------------

    def feedback(self, image: bytes, digit: int | str) -> dict[str, Any]:
        """Store a consented, labelled drawing, then learn from it.

        `digit`: an int 0-9 (the whole drawing is one digit), or a string of digits, one
        per digit found in the drawing. Returns sample_id(s), model_version, accepted, message.
        """
        drawing = Drawing.from_bytes(image)
        labels = _labels(digit, len(drawing.boxes))
        if isinstance(digit, int):
            drawing = drawing.as_one_digit()
        pieces = [drawing.ink] if len(labels) == 1 else [_pad(ink) for ink in drawing.inks]
        # Encoding and writing (mostly waiting on the disk or S3) overlap with the models' answer
        # before learning; learning starts only once the sample is stored.
        storing = _STORE_WRITES.submit(self._store_samples, pieces, labels, to_uint8(drawing.inputs))
        snapshot = self.recognizer.snapshot
        probs = self.recognizer.predict(drawing.inputs, snapshot)
        predicted = [
            answers.decide({n: probs[n][i] for n in MODEL_NAMES}, drawing.redrawn[i]).digit
            for i in range(len(labels))
        ]
        sample_ids = storing.result()
        try:
            outcome = self.learner.learn(Correction(drawing.strokes, labels, sample_ids, predicted))
        except (StoreUnavailable, OSError) as err:
            self._store_failed(err)
            raise ServiceUnavailable(
                "Your drawing is saved, but the models could not learn from it because the store "
                "is unavailable right now. Please try again in a minute."
            ) from err
        except PublishRaceLost as err:
            raise ServiceUnavailable(str(err)) from err
        self._store_ok()
        result = {
            "sample_id": sample_ids[0],
            "model_version": outcome.version,
            "accepted": outcome.accepted,
            "message": outcome.message,
        }
        if len(sample_ids) > 1:
            result["sample_ids"] = sample_ids
        return result

    def _store_samples(self, inks: list[np.ndarray], labels: list[int], inputs: np.ndarray) -> list[str]:
        """Each piece with its label and the model input the models saw (uint8 (K, 28, 28))."""
        return [
            self._stored(self.samples.add, _to_png(ink), label, "feedback", image.tobytes()).sample_id
            for ink, label, image in zip(inks, labels, inputs, strict=True)
        ]

    def collect(self, image: bytes, digit: int) -> dict[str, Any]:
        """Store a labelled drawing without training: {"sample_id"}."""
        _check_digit(digit)
        ink = decode_image(image, MAX_UPLOAD_PIXELS)
        if not (ink >= INK_THRESHOLD).any():
            raise BlankDrawing("Nothing is drawn.")
        image = ink_model_input(ink)
        record = self._stored(self.samples.add, _to_png(ink), digit, "collect", image.tobytes())
        return {"sample_id": record.sample_id}

    def list_samples(self, digit: int | None = None, limit: int = 50, cursor: str | None = None) -> dict:
        """One page of samples, newest first: {"samples": [...], "next_cursor": str | None}."""
        if digit is not None:
            _check_digit(digit)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIST_LIMIT}.")
        try:
            page, next_cursor = self._stored(self.samples.list, digit, limit, cursor)
        except ValueError:
            raise InvalidRequest("The cursor is not valid; start again without it.") from None
        return {"samples": [record.to_json() for record in page], "next_cursor": next_cursor}

    def sample(self, sample_id: str) -> dict[str, Any]:
        """One sample's metadata; NotFound if unknown."""
        try:
            return self._stored(self.samples.get, sample_id).to_json()
        except KeyError:
            raise NotFound("There is no sample with this id.") from None

    def sample_png(self, sample_id: str) -> bytes:
        """One sample's drawing as PNG bytes; NotFound if unknown."""
        try:
            return self._stored(self.samples.png, sample_id)
        except KeyError:
            raise NotFound("There is no sample with this id.") from None

    def delete_sample(self, sample_id: str) -> None:
        """Remove a sample (admin); NotFound if unknown."""
        try:
            self._stored(self.samples.delete, sample_id)
        except KeyError:
            raise NotFound("There is no sample with this id.") from None

    def relabel_sample(self, sample_id: str, digit: int) -> dict[str, Any]:
        """Change a sample's digit (admin); the updated record. NotFound if unknown."""
        _check_digit(digit)
        try:
            return self._stored(self.samples.relabel, sample_id, digit).to_json()
        except KeyError:
            raise NotFound("There is no sample with this id.") from None

    def export(self) -> Iterator[bytes]:
        """Every sample as the pieces of an npz: images uint8 (N, 28, 28), labels uint8 (N,).

        Every sample is read before this returns (a store outage raises ServiceUnavailable
        here); the pieces are then compressed as they are taken.
        """
        return self._primed(npz_chunks(labelled_inputs(self.samples)))

    def export_csv(self) -> Iterator[bytes]:
        """Every sample as the pieces of a Kaggle-style CSV: label,pixel0..pixel783, a row per sample.

        The first rows are read before this returns; a store outage later cuts the file short.
        """
        return self._primed(csv_chunks(labelled_inputs(self.samples)))

    def _primed(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """`chunks` with its first piece made now, so a store outage at the start is a 503."""
        first = self._stored(next, chunks, b"")
        return itertools.chain([first], chunks)

    def import_samples(self, data: bytes) -> dict[str, Any]:
        """Store an npz or CSV file's images as collect samples (admin): {"imported": n}.

        The file is checked whole before anything is stored; InvalidRequest says what is wrong.
        """
        try:
            records = self._stored(import_dataset, data, self.samples)
        except DatasetError as err:
            raise InvalidRequest(str(err)) from None
        return {"imported": len(records)}

    # --- model versions -----------------------------------------------------------------------

    def models(self, limit: int = HISTORY_PAGE, cursor: str | None = None) -> dict[str, Any]:
        """The current version, a page of version records newest first, and the refused updates
        between them: {"version", "latest", "originals", "history", "refused", "next_cursor"}.

        `latest` is the current version's record (None for the originals); `cursor` is the
        `next_cursor` of the previous page (None on the last page). Reads only the page's records.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIST_LIMIT}.")
        below = _version_cursor(cursor)
        snapshot = self.refresh()
        if below is not None and below > snapshot.version + 1:
            raise InvalidRequest("The cursor is not valid; start again without it.")
        # One record past the page: the refused updates shown are those after it, up to the
        # page's newest version (the first page: up to now), so each appears on one page.
        records = self._stored(self.history.page, limit + 1, below)
        page, older = records[:limit], records[limit:]
        newer_than = older[0].created if older else None
        until = page[0].created if below is not None and page else None
        events = self._stored(self.history.events_between, newer_than, until)
        latest = self._stored(self.history.get, snapshot.version) if snapshot.version > 0 else None
        return {
            "version": snapshot.version,
            "latest": latest.to_json() if latest is not None else None,
            "originals": self.learner.baseline,
            "history": [record.to_json() for record in page],
            "refused": [event for event in reversed(events) if event.get("event") == "update_refused"],
            "next_cursor": f"v{page[-1].version}" if older else None,
        }

    def reset_models(self) -> int:
        """Updated models back to the originals, published as a new version (admin); its number."""
        return self._publish_weights(None, {"event": "reset"})

    def roll_back(self, version: int) -> int:
        """Updated models back to those of `version`, published as a new version (admin); its number."""
        if version == 0:
            return self._publish_weights(None, {"event": "rollback", "to": 0})
        try:
            weights = self._stored(self.history.weights, version)
        except KeyError:
            raise NotFound(f"Version {version} does not exist or its weights were pruned.") from None
        return self._publish_weights(weights, {"event": "rollback", "to": version})

    def _publish_weights(self, weights: bytes | None, info: dict[str, Any]) -> int:
        with self.learner.lock:
            for _attempt in range(self.settings.publish_retries):
                base = self._stored(self.recognizer.follow, self.history, True)
                record = self._stored(self.history.publish, base.version, weights, info)
                if record is not None:
                    self.refresh()
                    return record.version
        raise ServiceUnavailable("The models are being updated by others right now. Please try again.")

    def health(self) -> dict[str, Any]:
        """{"status": "ok" | "degraded", "model_version": n} (+ "message" when degraded), as last known."""
        snapshot = self.recognizer.snapshot
        if self.store_error is None:
            return {"status": "ok", "model_version": snapshot.version}
        return {
            "status": "degraded",
            "model_version": snapshot.version,
            "message": "The store is unreachable: predictions use the models in memory, "
            "and corrections and samples cannot be saved until it is back.",
        }


def _refresh_while_alive(service: weakref.ref[DigitService], pause: float) -> None:
    """Refresh the service every `pause` seconds until it is garbage."""
    while True:
        time.sleep(pause)
        alive = service()
        if alive is None:
            return
        alive.refresh()
        del alive


def _check_digit(digit: Any) -> int:
    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
        raise InvalidRequest("digit must be a whole number from 0 to 9.")
    return digit


def _version_cursor(cursor: str | None) -> int | None:
    """A `next_cursor` of GET /api/models ("v<version>") -> the version the next page goes below."""
    if cursor is None:
        return None
    if not (isinstance(cursor, str) and cursor[:1] == "v" and cursor[1:].isascii() and cursor[1:].isdigit()):
        raise InvalidRequest("The cursor is not valid; start again without it.")
    version = int(cursor[1:]) if len(cursor) <= 11 else 0
    if version < 2:
        raise InvalidRequest("The cursor is not valid; start again without it.")
    return version


def _labels(digit: Any, found: int) -> list[int]:
    """The feedback `digit` field -> one label per digit of the drawing."""
    if isinstance(digit, str) and digit.isascii() and digit.isdigit() and len(digit) <= 32:
        if len(digit) != found:
            raise InvalidRequest(
                f"The drawing has {found} digit{'s' if found != 1 else ''}, but {len(digit)} were given."
            )
        return [int(c) for c in digit]
    if isinstance(digit, str):
        raise InvalidRequest("digit must be a whole number from 0 to 9, or a string of digits.")
    return [_check_digit(digit)]


def _pad(ink: np.ndarray) -> np.ndarray:
    margin = max(2, round(SAMPLE_MARGIN * max(ink.shape)))
    return np.pad(ink, margin)


def _to_png(ink: np.ndarray) -> bytes:
    """Ink (H, W) 0..1 -> a grayscale PNG, black ink on white (what is stored: no metadata kept)."""
    return gray_png(np.clip(np.rint(255 - ink * 255), 0, 255).astype(np.uint8), level=1)  # fast to write


def png_data_url(image: np.ndarray) -> str:
    """A model input (H, W), ink = 1.0 -> PNG data URL, black ink on white."""
    return "data:image/png;base64," + base64.b64encode(_to_png(image)).decode("ascii")
