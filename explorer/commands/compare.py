"""``explorer compare PROJECT --runs A B [--iou-threshold T] [--confidence-threshold C] [--split S] [--json OUT]``:
model A vs model B on the same labels (``explorer.analysis.compare``).

Prints mAP/mAR of both runs at IoU T with B − A and its paired bootstrap interval (images resampled), the per-class
AP differences and the counts of fixed and broken objects. ``--json`` writes ``map_a, map_b, map_delta,
map_delta_interval, mar_a, mar_b, mar_delta, mar_delta_interval, n_resamples, seed, counts, per_class, fixed,
broken`` (``fixed``/``broken``: one record per object, ``change, kind, run, record, id, image_id, category_id,
outcome, fp_reason, score, iou, partner_id``).
"""
from __future__ import annotations

import json
from pathlib import Path

from explorer.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("project", help="a project folder with at least two runs")
    parser.add_argument("--runs", nargs=2, metavar=("A", "B"), help="the two runs (default: the first two)")
    parser.add_argument("--iou-threshold", metavar="T", type=float, default=0.5, help="IoU threshold (default 0.50)")
    parser.add_argument("--confidence-threshold", metavar="C", type=float, default=0.0,
                        help="keep predictions scoring at least C (default 0)")
    parser.add_argument("--split", metavar="S", help="compare on one split (default: all images)")
    parser.add_argument("--classes", metavar="NAME", nargs="+", help="compare on these classes (names or ids)")
    parser.add_argument("--resamples", metavar="B", type=int, default=None,
                        help="bootstrap resamples of the images (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws (default 0)")
    parser.add_argument("--json", metavar="OUT", help="write the comparison as JSON here")


def _f(value) -> str:
    return "   —  " if value is None or value != value else f"{value:.4f}"


def run(args) -> int:
    from explorer.analysis.compare import compare_runs, comparison_json
    from explorer.analysis.intervals import N_RESAMPLES
    from explorer.export.all_metrics import to_jsonable
    from explorer.export.common import class_ids, split_image_ids
    from explorer.project.folder import MANIFEST, Project
    from explorer.project.selection import Selection

    root = Path(args.project)
    if not (root / MANIFEST).is_file():
        raise UserError(f"{root} is not a project folder (no {MANIFEST})")
    if not 0.0 <= args.iou_threshold <= 1.0:
        raise UserError(f"--iou-threshold must be in [0, 1], got {args.iou_threshold}")
    resamples = N_RESAMPLES if args.resamples is None else args.resamples
    if resamples < 1:
        raise UserError(f"--resamples must be at least 1, got {resamples}")
    project = Project.load(root)
    split_image_ids(project, args.split)  # names an unknown split
    classes = class_ids(project, args.classes)
    sel = Selection(split=None if args.split in (None, "all") else args.split,
                    classes=None if classes is None else tuple(classes), iou_threshold=args.iou_threshold,
                    confidence_threshold=args.confidence_threshold)
    a, b = (None, None) if args.runs is None else args.runs
    c = compare_runs(project, sel, a, b, n_resamples=resamples, seed=args.seed)
    h = c.headline
    print(f"Compare run B {c.run_b!r} with run A {c.run_a!r} of project {project.name!r} at IoU {args.iou_threshold:.2f}, "
          f"confidence ≥ {args.confidence_threshold:.2f} ({h['n_images']:,} images)")
    lo, hi = h["map_delta_interval"]
    print(f"  mAP  A {_f(h['map_a'])}  B {_f(h['map_b'])}  B − A {h['map_delta']:+.4f}  "
          f"95% paired bootstrap [{lo:+.4f}, {hi:+.4f}] ({h['n_resamples']} image resamples, seed {h['seed']})")
    lo, hi = h["mar_delta_interval"]
    print(f"  mAR  A {_f(h['mar_a'])}  B {_f(h['mar_b'])}  B − A {h['mar_delta']:+.4f}  [{lo:+.4f}, {hi:+.4f}]")
    print("  per class (AP):")
    for row in c.per_class.itertuples(index=False):
        print(f"    {str(row.name):<20} A {_f(row.ap_a)}  B {_f(row.ap_b)}  B − A {row.ap_delta:+.4f}  "
              f"[{row.ap_delta_lo:+.4f}, {row.ap_delta_hi:+.4f}]")
    n = c.counts()
    print(f"  fixed by B: {n['fixed_labels']:,} labels (missed by A, detected by B), "
          f"{n['fixed_false_detections']:,} false detections of A gone")
    print(f"  broken by B: {n['broken_labels']:,} labels (detected by A, missed by B), "
          f"{n['broken_false_detections']:,} new false detections")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(to_jsonable(comparison_json(c)), indent=1, allow_nan=False))
        print(f"wrote {out}")
    return 0
