"""Shared input handling of the table-based inputs (classification and regression CSVs, splits CSVs, training
logs): CSV files read with line numbers, image names resolved against the scanned images, the ``images`` table,
class lists.

Every bad record becomes a ``Problem`` naming the file and the line (``line 7``, counting the header as line 1);
a file that cannot be used at all (missing, no header, missing columns) is a ``UserError``.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import ProblemReport, UserError
from explorer.io.scan import CONTROL_CHARS


#: what a cell / class-list line is trimmed of: ASCII blanks (padding a person or a tool writes). Not Unicode
#: separators and controls (U+2028, \x85, NBSP...): ``"a.jpg\u2028"`` is not the image ``a.jpg``, it is named
BLANKS = " \t\r\n\x0b\x0c"


def _text_lines(path: Path) -> list[str]:
    """The file's physical lines as text: UTF-8 (with or without a byte-order mark) or UTF-16 with its BOM.

    ``UserError`` naming the file when it is binary (a NUL byte outside UTF-16) or not valid text, with the
    byte offset of the first bad byte.
    """
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise UserError(f"{path}: not valid UTF-16 text (byte {e.start}); save it as UTF-8 CSV") from None
    else:
        nul = data.find(b"\x00")
        if nul >= 0:
            raise UserError(f"{path}: a binary file (NUL byte at offset {nul}), not a CSV text file")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise UserError(f"{path}: not valid UTF-8 text (byte {e.start}: {data[e.start:e.start + 1]!r}); "
                            "save it as UTF-8 CSV") from None
    return physical_lines(text)


def physical_lines(text: str) -> list[str]:
    """``text`` cut at ``\n``, ``\r\n`` and ``\r`` only — the lines an editor, ``wc -l`` and every tool that
    wrote the file count — so ``line N`` in a message is line N of the file. (``str.splitlines`` also cuts at
    ``\x0b``, ``\x0c``, ``\x1c``-``\x1e``, ``\x85``, U+2028 and U+2029: one of those inside a field would
    shift every later line number and split a record in two.) A final line break ends the last line."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _parse_lines(lines: list[str]) -> list[list[str] | str]:
    """Each physical line parsed as one CSV record: its fields, or the reason it cannot be read (a ``str``).

    One record per line is the rule of these files (image names, labels, numbers): a quote left open is that
    line's problem and never swallows the lines after it, and a field over the csv module's limit is named.
    The whole file is parsed in one C pass when every line is self-contained; line by line otherwise.
    """
    rows = []
    try:
        rows = list(csv.reader(lines, strict=True))
    except csv.Error:
        rows = []
    if len(rows) == len(lines):  # no record spanned two lines and nothing failed
        return rows
    out = []
    for line in lines:
        try:
            out.append(next(csv.reader([line], strict=True), []))
        except csv.Error as e:
            reason = str(e)
            if "field larger than field limit" in reason:
                reason = f"a field longer than {csv.field_size_limit():,} characters"
            elif "unexpected end of data" in reason or "EOF" in reason:
                reason = "a quote is opened and not closed on this line"
            out.append(f"cannot be read as CSV: {reason}")
    return out


