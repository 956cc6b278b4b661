"""``explorer suspects PROJECT [--run R] [--iou-threshold T] [--split S] [--min-score M] --out suspects.csv``:
suspected label errors, best first, for relabelling.

Writes the queue (``explorer.analysis.suspects``) as CSV with columns ``image_id, file_name, label_id, pred_id,
reason, score`` (then ``reason_code, category_id, pred_category_id, iou``), and next to it ``<out stem>.coco.json``:
the images holding a suspect with all their labels (COCO), plus a ``suspects`` list with each proposed fix.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from explorer.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("project", help="a project folder")
    parser.add_argument("--run", metavar="NAME", help="the run whose predictions judge the labels (default: the first)")
    parser.add_argument("--iou-threshold", metavar="T", type=float, default=0.5, help="foreground IoU (default 0.50)")
    parser.add_argument("--split", metavar="S", help="only this split's images (default all)")
    parser.add_argument("--min-score", metavar="M", type=float, default=None,
                        help="keep suspects scoring at least M (default 0.3)")
    parser.add_argument("--out", metavar="CSV", required=True, help="where to write the CSV (the COCO JSON goes beside it)")


def run(args) -> int:
    from explorer.analysis.suspects import MIN_SCORE, suspects
    from explorer.project.folder import MANIFEST, Project
    from explorer.project.selection import Selection

    root = Path(args.project)
    if not (root / MANIFEST).is_file():
        raise UserError(f"{root} is not a project folder (no {MANIFEST})")
    project = Project.load(root, run=args.run)
    if project.task != "detection":
        raise UserError(f"suspected label errors need a detection project; {project.name!r} is {project.task}")
    if not project.has_predictions:
        raise UserError(f"run {project.run!r} of project {project.name!r} has no predictions")
    if not 0.0 < args.iou_threshold <= 1.0:
        raise UserError(f"--iou-threshold must be in (0, 1], got {args.iou_threshold}")
    sel = Selection(split=args.split, iou_threshold=args.iou_threshold, run=project.run)
    table = suspects(project, sel, min_score=MIN_SCORE if args.min_score is None else args.min_score)
    out = Path(args.out)
    coco_path = out.with_name(out.stem + ".coco.json")
    front = ["image_id", "file_name", "label_id", "pred_id", "reason", "score"]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        table[front + [c for c in table.columns if c not in front]].to_csv(out, index=False)
        coco_path.write_text(json.dumps(suspects_coco(project, table), indent=1))
    except OSError as e:
        raise UserError(f"cannot write {out}: {e}") from None
    counts = table["reason_code"].value_counts()
    print(f"{len(table)} suspected label errors in run {project.run!r} of project {project.name!r} at IoU "
          f"{args.iou_threshold:.2f}: " + ", ".join(f"{n} {r}" for r, n in counts.items()))
    print(f"wrote {out} and {coco_path}")
    return 0


def suspects_coco(project, table: pd.DataFrame) -> dict:
    """A COCO JSON for relabelling: the images holding a suspect with all their labels (``coco_subset``), plus a
    ``"suspects"`` list (``image_id, label_id, pred_id, reason, reason_code, score`` and the detection's
    ``bbox``/``category_id`` as the proposed fix, null without a detection) in queue order."""
    from explorer.evaluation.layout import lookup
    from explorer.export.subset import coco_subset

    doc = coco_subset(project, image_ids=np.unique(table["image_id"].to_numpy(np.int64))).ground_truth
    preds = project.all_predictions
    has_pred = table["pred_id"].notna().to_numpy()
    pred_ids = table["pred_id"].to_numpy(np.int64, na_value=-1)
    at = lookup(preds["pred_id"].to_numpy(np.int64), pred_ids)  # -1: no prediction (no 4M-row hash index)
    has_pred = has_pred & (at >= 0)
    at = np.maximum(at, 0)
    box = preds[["x", "y", "w", "h"]].to_numpy(np.float64)[at].tolist() if len(preds) else [None] * len(table)
    pcat = preds["category_id"].to_numpy(np.int64)[at].tolist() if len(preds) else [None] * len(table)
    label_ids = table["label_id"].to_numpy(np.int64, na_value=-1).tolist()
    has_label = table["label_id"].notna().to_numpy().tolist()
    # one record per suspect row from whole columns (a per-row lookup took minutes at 750k suspects)
    rows = [{"image_id": i, "label_id": lab if hl else None, "pred_id": pid if hp else None, "reason": reason,
             "reason_code": code, "score": score, "proposed_bbox": b if hp else None,
             "proposed_category_id": c if hp else None}
            for i, lab, hl, pid, hp, reason, code, score, b, c in zip(
                table["image_id"].to_numpy(np.int64).tolist(), label_ids, has_label, pred_ids.tolist(),
                has_pred.tolist(), table["reason"].tolist(), table["reason_code"].tolist(),
                table["score"].to_numpy(np.float64).tolist(), box, pcat)]
    doc["info"] = {**doc.get("info", {}), "description": f"suspected label errors of project {project.name!r}"}
    doc["suspects"] = rows
    return doc
