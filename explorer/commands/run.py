"""``explorer run [PROJECT ...]``: launch the Streamlit app on projects (default: the bundled samples)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from explorer.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("projects", nargs="*", help="project folders built by 'explorer import' (default: the bundled samples)")
    parser.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    parser.add_argument("--no-samples", action="store_true", help="do not add the bundled sample projects")


def app_command(projects: list[Path], *, address: str, port: int) -> list[str]:
    """The ``streamlit run`` command line that serves the app on the given projects."""
    app = Path(__file__).resolve().parent.parent / "app.py"
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", address,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--theme.base", "light",
        "--client.toolbarMode", "viewer",  # no "Deploy" button, but the "Running…/Stop" indicator shows long work
        # no gc.collect() after every script run: with ten sessions each rerun's full collection (0.2 s at 10k
        # images, more at 100k, holding the GIL) stalled every other session; refcounting frees the frames and
        # Python's own generational collection still runs (bench_load reports the RSS after the moves)
        "--runner.postScriptGC", "false",
        "--",
    ]
    for p in projects:
        cmd += ["--project", str(p)]
    return cmd


def resolve_projects(paths: list[str], *, samples: bool) -> list[Path]:
    """Check the user's project folders and add the bundled samples (built on first use)."""
    from explorer.project.folder import MANIFEST
    from explorer.samples import ensure_samples

    projects = []
    for p in paths:
        path = Path(p).expanduser().resolve()
        if not (path / MANIFEST).is_file():
            raise UserError(f"{p} is not a project folder (no {MANIFEST}); build one with 'explorer import'")
        projects.append(path)
    if samples or not projects:
        projects += ensure_samples()
    return projects


def run(args) -> int:
    """Build the samples if needed, then become the Streamlit server.

    On POSIX the process replaces itself with ``python -m streamlit run …`` (``os.execve``): the PID the user
    started *is* the server, so ``kill PID`` (SIGTERM), Ctrl-C (SIGINT) and a closed terminal (SIGHUP) stop it
    and free the port — there is no parent left behind to orphan a child. Where ``exec`` does not replace the
    process (Windows), the server runs as a child and every catchable stop signal is forwarded to it.
    """
    projects = resolve_projects(args.projects, samples=not args.no_samples)
    cmd = app_command(projects, address=args.address, port=args.port)
    print(f"explorer: serving {len(projects)} project(s) on http://{args.address}:{args.port}", flush=True)
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    sys.stderr.flush()
    if os.name == "posix":
        os.execve(cmd[0], cmd, env)  # does not return
    return _run_forwarding(cmd, env)


def _run_forwarding(cmd: list[str], env: dict) -> int:
    """Run the server as a child, forwarding SIGTERM/SIGINT/SIGHUP (those this platform has) and waiting for it."""
    child = subprocess.Popen(cmd, env=env)

    def forward(signum, _frame):
        try:
            child.send_signal(signum)
        except (ProcessLookupError, OSError):
            pass

    for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), forward)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:  # a signal arrived while waiting: the handler forwarded it, keep waiting
            continue


# --- a server in the background, for the browser tests and the load benchmark (one implementation for both) ---

class ServerError(RuntimeError):
    """The background server exited or never answered; the message ends with its log's last lines."""


@dataclass
class Server:
    """An ``explorer run`` child serving on ``url`` (127.0.0.1) in its own process group; ``stop()`` ends it."""

    process: subprocess.Popen
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        """The server's PID, which is also its process group (``explorer run`` execs into Streamlit)."""
        return self.process.pid

    def log_tail(self, n_chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the process group, SIGKILL if it has not exited after ``grace`` seconds."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=grace)
        except ProcessLookupError:
            pass


#: Debian's Chromium and its headless options, for whatever drives a browser against the background server (the
#: browser tests, bench_load): Playwright cannot download browsers here
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(projects, log_path: Path, *, port: int | None = None, timeout: float = 120.0,
                 samples: bool = False, cwd: Path | None = None) -> Server:
    """Start ``explorer run PROJECT ... [--no-samples]`` on 127.0.0.1 (never another interface) and wait until
    Streamlit's health endpoint answers; ``ServerError`` with the log's tail if it exits or ``timeout`` passes.

    The child runs in its own session (process group), so ``Server.stop`` ends it and anything it started.
    POSIX only (process groups).
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    port = free_port() if port is None else port
    cmd = [sys.executable, "-m", "explorer", "run", *map(str, projects), "--address", "127.0.0.1",
           "--port", str(port)] + ([] if samples else ["--no-samples"])
    with open(log_path, "w") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerError(f"explorer run exited with code {process.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return server
            except OSError:
                pass
            time.sleep(0.25)
    except BaseException:  # Ctrl-C or SIGTERM while waiting: the server (its own session) would outlive us
        server.stop()
        raise
    server.stop()
    raise ServerError(f"server not healthy after {timeout:.0f} s:\n{server.log_tail()}")


@contextmanager
def serving(projects, log_path: Path, **kwargs):
    """``start_server`` as a context: yields the healthy ``Server`` and stops it on exit, whatever happened."""
    server = start_server(projects, log_path, **kwargs)
    try:
        yield server
    finally:
        server.stop()
