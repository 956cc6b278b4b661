"""A large JSON list of records read a chunk at a time: the records of one chunk are Python objects at once.

A COCO results file of 20M predictions parsed whole is ~10 GB of dicts, lists and floats; read as chunks of
``CHUNK_BYTES`` it is one chunk's worth (~0.2 GB) at a time, each chunk turned into table columns before the
next is parsed (``explorer.io.records.parse_results_chunks``).

Only the plain case is chunked, and only when every chunk parses exactly as ``explorer.io.jsonfile.load_json``
would parse it: a UTF-8 file (BOM allowed) whose top level is a list, cut between records where one object
ends and the next begins (``}`` ``,`` whitespace ``{``), each chunk parsed by orjson with the checks of
``load_json``' fast path (no 19+ digit run, every key counted: no key given twice). A cut in the wrong place
(inside a string or a nested object) leaves a chunk that is not valid JSON, so it cannot go unnoticed. Anything
else — a file under ``MIN_FILE_BYTES``, another top level, a chunk orjson refuses or whose keys do not add up,
UTF-16 — raises ``NotChunkable`` (before or during the walk) and the caller reads the file with ``load_json``,
so its values and every problem and error message are exactly the whole-file ones.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson

# the fast path's own checks, so a chunk is accepted exactly when load_json's orjson path would accept it
from explorer.io.jsonfile import _DIGIT_MASK, _LONG_DIGITS, _keys_add_up, gc_paused

CHUNK_BYTES = 32 << 20
#: smaller files are parsed whole (one parse costs at most a few hundred MB there)
MIN_FILE_BYTES = 64 << 20
_WS = b" \t\n\r"
_BOM = b"\xef\xbb\xbf"


class NotChunkable(Exception):
    """The file is not a plain list that chunks parse exactly as the whole file: read it with ``load_json``."""


def list_chunks(path: str | Path, *, chunk_bytes: int | None = None,
                min_bytes: int | None = None) -> Iterator[list] | None:
    """The records of the JSON list in ``path`` as consecutive lists of ~``chunk_bytes`` (default
    ``CHUNK_BYTES``) of text each, or None when the file is smaller than ``min_bytes`` (default
    ``MIN_FILE_BYTES``) or cannot be sized: parse it whole. The iterator raises ``NotChunkable`` as soon as it
    meets what it cannot read exactly (see the module)."""
    chunk_bytes = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    min_bytes = MIN_FILE_BYTES if min_bytes is None else min_bytes
    try:
        size = os.stat(path).st_size
    except OSError:
        return None
    if size < min_bytes:
        return None
    return _walk(Path(path), chunk_bytes)


def _walk(path: Path, chunk_bytes: int) -> Iterator[list]:
    with open(path, "rb") as f:
        buf = f.read(chunk_bytes)
        if buf.startswith(_BOM):
            buf = buf[3:]
        buf = buf.lstrip(_WS)
        if not buf.startswith(b"["):
            raise NotChunkable("the top level is not a list")
        buf, eof = buf[1:], False
        while True:
            while not eof and len(buf) < chunk_bytes:
                more = f.read(chunk_bytes)
                eof = not more
                buf += more
            cut = -1 if eof else _last_cut(buf)
            if cut < 0:
                if not eof:  # one record longer than a chunk: read on
                    more = f.read(chunk_bytes)
                    eof = not more
                    buf += more
                    continue
                tail = buf.rstrip(_WS)
                if not tail.endswith(b"]"):
                    raise NotChunkable("the list does not end the file")
                yield _parse(tail[:-1])
                return
            yield _parse(buf[: cut + 1])
            buf = buf[cut + 2:]  # after the separating comma


def _last_cut(buf: bytes) -> int:
    """Position of the last ``}`` in ``buf`` that is followed by ``,``, whitespace and ``{`` (the end of a record
    object with another one after it), or -1."""
    end = len(buf)
    while True:
        k = buf.rfind(b"},", 0, end)
        if k < 0:
            return -1
        rest = buf[k + 2: k + 2 + 64].lstrip(_WS)
        if rest.startswith(b"{"):
            return k
        if not rest and k + 2 + 64 < len(buf):  # 64+ bytes of whitespace: look further on
            nxt = buf[k + 2:].lstrip(_WS)
            if nxt.startswith(b"{"):
                return k
        end = k


def _parse(piece: bytes) -> list:
    """The records of one chunk's text (records separated by commas), exactly as ``load_json`` reads them."""
    body = b"[" + piece + b"]"
    if _LONG_DIGITS in body.translate(_DIGIT_MASK):
        raise NotChunkable("an integer of 19+ digits")
    with gc_paused():
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise NotChunkable("a chunk orjson does not read") from None
    if not data or not _keys_add_up(data, body):
        raise NotChunkable("an empty chunk or a key given twice")
    return data
