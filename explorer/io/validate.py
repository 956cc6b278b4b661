"""Record checks shared by every importer: field types, boxes against their image, scores.

Structural checks (is this a dict, an integer id, a list of 4 numbers) necessarily look at each JSON/XML
value once; the numeric checks (finite, non-negative, inside the image, score range) run vectorised over all
rows at once. Checks return, per row, a message for the rows to reject (``None`` when the row is fine) and a
message for the rows to keep but flag, so importers can name the record in their own terms.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from explorer.errors import ProblemReport


def is_int(value) -> bool:
    """True for an integer (``int`` or a NumPy integer scalar) or an integral float such as ``3.0``;
    False for bools, strings and NaN. NumPy scalars count because pycocotools accepts them in Python dicts."""
    if type(value) is int or isinstance(value, np.integer):
        return True
    return (type(value) is float or isinstance(value, np.floating)) and bool(np.isfinite(value)) and float(value).is_integer()


def is_number(value) -> bool:
    """True for a number (``int``/``float`` or a NumPy integer/float scalar; NaN included: finiteness is checked
    separately); False for bools (``np.bool_`` is not a NumPy number either)."""
    return type(value) in (int, float) or isinstance(value, (np.integer, np.floating))


def describe(value) -> str:
    """A short rendering of a bad value for messages: ``'abc' (str)``, ``None``."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text if value is None else f"{text} ({type(value).__name__})"


