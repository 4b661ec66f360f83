"""Writing 8-bit grayscale PNGs: the answer's preview, stored samples, the test drawings.

Made by hand, as the draw page's static/js/png.js makes them (no filter on any row, one IDAT
chunk): for a small image Pillow's encoder costs several times what zlib itself does.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def gray_png(gray: np.ndarray, level: int = -1) -> bytes:
    """Pixels uint8 (H, W), 255 = white -> an 8-bit grayscale PNG; `level`: zlib's (-1: its default)."""
    height, width = gray.shape
    rows = np.zeros((height, width + 1), np.uint8)  # each row: filter type 0, then its pixels
    rows[:, 1:] = gray
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray, no interlace
    idat = zlib.compress(rows.tobytes(), level)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
