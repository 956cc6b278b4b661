"""``explorer run``: the process the user starts is the Streamlit server, so ``kill PID`` frees the port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from explorer.commands.run import free_port
from explorer.samples import build_sample, list_samples

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _wait(predicate, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return []
    return [int(x) for x in out.split()]


@pytest.fixture(scope="module")
def training_project(tmp_path_factory):
    spec = next(s for s in list_samples() if s["name"] == "training")  # the quickest sample to build
    return build_sample(spec, out=tmp_path_factory.mktemp("run") / "training", progress=False)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_kill_pid_of_explorer_run_frees_its_port(training_project, signum):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "explorer", "run", str(training_project), "--no-samples", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        assert _wait(lambda: _answers(port), 60), "the app never answered on 127.0.0.1"
        assert _children(proc.pid) == []  # no child server: this PID is the server
        os.kill(proc.pid, signum)
        assert _wait(lambda: not _port_in_use(port), 10), f"port {port} still served after {signum.name}"
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not _port_in_use(port)


def test_serves_on_loopback_only():
    from explorer.commands.run import app_command

    cmd = app_command([], address="127.0.0.1", port=8765)
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--server.port") + 1] == "8765"
