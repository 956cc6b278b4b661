"""Loading a JSON input file with user-facing errors (file name, line and column of a syntax error).

Parser limits never cost the whole file when only a record is at fault: an integer of more than 300 digits
(no id, count or coordinate can be one; Python refuses to convert past 4,300) is read as ±inf, so the record
validator names that one record and keeps the others; shorter integers stay exact (ids beyond int64 are then
that record's problem too).
Nesting deeper than the parser can follow is a ``UserError`` naming the file (nothing in it can be trusted).
"""
from __future__ import annotations

import json
from pathlib import Path

from explorer.errors import UserError


def load_json(path: str | Path, *, what: str):
    """Parse a JSON file; ``UserError`` naming the file (and line/column) when it is missing, empty or malformed.

    ``what`` says what the file is for in messages (``"labels"``, ``"predictions"``).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{what} file {path} cannot be read: {e}") from None
    if not text.strip():
        raise UserError(f"{what} file {path} is empty")
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply to read (arrays/objects inside each other beyond the "
                        "parser's limit); COCO files nest a few levels only") from None


def _parse_int(digits: str):
    """The exact int when it has at most 300 digits (the validator range-checks ids exactly against int64, and
    such an int still converts to float), else ±inf: no id, count or coordinate can be that large, so the
    validator rejects that one record — and Python's 4,300-digit conversion limit is never reached."""
    if len(digits.lstrip("-")) <= 300:
        return int(digits)
    return float("-inf") if digits.startswith("-") else float("inf")
