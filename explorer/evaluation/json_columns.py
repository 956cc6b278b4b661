"""A typed JSON decoder for the common shape of COCO records: a list of flat objects straight into arrays.

``decode_records(body, fields)`` reads ``body`` (the bytes of one JSON array of objects) into one array per
field without building a Python object per record — what parsing with orjson and then gathering each field
out of 100k dicts cost (~0.25 s of CPU for a 100k-prediction results file, against ~15 ms here). ``fields``
maps each key to its kind: ``"int"`` (a JSON integer of at most 18 digits: int64), ``"number"`` (any JSON
number: float64), ``"box"`` (an array of exactly 4 numbers: ``(n, 4)`` float64) or ``"polygons"`` (a COCO
polygon list ``[[x, y, ...], ...]``, at least one part of at least one number each: ``(row_part, part_off,
coords)``, record ``r``'s parts ``row_part[r]:row_part[r + 1]``, part ``q``'s numbers
``coords[part_off[q]:part_off[q + 1]]``; an RLE dict or an empty list is refused). Whether the parts are
usable (6+ coordinates, even, within range) is the caller's rule.

It decides only what it is sure of and returns None for anything else, so the caller reads the input as before
(orjson and the record model, which name every problem): a key outside ``fields`` or a field missing from a
record, a key given twice, a key with an escape, a string / ``true`` / ``false`` / ``null`` / nested object as a
value, an integer where a number with a fraction or exponent is (``1.0`` as an id), an integer of 19+ digits,
a number that is not finite, an empty list, anything after the closing bracket, malformed JSON.

Numbers are the same doubles as Python's ``float`` (correctly rounded, what ``json.loads`` and orjson give):
Clinger's exact case — a decimal mantissa ``m < 2**53`` and a power of ten ``|e| <= 22`` are both exact
doubles, so ``m * 10**e`` (or ``m / 10**-e``) is one correctly rounded operation — is computed in the kernel;
any other number (17-digit floats, large exponents) is converted by Python's ``float`` from its bytes.
"""
from __future__ import annotations

import os

import numpy as np

from explorer.evaluation import kernels

prange = range
_kernel = kernels.LazyKernels(globals())  # kernels.py's lazy-compilation rule (cached machine code)

KINDS = {"int": 0, "number": 1, "box": 2, "polygons": 3}
_POW10 = np.array([10.0 ** k for k in range(23)])  # exact doubles 1e0 .. 1e22
_MAX_EXACT = 2 ** 53


@_kernel(inner=True, inline="always")
def _ws(buf, i):
    n = buf.shape[0]
    while i < n and (buf[i] == 32 or buf[i] == 10 or buf[i] == 13 or buf[i] == 9):
        i += 1
    return i


