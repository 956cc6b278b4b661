"""One real ``explorer run`` server for the browser tests: started on a free port of 127.0.0.1 in its own process
group, waited for until Streamlit's health endpoint answers, stopped (SIGTERM, then SIGKILL) at the end."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"explorer run exited with code {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"server not healthy after {SERVER_START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL if it has not exited after 15 s."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=15)
    except ProcessLookupError:
        pass


@contextmanager
def serving(projects, log_path: Path):
    """``explorer run PROJECT ... --no-samples`` on a free port; yields its URL once it is healthy."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "explorer", "run", *map(str, projects), "--no-samples", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, server, log_path)
            yield url
        finally:
            stop(server)
