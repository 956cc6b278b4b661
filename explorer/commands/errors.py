"""``explorer errors GT PRED | PROJECT [--run R] [--iou-threshold T] [--json OUT]``: what each error type costs.

TIDE-style (Bolya et al., ECCV 2020): every false detection and missed label at IoU T (background 0.1) gets a
type, and each type's ΔAP is the mAP gained if exactly those errors were fixed (``explorer.analysis.tide``,
docs/evaluation.md). Prints a table; ``--json`` writes ``{"ap", "delta_ap": {classification, localisation, both,
duplicate, background, missed, false_positives, false_negatives}, "counts", "per_class", ...}`` (fractions).
``GT`` may be a project folder: then ``PRED`` is not given and ``--run`` picks the prediction set.
"""
from __future__ import annotations

import json
from pathlib import Path

from explorer.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("gt", help="COCO ground-truth JSON, or a project folder")
    parser.add_argument("pred", nargs="?", help="COCO results JSON (not given when GT is a project folder)")
    parser.add_argument("--run", metavar="NAME", help="with a project folder: the run (default: the first)")
    parser.add_argument("--iou-threshold", metavar="T", type=float, default=0.5, help="foreground IoU (default 0.50)")
    parser.add_argument("--background-threshold", metavar="B", type=float, default=0.1,
                        help="background IoU: a false detection overlapping no label above B is background (default 0.1)")
    parser.add_argument("--iou-type", choices=("bbox", "segm"), default=None,
                        help="box or mask IoU (default: bbox for files, the project's own for a project)")
    parser.add_argument("--json", metavar="OUT", help="write ap, delta_ap, counts and the per-class table here")


def compute(args):
    """The ``ErrorCost`` the arguments ask for, and a one-line description of the input."""
    from explorer.analysis.tide import error_cost, error_cost_from_matcher
    from explorer.project.folder import MANIFEST, Project
    from explorer.project.selection import Selection

    t = float(args.iou_threshold)
    if not 0.0 < t <= 1.0:
        raise UserError(f"--iou-threshold must be in (0, 1], got {t}")
    gt_path = Path(args.gt)
    if gt_path.is_dir():
        if not (gt_path / MANIFEST).is_file():
            raise UserError(f"{gt_path} is a folder but not a project (no {MANIFEST})")
        if args.pred is not None:
            raise UserError("with a project folder give --run, not PRED (the project holds its predictions)")
        project = Project.load(gt_path, run=args.run)
        if not project.has_predictions:
            raise UserError(f"run {project.run!r} of project {project.name!r} has no predictions")
        cost = error_cost(project, Selection(iou_threshold=t, run=project.run),
                          background_threshold=args.background_threshold, iou_type=args.iou_type)
        return cost, f"run {project.run!r} of project {project.name!r}"
    if args.pred is None:
        raise UserError("PRED (a COCO results JSON) is required when GT is a COCO JSON file")
    if args.run is not None:
        raise UserError("--run needs a project folder as GT (a COCO JSON file has no runs)")
    from explorer.evaluation import Matcher

    matcher = Matcher.from_coco(gt_path, args.pred, iou_type=args.iou_type or "bbox")
    return error_cost_from_matcher(matcher, t, background_threshold=args.background_threshold), f"{args.pred}"


def to_json(cost) -> dict:
    from explorer.analysis.tide import DELTA_KEYS

    per_class = cost.per_class.astype(object).where(cost.per_class.notna(), None)
    return {**cost.as_dict(), "delta_ap": {k: float(cost.delta_ap[k]) for k in DELTA_KEYS},
            "per_class": per_class.to_dict(orient="records")}


def run(args) -> int:
    from explorer.analysis.tide import DELTA_KEYS, TITLES

    cost, what = compute(args)
    print(f"error cost of {what} at IoU {cost.iou_threshold:.2f} (background {cost.background_threshold:.2f})")
    print(f"AP @ {cost.iou_threshold:.2f}: {cost.ap:.4f}")
    print(f"{'error type':<24} {'count':>7} {'ΔAP':>8}")
    for key in DELTA_KEYS:
        print(f"{TITLES[key]:<24} {cost.counts[key]:>7} {cost.delta_ap[key]:>8.4f}")
    if args.json:
        out = Path(args.json)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(to_json(cost), indent=1, default=_plain))
        except OSError as e:
            raise UserError(f"cannot write {out}: {e}") from None
        print(f"wrote {out}")
    return 0


def _plain(value):
    """numpy scalars as Python numbers (json's fallback)."""
    return value.item() if hasattr(value, "item") else str(value)
