"""Benchmark: every analysis of issue 12 after a control change, on a project with two runs (issue 12: ≤ 2 s each
at the 100k-image project).

    python3 benchmarks/bench_scale.py --images 10000 --keep /tmp/scale --no-app    # builds a project
    python3 benchmarks/bench_analyses.py /tmp/scale/n10000/project                 # or /tmp/p100k
    python3 benchmarks/bench_analyses.py PROJECT --iou 0.55 --classes 40 --only bootstrap compare

First every analysis runs once at IoU 0.50 on all classes (numba compilation or its on-disk cache, the Matchers'
IoUs, the metric tables, the slice bins: what a session has done before the user moves a control). Then two
control changes, each timed analysis by analysis from the new selection, as a page rerun would see it:

1. the IoU threshold moves to ``--iou`` (default 0.55);
2. then the class selection changes to the first ``--classes`` classes (default half of them).

Steps: the re-match of both runs and the two outcome tables (what every analysis starts from; the matches are
kept per selection, so the analyses after them reuse them), error cost (TIDE ΔAP, overall and per class) and its
per-bucket table for one data metric (5 quantile buckets of ``--metric``, default the first numeric label
metric), suspected label errors (the queue alone: it is read off the error cost, computed before it untimed
when that step is not asked for; the Suspects page pays both), the headline bootstrap (200 image resamples), the
run comparison (paired bootstrap, fixed/broken objects; it reuses run A's bootstrap, as the Compare page after the
Metrics page does), per-bucket deltas of one metric,
Performance by Metric buckets with Wilson bounds, the weakest-slice search over every numeric metric of labels and
of predictions (with the slice bins the Slices page keeps per row set: an IoU move keeps the rows, a class change
does not), and one heatmap. Prints wall and CPU seconds (all threads of this process) per step and the 1-minute
load average beside each: on a shared machine the wall time is inflated by the load, the CPU time much less.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STEPS = ("match", "error_cost", "error_cost_buckets", "suspects", "bootstrap", "compare", "bucket_deltas", "wilson",
         "slices", "heatmap")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", help="a detection project with two runs and data metrics")
    parser.add_argument("--iou", type=float, default=0.55, help="the IoU the first change moves to (default 0.55)")
    parser.add_argument("--classes", type=int, default=None, help="classes after the class change (default half)")
    parser.add_argument("--only", nargs="+", choices=STEPS, help="time these steps only (the re-match always runs)")
    parser.add_argument("--metric", default=None, help="the data metric of the error cost per bucket (default: the "
                        "first numeric label metric)")
    args = parser.parse_args(argv)

    from explorer.analysis.buckets import performance_by_metric
    from explorer.analysis.compare import compare_runs, run_bucket_deltas
    from explorer.analysis.intervals import bootstrap_ap
    from explorer.analysis.outcomes import detection_outcomes, match, rated
    from explorer.analysis.slices import heatmap, slice_bins, weakest_slices
    from explorer.analysis.suspects import suspects
    from explorer.analysis.tide import error_cost, error_cost_for_metric
    from explorer.datametrics.tables import metrics_for
    from explorer.project.folder import Project
    from explorer.project.selection import Selection

    t0 = time.perf_counter()
    project = Project.load(Path(args.project))
    a, b = project.runs[:2]
    pb = project.for_run(b)
    cats = sorted(int(c) for c in project.categories["category_id"])
    n_cls = args.classes or max(1, len(cats) // 2)
    wanted = set(args.only or STEPS)
    print(f"project {project.name!r}: {len(project.images):,} images, {len(project.labels):,} labels, "
          f"{len(project.predictions):,} predictions in run {a!r}; runs {project.runs} (loaded in "
          f"{time.perf_counter() - t0:.1f} s)")
    bins: dict = {}  # the Slices page's kept bins: per (target, row set)

    def metric_cols(target, table):
        return [c for c in metrics_for(project, target).columns if c in table and table[c].dtype.kind == "f"]

    def kept_bins(target, table, cols):
        key = (target, len(table), hash(np.ascontiguousarray(table.index.to_numpy(np.int64)).tobytes()))
        if key not in bins:
            bins[key] = slice_bins(table[cols])
        return bins[key]

    def analyses(sel, title: str | None):
        rows = []

        def step(kind, name, fn):
            if kind not in wanted and kind != "match":
                return None
            load = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            rows.append((name, time.perf_counter() - t0, time.process_time() - c0, load))
            return out

        classes, ids = sel.class_list(), sel.image_ids(project)
        m = step("match", "re-match run A", lambda: match(project, sel))
        step("match", "re-match run B", lambda: match(pb, sel))
        labels = step("match", "outcome table: labels", lambda: rated(detection_outcomes(project, sel, "labels"), "detected"))
        preds = step("match", "outcome table: predictions",
                     lambda: rated(detection_outcomes(project, sel, "predictions"), "is_tp"))
        lm, pm = metric_cols("labels", labels), metric_cols("predictions", preds)
        def costed():  # the ΔAP oracle fixes run when first read: time them with the cost
            c = error_cost(project, sel)
            c.delta_ap
            return c

        cost = step("error_cost", "error cost (TIDE ΔAP, the fixes included)", costed)
        if cost is None and wanted & {"error_cost_buckets", "suspects"}:
            cost = error_cost(project, sel)  # untimed: what the buckets and the queue are read off
        metric = args.metric or lm[0]
        step("error_cost_buckets", f"error cost per bucket ({metric}, 5)",
             lambda: error_cost_for_metric(project, sel, cost, metric))
        step("suspects", "suspected label errors", lambda: suspects(project, sel))
        step("bootstrap", "bootstrap mAP/mAR/per-class AP (200)",
             lambda: bootstrap_ap(m, classes=classes, image_ids=ids))
        step("compare", "compare runs (paired bootstrap, fixed/broken)", lambda: compare_runs(project, sel, a, b))
        step("bucket_deltas", f"bucket deltas A vs B ({lm[0]})",
             lambda: run_bucket_deltas(project, sel, a, b, lm[0], target="labels"))
        step("wilson", f"buckets + Wilson ({lm[0]})",
             lambda: performance_by_metric(labels[lm[0]].to_numpy(np.float64), labels["detected"].to_numpy(bool)))
        for target, table, cols, column in (("labels", labels, lm, "detected"), ("predictions", preds, pm, "is_tp")):
            step("slices", f"weakest slices: {target} ({len(cols)} metrics, {len(table):,} rows)",
                 lambda: weakest_slices(table[[]], table[column].to_numpy(bool),
                                        bins=kept_bins(target, table, cols)))
        step("heatmap", "heatmap (5 × 5)",
             lambda: heatmap(labels[lm[0]], labels[lm[1 % len(lm)]], labels["detected"].to_numpy(bool)))
        if title:
            print(title)
            for name, s, cpu, load in rows:
                flag = "" if s <= 2.0 else "  > 2 s"
                print(f"  {name:<60} {s:8.3f} s wall {cpu:8.3f} s CPU   (load {load:.1f}){flag}")

    analyses(Selection(iou_threshold=0.5), None)
    analyses(Selection(iou_threshold=args.iou), f"after moving the IoU threshold to {args.iou:.2f}:")
    analyses(Selection(iou_threshold=args.iou, classes=tuple(cats[:n_cls])),
             f"then changing the classes to the first {n_cls} of {len(cats)}:")
    print(f"machine: {os.cpu_count()} cores, load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
