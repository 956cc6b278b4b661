"""One writer per project folder: an advisory lock file that `explorer import`, `add-predictions` and `metrics` hold.

``project_lock(root, command)`` takes an exclusive, non-blocking ``fcntl.flock`` on ``<root>/.explorer.lock``
for the duration of the block. A second process writing the same project refuses at once with a ``UserError``
naming the lock file and the holder's pid and command, instead of interleaving writes (two imports into one
``--out``, or metrics computed while the tables are rewritten). The kernel releases the lock when the holder
exits, even on SIGKILL, so a stale lock file is harmless: its content (pid, command) is only informative.
Readers (``evaluate``, ``export``, the app) take no lock: every table is replaced atomically (temp file +
``os.replace``), so a reader sees the old or the new file, never half of one.

On a platform without ``fcntl`` (Windows) no lock is taken.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from explorer.errors import UserError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = ".explorer.lock"


@contextlib.contextmanager
def project_lock(root: str | Path, command: str, *, create: bool = False):
    """Hold the write lock of project folder ``root`` while the block runs (``create``: make the folder first;
    else a missing folder is a ``UserError``)."""
    root = Path(root)
    if create:
        root.mkdir(parents=True, exist_ok=True)
    elif not root.is_dir():
        raise UserError(f"{root} is not a project folder (it does not exist); build one with 'explorer import'")
    path = root / LOCK_NAME
    if fcntl is None:
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown process"
            raise UserError(f"{root} is being written by another explorer process ({holder}): lock {path} is "
                            "held. Wait for it to finish and run this again (the lock is released as soon "
                            "as that process ends, even if it is killed)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, explorer {command}".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the flock
