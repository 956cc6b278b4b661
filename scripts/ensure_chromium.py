#!/usr/bin/env python3
"""Make Debian's Chromium available for the browser test (``tests/browser``).

Playwright's own ``playwright install`` downloads a browser from the network, which CI machines here cannot do;
the test drives the distribution's ``/usr/bin/chromium`` instead. This script:

- does nothing when ``/usr/bin/chromium`` already exists;
- otherwise, when running as root with ``apt-get`` on the PATH, runs ``apt-get update`` and
  ``apt-get install -y chromium`` (non-interactive), printing each command;
- otherwise prints why it cannot (the browser test then skips, or fails under ``CI=true``).

Exit code 0 when Chromium is available afterwards, 1 when it is not. Called by ``scripts/test.sh``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
PACKAGE = "chromium"


def _run(cmd: list[str], env: dict) -> int:
    print(f"ensure_chromium: $ {' '.join(cmd)}", flush=True)
    return subprocess.call(cmd, env=env)


def ensure_chromium(*, chromium: Path = CHROMIUM) -> tuple[bool, str]:
    """Install Debian's ``chromium`` when missing and possible; return (available, what happened)."""
    if chromium.exists():
        return True, f"{chromium} is present; nothing to do"
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        return False, f"{chromium} is missing and apt-get is not available (not a Debian/Ubuntu system); install Chromium by hand"
    if os.geteuid() != 0:
        return False, f"{chromium} is missing and installing it needs root; run: sudo apt-get install -y {PACKAGE}"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if _run([apt_get, "update"], env) != 0:
        return False, "apt-get update failed (no network or no package sources?); Chromium not installed"
    if _run([apt_get, "install", "-y", PACKAGE], env) != 0:
        return False, f"apt-get install {PACKAGE} failed; Chromium not installed"
    if not chromium.exists():
        return False, f"apt-get installed {PACKAGE} but {chromium} is still missing"
    return True, f"installed {PACKAGE}: {chromium}"


def main() -> int:
    available, message = ensure_chromium()
    print(f"ensure_chromium: {message}", flush=True)
    return 0 if available else 1


if __name__ == "__main__":
    sys.exit(main())
