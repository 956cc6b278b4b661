"""The analyses benchmark (benchmarks/bench_analyses.py) keeps running: on the bundled detection sample (two runs,
data metrics) it times every analysis it is asked for after an IoU move and a class change, with the load average
beside each (the error cost per bucket too, which replaced benchmarks/bench_error_cost.py). In process (``main(argv)``), so the compiled kernels and the sample are the session's."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_analyses_times_each_step_after_both_changes(detection_project, capsys):
    spec = importlib.util.spec_from_file_location("bench_analyses", REPO / "benchmarks" / "bench_analyses.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main([str(detection_project), "--iou", "0.6", "--classes", "2", "--only", "error_cost_buckets", "bootstrap",
                       "compare", "bucket_deltas", "wilson", "slices", "heatmap"]) == 0
    out = capsys.readouterr().out
    first, second = out.split("after moving the IoU threshold to 0.60:")[1].split("then changing the classes to the first 2")
    for part in (first, second):
        for name in ("re-match run A", "error cost per bucket", "bootstrap mAP/mAR/per-class AP (200)", "compare runs", "bucket deltas A vs B",
                     "buckets + Wilson", "weakest slices: labels", "weakest slices: predictions", "heatmap"):
            line = next(ln for ln in part.splitlines() if name in ln)
            assert re.search(r"\d+\.\d{3} s wall +\d+\.\d{3} s CPU +\(load \d+\.\d\)", line), line
        assert "error cost (TIDE" not in part and "suspected" not in part  # not asked for (computed untimed)
