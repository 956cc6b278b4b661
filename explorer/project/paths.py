"""Where a project's files may be read from: the one path-safety rule (pandas-free).

Importers, the project, the metrics engine and its CLI fast path all resolve an image's ``file_name`` under its
image folder with ``safe_join``. It lives here, apart from ``explorer.project.folder`` (which imports pandas),
so the bare-folder metrics run can check paths before pandas is imported.
"""
from __future__ import annotations

from pathlib import Path

from explorer.errors import UserError


def safe_join(root: Path, file_name: str) -> Path:
    """``root / file_name`` resolved, refusing absolute names and names that escape ``root`` (``../x``).

    Raises ``UserError`` naming the offending file name.
    """
    name = str(file_name).replace("\\", "/")
    if not name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UserError(f"image file name {file_name!r} must be relative to the image folder")
    root_resolved = Path(root).resolve()
    path = (root_resolved / name).resolve()
    if not path.is_relative_to(root_resolved):
        raise UserError(f"image file name {file_name!r} points outside the image folder {root}")
    return path
