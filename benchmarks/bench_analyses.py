"""Benchmark: the uncertainty, compare and slice analyses after a control change, on a project with two runs.

    python3 benchmarks/bench_scale.py --images 10000 --keep /tmp/scale --no-app    # builds the project
    python3 benchmarks/bench_analyses.py /tmp/scale/n10000/project

First every analysis runs once at IoU 0.50 (numba compilation, caches of IoUs and metric tables); then the IoU moves
to 0.55 — a control change — and each analysis is timed on its own from the new selection: the re-match, the
outcome tables, the headline bootstrap (200 image resamples), the run comparison (paired bootstrap, fixed/broken
objects), per-bucket deltas of one metric, Performance by Metric buckets with Wilson bounds, the weakest-slice
search over every numeric metric of labels and of predictions, and one heatmap. Prints wall and CPU seconds (all
threads of this process) per step and the 1-minute load average: on a shared machine the wall time is inflated by
the load, the CPU time much less.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    from explorer.analysis.buckets import performance_by_metric
    from explorer.analysis.compare import compare_runs, run_bucket_deltas
    from explorer.analysis.intervals import bootstrap_ap
    from explorer.analysis.outcomes import detection_outcomes, match, rated
    from explorer.analysis.slices import heatmap, weakest_slices
    from explorer.datametrics.tables import metrics_for
    from explorer.project.folder import Project
    from explorer.project.selection import Selection

    args = sys.argv[1:] if argv is None else argv
    project = Project.load(Path(args[0]))
    a, b = project.runs[:2]
    print(f"project {project.name!r}: {len(project.images):,} images, {len(project.labels):,} labels, "
          f"{len(project.predictions):,} predictions in run {a!r}; runs {project.runs}")

    def metric_cols(target, table):
        return [c for c in metrics_for(project, target).columns if c in table and table[c].dtype.kind == "f"]

    def analyses(sel, timed: bool):
        rows = []

        def step(name, fn):
            load = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            rows.append((name, time.perf_counter() - t0, time.process_time() - c0, load))
            return out

        m = step("re-match (run A)", lambda: match(project, sel))
        labels = step("outcome table: labels", lambda: rated(detection_outcomes(project, sel, "labels"), "detected"))
        preds = step("outcome table: predictions", lambda: rated(detection_outcomes(project, sel, "predictions"), "is_tp"))
        step("bootstrap mAP/mAR/per-class AP (200)", lambda: bootstrap_ap(m))
        step("compare runs (paired bootstrap, fixed/broken)", lambda: compare_runs(project, sel, a, b))
        lm, pm = metric_cols("labels", labels), metric_cols("predictions", preds)
        step(f"bucket deltas A vs B ({lm[0]})", lambda: run_bucket_deltas(project, sel, a, b, lm[0], target="labels"))
        step(f"buckets + Wilson ({lm[0]})", lambda: performance_by_metric(labels[lm[0]].to_numpy(np.float64),
                                                                            labels["detected"].to_numpy(bool)))
        step(f"weakest slices: labels ({len(lm)} metrics, {len(labels):,} rows)",
             lambda: weakest_slices(labels[lm], labels["detected"].to_numpy(bool)))
        step(f"weakest slices: predictions ({len(pm)} metrics, {len(preds):,} rows)",
             lambda: weakest_slices(preds[pm], preds["is_tp"].to_numpy(bool)))
        step("heatmap (5 × 5)", lambda: heatmap(labels[lm[0]], labels[lm[1 % len(lm)]], labels["detected"].to_numpy(bool)))
        if timed:
            for name, s, cpu, load in rows:
                print(f"  {name:<60} {s:8.3f} s wall {cpu:8.3f} s CPU   (load {load:.1f})")

    analyses(Selection(iou_threshold=0.5), timed=False)
    print("after moving the IoU threshold to 0.55:")
    analyses(Selection(iou_threshold=0.55), timed=True)
    print(f"machine: {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
