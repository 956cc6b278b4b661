"""``explorer run [PROJECT ...]``: launch the Streamlit app on projects (default: the bundled samples)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
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