@_kernel(inner=True, inline="always")
def _number(buf, i, pow10):
    """Scan the JSON number at ``i``. Returns ``(end, kind, int value, float value)``: kind -1 malformed,
    0 an integer token of <= 18 digits (value in both), 1 a fast-path float, 2 a number left to Python,
    3 an integer token of 19+ digits."""
    n = buf.shape[0]
    neg = False
    if i < n and buf[i] == 45:  # '-'
        neg = True
        i += 1
    if i >= n or buf[i] < 48 or buf[i] > 57:
        return i, -1, 0, 0.0
    m = 0
    nd = 0  # significant digits taken into m
    over = False  # more than 18 significant digits: m inexact
    n_int = 0
    if buf[i] == 48:  # a leading 0 stands alone
        i += 1
        n_int = 1
        if i < n and 48 <= buf[i] <= 57:
            return i, -1, 0, 0.0
    else:
        while i < n and 48 <= buf[i] <= 57:
            if nd < 18:
                m = m * 10 + (buf[i] - 48)
                nd += 1
            else:
                over = True
                nd += 1
            n_int += 1
            i += 1
    is_int = True
    e10 = 0
    if i < n and buf[i] == 46:  # '.'
        is_int = False
        i += 1
        if i >= n or buf[i] < 48 or buf[i] > 57:
            return i, -1, 0, 0.0
        while i < n and 48 <= buf[i] <= 57:
            dgt = buf[i] - 48
            if m == 0 and dgt == 0 and not over:
                e10 -= 1  # a leading zero of the fraction: not significant
            elif nd < 18:
                m = m * 10 + dgt
                nd += 1
                e10 -= 1
            else:
                over = True
            i += 1
    if i < n and (buf[i] == 101 or buf[i] == 69):  # 'e' / 'E'
        is_int = False
        i += 1
        eneg = False
        if i < n and (buf[i] == 43 or buf[i] == 45):
            eneg = buf[i] == 45
            i += 1
        if i >= n or buf[i] < 48 or buf[i] > 57:
            return i, -1, 0, 0.0
        ex = 0
        while i < n and 48 <= buf[i] <= 57:
            if ex < 100000:
                ex = ex * 10 + (buf[i] - 48)
            i += 1
        e10 += -ex if eneg else ex
    if is_int:
        if over or nd > 18:
            return i, 3, 0, 0.0
        v = -m if neg else m
        return i, 0, v, float(v)
    if over:
        return i, 2, 0, 0.0
    if m == 0:
        return i, 1, 0, -0.0 if neg else 0.0
    if m >= 9007199254740992 or e10 > 22 or e10 < -22:
        return i, 2, 0, 0.0
    f = float(m)
    f = f * pow10[e10] if e10 >= 0 else f / pow10[-e10]
    return i, 1, 0, -f if neg else f


@_kernel(inner=True, inline="always")
def _put(nums, at, t, fv, slow, n_slow, i, e):
    """Store number ``fv`` (kind ``t`` of ``_number``) at ``nums[at]``; a number left to Python (kind 2 or 3)
    is stored as NaN and its place and bytes ``[i, e)`` listed in ``slow``. Returns the new count of ``slow``
    rows, -1 when ``slow`` is full."""
    if t == 2 or t == 3:
        if n_slow >= slow.shape[0]:
            return -1
        slow[n_slow, 0] = at
        slow[n_slow, 1] = i
        slow[n_slow, 2] = e
        n_slow += 1
        fv = np.nan
    nums[at] = fv
    return n_slow


