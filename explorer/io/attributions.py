"""Attribution maps (Grad-CAM, saliency, input × gradient …): read, validate, match to images, store in a project.

A map is one file per image under a folder ``DIR`` (recursive):

* **PNG**, 8- or 16-bit grey (an RGB/RGBA PNG whose colour channels are equal is reduced to grey; a
  colour-mapped heat-map picture is refused: its colours are not values);
* **NPY**, a 2-D numeric array ``(h, w)``, or 3-D with one channel (``(1, h, w)``/``(h, w, 1)``) or with
  equal channels (``(h, w, c)``, ``c ≤ 4``, or ``(c, h, w)``);
* **NPZ**, the array named ``key`` or else the archive's first array, read like an NPY.

Any resolution: the map covers the whole image (``metrics.attribution``; the overlay resizes it to the picture).
A map is matched to an image by its relative path without extensions (``cats/001.png`` ↔ image ``cats/001.jpg``;
``cats/001.jpg.npy`` too), else by its bare stem when that stem names exactly one image and one map.

Every file is checked before any array is allocated: a regular file inside ``DIR`` (a symlink out of it is
refused, ``explorer.project.paths.safe_join``), a PNG header / NPY header within bounds (``MAX_MAP_PIXELS``
cells, NumPy's 10,000-byte header limit), a numeric dtype, a size matching the file (truncation), finite values.
A bad file is a problem naming it and the reason (``ProblemReport``) and costs only itself.

Stored in the project as ``attributions/<image_id>.npy`` (float32, the validated map) plus
``attributions/index.json`` (``{"maps": {image_id: {"file", "source", "shape", "fingerprint"}}, ...}``) and a
manifest entry ``attributions`` (``index``, ``count``, ``source``, ``fingerprint`` of the index), all written
atomically (``explorer.project.files``). ``fingerprint`` of a map is the BLAKE2b of its stored file: the data
metrics cache keys attribution values by it.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np

from explorer.errors import ProblemReport, UserError
from explorer.project.paths import safe_join

MAP_EXTENSIONS = (".png", ".npy", ".npz")
#: largest map accepted, in cells (a 4096 × 4096 map): beyond it the file is refused before allocating
MAX_MAP_PIXELS = 1 << 24
#: largest file read (bytes): a float64 map of MAX_MAP_PIXELS cells plus headers
MAX_FILE_BYTES = MAX_MAP_PIXELS * 8 + (1 << 20)
#: NumPy's own limit on an NPY header (``numpy.lib.format``'s ``max_header_size``)
MAX_NPY_HEADER = 10_000
FOLDER = "attributions"
INDEX = "index.json"
MANIFEST_KEY = "attributions"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class AttributionError(ValueError):
    """A map file that cannot be used; the message is the reason (the caller names the file)."""


# ---- reading one map ----------------------------------------------------------------------------------------
def read_map(path: str | Path, *, key: str | None = None) -> np.ndarray:
    """The validated map of one file as float32 ``(h, w)``; ``AttributionError`` saying why it is unusable.

    ``key``: the NPZ array to read (None: the first). See the module docstring for the accepted layouts.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MAP_EXTENSIONS:
        raise AttributionError(f"not a map file ({', '.join(MAP_EXTENSIONS)})")
    try:
        st = os.stat(path)
    except OSError as e:
        raise AttributionError(f"cannot be read ({e.strerror or e})") from None
    import stat as stat_mod

    if not stat_mod.S_ISREG(st.st_mode):
        raise AttributionError("not a regular file")
    if st.st_size == 0:
        raise AttributionError("empty file")
    if st.st_size > MAX_FILE_BYTES:
        raise AttributionError(f"file of {st.st_size:,} bytes is larger than any map of at most "
                               f"{MAX_MAP_PIXELS:,} cells")
    try:
        if suffix == ".png":
            array = _read_png(path)
        elif suffix == ".npy":
            with open(path, "rb") as f:
                array = _read_npy_stream(f, st.st_size)
        else:
            array = _read_npz(path, key)
    except OSError as e:
        raise AttributionError(f"cannot be read ({e.strerror or e})") from None
    return _checked(array)


