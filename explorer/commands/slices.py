"""``explorer slices PROJECT [--run R] [--target labels|predictions] [--iou-threshold T] [--bins B]
[--min-support N] [--top K] [--json OUT]``: the weakest slices of the data metrics (``explorer.analysis.slices``).

Prints the ranked slices (one or two metric ranges, at least N rows) with their rate (TPR over labels, precision
over predictions), the rest's rate, the gap and its 95% interval, and the headline mAP/mAR with its 95% bootstrap
interval (images resampled). ``--json`` writes ``{"target", "headline": {mAP, mAP_lo, mAP_hi, ...}, "slices":
[rows]}``.
"""
from __future__ import annotations

import json
from pathlib import Path

from explorer.errors import UserError

TARGETS = {"labels": ("detected", "TPR"), "predictions": ("is_tp", "precision")}


def add_arguments(parser) -> None:
    parser.add_argument("project", help="a detection project folder with data metrics")
    parser.add_argument("--run", metavar="NAME", help="the run (default: the first)")
    parser.add_argument("--target", choices=tuple(TARGETS), default="labels",
                        help="labels (TPR, default) or predictions (precision)")
    parser.add_argument("--iou-threshold", metavar="T", type=float, default=0.5, help="IoU threshold (default 0.50)")
    parser.add_argument("--split", metavar="S", help="one split (default: all images)")
    parser.add_argument("--bins", type=int, default=None, help="quantile bins per metric (default 4)")
    parser.add_argument("--min-support", type=int, default=None, help="rows a slice needs (default 30)")
    parser.add_argument("--top", type=int, default=None, help="slices listed (default 25)")
    parser.add_argument("--json", metavar="OUT", help="write the headline intervals and the slices here")


def run(args) -> int:
    from explorer.analysis.intervals import bootstrap_ap
    from explorer.analysis.outcomes import detection_outcomes, match, rated
    from explorer.analysis.slices import MAX_RESULTS, MIN_SUPPORT, N_BINS, weakest_slices
    from explorer.datametrics.tables import metrics_for
    from explorer.export.all_metrics import to_jsonable
    from explorer.export.common import split_image_ids
    from explorer.project.folder import MANIFEST, Project
    from explorer.project.selection import Selection

    root = Path(args.project)
    if not (root / MANIFEST).is_file():
        raise UserError(f"{root} is not a project folder (no {MANIFEST})")
    project = Project.load(root, run=args.run)
    if project.task != "detection" or not project.has_predictions:
        raise UserError(f"project {project.name!r} needs detection predictions to find weak slices")
    if not (project.metrics_dir / "catalog.json").is_file():
        raise UserError(f"project {project.name!r} has no data metrics yet: run 'explorer metrics {root}' first")
    ids = split_image_ids(project, args.split)
    sel = Selection(split=None if ids is None else args.split, iou_threshold=args.iou_threshold, run=project.run)
    column, rate = TARGETS[args.target]
    table = rated(detection_outcomes(project, sel, args.target), column)
    if not len(table):  # (a rate over nothing is undefined: say so instead of "overall nan")
        raise UserError(f"project {project.name!r} has no {args.target}"
                        f"{'' if ids is None else f' in split {args.split!r}'} to find weak slices among")
    metrics = [c for c in metrics_for(project, args.target).columns if c in table and table[c].dtype.kind in "fiu"
               and table[c].dtype != bool]
    from explorer.datametrics.catalog import names_for
    from explorer.datametrics.tables import load_metrics

    titles = names_for(load_metrics(project).catalog, args.target, metrics)
    found = weakest_slices(table[metrics], table[column].to_numpy(bool), n_bins=args.bins or N_BINS, titles=titles,
                           min_support=MIN_SUPPORT if args.min_support is None else args.min_support,
                           max_results=args.top or MAX_RESULTS)
    boot = bootstrap_ap(match(project, sel), image_ids=sel.image_ids(project)).headline()
    print(f"run {project.run!r} of project {project.name!r} at IoU {args.iou_threshold:.2f}: mAP {boot['mAP']:.4f} "
          f"[{boot['mAP_lo']:.4f}, {boot['mAP_hi']:.4f}], mAR {boot['mAR']:.4f} [{boot['mAR_lo']:.4f}, "
          f"{boot['mAR_hi']:.4f}] (95% bootstrap, {boot['n_resamples']} resamples of {boot['n_images']:,} images)")
    print(f"weakest slices over {len(table):,} {args.target} ({rate} overall {table[column].to_numpy(bool).mean():.3f}):")
    for r in found.itertuples(index=False):
        print(f"  {r.rank:>2}. {r.description}: n = {r.n:,}, {rate} {r.rate:.3f} [{r.rate_lo:.3f}, {r.rate_hi:.3f}] "
              f"vs {r.rest_rate:.3f}, gap {r.gap:+.3f} [{r.gap_lo:+.3f}, {r.gap_hi:+.3f}]")
    if found.empty:
        print("  none reaches the minimum support with a lower rate than the rest")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"target": args.target, "rate": rate, "headline": boot, "slices": found.to_dict(orient="records")}
        out.write_text(json.dumps(to_jsonable(doc), indent=1, allow_nan=False))
        print(f"wrote {out}")
    return 0
