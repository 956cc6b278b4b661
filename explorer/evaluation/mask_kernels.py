"""Compiled ports of pycocotools' mask C API (``common/maskApi.c`` of pycocotools 2.0.11): polygon
rasterisation to run-length counts (``rleFrPoly``, parts merged by ``rleMerge``), compressed-string decoding
(``rleFrString``), ``rleToBbox``, ``rleArea`` and the mask IoU of ``rleIou`` — the same integer and
floating-point operations in the same order, so the same counts and the same IoU bits
(``tests/evaluation/test_mask_kernels.py`` holds them equal to pycocotools on random polygons, repeated points,
shapes beyond the image and crowd labels).

pycocotools pays ~20 µs of Python per mask around its C loops (list to array, RLE objects, the compressed
string written and read back); here every mask is counts in one flat array: ``cnt[off[i]:off[i] + n[i]]``
(uint32 values held as int64) with its image size ``h[i], w[i]``.

One C detail is reproduced explicitly: a polygon edge of zero length (a point repeated) gives ``s = 0/0`` and
C's ``(int)NaN`` — ``INT_MIN`` on x86 — as that point's ``v``; ``INT_MIN`` is written here without the NaN.
"""
from __future__ import annotations

import numpy as np

from explorer.evaluation import kernels

prange = range
_kernel = kernels.LazyKernels(globals())  # kernels.py's lazy-compilation rule (cached machine code)

_INT_MIN = -2147483648
_U32 = 0xFFFFFFFF


@_kernel(inner=True)
def _c_int(v):
    """C's ``(int)v`` for a finite double within int range: truncation toward zero."""
    return int(v)


@_kernel(inner=True)
def _poly_bound(coords, p0, p1):
    """Room for the counts of one polygon part ``coords[p0:p1]``. Along an edge the scaled ``u`` moves by one
    at a time across ``dx = |x_j - x_j+1|`` values, and a y-boundary point is kept only where the smaller of two
    neighbours is ``2 mod 5`` (a pixel column): at most ``dx // 5 + 1`` per edge; the counts are one more."""
    k = (p1 - p0) // 2
    m = 2
    for j in range(k):
        j1 = (j + 1) % k
        x0 = _c_int(5.0 * coords[p0 + 2 * j] + 0.5)
        x1 = _c_int(5.0 * coords[p0 + 2 * j1] + 0.5)
        m += abs(x0 - x1) // 5 + 2
    return m


@_kernel(inner=True)
def _keep(q, vmin, h, w, a, n):
    """C's test and value for a pair whose smaller ``u`` is ``q`` and smaller ``v`` is ``vmin``: appends
    ``x * h + y`` to ``a[n]`` when ``q`` is a pixel column inside the image; returns the new ``n``."""
    xd = (float(q) + 0.5) / 5.0 - 0.5
    if np.floor(xd) != xd or xd < 0 or xd > w - 1:
        return n
    yd = (float(vmin) + 0.5) / 5.0 - 0.5
    if yd < 0:
        yd = 0.0
    elif yd > h:
        yd = float(h)
    yd = np.ceil(yd)
    a[n] = (int(xd) * h + int(yd)) & _U32  # (uint)(x * (int)h + y)
    return n + 1