def read_csv(path, *, required: tuple[str, ...], report: ProblemReport, what: str) -> pd.DataFrame:
    """Read a CSV as text: DataFrame with the file's columns (stripped strings) plus ``line`` (1 = header).

    One record per physical line (``_parse_lines``), cells trimmed of ASCII blanks (``BLANKS``). Rows with a different number of fields than the header, an
    unclosed quote or an over-long field are problems (``bad_row``) and skipped, every other row is kept; blank
    lines are ignored. UTF-8 or UTF-16 with a BOM. ``UserError`` when the file is missing, binary, empty, or lacks
    a ``required`` column.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file {path} not found")
    lines = _text_lines(path)
    parsed = _parse_lines(lines)
    numbered = [(i + 1, row) for i, row in enumerate(parsed)
                if isinstance(row, str) or any(cell.strip(BLANKS) for cell in row)]
    if not numbered:
        raise UserError(f"{path}: empty file; expected a header with columns {', '.join(required)}")
    if isinstance(numbered[0][1], str):
        raise UserError(f"{path}: line {numbered[0][0]} (the header) {numbered[0][1]}")
    header = [c.strip(BLANKS) for c in numbered[0][1]]
    missing = [c for c in required if c not in header]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(required)}, "
                        f"got {', '.join(header) or 'nothing'}")
    if len(set(header)) != len(header):
        dupes = sorted({c for c in header if header.count(c) > 1})
        raise UserError(f"{path}: duplicate column(s) {', '.join(dupes)} in the header")
    good, kept_lines = [], []
    for line, row in numbered[1:]:
        if isinstance(row, str):
            report.add(path, f"line {line}", row, "bad_row")
            continue
        if len(row) != len(header):
            report.add(path, f"line {line}", f"has {len(row)} field(s), the header has {len(header)}", "bad_row")
            continue
        good.append([cell.strip(BLANKS) for cell in row])
        kept_lines.append(line)
    table = pd.DataFrame(good, columns=header, dtype=object) if good else pd.DataFrame(columns=header, dtype=object)
    table["line"] = np.asarray(kept_lines, dtype=np.int64)
    return table


def report_rows(report: ProblemReport, path, table: pd.DataFrame, mask, message, kind: str) -> None:
    """Add one problem per row of ``table`` where ``mask`` holds; ``message`` is a string or a row -> str callable."""
    for _, row in table.loc[np.asarray(mask, dtype=bool)].iterrows():
        text = message(row) if callable(message) else message
        report.add(path, f"line {row['line']}", text, kind)


def drop_empty(report: ProblemReport, path, table: pd.DataFrame, columns: tuple[str, ...], *,
               what: str | None = None) -> pd.DataFrame:
    """Rows with an empty value in any of ``columns`` are ``empty_value`` problems ("empty image or label") and
    dropped; ``what`` words the columns in the message when they are not their own names."""
    empty = np.zeros(len(table), dtype=bool)
    for column in columns:
        empty |= table[column].eq("").to_numpy()
    report_rows(report, path, table, empty, f"empty {what or ' or '.join(columns)}", "empty_value")
    return table.loc[~empty].reset_index(drop=True)


def drop_duplicates(report: ProblemReport, path, table: pd.DataFrame, column: str = "file_name") -> pd.DataFrame:
    """Keep the first row per image (``column``); every later row is a ``duplicate`` problem naming the first line.

    Run it after the other row checks, so a valid row is not dropped as a duplicate of a rejected one."""
    dup = table.duplicated(column, keep="first").to_numpy()
    if dup.any():
        first_line = table.drop_duplicates(column).set_index(column)["line"]
        report_rows(report, path, table, dup,
                    lambda r: f"image {r[column]!r} already given on line {first_line[r[column]]}; this row is ignored",
                    "duplicate")
    return table.loc[~dup].reset_index(drop=True)


def match_names(names, known: list[str]) -> np.ndarray:
    """``(n,)`` int64 index into ``known`` of each of ``names`` (``-1``: no image), by the one naming rule of
    every CSV that names images (labels, predictions, targets, splits).

    Backslashes count as ``/``. A name matches the known image with the same relative path; else the one known
    image with that base name (``b.png`` finds ``sub/b.png`` when no other folder has a ``b.png``); else the one
    known image with the same path apart from the extension (``a/b.jpg`` finds the mask ``a/b.png`` of a
    segmentation project without images, ``x`` finds ``x.jpg``). Ambiguous names match nothing, and so does a
    name holding a control character (no file name has one: ``a.jpg\x07`` is not ``a.jpg``).
    """
    def unique(keys) -> dict[str, int]:
        seen: dict[str, int] = {}
        for k, key in enumerate(keys):
            seen[key] = -2 if key in seen else k  # -2: more than one image has this key
        return {key: k for key, k in seen.items() if k >= 0}

    exact = {name: k for k, name in enumerate(known)}
    by_base = unique(name.rpartition("/")[2] for name in known)
    by_stem = unique(_stem(name) for name in known)
    out = np.full(len(names), -1, dtype=np.int64)
    for i, name in enumerate(names):
        name = str(name).replace("\\", "/")
        if not CONTROL_CHARS.isdisjoint(name):
            continue
        k = exact.get(name)
        if k is None:
            k = by_base.get(name, by_stem.get(_stem(name), -1))
        out[i] = k
    return out


def _stem(name: str) -> str:
    """``a/b.jpg`` -> ``a/b`` (only the last component's extension goes; ``a.d/b`` stays)."""
    head, slash, leaf = name.rpartition("/")
    dot = leaf.rfind(".")
    return head + slash + (leaf[:dot] if dot > 0 else leaf)


def resolve_images(table: pd.DataFrame, known: list[str] | None, report: ProblemReport, path, *,
                   column: str = "image", kind: str = "unknown_image", unknown=None) -> pd.DataFrame:
    """Map ``table[column]`` to known image file names (``match_names``); adds ``file_name``.

    Rows naming no known image (or an ambiguous name) are ``kind`` problems and dropped; ``unknown(value)``
    words the message (default: not in the image folder). ``known=None`` (no image folder): the names are the
    images, ``/``-separated.
    """
    if known is None:
        return table.assign(file_name=table[column].astype(str).str.replace("\\", "/", regex=False))
    index = match_names(table[column].tolist(), known)
    missing = index < 0
    unknown = unknown or (lambda value: f"unknown image {value!r} (not in the image folder)")
    report_rows(report, path, table, missing, lambda r: unknown(r[column]), kind)
    out = table.loc[~missing].copy()
    out["file_name"] = np.asarray(known, dtype=object)[index[~missing]] if len(known) else []
    return out.reset_index(drop=True)


def read_yaml(path: Path) -> dict:
    """A YAML mapping (``data.yaml``); ``UserError`` with line/column when malformed."""
    import yaml  # only YOLO-style inputs need it

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(f"{path}: malformed YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a YAML mapping with 'names'")
    return data


def class_list(classes) -> list[str] | None:
    """THE class-list reader of every importer: a list of names, a ``data.yaml`` (``names``: a list or an
    ``{index: name}`` mapping with keys 0..n-1) or a text file with one name per line (blank lines skipped,
    UTF-8 with or without BOM); None passes. Line / position ``i`` is class index ``i``.

    ``UserError`` for a missing file, an empty list or repeated names (two classes must be told apart).
    """
    if classes is None:
        return None
    if isinstance(classes, (str, Path)):
        path = Path(classes)
        if not path.is_file():
            raise UserError(f"classes file {path} not found")
        if path.suffix.lower() in (".yaml", ".yml"):
            names = _yaml_names(path)
        else:
            names = [line.strip(BLANKS) for line in _text_lines(path) if line.strip(BLANKS)]  # UTF-8/16; binary named
    else:
        names = [str(c) for c in classes]
    if not names:
        raise UserError(f"the class list{f' {classes}' if isinstance(classes, (str, Path)) else ''} is empty")
    if len(set(names)) != len(names):
        raise UserError(f"class names must be unique, but got {names}")
    return names


def _yaml_names(path: Path) -> list[str]:
    names = read_yaml(path).get("names")
    if isinstance(names, list) and all(isinstance(n, (str, int)) for n in names):
        return [str(n) for n in names]
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        if sorted(names) != list(range(len(names))):
            raise UserError(f"{path}: 'names' keys must be 0..{len(names) - 1}, got {sorted(names)}")
        return [str(names[k]) for k in range(len(names))]
    raise UserError(f"{path}: 'names' must be a list of class names or a {{index: name}} mapping")
