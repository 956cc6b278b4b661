"""Image sizes from file headers, without decoding pixels, and the one bound on what may be decoded.

Light (no OpenCV, no NumPy; Pillow only for formats other than JPEG and PNG): the importers' header probe
(``explorer.io.images``) and the metric workers' decoder (``metrics.image.decode``) share it, so both name the
same images "too large".

Rule: an image is decoded only when its header gives a size and ``width * height <= MAX_PIXELS``
(2^28 = 268,435,456 pixels, e.g. 16384 × 16384; a BGR buffer of 768 MiB at most, before the JPEG decoder's
reduction). Anything larger is *too large to decode*: its size (from the header) is still known, its pixels
are never touched. Pillow's own decompression-bomb check (``DecompressionBombError`` above 2 × 89 M pixels)
is not what decides: it is bypassed only to read the header's size, never to decode.
"""
from __future__ import annotations

import io
import struct

MAX_PIXELS = 1 << 28

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class TooLargeToDecode(ValueError):
    """The header announces more than ``MAX_PIXELS`` pixels; ``width``/``height`` are the header's."""

    def __init__(self, width: int, height: int):
        self.width, self.height = int(width), int(height)
        super().__init__(too_large_message(self.width, self.height))


def too_large_message(width: int, height: int) -> str:
    """The one wording of the problem (``explorer metrics`` and the importers)."""
    return (f"too large to decode: {width}×{height} ({width * height:,} pixels; the bound is "
            f"{MAX_PIXELS:,} pixels)")


def too_large(width: int, height: int) -> bool:
    return int(width) * int(height) > MAX_PIXELS


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG markers to the first SOF (``data`` starts with SOI)."""
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h = int.from_bytes(data[i + 5:i + 7], "big")
            w = int.from_bytes(data[i + 7:i + 9], "big")
            return (w, h) if w > 0 and h > 0 else None
        i += 2 + length
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    """IHDR is the first chunk: signature (8) + length (4) + b"IHDR" (4) + width, height (big-endian u32)."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    w, h = struct.unpack(">II", data[16:24])
    return (w, h) if w > 0 and h > 0 else None


def _unchecked_size(fp) -> tuple[int, int] | None:
    """The size Pillow's format plugins read from the header, without ``Image.open``'s bomb check (which raises
    before the size can be seen). Only called after ``DecompressionBombError``: no pixel is decoded here."""
    from PIL import Image

    Image.init()
    fp.seek(0)
    prefix = fp.read(16)
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and accept(prefix) is not True:
            continue
        try:
            fp.seek(0)
            im = factory(fp, "")
            return tuple(int(v) for v in im.size)
        except Exception:  # not this format (or corrupt): try the next plugin
            continue
    return None


def stream_size(fp) -> tuple[int, int] | None:
    """``(width, height)`` from the header of a binary file object (Pillow opens lazily), None when unreadable."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fp) as im:
                w, h = im.size
        return (int(w), int(h)) if w > 0 and h > 0 else None
    except Image.DecompressionBombError:
        return _unchecked_size(fp)
    except Exception:  # Pillow raises many types for corrupt files; all mean "no readable header"
        return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the bytes of an image file without decoding pixels, or None when unreadable.

    JPEG and PNG are read here (the common case costs no Pillow call); other formats by Pillow.
    """
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:8] == _PNG_SIGNATURE:
        return _png_size(data)
    if not data:
        return None
    return stream_size(io.BytesIO(data))