@_kernel(inner=True)
def _fr_poly(coords, p0, p1, h, w, out):
    """``rleFrPoly`` of the part ``coords[p0:p1]`` (x, y pairs) on an ``h x w`` image into ``out``; returns
    the number of counts.

    C walks every point of the 5x upsampled boundary and keeps, of each pair of neighbours ``(j-1, j)`` whose
    ``u`` differ, those whose smaller ``u`` is a pixel column (``(u + .5) / 5 - .5`` an integer: ``u = 2 mod 5``)
    inside the image, at ``y = ceil((min v + .5) / 5 - .5)`` clamped to ``[0, h]``; then sorts ``x * h + y``.
    Only those pairs are visited here: neighbours across two edges share a vertex (the same ``u``, or both
    below column 0 when C's truncation toward zero moves a negative one), so only pairs inside an edge count,
    and the order does not (the values are sorted). Along a flat edge (``dx >= dy``) ``u = xs + t``; along a
    steep one ``u = (int)(xs + s t + .5)`` is monotone in unit steps, so each column is crossed once, at the
    ``t`` found from its estimate and checked with C's own expression."""
    k = (p1 - p0) // 2
    scale = 5.0
    x = np.empty(k + 1, np.int64)
    y = np.empty(k + 1, np.int64)
    for j in range(k):
        x[j] = _c_int(scale * coords[p0 + 2 * j] + 0.5)
        y[j] = _c_int(scale * coords[p0 + 2 * j + 1] + 0.5)
    x[k] = x[0]
    y[k] = y[0]
    room = 2
    for j in range(k):
        room += abs(x[j] - x[j + 1]) // 5 + 2
    a = np.empty(room, np.int64)
    n = 0
    for j in range(k):
        xs = x[j]
        xe = x[j + 1]
        ys = y[j]
        ye = y[j + 1]
        dx = abs(xe - xs)
        dy = abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            t = xs
            xs = xe
            xe = t
            t = ys
            ys = ye
            ye = t
        if dx == 0:  # u constant along the edge (a point, or vertical): no pair differs
            continue
        if dx >= dy:
            s = float(ye - ys) / dx
            t = (2 - xs) % 5  # xs + t = 2 mod 5
            while t < dx:  # pair (t, t + 1): u = xs + t, xs + t + 1
                v0 = _c_int(ys + s * t + 0.5)
                v1 = _c_int(ys + s * (t + 1) + 0.5)
                n = _keep(xs + t, min(v0, v1), h, w, a, n)
                t += 5
        else:
            s = float(xe - xs) / dy
            u0 = _c_int(xs + s * 0 + 0.5)
            u1 = _c_int(xs + s * dy + 0.5)
            up = u1 > u0
            q_lo = min(u0, u1)
            q_hi = max(u0, u1)  # columns q crossed: q_lo <= q < q_hi
            q = q_lo + (2 - q_lo) % 5
            while q < q_hi:
                # t: the last point with u <= q (rising) / u >= q + 1 (falling); the pair is (t, t + 1)
                t = int((q + 0.5 - xs) / s)  # (an estimate)
                t = min(max(t, 0), dy - 1)
                if up:
                    while t > 0 and _c_int(xs + s * t + 0.5) > q:
                        t -= 1
                    while t < dy - 1 and _c_int(xs + s * (t + 1) + 0.5) <= q:
                        t += 1
                else:
                    while t > 0 and _c_int(xs + s * t + 0.5) < q + 1:
                        t -= 1
                    while t < dy - 1 and _c_int(xs + s * (t + 1) + 0.5) >= q + 1:
                        t += 1
                n = _keep(q, ys + t, h, w, a, n)
                q += 5
    a[n] = (h * w) & _U32
    n += 1
    a[:n].sort()
    p = 0
    for j in range(n):
        t = a[j]
        a[j] = (a[j] - p) & _U32
        p = t
    j = 0
    c = 0
    out[c] = a[j]
    c += 1
    j += 1
    while j < n:
        if a[j] > 0:
            out[c] = a[j]
            c += 1
            j += 1
        else:
            j += 1
            if j < n:
                out[c - 1] = (out[c - 1] + a[j]) & _U32
                j += 1
    return c


@_kernel(inner=True)
def _merge(A, na, B, nb, out):
    """``rleMerge`` (union) of two counts ``A[:na]``, ``B[:nb]`` of the same size into ``out``; returns its length."""
    ca = A[0]
    cb = B[0]
    v = False
    va = False
    vb = False
    m = 0
    a = 1
    b = 1
    cc = 0
    ct = 1
    while ct > 0:
        c = min(ca, cb)
        cc += c
        ct = 0
        ca -= c
        if ca == 0 and a < na:
            ca = A[a]
            a += 1
            va = not va
        ct += ca
        cb -= c
        if cb == 0 and b < nb:
            cb = B[b]
            b += 1
            vb = not vb
        ct += cb
        vp = v
        v = va or vb
        if v != vp or ct == 0:
            out[m] = cc
            m += 1
            cc = 0
    return m


