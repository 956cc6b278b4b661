"""Opening a page of the real app with AppTest, shared by the page tests."""
from __future__ import annotations

import os
from pathlib import Path

from streamlit.testing.v1 import AppTest

import explorer
from explorer.resources import pages_dir
from explorer.ui.state import PROJECTS_ENV

APP = Path(explorer.__file__).resolve().parent / "app.py"


def open_page(monkeypatch, project: Path, page: str, *, timeout: float = 180) -> AppTest:
    """A fresh AppTest session of ``explorer/app.py`` serving only ``project``, switched to ``pages/<page>``;
    fails on any exception. The page path is relative to the app script (checkout or installed layout)."""
    monkeypatch.setenv(PROJECTS_ENV, str(project))
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.run()
    at.switch_page(os.path.relpath(pages_dir() / page, APP.parent))
    at.run()
    assert not at.exception, at.exception
    return at
