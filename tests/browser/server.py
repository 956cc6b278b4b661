"""One real ``explorer run`` server for the browser tests (``explorer.commands.run.start_server``: a free port of
127.0.0.1, its own process group, waited for until Streamlit's health endpoint answers, stopped with SIGTERM then
SIGKILL — the same implementation ``benchmarks/bench_load.py`` uses) and Debian's Chromium."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

# CHROMIUM_ARGS is re-exported for the browser tests
from explorer.commands.run import CHROMIUM as RUN_CHROMIUM, CHROMIUM_ARGS, ServerError, start_server  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = Path(RUN_CHROMIUM)
SERVER_START_TIMEOUT = 120  # seconds: the first start imports the scientific stack


def require_chromium() -> None:
    """Skip without Debian's Chromium, except under ``CI=true`` where the browser tests must run."""
    if CHROMIUM.exists():
        return
    reason = (f"{CHROMIUM} not found: install Debian's chromium (python3 scripts/ensure_chromium.py, as root) "
              "to run the browser test")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


@contextmanager
def serving(projects, log_path: Path):
    """``explorer run PROJECT ... --no-samples`` on a free port of 127.0.0.1; yields its URL once it is healthy."""
    try:
        server = start_server(projects, log_path, timeout=SERVER_START_TIMEOUT, cwd=REPO)
    except ServerError as e:
        pytest.fail(str(e))
    try:
        yield server.url
    finally:
        server.stop()