def _read_png(path: Path) -> np.ndarray:
    import cv2

    data = path.read_bytes()
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 33 or data[12:16] != b"IHDR":
        raise AttributionError("not a PNG file (no PNG signature and IHDR header)")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    _check_cells(height, width)
    if colour == 3:
        raise AttributionError("palette PNG: a colour-mapped picture, not a map (save the map as 8/16-bit grey)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.shape[:2] != (height, width):
        raise AttributionError("truncated or undecodable PNG")
    if image.ndim == 3:  # OpenCV: BGR / BGRA; alpha is not a value
        channels = image[..., :3] if image.shape[2] >= 3 else image[..., :1]
        image = _reduce_channels(channels, axis=2)
    return image


def _read_npy_stream(f, available: int) -> np.ndarray:
    """Read an NPY array from ``f`` whose remaining size is ``available`` bytes, headers checked first."""
    try:
        version = np.lib.format.read_magic(f)
        # the header length, bounded before NumPy reads (and allocates) that many bytes: a forged 4 GiB length
        start = f.tell()
        width = 2 if version == (1, 0) else 4
        raw = f.read(width)
        if len(raw) < width:
            raise AttributionError("truncated NPY header")
        length = int.from_bytes(raw, "little")
        if length > MAX_NPY_HEADER:
            raise AttributionError(f"NPY header of {length:,} bytes (the bound is {MAX_NPY_HEADER:,})")
        f.seek(start)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise AttributionError(f"NPY format version {version} is not supported")
    except AttributionError:
        raise
    except ValueError as e:  # bad magic, header too long (NumPy's 10,000-byte limit), unparsable header
        raise AttributionError(f"bad NPY header ({' '.join(str(e).split())[:160]})") from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in "buif":
        raise AttributionError(f"dtype {dtype} is not a numeric map (bool, integer or float expected)")
    shape = tuple(int(s) for s in shape)
    cells = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if len(shape) not in (2, 3):
        raise AttributionError(f"shape {shape} is not a 2-D map (or 3-D with one channel)")
    if cells == 0:
        raise AttributionError(f"empty array (shape {shape})")
    if cells > MAX_MAP_PIXELS * 4:
        raise AttributionError(f"shape {shape}: {cells:,} values, more than any map of at most "
                               f"{MAX_MAP_PIXELS:,} cells")
    need = cells * dtype.itemsize
    header_end = f.tell()
    if available - header_end < need:
        raise AttributionError(f"truncated: the header announces {need:,} bytes of data, the file holds "
                               f"{max(available - header_end, 0):,}")
    data = f.read(need)
    if len(data) < need:
        raise AttributionError(f"truncated: {len(data):,} of {need:,} bytes of data")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    if array.ndim == 3:
        array = _three_d(array)
    else:
        _check_cells(*array.shape)
    return array


def _three_d(array: np.ndarray) -> np.ndarray:
    """A 3-D array as a 2-D map: a singleton axis dropped, else equal channels (last axis, or first) reduced."""
    shape = array.shape
    if shape[0] == 1:
        array = array[0]
    elif shape[2] == 1:
        array = array[..., 0]
    elif shape[2] <= 4:
        array = _reduce_channels(array, axis=2)
    elif shape[0] <= 4:
        array = _reduce_channels(array, axis=0)
    else:
        raise AttributionError(f"shape {shape}: 3-D with {min(shape[0], shape[2])}+ channels on both ends, "
                               "not a map")
    _check_cells(*array.shape)
    return array


def _reduce_channels(array: np.ndarray, *, axis: int) -> np.ndarray:
    first = np.take(array, 0, axis=axis)
    if array.shape[axis] > 1 and not (array == np.expand_dims(first, axis)).all():
        raise AttributionError(f"{array.shape[axis]} different channels (shape {array.shape}): one value per "
                               "pixel expected (a colour-mapped picture is not a map)")
    return first


def _read_npz(path: Path, key: str | None) -> np.ndarray:
    try:
        with zipfile.ZipFile(path) as z:
            members = [i for i in z.infolist() if i.filename.endswith(".npy")]
            if not members:
                raise AttributionError("NPZ archive without arrays")
            if key is not None:
                found = [i for i in members if i.filename == f"{key}.npy"]
                if not found:
                    keys = ", ".join(i.filename[:-4] for i in members[:8])
                    raise AttributionError(f"no array {key!r} in the NPZ archive (it holds: {keys})")
                info = found[0]
            else:
                info = members[0]
            if info.file_size > MAX_FILE_BYTES:
                raise AttributionError(f"array {info.filename[:-4]!r} of {info.file_size:,} bytes is larger than "
                                       f"any map of at most {MAX_MAP_PIXELS:,} cells")
            with z.open(info) as f:
                return _read_npy_stream(f, info.file_size)
    except AttributionError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as e:
        # a damaged archive, a CRC mismatch (zipfile checks it as the member is read), an unknown compression
        raise AttributionError(f"damaged NPZ archive ({' '.join(str(e).split())[:160]})") from None


def _check_cells(height: int, width: int) -> None:
    if height <= 0 or width <= 0:
        raise AttributionError(f"empty map ({height}×{width})")
    if int(height) * int(width) > MAX_MAP_PIXELS:
        raise AttributionError(f"map of {width}×{height} cells is larger than the bound of {MAX_MAP_PIXELS:,} cells")


def _checked(array: np.ndarray) -> np.ndarray:
    out = np.asarray(array, dtype=np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        raise AttributionError(f"{int(bad.sum()):,} of {out.size:,} values are NaN or infinite")
    return out.astype(np.float32)


# ---- matching a folder to images ------------------------------------------------------------------------------
def _strip(name: str, extensions) -> str:
    stem, dot, ext = name.rpartition(".")
    return stem if dot and "/" not in ext and f".{ext.lower()}" in extensions else name


def scan_maps(folder: Path, report: ProblemReport) -> list[str]:
    """Relative paths (``/``-separated, sorted) of the map files under ``folder``; files whose real path leaves
    ``folder`` (symlinks) are reported and left out; other files are ignored."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in filenames:
            if Path(name).suffix.lower() not in MAP_EXTENSIONS:
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), folder).replace(os.sep, "/")
            try:
                safe_join(folder, rel)
            except UserError:
                report.add(str(folder / rel), "attribution map", "points outside the attribution folder "
                           f"{folder} (a symlink out of it): not read", "unsafe_path")
                continue
            found.append(rel)
    # symlinked folders are not walked (followlinks=False): their maps are never read
    return sorted(found)


def match_maps(map_names: list[str], file_names: list[str]) -> tuple[dict[int, str], dict[str, str]]:
    """``({image position: map name}, {map name: why it is not used})``.

    Match on the relative path without the map's extension and without an image extension
    (``a/b.png``, ``a/b.jpg.npy`` ↔ ``a/b.jpg``); a map left over matches by bare stem when the stem names one
    image and one map. Two maps for one image: neither is used (the problem names both).
    """
    from explorer.io.scan import IMAGE_EXTENSIONS

    image_ext = {e.lower() for e in IMAGE_EXTENSIONS}
    image_key = {}
    for pos, name in enumerate(file_names):
        image_key.setdefault(_strip(str(name).replace("\\", "/"), image_ext), []).append(pos)
    by_image: dict[int, list[str]] = {}
    unmatched = []
    for m in map_names:
        key = _strip(_strip(m, MAP_EXTENSIONS), image_ext)
        hits = image_key.get(key, [])
        if len(hits) == 1:
            by_image.setdefault(hits[0], []).append(m)
        else:
            unmatched.append((m, key))
    # by bare stem: unique on both sides
    stem_images: dict[str, list[int]] = {}
    for key, positions in image_key.items():
        stem_images.setdefault(key.rpartition("/")[2], []).extend(positions)
    stem_maps: dict[str, list[str]] = {}
    for m, key in unmatched:
        stem_maps.setdefault(key.rpartition("/")[2], []).append(m)
    why: dict[str, str] = {}
    for stem, maps in stem_maps.items():
        images = stem_images.get(stem, [])
        if len(images) == 1 and len(maps) == 1 and images[0] not in by_image:
            by_image[images[0]] = maps
        elif len(images) > 1:
            for m in maps:
                why[m] = f"its stem {stem!r} names {len(images)} images in different folders; put it at the image's relative path"
        else:
            for m in maps:
                why[m] = "no image of the project has this name" if not images else \
                    f"several maps for the image of stem {stem!r}"
    out = {}
    for pos, maps in by_image.items():
        if len(maps) == 1:
            out[pos] = maps[0]
        else:
            for m in maps:
                why[m] = f"several maps for image {file_names[pos]!r} ({', '.join(maps)}): none used"
    return out, why


# ---- storing in a project --------------------------------------------------------------------------------------
def _fingerprint(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def add_attributions(project, folder: str | Path, *, key: str | None = None, replace: bool = False,
                     report: ProblemReport | None = None) -> ProblemReport:
    """Read every map under ``folder``, match it to ``project``'s images and store the valid ones.

    ``key``: the NPZ array name. A project that already has maps refuses unless ``replace`` (the new set then
    replaces the old one whole). Problems go to ``report`` (a new one when None), which is returned; its
    ``kept["attributions"]`` counts the maps stored. ``UserError`` when ``folder`` is not a folder or no map is
    usable. The caller holds the project lock (``explorer import``, ``explorer add-attributions``).
    """
    from explorer.project.files import atomic_text, atomic_write
    from explorer.project.folder import MANIFEST

    report = report if report is not None else ProblemReport()
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--attributions {folder} is not a folder of maps")
    if key is not None and not (isinstance(key, str) and key):
        raise UserError("the NPZ key must be a non-empty string")
    if project.manifest.get(MANIFEST_KEY) and not replace:
        raise UserError(f"project {project.name!r} already has attribution maps; pass --replace to replace them")
    names = scan_maps(folder, report)
    file_names = project.images["file_name"].astype(str).tolist()
    image_ids = project.images["image_id"].to_numpy(np.int64)
    matched, why = match_maps(names, file_names)
    for m, reason in why.items():
        report.add(str(folder / m), "attribution map", reason, "unmatched_map")
    out_dir = Path(project.root) / FOLDER
    maps = {}
    for pos, name in sorted(matched.items()):  # one file per image: the loop is I/O
        path = folder / name
        try:
            array = read_map(safe_join(folder, name), key=key)
        except (AttributionError, UserError) as e:
            report.add(str(path), "attribution map", str(e), "bad_map")
            continue
        data = _npy_bytes(array)
        image_id = int(image_ids[pos])
        file = f"{image_id}.npy"
        atomic_write(out_dir / file, lambda tmp, data=data: Path(tmp).write_bytes(data))
        maps[str(image_id)] = {"file": file, "source": name, "shape": list(array.shape),
                               "fingerprint": _fingerprint(data)}
    if not maps:
        raise UserError(f"no usable attribution map under {folder} ({len(names)} map file(s) "
                        f"({', '.join(MAP_EXTENSIONS)}) found, {len(report)} problem(s))"
                        + (": " + "; ".join(str(p) for p in report.problems[:3]) if len(report) else ""))
    for stale in out_dir.glob("*.npy"):  # a replaced set: maps of images it does not cover go
        if stale.name not in {v["file"] for v in maps.values()}:
            stale.unlink(missing_ok=True)
    index = {"format_version": 1, "source": str(folder.resolve()), "key": key, "maps": maps}
    text = json.dumps(index, indent=0, sort_keys=True)
    atomic_text(out_dir / INDEX, text)
    report.kept["attributions"] = len(maps)
    project.manifest[MANIFEST_KEY] = {"index": f"{FOLDER}/{INDEX}", "count": len(maps),
                                      "source": str(folder.resolve()), "fingerprint": _fingerprint(text.encode())}
    atomic_text(Path(project.root) / MANIFEST, json.dumps(project.manifest, indent=1))
    return report


def import_into(project, report: ProblemReport, folder, *, key: str | None = None) -> None:
    """``explorer import --attributions DIR``: store the maps of a project just imported. A folder without a usable
    map is a problem of the import (the project is kept, with no maps), not a failed import."""
    from explorer.project.files import atomic_text

    try:
        add_attributions(project, folder, key=key, replace=True, report=report)
    except UserError as e:
        report.add(str(folder), "attribution maps", str(e), "no_attributions")
    path = Path(project.root) / "import_report.json"
    if path.is_file():
        atomic_text(path, json.dumps(report.to_dict(), indent=1))


# ---- reading them back --------------------------------------------------------------------------------------
def has_attributions(project) -> bool:
    return bool(project.manifest.get(MANIFEST_KEY))


def attribution_index(project) -> dict[int, dict]:
    """``{image_id: {"file", "source", "shape", "fingerprint"}}`` of the project's maps ({} without maps).

    A damaged index is a ``UserError`` naming it and the repair."""
    if not has_attributions(project):
        return {}
    path = Path(project.root) / FOLDER / INDEX
    try:
        st = os.stat(path)
        return _read_index(str(path), st.st_mtime_ns, st.st_size)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{path}: damaged attribution index ({type(e).__name__}); run 'explorer add-attributions "
                        f"{project.root} DIR --replace' again") from None


@functools.lru_cache(maxsize=8)
def _read_index(path: str, mtime_ns: int, size: int) -> dict[int, dict]:
    """The parsed index, once per version of the file (a gallery reads one map per thumbnail). Callers must not
    modify the returned dict."""
    info = json.loads(Path(path).read_text(encoding="utf-8"))
    return {int(k): v for k, v in info["maps"].items()}


def load_stored_map(project, entry: dict) -> np.ndarray | None:
    """The stored float32 map of an index entry, or None when its file is missing or damaged."""
    folder = Path(project.root) / FOLDER
    try:
        path = safe_join(folder, str(entry["file"]))
        with open(path, "rb") as f:
            return _read_npy_stream(f, os.fstat(f.fileno()).st_size).astype(np.float32, copy=False)
    except (OSError, AttributionError, UserError, KeyError, TypeError):
        return None


def load_map(project, image_id: int) -> np.ndarray | None:
    """The stored map of one image (float32 ``(h, w)``), or None (no map, or its file is damaged)."""
    entry = attribution_index(project).get(int(image_id))
    return None if entry is None else load_stored_map(project, entry)
