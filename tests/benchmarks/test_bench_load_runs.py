"""The under-load script (benchmarks/bench_load.py) keeps running: two browser sessions on the bundled detection
sample each move the IoU slider once against a real ``explorer run`` server on 127.0.0.1, and the script reports
a rerun time per session and move and the server's RSS. No wall-clock limit is asserted (the numbers are the
benchmark's business; CI machines vary)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_load.py"


def test_bench_load_reports_every_rerun_and_the_server_rss(tmp_path, detection_project, explorer_home):
    if not Path("/usr/bin/chromium").exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing")
        pytest.skip("Debian's chromium is not installed")
    out = tmp_path / "load.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--project", str(detection_project), "--sessions", "2",
                           "--moves", "1", "--keep", str(tmp_path), "--json", str(out), "--timeout", "240"],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["sessions"] == 2 and len(result["reruns_s"]) == 2
    assert all(len(s) == 1 and all(math.isfinite(t) and t > 0 for t in s) for s in result["reruns_s"])
    assert 0 < result["rss_idle_mb"] <= result["rss_open_mb"]
    assert result["rss_after_mb"] > 0
    assert "server RSS:" in proc.stdout and "rerun: median" in proc.stdout