# _nrt=False: the kernel allocates nothing, and with numba's reference counting on every inlined helper call
# increfs and decrefs its array arguments (atomic operations the pruning pass leaves in these loops): 2/3 of the
# scan's time (100k-prediction results file: 88 ms -> 35 ms of CPU)
@_kernel(error_model="numpy", _nrt=False)
def scan(buf, keys, key_len, kind, col, pow10, ints, nums, slow, rec_part, part_len, coords):
    """Decode ``buf`` (uint8: ``[ {"key": value, ...}, ... ]``) into ``ints[col[f], r]`` (int fields),
    ``nums[(col[f] + c) * R + r]`` (number fields, flat ``(C, R)``; a box's 4 numbers at ``col[f] .. col[f] + 3``).

    ``keys (F, L)`` uint8 padded key bytes, ``key_len (F,)``, ``kind (F,)`` (0 int, 1 number, 2 box, 3 polygons).
    ``slow (S, 3)``: (flat ``nums`` index, start, end) of the numbers left to Python (polygon coordinate ``q``:
    index ``len(nums) + q``). A polygons field (at most one): record ``r``'s part count in ``rec_part[r]``, each
    part's number count in ``part_len``, its numbers one after the other in ``coords``. Returns ``(records, slow
    count, parts, coordinates)``; ``(-2, 0, 0, 0)`` when ``slow`` is too short; ``(-1, 0, 0, 0)`` when the input
    is not one this decoder decides (see the module docstring; for polygons also an empty list or part)."""
    n = buf.shape[0]
    n_f = keys.shape[0]
    cap = ints.shape[1]  # R
    n_slow = 0
    n_nums = nums.shape[0]
    n_parts = 0
    n_coords = 0
    i = _ws(buf, 0)
    if i >= n or buf[i] != 91:  # '['
        return -1, 0, 0, 0
    i = _ws(buf, i + 1)
    r = 0
    if i < n and buf[i] == 93:  # an empty list: the record model's
        return -1, 0, 0, 0
    while True:
        if i >= n or buf[i] != 123 or r >= cap:  # '{'
            return -1, 0, 0, 0
        i = _ws(buf, i + 1)
        seen = 0
        while True:
            if i >= n or buf[i] != 34:  # '"'
                return -1, 0, 0, 0
            s = i + 1
            j = s
            while j < n and buf[j] != 34 and buf[j] != 92:
                j += 1
            if j >= n or buf[j] == 92:  # an escape in a key
                return -1, 0, 0, 0
            f = -1
            for k in range(n_f):
                if key_len[k] == j - s:
                    same = True
                    for c in range(j - s):
                        if keys[k, c] != buf[s + c]:
                            same = False
                            break
                    if same:
                        f = k
                        break
            if f < 0 or (seen >> f) & 1:  # unknown key, or a key given twice
                return -1, 0, 0, 0
            seen |= 1 << f
            i = _ws(buf, j + 1)
            if i >= n or buf[i] != 58:  # ':'
                return -1, 0, 0, 0
            i = _ws(buf, i + 1)
            if kind[f] == 2:
                if i >= n or buf[i] != 91:
                    return -1, 0, 0, 0
                i = _ws(buf, i + 1)
                for c in range(4):
                    e, t, iv, fv = _number(buf, i, pow10)
                    if t < 0:
                        return -1, 0, 0, 0
                    n_slow = _put(nums, (col[f] + c) * cap + r, t, fv, slow, n_slow, i, e)
                    if n_slow < 0:
                        return -2, 0, 0, 0
                    i = _ws(buf, e)
                    if c < 3:
                        if i >= n or buf[i] != 44:  # ','
                            return -1, 0, 0, 0
                        i = _ws(buf, i + 1)
                if i >= n or buf[i] != 93:  # exactly 4 numbers
                    return -1, 0, 0, 0
                i += 1
            elif kind[f] == 3:  # [[x, y, ...], ...]: at least one part, each of at least one number
                if i >= n or buf[i] != 91:
                    return -1, 0, 0, 0
                i = _ws(buf, i + 1)
                p0 = n_parts
                while True:
                    if i >= n or buf[i] != 91 or n_parts >= part_len.shape[0]:
                        return -1, 0, 0, 0
                    i = _ws(buf, i + 1)
                    c0 = n_coords
                    while True:
                        e, t, iv, fv = _number(buf, i, pow10)
                        if t < 0 or t == 3 or n_coords >= coords.shape[0]:
                            return -1, 0, 0, 0
                        if t == 2:
                            if n_slow >= slow.shape[0]:
                                return -2, 0, 0, 0
                            slow[n_slow, 0] = n_nums + n_coords
                            slow[n_slow, 1] = i
                            slow[n_slow, 2] = e
                            n_slow += 1
                            fv = np.nan
                        coords[n_coords] = fv
                        n_coords += 1
                        i = _ws(buf, e)
                        if i < n and buf[i] == 44:
                            i = _ws(buf, i + 1)
                            continue
                        if i < n and buf[i] == 93:
                            break
                        return -1, 0, 0, 0
                    part_len[n_parts] = n_coords - c0
                    n_parts += 1
                    i = _ws(buf, i + 1)
                    if i < n and buf[i] == 44:
                        i = _ws(buf, i + 1)
                        continue
                    if i < n and buf[i] == 93:
                        break
                    return -1, 0, 0, 0
                rec_part[r] = n_parts - p0
                i += 1
            else:
                e, t, iv, fv = _number(buf, i, pow10)
                if t < 0:
                    return -1, 0, 0, 0
                if kind[f] == 0:
                    if t != 0:  # not an integer token of <= 18 digits
                        return -1, 0, 0, 0
                    ints[col[f], r] = iv
                else:
                    n_slow = _put(nums, col[f] * cap + r, t, fv, slow, n_slow, i, e)
                    if n_slow < 0:
                        return -2, 0, 0, 0
                i = e
            i = _ws(buf, i)
            if i < n and buf[i] == 44:
                i = _ws(buf, i + 1)
                continue
            if i < n and buf[i] == 125:  # '}'
                break
            return -1, 0, 0, 0
        if seen != (1 << n_f) - 1:  # a field missing
            return -1, 0, 0, 0
        r += 1
        i = _ws(buf, i + 1)
        if i < n and buf[i] == 44:
            i = _ws(buf, i + 1)
            continue
        if i < n and buf[i] == 93:
            break
        return -1, 0, 0, 0
    if _ws(buf, i + 1) != n:
        return -1, 0, 0, 0
    return r, n_slow, n_parts, n_coords


