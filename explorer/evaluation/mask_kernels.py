"""Compiled ports of pycocotools' mask C API (``common/maskApi.c`` of pycocotools 2.0.11): polygon
rasterisation to run-length counts (``rleFrPoly``, parts merged by ``rleMerge``), compressed-string decoding
(``rleFrString``), ``rleToBbox``, ``rleArea`` and the mask IoU of ``rleIou`` — the same integer and
floating-point operations in the same order, so the same counts and the same IoU bits
(``tests/evaluation/test_masks_compiled.py`` holds them equal to pycocotools on random polygons, repeated points,
shapes beyond the image and crowd labels).

pycocotools pays ~20 µs of Python per mask around its C loops (list to array, RLE objects, the compressed
string written and read back); here every mask is counts in one flat array: ``cnt[off[i]:off[i] + n[i]]``
(uint32 values held as int64) with its image size ``h[i], w[i]``. The COCO evaluation's IoUs are one pass per
block (``mask_iou_blocks``): polygons are rasterised there, only when they come near a mask on the other side,
into scratch arrays, so no array of every mask's counts is ever written.

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
def _keep(q, vmin, h, w, a, col, n):
    """C's test and value for a pair whose smaller ``u`` is ``q`` and smaller ``v`` is ``vmin``: appends
    ``x * h + y`` to ``a[n]`` (and its column ``x`` to ``col[n]``) when ``q`` is a pixel column inside the
    image; returns the new ``n``."""
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
    col[n] = int(xd)
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
    and the order does not (the values are sorted: by column, ``_column_sort``). Along a flat edge (``dx >=
    dy``) ``u = xs + t``; along a steep one ``u = (int)(xs + s t + .5)`` is monotone in unit steps, so each column is crossed once, at the
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
    col = np.empty(room, np.int64)
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
                n = _keep(xs + t, min(v0, v1), h, w, a, col, n)
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
                n = _keep(q, ys + t, h, w, a, col, n)
                q += 5
    if h > 0 and w > 0 and h * w < 2147483648:  # no uint wrap: h * w is the largest value
        _column_sort(a, col, n, w)
        a[n] = h * w
        n += 1
    else:
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
def _column_sort(a, col, n, w):
    """Sort ``a[:n]`` (values ``x * h + y`` with ``0 <= y <= h``) given each value's column ``col`` (``0 <= x <
    w``) in O(n): counted by column, then an insertion sort inside each column (a few values each). Column
    order is value order: column ``x`` ends at ``(x + 1) h``, where column ``x + 1`` begins (equal values)."""
    lo = w
    hi = 0
    for j in range(n):
        lo = min(lo, col[j])
        hi = max(hi, col[j])
    if n == 0:
        return
    start = np.zeros(hi - lo + 2, np.int64)
    for j in range(n):
        start[col[j] - lo + 1] += 1
    for c in range(1, hi - lo + 2):
        start[c] += start[c - 1]
    b = np.empty(n, np.int64)
    for j in range(n):
        c = col[j] - lo
        b[start[c]] = a[j]
        start[c] += 1
    for j in range(n):  # b is in column order: a value moves back only past values of its own column
        v = b[j]
        i = j
        while i > 0 and a[i - 1] > v:
            a[i] = a[i - 1]
            i -= 1
        a[i] = v


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


@_kernel(inner=True)
def _row_bound(coords, part_off, q0, q1):
    """Room for the counts of a row of parts ``q0:q1`` (a union of runs has at most its parts' runs together)."""
    s = 1
    for q in range(q0, q1):
        s += _poly_bound(coords, part_off[q], part_off[q + 1]) + 1
    return s


@_kernel(inner=True)
def _row_counts(coords, part_off, q0, q1, h, w, out):
    """The parts ``q0:q1`` rasterised on an ``h x w`` image and merged as ``COCO.annToRLE`` does
    (``frPyObjects`` then ``merge``) into ``out`` (room: ``_row_bound``); returns the number of counts."""
    if q1 - q0 == 1:
        return _fr_poly(coords, part_off[q0], part_off[q0 + 1], h, w, out)
    acc = np.empty(out.shape[0], np.int64)
    na = _fr_poly(coords, part_off[q0], part_off[q0 + 1], h, w, acc)
    for q in range(q0 + 1, q1):
        part = np.empty(_poly_bound(coords, part_off[q], part_off[q + 1]), np.int64)
        nb = _fr_poly(coords, part_off[q], part_off[q + 1], h, w, part)
        merged = np.empty(na + nb + 1, np.int64)
        na = _merge(acc, na, part, nb, merged)
        acc[:na] = merged[:na]
    out[:na] = acc[:na]
    return na


@_kernel(parallel=True, items=2)  # rows (row_part), not coordinates
def polygon_counts(coords, part_off, row_part, row_h, row_w, cnt_off, cnt, cnt_len):
    """Rasterise row ``i``'s parts ``row_part[i]:row_part[i + 1]`` (part ``q``: ``coords[part_off[q]:
    part_off[q + 1]]``) on its ``row_h[i] x row_w[i]`` image (``_row_counts``): counts into
    ``cnt[cnt_off[i]:cnt_off[i + 1]]``, their number into ``cnt_len[i]`` (room: ``polygon_bounds``)."""
    for i in prange(row_h.shape[0]):
        cnt_len[i] = _row_counts(coords, part_off, row_part[i], row_part[i + 1], row_h[i], row_w[i],
                                 cnt[cnt_off[i]:cnt_off[i + 1]])


@_kernel(parallel=True, items=2)  # rows (row_part), not coordinates
def polygon_bounds(coords, part_off, row_part, out):
    """``out[i]``: room for row ``i``'s counts (``_row_bound``)."""
    for i in prange(row_part.shape[0] - 1):
        out[i] = _row_bound(coords, part_off, row_part[i], row_part[i + 1])


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


@_kernel(inner=True)
def _box_area(cnt, o, k, h, w, box, i):
    """``rleToBbox`` of the counts ``cnt[o:o + k]`` (``h x w``) into ``box[i]`` (pycocotools 2.0.11's: per
    foreground run; a run across columns spans the full height; uint arithmetic, so a mask whose runs are all
    empty gets C's wrapped width and height); returns ``rleArea``."""
    m = (k // 2) * 2
    area = 0
    for j in range(1, k, 2):
        area += cnt[o + j]
    if m == 0:
        for c in range(4):
            box[i, c] = 0.0
        return area & _U32
    xs = w
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
    box[i, 0] = float(xs)
    box[i, 1] = float(ys)
    box[i, 2] = float((xe - xs + 1) & _U32)
    box[i, 3] = float((ye - ys + 1) & _U32)
    return area & _U32


@_kernel(parallel=True, items=1)  # masks (cnt_off), not counts
def boxes_and_areas(cnt, cnt_off, cnt_len, row_h, row_w, out_box, out_area):
    """``rleToBbox`` and ``rleArea`` of every mask (``_box_area``)."""
    for i in prange(cnt_len.shape[0]):
        out_area[i] = _box_area(cnt, cnt_off[i], cnt_len[i], row_h[i], row_w[i], out_box, i)


# ---- masks of two kinds, rasterised where needed ------------------------------------------------------------
# Mask ``m`` is a polygon row ``p = src[m] >= 0`` (parts ``row_part[p]:row_part[p + 1]`` of ``coords``) or an RLE
# row ``r = -1 - src[m]`` already decoded (``rle_cnt[rle_off[r]:rle_off[r] + rle_len[r]]``), on an
# ``mask_h[m] x mask_w[m]`` image.
@_kernel(inner=True)
def _mask_room(coords, part_off, row_part, rle_len, src, m):
    p = src[m]
    if p >= 0:
        return _row_bound(coords, part_off, row_part[p], row_part[p + 1])
    return rle_len[-1 - p]


@_kernel(inner=True)
def _mask_fill(coords, part_off, row_part, rle_cnt, rle_off, rle_len, src, mask_h, mask_w, m, out):
    """Mask ``m``'s counts into ``out`` (room: ``_mask_room``); returns their number."""
    p = src[m]
    if p >= 0:
        return _row_counts(coords, part_off, row_part[p], row_part[p + 1], mask_h[m], mask_w[m], out)
    r = -1 - p
    k = rle_len[r]
    out[:k] = rle_cnt[rle_off[r]:rle_off[r] + k]
    return k


@_kernel(parallel=True, items=4)  # masks (src)
def mask_rooms(coords, part_off, row_part, rle_len, src, out):
    """``out[m]``: room for mask ``m``'s counts."""
    for m in prange(src.shape[0]):
        out[m] = _mask_room(coords, part_off, row_part, rle_len, src, m)


@_kernel(parallel=True, items=6)  # masks (src)
def mask_counts(coords, part_off, row_part, rle_cnt, rle_off, rle_len, src, mask_h, mask_w, cnt_off, cnt, cnt_len):
    """Every mask's counts into ``cnt[cnt_off[m]:cnt_off[m + 1]]`` (room: ``mask_rooms``), their number into
    ``cnt_len[m]``."""
    for m in prange(src.shape[0]):
        cnt_len[m] = _mask_fill(coords, part_off, row_part, rle_cnt, rle_off, rle_len, src, mask_h, mask_w, m,
                                cnt[cnt_off[m]:cnt_off[m + 1]])


# Pixels a polygon can cover: C keeps a column x where 5x + 2 lies in [min u, max u) of the scaled vertices
# (u = (int)(5 x + .5), truncated toward zero: within 1.5 of 5 x) and fills it between boundary rows
# ceil((v + .5) / 5 - .5) of upsampled points between the vertices' v; so every pixel (x, y) of the mask has
# xmin - 0.7 < x and x + 1 < xmax + 0.9 (the same in y), and its rleToBbox box lies in the vertices' box grown
# by _NEAR (a run across columns spans the full height only when the fill touches row 0 and row h - 1).
_NEAR = 2.0


@_kernel(inner=True)
def _near_box(coords, part_off, row_part, rle_cnt, rle_off, rle_len, src, mask_h, mask_w, m, near, i):
    """``near[i] = (x0, y0, x1, y1)``: a box holding mask ``m``'s ``rleToBbox`` box — a polygon's vertices'
    box grown by ``_NEAR`` (everything when a coordinate is not finite), an RLE's own box."""
    p = src[m]
    if p < 0:
        r = -1 - p
        _box_area(rle_cnt, rle_off[r], rle_len[r], mask_h[m], mask_w[m], near, i)
        near[i, 2] += near[i, 0]
        near[i, 3] += near[i, 1]
        return
    x0 = np.inf
    y0 = np.inf
    x1 = -np.inf
    y1 = -np.inf
    finite = True
    for c in range(part_off[row_part[p]], part_off[row_part[p + 1]], 2):
        x = coords[c]
        y = coords[c + 1]
        finite = finite and np.isfinite(x) and np.isfinite(y)
        x0 = min(x0, x)
        x1 = max(x1, x)
        y0 = min(y0, y)
        y1 = max(y1, y)
    if not finite:
        x0 = -np.inf
        y0 = -np.inf
        x1 = np.inf
        y1 = np.inf
    near[i, 0] = x0 - _NEAR
    near[i, 1] = y0 - _NEAR
    near[i, 2] = x1 + _NEAR
    near[i, 3] = y1 + _NEAR


@_kernel(parallel=True, items=6)  # masks (src)
def mask_iou_blocks(coords, part_off, row_part, rle_cnt, rle_off, rle_len, src, mask_h, mask_w, dt_mask, gt_mask,
                    gt_crowd, blk_d0, blk_d1, blk_g0, blk_g1, blk_off, bounds, out):
    """``rleIou`` of every (dt, gt) pair of every block into ``out[off + (d - d0) * ncols + (g - g0)]``
    (``dt_mask[d]`` / ``gt_mask[g]``: each row's mask), one pass per block: rows whose ``_near_box`` meets
    none of the other side's are never rasterised (each of their pairs is 0: the masks' boxes do not
    overlap); the others are rasterised once, and each of their pairs is the bounding-box IoU of the masks
    (``bbIou``) first — 0 when the boxes do not overlap —, then the exact intersection / union of the runs
    (intersection / the prediction's area for a crowd label; 0 when they do not intersect; -1 for masks of
    different sizes). Blocks run in parallel lanes (``bounds``: ``match_kernels.lanes``) with scratch arrays
    per lane."""
    rows = np.maximum(blk_d1 - blk_d0, 0) + np.maximum(blk_g1 - blk_g0, 0)
    for lane in prange(bounds.shape[0] - 1):
        most = 1
        for b in range(bounds[lane], bounds[lane + 1]):
            most = max(most, rows[b])
        near = np.empty((most, 4), np.float64)
        box = np.empty((most, 4), np.float64)
        area = np.empty(most, np.int64)
        loc = np.empty(most + 1, np.int64)
        ln = np.empty(most, np.int64)
        need = np.empty(most, np.bool_)
        buf = np.empty(1024, np.int64)
        for b in range(bounds[lane], bounds[lane + 1]):
            d0 = blk_d0[b]
            g0 = blk_g0[b]
            nd = blk_d1[b] - d0
            ng = blk_g1[b] - g0
            if nd <= 0 or ng <= 0:
                continue
            for i in range(nd):
                _near_box(coords, part_off, row_part, rle_cnt, rle_off, rle_len, src, mask_h, mask_w,
                          dt_mask[d0 + i], near, i)
            for j in range(ng):
                _near_box(coords, part_off, row_part, rle_cnt, rle_off, rle_len, src, mask_h, mask_w,
                          gt_mask[g0 + j], near, nd + j)
            need[:nd + ng] = False
            for i in range(nd):
                for j in range(nd, nd + ng):
                    if (min(near[i, 2], near[j, 2]) > max(near[i, 0], near[j, 0])
                            and min(near[i, 3], near[j, 3]) > max(near[i, 1], near[j, 1])):
                        need[i] = True
                        need[j] = True
            loc[0] = 0
            for r in range(nd + ng):
                m = dt_mask[d0 + r] if r < nd else gt_mask[g0 + r - nd]
                loc[r + 1] = loc[r] + (_mask_room(coords, part_off, row_part, rle_len, src, m) if need[r] else 0)
            if loc[nd + ng] > buf.shape[0]:
                buf = np.empty(2 * loc[nd + ng], np.int64)
            for r in range(nd + ng):
                if need[r]:
                    m = dt_mask[d0 + r] if r < nd else gt_mask[g0 + r - nd]
                    ln[r] = _mask_fill(coords, part_off, row_part, rle_cnt, rle_off, rle_len, src, mask_h, mask_w,
                                       m, buf[loc[r]:loc[r + 1]])
                    area[r] = _box_area(buf, loc[r], ln[r], mask_h[m], mask_w[m], box, r)
            row = blk_off[b]
            for i in range(nd):
                md = dt_mask[d0 + i]
                for j in range(ng):
                    o = 0.0
                    if need[i] and need[nd + j]:
                        o = _pair_iou(buf, loc, ln, box, area, i, nd + j, mask_h[md], mask_w[md],
                                      mask_h[gt_mask[g0 + j]], mask_w[gt_mask[g0 + j]], gt_crowd[g0 + j])
                    out[row + i * ng + j] = o


@_kernel(inner=True)
def _pair_iou(cnt, loc, ln, box, area, d, g, hd, wd, hg, wg, crowd):
    """``rleIou`` of masks ``d`` (a prediction) and ``g`` (a label) with counts ``cnt[loc[.]:loc[.] + ln[.]]``
    and ``rleToBbox`` boxes ``box[.]``: the boxes' ``bbIou`` first — 0 when they do not overlap —, then the
    runs (-1 for masks of different sizes)."""
    dx = box[d, 0]
    dy = box[d, 1]
    dw = box[d, 2]
    dh = box[d, 3]
    gx = box[g, 0]
    gy = box[g, 1]
    gw = box[g, 2]
    gh = box[g, 3]
    ww = min(dw + dx, gw + gx) - max(dx, gx)
    if not ww > 0:
        return 0.0
    hh = min(dh + dy, gh + gy) - max(dy, gy)
    if not hh > 0:
        return 0.0
    if hd != hg or wd != wg:
        return -1.0
    return _rle_iou(cnt, loc[d], ln[d], loc[g], ln[g], crowd, area[d])


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
