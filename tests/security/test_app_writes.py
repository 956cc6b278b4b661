"""The app writes only inside its cache (``$EXPLORER_HOME``) and the project folder.

The UI code (explorer/ui, explorer/app.py, pages/) opens nothing for writing itself (downloads are built in
memory); this test records every write the whole process makes (a Python audit hook on ``open`` for writing and
on renames, removals and new folders) while every page of a project is opened, and checks where they went.
Python's and Numba's compiled-code caches (``__pycache__``) are the interpreter's, not the app's.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import explorer
from explorer import tasks
from explorer.resources import pages_dir
from explorer.ui.state import PROJECTS_ENV

APP = Path(explorer.__file__).resolve().parent / "app.py"
_RECORD: list[str] | None = None
_WRITE_EVENTS = {"os.rename", "os.replace", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree", "shutil.move",
                 "shutil.copyfile", "os.truncate"}


def _hook(event, args):
    if _RECORD is None:
        return
    if event == "open" and len(args) > 1 and isinstance(args[1], str) and any(c in args[1] for c in "wax+"):
        path = args[0]
    elif event == "open" and len(args) > 2 and isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR):
        path = args[0]
    elif event in _WRITE_EVENTS:
        path = args[0]
    else:
        return
    if isinstance(path, (str, bytes, os.PathLike)):
        _RECORD.append(os.fsdecode(path))


sys.addaudithook(_hook)  # (an audit hook cannot be removed: it records only while _RECORD is a list)


@pytest.mark.parametrize("sample", ["detection", "segmentation"])
def test_every_page_writes_only_to_the_cache_and_the_project(sample, sample_projects, explorer_home, monkeypatch):
    global _RECORD
    project = sample_projects[sample]
    monkeypatch.setenv(PROJECTS_ENV, str(project))
    from explorer.project.folder import Project

    pages = [p.file for p in tasks.get(Project.load(project).task).pages]
    _RECORD = []
    try:
        for page in pages:
            at = AppTest.from_file(str(APP), default_timeout=180)
            at.run()
            at.switch_page(os.path.relpath(pages_dir() / page, APP.parent))
            at.run()
            assert not at.exception, (page, [e.value for e in at.exception])
        written = list(_RECORD)
    finally:
        _RECORD = None
    allowed = [Path(project).resolve(), Path(explorer_home).resolve()]
    outside = sorted({w for w in written if "__pycache__" not in Path(w).parts
                      and not any(Path(os.path.abspath(w)).resolve().is_relative_to(a) for a in allowed)
                      and w not in ("/dev/null",)})
    assert not outside, outside


def test_the_audit_hook_sees_writes(tmp_path):
    """The recorder above is live: a file opened for writing, a new folder and a rename are all recorded."""
    global _RECORD
    _RECORD = []
    try:
        (tmp_path / "a.txt").write_text("x")
        (tmp_path / "d").mkdir()
        os.replace(tmp_path / "a.txt", tmp_path / "b.txt")
        (tmp_path / "b.txt").read_text()  # a read is not a write
        seen = list(_RECORD)
    finally:
        _RECORD = None
    assert seen == [str(tmp_path / "a.txt"), str(tmp_path / "d"), str(tmp_path / "a.txt")]
