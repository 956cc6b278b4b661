"""Loading a JSON input file with user-facing errors (file name, line and column of a syntax error).

Parser limits never cost the whole file when only a record is at fault: an integer of more than 300 digits
(no id, count or coordinate can be one; Python refuses to convert past 4,300) is read as ±inf, so the record
validator names that one record and keeps the others; shorter integers stay exact (ids beyond int64 are then
that record's problem too).
Nesting deeper than the parser can follow is a ``UserError`` naming the file (nothing in it can be trusted).
UTF-8 (with or without a byte-order mark) or UTF-16 with its BOM.

A key given twice in one object is never resolved silently (JSON parsers keep the last): such an object is a
``DuplicateKeys`` dict holding the FIRST value of each key, with the later values in ``.later``; the record model
rejects a record that is one, and a labels file names which of two top-level sections it read.

Speed: files are parsed by orjson (5-8x the standard parser on COCO files) with the cyclic garbage collector
paused (100k records allocate ~1M containers; each GC pass would walk them all). orjson reads an integer past
64 bits as a float (so ``-2**63 - 1`` would become the valid id ``-2**63``) and rejects what the standard parser
accepts (NaN, 1e400, lone surrogates, BOM-less UTF-16, deep nesting): a file holding a run of 19+ digits, or
that orjson refuses, is read by the standard parser with the rules above, so both parsers give the same values.
"""
from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from pathlib import Path

import orjson

from explorer.errors import UserError


def load_json(path: str | Path, *, what: str):
    """Parse a JSON file; ``UserError`` naming the file (and line/column) when it is missing, empty or malformed.

    ``what`` says what the file is for in messages (``"labels"``, ``"predictions"``).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file {path} does not exist")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserError(f"{what} file {path} cannot be read: {e}") from None
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    if _LONG_DIGITS not in body.translate(_DIGIT_MASK):  # no integer orjson would read as a float
        with gc_paused():
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                data = _FAILED  # the standard parser decides (and names line and column when it fails too)
        if data is not _FAILED and _keys_add_up(data, body):
            return data
    try:
        text = raw.decode("utf-16") if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{what} file {path} cannot be read: not UTF-8 or UTF-16 text (byte {e.start})") from None
    if not text.strip():
        raise UserError(f"{what} file {path} is empty")
    try:
        with gc_paused():
            return json.loads(text, parse_int=_parse_int, object_pairs_hook=_object)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply to read (arrays/objects inside each other beyond the "
                        "parser's limit); COCO files nest a few levels only") from None


_FAILED = object()


class DuplicateKeys(dict):
    """A JSON object that gives some key more than once: the first value of each key; ``later`` is
    ``{key: [later values]}``."""

    later: dict


def _object(pairs: list) -> dict:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    out = DuplicateKeys()
    out.later = {}
    for k, v in pairs:
        if k in out:
            out.later.setdefault(k, []).append(v)
        else:
            out[k] = v
    return out


def report_duplicate_keys(data, file: str, report) -> None:
    """Name each top-level key of ``data`` that the file gives more than once (a ``DuplicateKeys``): the first
    value is the one read, the later ones are ignored, and the problem says how many records that leaves out."""
    for key, later in getattr(data, "later", {}).items() if type(data) is DuplicateKeys else ():
        size = lambda v: f"{len(v)} record(s)" if type(v) is list else type(v).__name__  # noqa: E731
        report.add(file, key, f"'{key}' is given {len(later) + 1} times; the first ({size(data[key])}) is read, the "
                   f"later one(s) ({', '.join(size(v) for v in later)}) are ignored: merge them into one", "duplicate_key")


def _keys_add_up(data, body: bytes) -> bool:
    """True when the keys orjson kept are every key of the file (so no key was given twice, which orjson would
    resolve silently): ``body.count(b'":')`` (every key of compact or pretty-printed JSON ends so) against the
    keys of the top object, of the records in its lists and of the objects inside those records, counted at C
    speed. Anything else (a string holding ``":``, a key spaced from its colon, objects nested deeper) does not
    add up, and the standard parser, which sees every duplicate, reads the file."""
    tokens = body.count(b'":')
    if type(data) is dict:
        n, sections = len(data), data.values()
    elif type(data) is list:
        n, sections = 0, (data,)
    else:
        return tokens == 0
    lists = []
    for v in sections:
        if type(v) is dict:
            n += len(v)
        elif type(v) is list and v and set(map(type, v)) <= {dict}:
            n += sum(map(len, v))
            lists.append(v)
    if n < tokens:  # objects inside the records (RLE segmentations, ...)
        n += sum(len(x) for v in lists for r in v for x in r.values() if type(x) is dict)
    return n == tokens


def _parse_int(digits: str):
    """The exact int when it has at most 300 digits (the validator range-checks ids exactly against int64, and
    such an int still converts to float), else ±inf: no id, count or coordinate can be that large, so the
    validator rejects that one record — and Python's 4,300-digit conversion limit is never reached."""
    if len(digits.lstrip("-")) <= 300:
        return int(digits)
    return float("-inf") if digits.startswith("-") else float("inf")


# every byte that is not an ASCII digit -> a space, digits -> "0": a run of 19 digits is then one substring test
_DIGIT_MASK = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_LONG_DIGITS = b"0" * 19  # 2**63 has 19 digits: shorter integers are exact int64 in orjson


@contextmanager
def gc_paused():
    """Pause the cyclic GC while a parser allocates (parsed JSON holds no reference cycles); nests. Callers that
    turn a parsed file into arrays keep it paused until the parsed objects are freed (``inputs.from_coco``):
    resumed earlier, the next collections would walk every one of them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_gc_paused = gc_paused  # the name explorer/io/json_chunks.py imports
