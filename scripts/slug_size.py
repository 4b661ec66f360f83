"""The Heroku slug's compressed size, built the way the Python buildpack builds it.

Usage: .venv/bin/python scripts/slug_size.py [--ref HEAD] [--keep DIR]   (or `make slug-size`)

1. the repository as committed at `--ref` (`git archive`: uncommitted changes are not in it);
2. `.slugignore` applied (Heroku applies it before the buildpack runs);
3. a fresh `pip install -r requirements.txt` into `.heroku/python`, the buildpack's prefix (pip's
   download cache makes a second run work offline);
4. `bin/post_compile` run in the build directory, as the buildpack's hook;
5. the directory as a gzip-compressed tar, as the slug is stored.

Prints the compressed size and the largest parts. The Python runtime the buildpack adds to the
slug (the interpreter and its standard library, about 35 MB compressed) is not built here; the
printed total adds that estimate (RUNTIME_MB). Run it with the Python version the app deploys
with (runtime.txt), so pip picks the same wheels.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_MB = 35.0  # Heroku's Python runtime in the slug, compressed (not built by this script)
SLUG_LIMIT_MB = 500.0  # Heroku refuses larger slugs
MB = 1024 * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="HEAD", help="the commit to build (default: HEAD)")
    parser.add_argument("--keep", type=Path, help="build in this empty directory and keep it")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        figures = build_slug(args.ref, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="digitrec-slug-") as scratch:
            figures = build_slug(args.ref, Path(scratch))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(format_figures(figures))
    return 0


def build_slug(ref: str, scratch: Path) -> dict[str, object]:
    """Build the slug under `scratch` and measure it: sizes in MB (1 MB = 2**20 bytes)."""
    app = scratch / "app"
    app.mkdir()
    export_commit(ref, app)
    ignored = apply_slugignore(app)
    prefix = app / ".heroku" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-warn-script-location", "--ignore-installed", "--prefix", str(prefix),
         "-r", str(app / "requirements.txt")],
        check=True,
    )  # fmt: skip
    installed_mb = directory_bytes(prefix) / MB
    hook = app / "bin" / "post_compile"
    if hook.exists():
        subprocess.run(["bash", str(hook)], cwd=app, check=True, stdout=sys.stderr)  # keep stdout for figures
    slug = scratch / "slug.tgz"
    subprocess.run(["tar", "-czf", str(slug), "-C", str(scratch), "app"], check=True)
    slug_mb = slug.stat().st_size / MB
    return {
        "ref": ref,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "slugignored": ignored,
        "installed_mb": round(installed_mb, 1),
        "trimmed_mb": round(directory_bytes(prefix) / MB, 1),
        "uncompressed_mb": round(directory_bytes(app) / MB, 1),
        "compressed_mb": round(slug_mb, 1),
        "runtime_estimate_mb": RUNTIME_MB,
        "slug_estimate_mb": round(slug_mb + RUNTIME_MB, 1),
        "largest_packages_mb": largest_parts(prefix),
    }


def export_commit(ref: str, destination: Path) -> None:
    """The files of commit `ref`, as `git push` delivers them, extracted into `destination`."""
    command = ["git", "archive", "--format=tar", ref]
    archive = subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="tar")


def apply_slugignore(app: Path) -> list[str]:
    """Delete what `.slugignore` names (gitignore-style patterns; "/x" anchors at the root)."""
    listing = app / ".slugignore"
    if not listing.exists():
        return []
    removed = []
    for line in listing.read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
        pattern = pattern.strip("/")
        for path in sorted(app.rglob("*")):
            relative = path.relative_to(app).as_posix()
            if not path.exists() and not path.is_symlink():
                continue  # under a directory removed already
            matched = fnmatch.fnmatch(relative, pattern) if anchored else fnmatch.fnmatch(path.name, pattern)
            if matched:
                removed.append(relative)
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
    return removed


def directory_bytes(directory: Path) -> int:
    """Apparent size of every file under `directory` (symlinks not followed)."""
    total = 0
    for parent, _, files in os.walk(directory):
        for name in files:
            path = Path(parent) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def largest_parts(prefix: Path, count: int = 8) -> dict[str, float]:
    """The `count` largest top-level entries of site-packages, uncompressed MB."""
    site_packages = next(prefix.glob("lib/python3.*/site-packages"))
    sizes = {
        entry.name: (directory_bytes(entry) if entry.is_dir() else entry.stat().st_size) / MB
        for entry in site_packages.iterdir()
    }
    largest = sorted(sizes.items(), key=lambda item: item[1], reverse=True)[:count]
    return {name: round(size, 1) for name, size in largest}


def format_figures(figures: dict[str, object]) -> str:
    parts = ", ".join(f"{name} {size}" for name, size in figures["largest_packages_mb"].items())
    return "\n".join(
        [
            f"slug of {figures['ref']} (Python {figures['python']}), sizes in MB (2**20 bytes):",
            f"  .slugignore removed:        {', '.join(figures['slugignored']) or 'nothing'}",
            f"  pip install:                {figures['installed_mb']} installed, "
            f"{figures['trimmed_mb']} after bin/post_compile",
            f"  largest (uncompressed):     {parts}",
            f"  slug, uncompressed:         {figures['uncompressed_mb']}",
            f"  slug, compressed:           {figures['compressed_mb']}",
            f"  + Python runtime (estimate): {figures['runtime_estimate_mb']}",
            f"  = slug as Heroku counts it: {figures['slug_estimate_mb']} of {SLUG_LIMIT_MB:.0f} allowed",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
