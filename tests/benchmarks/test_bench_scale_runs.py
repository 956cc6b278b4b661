"""The scale benchmark (benchmarks/bench_scale.py) keeps running: at 200 images it prints a row with a finite wall
time, CPU time, peak RSS and load for every step, the project opening and every control change of the app step,
so the script cannot rot between the runs that measure. No wall-clock limit is asserted (CI machines vary); the
timings are the benchmark's business.

Kept cheap: the app step renders the landing page (the project opening) and one page, Performance by Metric, the
page with every control the benchmark moves (the sidebar's IoU slider and class filter, and its own metric); the
page loop is the same code for every page, and each page is exercised on its own by tests/app. The table's
layout for several sizes, blank and failed cells is checked on the formatter itself (no subprocess)."""
from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_scale.py"
PAGE = "performance_by_metric"

CORE_ROWS = ["import (labels + run a)", "add-predictions (run b)", "Project.load", "Matcher.from_project",
             "re-match .match(0.75)", "evaluate_coco(project)", "data metrics (boxes; page set-up)",
             "project opens in the app (landing page)"]
PAGE_ROWS = [f"{PAGE}: first render", f"{PAGE}: rerun: iou_threshold moved", f"{PAGE}: rerun: classes changed",
             f"{PAGE}: rerun: metric changed"]


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_body(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    header = next(k for k, line in enumerate(lines) if line.startswith("step"))
    assert lines[header].split()[:7] == ["step", "N=200", "cpu", "s", "peak", "MB", "load"], lines[header]
    return lines[header + 2:]


def check_row(title: str, line: str) -> None:
    assert line.startswith(title + " "), (title, line)
    seconds, cpu, mb, load = line[len(title):].split()[:4]
    assert seconds.endswith("s") and math.isfinite(float(seconds[:-1])) and float(seconds[:-1]) >= 0, line
    assert cpu.endswith("s") and math.isfinite(float(cpu[:-1])) and float(cpu[:-1]) >= 0, line
    assert math.isfinite(float(mb)) and float(mb) > 0, line  # a peak RSS in MB
    assert math.isfinite(float(load)) and float(load) >= 0, line


def test_bench_scale_prints_every_step_at_200_images(tmp_path, explorer_home):
    # explorer_home: the subprocesses inherit the session's private EXPLORER_HOME, never the user's
    proc = subprocess.run([sys.executable, str(SCRIPT), "--images", "200", "--keep", str(tmp_path),
                           "--pages", f"{PAGE}.py"], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "N=200: 200 images" in proc.stdout
    body = table_body(proc.stdout)
    titles = CORE_ROWS + PAGE_ROWS
    assert len(body) == len(titles), "\n".join(body)
    for title, line in zip(titles, body):
        check_row(title, line)
    opens = body[CORE_ROWS.index("project opens in the app (landing page)")]
    assert opens.rstrip().endswith("≤ 10 s at 100k"), opens  # the target, beside the row
    # the generated inputs and the project are kept under --keep, as the flag promises
    assert (tmp_path / "n200" / "project" / "project.json").is_file()
    assert (tmp_path / "n200" / "inputs" / "run_b.json").is_file()
    # --reuse --steps: only the named steps, on the kept inputs (not generated again) and project
    made = (tmp_path / "n200" / "inputs" / "run_a.json").stat().st_mtime_ns
    proc = subprocess.run([sys.executable, str(SCRIPT), "--images", "200", "--keep", str(tmp_path), "--reuse",
                           "--steps", "match,memory"], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "reusing the inputs" in proc.stderr
    assert (tmp_path / "n200" / "inputs" / "run_a.json").stat().st_mtime_ns == made
    body = table_body(proc.stdout)
    split = next(k for k, line in enumerate(body) if line.startswith("memory at N=200"))
    bench = bench_module()
    titles = ["Project.load", "Matcher.from_project", "re-match .match(0.75)"] + [bench.TITLES[s] for s in
                                                                                 bench.MEMORY_ROWS]
    assert [line.split("  ")[0] for line in body[:split]] == titles
    for title, line in zip(titles, body[:split]):
        check_row(title, line)
    # the opt-in memory step: one line per structure, with the MB it added, after the table
    memory = body[split + 2:]
    assert [line.split("  ")[0] for line in memory] == titles[3:]
    for line in memory:
        values = line.split()[-5:]
        assert all(math.isfinite(float(v)) for v in values), line


def test_memory_lines_give_the_megabytes_each_structure_added():
    bench = bench_module()
    counts = {10: {"n_images": 10, "n_labels": 70, "n_predictions_per_run": 2**20}}
    rows = {10: [{"step": "load", "s": 1.0, "cpu": 1.0, "mb": 9.0, "load": 1.0},  # not a memory row: left out
                 {"step": "mem_matcher", "s": 2.5, "cpu": 1.0, "mb": 900.0, "load": 1.0, "anon": 50.0, "file": 300.0,
                  "anon_total": 800.0, "file_total": 400.0}]}
    lines = bench.format_memory(counts, rows).splitlines()
    assert lines[0].startswith("memory at N=10 ")
    assert lines[1].split() == ["structure", "+anon", "MB", "+file", "MB", "anon", "B/pred", "anon", "MB", "s"]
    assert lines[2].startswith("memory: the shared Matcher (opened)")
    assert lines[2].split()[-5:] == ["50", "300", "50.0", "800", "2.50"]  # 50 MB over 2^20 predictions: 50 B each
    assert len(lines) == 3
    assert bench.format_memory(counts, {10: rows[10][:1]}) == ""


def test_table_has_a_column_per_size_and_says_which_steps_failed():
    bench = bench_module()
    counts = {n: {"n_images": n, "n_labels": 7 * n, "n_predictions_per_run": 20 * n} for n in (10, 20)}
    row = {"s": 1.5, "cpu": 0.25, "mb": 100.0, "load": 2.0}
    rows = {10: [{"step": "load", **row}, {"step": "matcher", **row}, {"step": "rematch", **row},
                 {"step": "open", **row}, {"step": "first", "page": "slices.py", **row}],
            20: [{"step": "evaluate", **row, "s": 12.25}]}  # match and app failed at 20, evaluate ran only there
    text = bench.format_table(counts, rows, {10: [], 20: ["match", "app"]})
    lines = text.splitlines()
    assert lines[0] == ("N=10: 10 images, 70 labels, 2 runs × 200 predictions, "
                        "N=20: 20 images, 140 labels, 2 runs × 400 predictions")
    assert lines[1].split() == ["step", "N=10", "cpu", "s", "peak", "MB", "load", "N=20", "cpu", "s", "peak", "MB",
                                "load", "target"]
    body = {line.split("  ")[0]: line.split("  ", 1)[1].split() for line in lines[3:]}
    assert list(body) == ["Project.load", "Matcher.from_project", "re-match .match(0.75)",
                          "project opens in the app (landing page)", "slices: first render", "evaluate_coco(project)"]
    assert body["Project.load"] == ["1.500s", "0.25s", "100", "2.00", "failed"]
    assert body["re-match .match(0.75)"] == ["1.500s", "0.25s", "100", "2.00", "failed", "≤", "0.1", "s", "at",
                                             "100k"]
    assert body["project opens in the app (landing page)"][:5] == ["1.500s", "0.25s", "100", "2.00", "failed"]
    assert body["slices: first render"] == ["1.500s", "0.25s", "100", "2.00", "failed"]
    # evaluate did not run at 10 (blank) and took 12.25 s at 20
    assert body["evaluate_coco(project)"][:4] == ["12.250s", "0.25s", "100", "2.00"]
    line = next(line for line in lines if line.startswith("evaluate_coco(project)"))
    # right-aligned under the second size's heading
    assert line.index("12.250s") + len("12.250s") == lines[1].index("N=20") + len("N=20")
