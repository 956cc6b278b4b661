"""Hostile image files written for real (no mocks): each one must cost exactly its own row."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, rows: bytes = b"") -> bytes:
    """A PNG (8-bit greyscale) whose IHDR says ``width × height``; ``rows`` is the raw scanline data (filter byte
    + pixels per row), zlib-compressed into one IDAT. With too few rows the header lies about the data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows))
            + _chunk(b"IEND", b""))


def write_valid(folder: Path, n: int, *, seed: int = 0) -> list[str]:
    """``n`` valid noise images (alternating JPEG and PNG), 48×64; returns their names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        name = f"ok_{i:03d}.{'jpg' if i % 2 else 'png'}"
        cv2.imwrite(str(folder / name), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
        names.append(name)
    return names


def write_bad(folder: Path, *, fifo: bool = True) -> dict[str, str]:
    """Every hostile kind of image file under ``folder``: ``{file name: what the report must say}``.

    The too-large ones (``big.png`` 25000², ``giga.png`` 10^10 pixels) are kept as rows with NaN pixel metrics;
    the others are skipped.
    """
    folder.mkdir(parents=True, exist_ok=True)
    good = cv2.imencode(".jpg", np.full((40, 60, 3), 128, np.uint8))[1].tobytes()
    png = cv2.imencode(".png", np.arange(40 * 60 * 3, dtype=np.uint8).reshape(40, 60, 3))[1].tobytes()
    files = {
        "zero.jpg": (b"", "empty file (0 bytes)"),
        "truncated.jpg": (good[: len(good) // 3], "could not be decoded"),
        "truncated.png": (png[: len(png) // 2], "could not be decoded"),
        "text.jpg": (b"this is not an image\n", "could not be decoded"),
        "big.png": (png_bytes(25000, 25000), "too large to decode: 25000×25000"),
        "giga.png": (png_bytes(100000, 100000), "too large to decode: 100000×100000"),
    }
    expected = {}
    for name, (data, message) in files.items():
        (folder / name).write_bytes(data)
        expected[name] = message
    if fifo:
        os.mkfifo(folder / "pipe.jpg")
        expected["pipe.jpg"] = "a FIFO, not a regular file"
    return expected


TOO_LARGE = {"big.png": (25000, 25000), "giga.png": (100000, 100000)}


def write_tall(folder: Path) -> str:
    """A valid 1×65535 PNG (one grey column): decodable, but a reduced decode would have zero columns."""
    rows = b"".join(b"\x00" + bytes([i % 256]) for i in range(65535))
    (folder / "tall.png").write_bytes(png_bytes(1, 65535, rows))
    return "tall.png"
