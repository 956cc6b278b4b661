"""Loading a JSON input file with user-facing errors (file name, line and column of a syntax error)."""
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
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
