"""Benchmark: the error cost (TIDE ΔAP) and suspected-label-error analyses after a control change.

    python3 benchmarks/bench_scale.py --images 10000 --keep /tmp/scale --no-app    # builds a project
    python3 benchmarks/bench_error_cost.py /tmp/scale/n10000/project [--metric NAME]

First everything runs once at IoU 0.50 (numba compilation, the shared Matcher and matches, metric tables); then
each control change is timed on its own: the IoU moves to 0.55 and 0.60, then the classes shrink to the first
three. Per change: the re-match (shared with every page, not these analyses' cost), the error cost (overall and
per class), its per-bucket table for one data metric (5 quantile buckets; the first numeric label metric unless
``--metric``), and the suspects queue. Prints wall and CPU seconds (all threads of this process) and the
1-minute load average: on a shared machine the wall time is inflated by the load, the CPU time much less.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    from explorer.analysis.outcomes import match, matcher
    from explorer.analysis.suspects import suspects
    from explorer.analysis.tide import error_cost, error_cost_for_metric
    from explorer.datametrics.tables import metrics_for
    from explorer.project.folder import Project
    from explorer.project.selection import Selection

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("project")
    ap.add_argument("--metric", default=None)
    args = ap.parse_args(argv)
    project = Project.load(Path(args.project))
    print(f"project {project.name!r}: {len(project.images):,} images, {len(project.labels):,} labels, "
          f"{len(project.predictions):,} predictions in run {project.run!r}")
    metric = args.metric
    if metric is None:
        table = metrics_for(project, "labels")
        numeric = [c for c in table.columns if table[c].dtype.kind == "f"]
        metric = numeric[0] if numeric else None
    t0 = time.perf_counter()
    matcher(project)
    print(f"matcher (once per project): {time.perf_counter() - t0:.1f} s")

    def analyses(sel, timed: bool):
        rows = []

        def step(name, fn):
            load = os.getloadavg()[0]
            w, c = time.perf_counter(), time.process_time()
            out = fn()
            rows.append((name, time.perf_counter() - w, time.process_time() - c, load))
            return out

        step("re-match (shared)", lambda: match(project, sel))
        cost = step("error cost (overall, per class)", lambda: error_cost(project, sel))
        if metric is not None:
            step(f"error cost per bucket ({metric}, 5)", lambda: error_cost_for_metric(project, sel, cost, metric))
        q = step("suspects queue", lambda: suspects(project, sel))
        if timed:
            for name, s, cpu, load in rows:
                print(f"  {name:<48} {s:7.3f} s wall {cpu:7.3f} s CPU   (load {load:.1f})")
            print(f"  ({cost.counts['false_positives']:,} false positives, {len(q):,} suspects)")

    analyses(Selection(iou_threshold=0.5), timed=False)
    classes = tuple(sorted(int(c) for c in project.categories["category_id"])[:3])
    for label, sel in [("IoU 0.50 -> 0.55", Selection(iou_threshold=0.55)),
                       ("IoU 0.55 -> 0.60", Selection(iou_threshold=0.6)),
                       (f"classes -> {list(classes)}", Selection(iou_threshold=0.6, classes=classes))]:
        print(f"after {label}:")
        analyses(sel, timed=True)
    print(f"machine: {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
