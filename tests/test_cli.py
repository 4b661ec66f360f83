"""The command line (CONTRACT.md): evaluate --json, predict, export, and usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from digitrec.__main__ import main
from digitrec.canvas import render_digit
from digitrec.config import ROOT
from digitrec.data import load_split
from digitrec.store import SampleStore, open_blob_store


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "store"
    monkeypatch.setenv("DIGITREC_STORE", str(path))
    return path


@pytest.fixture(scope="module")
def digits():
    return load_split("test").subset(np.arange(0, 1990, 199))


def test_evaluate_json_prints_the_contract_object(store, capsys):
    assert main(["evaluate", "--split", "test", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result) == ["split", "n", "fnn", "fnn_updated", "cnn", "cnn_updated", "answer"]
    assert result["split"] == "test" and result["n"] == len(load_split("test"))
    assert all(0.0 <= result[name] <= 1.0 for name in list(result)[2:])
    # An empty store has no updated weights: the updated models are the originals.
    assert result["fnn_updated"] == result["fnn"] and result["cnn_updated"] == result["cnn"]


def test_predict_prints_the_answer_and_top_3_per_model(store, digits, tmp_path, capsys):
    path = tmp_path / "drawing.png"
    path.write_bytes(render_digit(digits.images[0]))
    assert main(["predict", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{path}: {digits.labels[0]}")
    assert [line.split()[0] for line in lines[1:]] == ["fnn", "fnn_updated", "cnn", "cnn_updated"]
    assert all(line.count("%") == 3 for line in lines[1:])


def test_predict_reports_an_unreadable_file_and_fails(store, tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("not an image")
    assert main(["predict", str(path)]) == 1
    assert "not a readable PNG or JPEG" in capsys.readouterr().out


def test_export_writes_the_collected_dataset(store, digits, tmp_path):
    samples = SampleStore(open_blob_store(str(store)))
    for image, label in zip(digits.images[:3], digits.labels[:3], strict=True):
        samples.add(render_digit(image), int(label), "collect")
    out = tmp_path / "dataset.npz"
    assert main(["export", str(out)]) == 0
    with np.load(out) as data:
        assert data["images"].shape == (3, 28, 28) and data["images"].dtype == np.uint8
        assert sorted(data["labels"].tolist()) == sorted(digits.labels[:3].tolist())
    assert not list(tmp_path.glob("*.partial"))


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])
    assert exit_info.value.code == 2


BLAS_THREADS = """
import os, sys


class SeeNumpyLoad:
    # OpenBLAS reads its thread count once, when numpy loads it: report the setting at that moment.
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            print(os.environ.get("OPENBLAS_NUM_THREADS"))
            sys.meta_path.remove(self)


sys.meta_path.insert(0, SeeNumpyLoad())
import digitrec.__main__  # what `python -m digitrec` imports first
"""


def test_the_cli_sets_one_blas_thread_before_numpy_loads(tmp_path):
    # The package's first import loads numpy: the thread count must be set before it, or the
    # FNN's training sums in a different order on every run and is not reproducible.
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-c", BLAS_THREADS]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split()[-1] == "1"