@_kernel(parallel=True, items=2)  # rows (row_part), not coordinates
def polygon_counts(coords, part_off, row_part, row_h, row_w, cnt_off, cnt, cnt_len):
    """Rasterise row ``i``'s parts ``row_part[i]:row_part[i + 1]`` (part ``q``: ``coords[part_off[q]:
    part_off[q + 1]]``) on its ``row_h[i] x row_w[i]`` image, merged as ``COCO.annToRLE`` does
    (``frPyObjects`` then ``merge``): counts into ``cnt[cnt_off[i]:]``, their number into ``cnt_len[i]``
    (room: ``polygon_bounds``)."""
    for i in prange(row_h.shape[0]):
        h = row_h[i]
        w = row_w[i]
        q0 = row_part[i]
        q1 = row_part[i + 1]
        o = cnt_off[i]
        if q1 - q0 == 1:
            cnt_len[i] = _fr_poly(coords, part_off[q0], part_off[q0 + 1], h, w, cnt[o:])
            continue
        acc = np.empty(cnt_off[i + 1] - o, np.int64)
        na = _fr_poly(coords, part_off[q0], part_off[q0 + 1], h, w, acc)
        for q in range(q0 + 1, q1):
            part = np.empty(_poly_bound(coords, part_off[q], part_off[q + 1]), np.int64)
            nb = _fr_poly(coords, part_off[q], part_off[q + 1], h, w, part)
            merged = np.empty(na + nb + 1, np.int64)
            na = _merge(acc, na, part, nb, merged)
            acc[:na] = merged[:na]
        cnt[o:o + na] = acc[:na]
        cnt_len[i] = na


@_kernel(parallel=True, items=2)  # rows (row_part), not coordinates
def polygon_bounds(coords, part_off, row_part, out):
    """``out[i]``: room for row ``i``'s counts (the sum of its parts' rooms: a union of runs has at most the
    runs of its parts together)."""
    for i in prange(row_part.shape[0] - 1):
        s = 1
        for q in range(row_part[i], row_part[i + 1]):
            s += _poly_bound(coords, part_off[q], part_off[q + 1]) + 1
        out[i] = s


@_kernel(items=1)  # strings (str_off), not characters
def string_counts(chars, str_off, cnt_off, cnt, cnt_len):
    """``rleFrString`` of string ``i`` (``chars[str_off[i]:str_off[i + 1]]``, LEB128-like, 6 bits a char) into
    ``cnt[cnt_off[i]:]`` (room: its length) and ``cnt_len[i]``."""
    for i in range(str_off.shape[0] - 1):
        p = str_off[i]
        end = str_off[i + 1]
        o = cnt_off[i]
        m = 0
        while p < end:
            x = 0
            k = 0
            more = True
            while more:
                c = np.int64(chars[p]) - 48
                x |= (c & 0x1F) << (5 * k)
                more = (c & 0x20) != 0
                p += 1
                k += 1
                if not more and (c & 0x10):
                    x |= -1 << (5 * k)
            if m > 2:
                x += cnt[o + m - 2]
            cnt[o + m] = x & _U32
            m += 1
        cnt_len[i] = m


