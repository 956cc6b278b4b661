"""Content fingerprints of the metrics cache (light: imported by every worker process)."""
from __future__ import annotations

import hashlib

import numpy as np


def content_hash(data: bytes) -> str:
    """Hex blake2b-128 of a file's bytes."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def boxes_hash(image_item: str, level: str, boxes: np.ndarray) -> str:
    """Cache item of an image's boxes at one level: changes when the image or any box coordinate changes."""
    h = hashlib.blake2b(digest_size=16)
    h.update(image_item.encode())
    h.update(level.encode())
    h.update(np.ascontiguousarray(boxes, dtype=np.float64).tobytes())
    return h.hexdigest()