@_kernel(_nrt=False)
def counts(buf):
    """``(count of '{', of '[', of ',')`` in ``buf`` (uint8), in one pass (NumPy: a pass and a temporary each)."""
    a = b = c = 0
    for i in range(buf.shape[0]):
        x = buf[i]
        a += x == 123
        b += x == 91
        c += x == 44
    return a, b, c


MIN_BYTES = 1 << 20  # smaller inputs: orjson (a tiny ``explorer evaluate`` never loads numba for this)


@_kernel(_nrt=False)
def split_object(buf, spans):
    """The top-level members of ``buf`` (uint8: one JSON object ``{"key": value, ...}``): ``spans[k]`` =
    (key start, key end, value start, value end) byte offsets of member ``k``. Returns the member count; -1 when
    ``buf`` is not an object this splits (a key with an escape, an empty object, more members than ``spans``,
    unbalanced brackets, anything after the closing brace). Values are only skipped (brackets counted outside
    strings): their parser checks them."""
    n = buf.shape[0]
    i = _ws(buf, 0)
    if i >= n or buf[i] != 123:  # '{'
        return -1
    i = _ws(buf, i + 1)
    k = 0
    while True:
        if i >= n or buf[i] != 34 or k >= spans.shape[0]:
            return -1
        s = i + 1
        j = s
        while j < n and buf[j] != 34 and buf[j] != 92:
            j += 1
        if j >= n or buf[j] == 92:
            return -1
        spans[k, 0] = s
        spans[k, 1] = j
        i = _ws(buf, j + 1)
        if i >= n or buf[i] != 58:  # ':'
            return -1
        i = _ws(buf, i + 1)
        spans[k, 2] = i
        depth = 0
        while i < n:
            c = buf[i]
            if c == 34:  # a string: skip to its closing quote (escapes skip the next byte)
                i += 1
                while i < n and buf[i] != 34:
                    i += 2 if buf[i] == 92 else 1
            elif c == 91 or c == 123:
                depth += 1
            elif c == 93 or c == 125:
                if depth == 0:
                    break
                depth -= 1
            elif c == 44 and depth == 0:
                break
            i += 1
        if i >= n:
            return -1
        e = i
        while e > spans[k, 2] and (buf[e - 1] == 32 or buf[e - 1] == 10 or buf[e - 1] == 13 or buf[e - 1] == 9):
            e -= 1
        spans[k, 3] = e
        k += 1
        if buf[i] == 44:
            i = _ws(buf, i + 1)
            continue
        if buf[i] != 125:
            return -1
        break
    if _ws(buf, i + 1) != n:
        return -1
    return k


def object_members(body: bytes, *, min_bytes: int = MIN_BYTES) -> dict[str, tuple[int, int]] | None:
    """``{key: (start, end)}``: the byte range of each top-level member value of the JSON object ``body``, or
    None when ``split_object`` does not split it, a key is given twice or is not plain ASCII, the body is shorter
    than ``min_bytes`` or the kernels run as plain Python."""
    if len(body) < min_bytes or os.environ.get("EXPLORER_KERNELS") == "python":
        return None
    spans = np.empty((64, 4), np.int64)
    k = split_object(np.frombuffer(body, np.uint8), spans)
    if k <= 0:
        return None
    out = {}
    for s, e, vs, ve in spans[:k].tolist():
        key = body[s:e]
        if not key.isascii() or key.decode() in out:
            return None
        out[key.decode()] = (vs, ve)
    return out