@_kernel(parallel=True, items=1)  # masks (cnt_off), not counts
def boxes_and_areas(cnt, cnt_off, cnt_len, row_h, row_w, out_box, out_area):
    """``rleToBbox`` (pycocotools 2.0.11's: per foreground run; a run across columns spans the full height;
    uint arithmetic, so a mask whose runs are all empty gets C's wrapped width and height) and ``rleArea``."""
    for i in prange(cnt_len.shape[0]):
        h = row_h[i]
        m = (cnt_len[i] // 2) * 2
        o = cnt_off[i]
        area = 0
        for j in range(1, cnt_len[i], 2):
            area += cnt[o + j]
        out_area[i] = area & _U32
        if m == 0:
            for c in range(4):
                out_box[i, c] = 0.0
            continue
        xs = row_w[i]
        ys = h
        xe = 0
        ye = 0
        cc = 0
        for j in range(m):
            start = cc
            cc = (cc + cnt[o + j]) & _U32
            if j % 2 == 0 or cnt[o + j] == 0:
                continue
            y_start = start % h
            x_start = (start - y_start) // h
            y_end = ((cc - 1) & _U32) % h
            x_end = (((cc - 1) & _U32) - y_end) // h
            xs = min(xs, x_start)
            xe = max(xe, x_end)
            if x_start < x_end:
                ys = 0
                ye = h - 1
            else:
                ys = min(ys, y_start)
                ye = max(ye, y_end)
        out_box[i, 0] = float(xs)
        out_box[i, 1] = float(ys)
        out_box[i, 2] = float((xe - xs + 1) & _U32)
        out_box[i, 3] = float((ye - ys + 1) & _U32)


@_kernel(parallel=True, items=1)  # masks (cnt_off), not counts
def iou_blocks(cnt, cnt_off, cnt_len, mask_h, mask_w, mask_box, mask_area, dt_mask, gt_mask, gt_crowd,
               blk_d0, blk_d1, blk_g0, blk_g1, blk_off, out):
    """``rleIou`` of every (dt, gt) pair of every block into ``out[off + (d - d0) * ncols + (g - g0)]``:
    the bounding-box IoU of the masks (``bbIou``) first — 0 when the boxes do not overlap —, then the exact
    intersection / union of the runs (intersection / the prediction's area for a crowd label; 0 when they do
    not intersect; -1 for masks of different sizes). ``dt_mask[d]`` / ``gt_mask[g]``: the mask of each row."""
    for b in prange(blk_d0.shape[0]):
        d0 = blk_d0[b]
        g0 = blk_g0[b]
        ncols = blk_g1[b] - g0
        for d in range(d0, blk_d1[b]):
            md = dt_mask[d]
            dx = mask_box[md, 0]
            dy = mask_box[md, 1]
            dw = mask_box[md, 2]
            dh = mask_box[md, 3]
            da = dw * dh
            row = blk_off[b] + (d - d0) * ncols - g0
            for g in range(g0, blk_g1[b]):
                mg = gt_mask[g]
                gx = mask_box[mg, 0]
                gy = mask_box[mg, 1]
                gw = mask_box[mg, 2]
                gh = mask_box[mg, 3]
                o = 0.0
                ww = min(dw + dx, gw + gx) - max(dx, gx)
                if ww > 0:
                    hh = min(dh + dy, gh + gy) - max(dy, gy)
                    if hh > 0:
                        o = 1.0  # (bbIou > 0: the exact IoU below replaces it)
                if o > 0:
                    if mask_h[md] != mask_h[mg] or mask_w[md] != mask_w[mg]:
                        o = -1.0
                    else:
                        o = _rle_iou(cnt, cnt_off[md], cnt_len[md], cnt_off[mg], cnt_len[mg],
                                     gt_crowd[g], mask_area[md])
                out[row + g] = o


@_kernel(inner=True)
def _rle_iou(cnt, oa, ka, ob, kb, crowd, area_a):
    ca = cnt[oa]
    cb = cnt[ob]
    va = False
    vb = False
    a = 1
    b = 1
    inter = 0
    union = 0
    ct = 1
    while ct > 0:
        c = min(ca, cb)
        if va or vb:
            union += c
            if va and vb:
                inter += c
        ct = 0
        ca -= c
        if ca == 0 and a < ka:
            ca = cnt[oa + a]
            a += 1
            va = not va
        ct += ca
        cb -= c
        if cb == 0 and b < kb:
            cb = cnt[ob + b]
            b += 1
            vb = not vb
        ct += cb
    if inter == 0:
        union = 1
    elif crowd:
        union = area_a
    return float(inter & _U32) / float(union & _U32)
