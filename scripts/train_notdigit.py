"""Train the not-a-digit classifier (digitrec/notdigit.py); write models/notdigit.npz.

    .venv/bin/python scripts/train_notdigit.py [--models models]

Prints the classifier's report (segments fitted and held out, threshold, held-out refusal rates)
and stores it under "not_a_digit_classifier" in MODELS/report.json, as `python -m digitrec train` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digitrec.train import NotDigitConfig, train_notdigit

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    report = train_notdigit(args.models, NotDigitConfig())
    path = args.models / "report.json"
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        stored["not_a_digit_classifier"] = report
        path.write_text(json.dumps(stored, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({**report, "history": report["history"][-1:]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
