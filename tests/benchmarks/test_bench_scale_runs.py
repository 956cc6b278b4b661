"""The scale benchmark (benchmarks/bench_scale.py) keeps running: at 200 images it prints a row with a finite time
and peak RSS for every step and every detection page, so the script cannot rot between the runs that measure.
No wall-clock limit is asserted (CI machines vary); the timings are the benchmark's business."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from explorer import tasks

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_scale.py"

CORE_ROWS = ["import (labels + run a)", "add-predictions (run b)", "Project.load", "Matcher.from_project",
             "re-match .match(0.75)", "evaluate_coco(project)", "data metrics (boxes; page set-up)"]


def expected_rows() -> list[str]:
    rows = list(CORE_ROWS)
    for page in tasks.get("detection").pages:
        name = page.file.removesuffix(".py")
        rows += [f"{name}: first render", f"{name}: rerun: iou_threshold moved", f"{name}: rerun: classes changed"]
        if page.file == "performance_by_metric.py":
            rows.append(f"{name}: rerun: metric changed")
    return rows


def test_bench_scale_prints_every_step_at_200_images(tmp_path, explorer_home):
    # explorer_home: the subprocesses inherit the session's private EXPLORER_HOME, never the user's
    proc = subprocess.run([sys.executable, str(SCRIPT), "--images", "200", "--keep", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    assert "N=200: 200 images" in proc.stdout
    header = next(k for k, line in enumerate(lines) if line.startswith("step"))
    assert lines[header].split()[:4] == ["step", "N=200", "peak", "MB"]
    body = lines[header + 2:]
    titles = expected_rows()
    assert len(body) == len(titles), "\n".join(body)
    for title, line in zip(titles, body):
        assert line.startswith(title + " "), (title, line)
        seconds, mb, load = line[len(title):].split()[:3]
        assert seconds.endswith("s") and math.isfinite(float(seconds[:-1])) and float(seconds[:-1]) >= 0, line
        assert math.isfinite(float(mb)) and float(mb) > 0, line  # a peak RSS in MB
        assert math.isfinite(float(load)) and float(load) >= 0, line
    # the generated inputs and the project are kept under --keep, as the flag promises
    assert (tmp_path / "n200" / "project" / "project.json").is_file()
    assert (tmp_path / "n200" / "inputs" / "run_b.json").is_file()
    # --reuse --steps: only the named steps, on the kept inputs (not generated again) and project
    made = (tmp_path / "n200" / "inputs" / "run_a.json").stat().st_mtime_ns
    proc = subprocess.run([sys.executable, str(SCRIPT), "--images", "200", "--keep", str(tmp_path), "--reuse",
                           "--steps", "add_predictions,match"], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "reusing the inputs" in proc.stderr
    assert (tmp_path / "n200" / "inputs" / "run_a.json").stat().st_mtime_ns == made
    lines = proc.stdout.splitlines()
    header = next(k for k, line in enumerate(lines) if line.startswith("step"))
    assert [line.split("  ")[0] for line in lines[header + 2:]] == [
        "add-predictions (run b)", "Project.load", "Matcher.from_project", "re-match .match(0.75)"]