def json_kind(value) -> str:
    """The JSON name of a value's type for messages: ``a list``, ``an object``, ``a string``."""
    kinds = {list: "a list", dict: "an object", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def parse_boxes(values: list) -> tuple[np.ndarray, list[str | None]]:
    """Parse JSON ``bbox`` values into an ``(n, 4)`` float64 array of ``x, y, w, h``.

    A value that is not a list (tuple, 1-d array) of 4 numbers gives a NaN row and a message; numbers that are
    NaN/inf parse (``check_boxes`` rejects them with the box shown).
    """
    n = len(values)
    boxes = np.full((n, 4), np.nan)
    errors: list[str | None] = [None] * n
    for i, b in enumerate(values):
        if isinstance(b, (list, tuple, np.ndarray)) and len(b) == 4 and all(is_number(v) for v in b):
            boxes[i] = [float(v) for v in b]
        elif b is None:
            errors[i] = "missing 'bbox'"
        else:
            errors[i] = f"bbox must be a list of 4 numbers [x, y, width, height], got {describe(b)}"
    return boxes, errors


class Messages:
    """Per-row messages of a check, formatted only when read (``messages[i]`` → str or None): a check over
    100k rows that flags 30k of them costs array operations, not 30k string formats, until a report asks."""

    def __init__(self, n: int):
        self.mask = np.zeros(n, bool)
        self._rules: list[tuple[np.ndarray, Callable[[int], str]]] = []

    def add(self, mask: np.ndarray, message: Callable[[int], str]) -> None:
        """Rows of ``mask`` that have no message yet get ``message(i)``."""
        new = mask & ~self.mask
        self.mask |= new
        self._rules.append((new, message))

    def __getitem__(self, i) -> str | None:
        for mask, message in self._rules:
            if mask[i]:
                return message(int(i))
        return None


@dataclass
class BoxCheck:
    """Per-row verdicts of ``check_boxes``: ``rejected[i]`` / ``flagged[i]`` are a message or None."""

    rejected: Messages
    flagged: Messages

    @property
    def ok(self) -> np.ndarray:
        """(n,) bool: rows to keep (possibly flagged)."""
        return ~self.rejected.mask

    @property
    def has_flag(self) -> np.ndarray:
        """(n,) bool: rows with a flag message."""
        return self.flagged.mask.copy()


def _fmt_box(b: np.ndarray) -> str:
    return "[%g, %g, %g, %g]" % tuple(b.tolist())


def check_boxes(xywh: np.ndarray, width: np.ndarray, height: np.ndarray, *, outside: str = "reject") -> BoxCheck:
    """Check ``(n, 4)`` pixel boxes ``x, y, w, h`` against their images' ``(n,)`` width and height.

    Rejected: any coordinate NaN/inf; ``w < 0`` or ``h < 0``; a box entirely outside the image, i.e. its
    intersection with ``[0, W] x [0, H]`` is empty (for a zero-size box: the point lies outside) — flagged
    and kept instead with ``outside="flag"`` (COCO: pycocotools evaluates such a box like any other).
    Flagged (kept): a box partly outside the image (``x < 0``, ``y < 0``, ``x + w > W`` or ``y + h > H``, no
    tolerance); a box with zero width or height. Rows whose image size is NaN (unknown) skip the image tests.
    """
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    n = len(xywh)
    x, y, w, h = xywh.T
    W = np.asarray(width, dtype=np.float64)
    H = np.asarray(height, dtype=np.float64)
    not_finite = ~np.isfinite(xywh).all(axis=1)
    with np.errstate(invalid="ignore"):
        negative = ~not_finite & ((w < 0) | (h < 0))
        good = ~not_finite & ~negative
        known = np.isfinite(W) & np.isfinite(H)
        x2, y2 = x + w, y + h
        # overlap with the image rectangle; a zero-size box counts as inside when its point is inside
        ow = np.minimum(x2, W) - np.maximum(x, 0)
        oh = np.minimum(y2, H) - np.maximum(y, 0)
        zero = good & ((w == 0) | (h == 0))
        outside_rows = good & known & np.where(zero, (ow < 0) | (oh < 0), (ow <= 0) | (oh <= 0))
        partly = good & known & ~outside_rows & ((x < 0) | (y < 0) | (x2 > W) | (y2 > H))
    rejected, flagged = Messages(n), Messages(n)
    rejected.add(not_finite, lambda i: f"bbox {_fmt_box(xywh[i])} must be 4 finite numbers")
    rejected.add(negative, lambda i: f"bbox {_fmt_box(xywh[i])} has a negative width or height")
    out_msg = lambda i: f"bbox {_fmt_box(xywh[i])} lies entirely outside the {W[i]:g}x{H[i]:g} image"  # noqa: E731
    if outside == "flag":
        flagged.add(outside_rows, lambda i: out_msg(i) + " (kept: evaluated like any box)")
    else:
        rejected.add(outside_rows, out_msg)
    flagged.add(zero & ~outside_rows, lambda i: f"bbox {_fmt_box(xywh[i])} has zero width or height")
    flagged.add(partly, lambda i: f"bbox {_fmt_box(xywh[i])} extends beyond the {W[i]:g}x{H[i]:g} image")
    return BoxCheck(rejected, flagged)


def check_scores(scores: np.ndarray) -> BoxCheck:
    """Check ``(n,)`` confidence scores: NaN rejected (it has no rank); outside ``[0, 1]`` flagged (kept),
    ``±inf`` included — pycocotools ranks an infinite score like any other (first or last)."""
    s = np.asarray(scores, dtype=np.float64)
    rejected, flagged = Messages(len(s)), Messages(len(s))
    bad = np.isnan(s)
    with np.errstate(invalid="ignore"):
        out = ~bad & ((s < 0) | (s > 1))
    rejected.add(bad, lambda i: f"score must be a finite number, got {s[i]} (an infinite score is kept: it ranks first or last)")
    flagged.add(out, lambda i: f"score {s[i]:g} is outside [0, 1]")
    return BoxCheck(rejected, flagged)


def report_checks(report: ProblemReport, file: str, record: Callable[[int], str], checks: list[BoxCheck], *,
                  rejected_kind: str, flagged_kind: str, ok: np.ndarray) -> np.ndarray:
    """Add the rejections/flags of ``checks`` for the rows still ``ok`` to ``report``; return the new ok mask.

    ``record(i)`` names row ``i`` (``"annotations[3] (id=7)"``). A row rejected by one check is reported once.
    """
    ok = ok.copy()
    for check in checks:
        for i in np.flatnonzero(ok & ~check.ok):
            report.add(file, record(i), check.rejected[i], rejected_kind)
            ok[i] = False
    for check in checks:
        for i in np.flatnonzero(ok & check.has_flag):
            report.warn(file, record(i), check.flagged[i], flagged_kind)
    return ok
