"""The command line: `python -m digitrec train | evaluate | predict | export | import` (CONTRACT.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from digitrec.config import ROOT


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; the exit status (0 ok, 1 failed, 2 bad usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m digitrec", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train both models and write models/ (weights, report, plots)")
    train.add_argument("--out", type=Path, default=ROOT / "models", help="output directory (default models/)")
    train.add_argument("--quick", action="store_true", help="a tiny configuration for smoke tests")
    train.add_argument("--seed", type=int, help="random seed (default 2017)")
    train.add_argument(
        "--with-collected", action="store_true", help="add the samples of the store (DIGITREC_STORE)"
    )
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="accuracy of the four models and the answer rule")
    evaluate.add_argument("--split", default="test", choices=["test", "validation", "train"])
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="recognise PNG/JPEG drawings")
    predict.add_argument("files", nargs="+", type=Path, metavar="FILE")
    predict.set_defaults(run=_predict)

    export = commands.add_parser(
        "export",
        help="the collected dataset as an npz (images, labels), or a Kaggle-style CSV if OUT ends in .csv",
    )
    export.add_argument("out", type=Path, metavar="OUT.npz")
    export.set_defaults(run=_export)

    load = commands.add_parser(
        "import", help="add an npz or CSV dataset file to the store as collect samples"
    )
    load.add_argument("file", type=Path, metavar="FILE")
    load.set_defaults(run=_import)
    return parser


def _train(args: argparse.Namespace) -> int:
    import dataclasses

    from digitrec.config import Settings
    from digitrec.train import QUICK, TrainConfig, collected_digits, train

    config = QUICK if args.quick else TrainConfig()
    if args.seed is not None:
        config = dataclasses.replace(config, seed=args.seed)
    collected = None
    if args.with_collected:
        settings = Settings.from_env()
        collected = collected_digits(settings.store, settings.s3_endpoint_url)
    report = train(config, args.out, collected)
    for name in ("fnn", "cnn"):
        print(f"{name.upper()}: test accuracy {100 * report[name]['test_accuracy']:.2f}%")
    print(f"trained in {report['training_seconds']:.0f} s; wrote {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from digitrec.evaluate import evaluate_split

    result = evaluate_split(args.split)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['split']} split, {result['n']} digits")
    for name, value in result.items():
        if name not in ("split", "n"):
            print(f"  {name:<12} {100 * value:6.2f}%")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from digitrec.answer import decide, top_digits
    from digitrec.drawing import DrawingError, preprocess_drawing
    from digitrec.evaluate import load_recognizer

    recognizer = load_recognizer()
    status = 0
    for path in args.files:
        try:
            image = preprocess_drawing(path.read_bytes())
        except (OSError, DrawingError) as err:
            print(f"{path}: {err}")
            status = 1
            continue
        probs = {name: p[0] for name, p in recognizer.predict(image[None]).items()}
        answer = decide(probs)
        print(f"{path}: {answer.digit if answer.digit is not None else '?'}  ({answer.message})")
        for name, p in probs.items():
            top = ", ".join(f"{t['digit']} {100 * t['probability']:.1f}%" for t in top_digits(p))
            print(f"  {name:<12} {top}")
    return status


def _export(args: argparse.Namespace) -> int:
    from digitrec.config import Settings
    from digitrec.dataset import csv_chunks, labelled_inputs, npz_chunks
    from digitrec.store import SampleStore, open_blob_store

    settings = Settings.from_env()
    write = csv_chunks if args.out.suffix.lower() == ".csv" else npz_chunks
    samples = SampleStore(open_blob_store(settings.store, settings.s3_endpoint_url))
    partial = args.out.with_name(args.out.name + ".partial")
    with partial.open("wb") as out:
        for chunk in write(labelled_inputs(samples)):
            out.write(chunk)
    os.replace(partial, args.out)  # never leave a half-written file under the requested name
    print(f"wrote {args.out}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from digitrec.config import Settings
    from digitrec.dataset import import_dataset
    from digitrec.store import SampleStore, open_blob_store

    settings = Settings.from_env()
    records = import_dataset(
        args.file.read_bytes(), SampleStore(open_blob_store(settings.store, settings.s3_endpoint_url))
    )
    print(f"imported {len(records)} samples from {args.file} into {settings.store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