def decode_records(body: bytes, fields: dict[str, str], *, min_bytes: int = MIN_BYTES) -> dict[str, np.ndarray] | None:
    """``{key: array}`` of the JSON array of objects ``body`` (``fields``: key -> ``"int"``/``"number"``/``"box"``),
    or None when the input is not one this decoder decides (module docstring), is shorter than ``min_bytes``,
    or the kernels run as plain Python (``$EXPLORER_KERNELS=python``: byte by byte in Python is no help).
    At most 63 fields."""
    if len(body) < min_bytes or os.environ.get("EXPLORER_KERNELS") == "python":
        return None
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    buf = np.frombuffer(body, np.uint8)
    n_brace, n_bracket, n_comma = counts(buf)
    cap = int(n_brace)  # '{': at least one per record
    if cap == 0 or len(fields) > 63:
        return None
    names = list(fields)
    kind = np.array([KINDS[fields[k]] for k in names], np.int64)
    width = max(len(k) for k in names)
    keys = np.zeros((len(names), width), np.uint8)
    key_len = np.zeros(len(names), np.int64)
    col = np.zeros(len(names), np.int64)
    n_int = n_num = 0
    for f, k in enumerate(names):
        raw = k.encode()
        keys[f, :len(raw)] = np.frombuffer(raw, np.uint8)
        key_len[f] = len(raw)
        if kind[f] == 0:
            col[f], n_int = n_int, n_int + 1
        else:
            col[f] = n_num
            n_num += 4 if kind[f] == 2 else 1
    ints = np.empty((max(n_int, 1), cap), np.int64)
    nums = np.empty(max(n_num, 1) * cap, np.float64)
    if (kind == 3).sum() > 1:
        return None
    if (kind == 3).any():  # room: a '[' per part, a ',' or ']' after each number
        rec_part = np.empty(cap, np.int64)
        part_len = np.empty(int(n_bracket), np.int64)
        coords = np.empty(int(n_comma + n_bracket), np.float64)
    else:
        rec_part, part_len, coords = (np.empty(1, t) for t in (np.int64, np.int64, np.float64))
    slow = np.empty((max(1024, cap // 8), 3), np.int64)
    n, n_slow, n_parts, n_coords = scan(buf, keys, key_len, kind, col, _POW10, ints, nums, slow, rec_part,
                                        part_len, coords)
    if n == -2:  # more numbers for Python than room for them: once more with room for every number
        slow = np.empty((len(nums) + len(coords), 3), np.int64)
        n, n_slow, n_parts, n_coords = scan(buf, keys, key_len, kind, col, _POW10, ints, nums, slow, rec_part,
                                            part_len, coords)
    if n < 0:
        return None
    if n_slow:  # the numbers the kernel leaves to Python's float (the same correctly rounded doubles)
        for at, s, e in slow[:n_slow].tolist():
            if at < len(nums):
                nums[at] = float(body[s:e])
            else:
                coords[at - len(nums)] = float(body[s:e])
    nums = nums.reshape(-1, cap)
    out = {}
    for f, k in enumerate(names):
        if kind[f] == 3:  # (row -> first part offsets (n + 1,), part -> first number offsets (P + 1,), numbers)
            row_part = np.zeros(n + 1, np.int64)
            np.cumsum(rec_part[:n], out=row_part[1:])
            part_off = np.zeros(n_parts + 1, np.int64)
            np.cumsum(part_len[:n_parts], out=part_off[1:])
            out[k] = (row_part, part_off, coords[:n_coords].copy())
            continue
        if kind[f] == 0:
            out[k] = ints[col[f], :n].copy()
        elif kind[f] == 1:
            out[k] = nums[col[f], :n].copy()
        else:
            out[k] = np.ascontiguousarray(nums[col[f]:col[f] + 4, :n].T)
        if kind[f] and not np.isfinite(out[k]).all():  # 1e400 and the like: the record model's
            return None
    return out
