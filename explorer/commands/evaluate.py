"""``explorer evaluate GT PRED [--iou-type bbox|segm] [--json OUT]``: COCO-evaluate predictions (pycocotools-exact).

Prints the 12-line summary in pycocotools' layout and, with ``--json``, writes the 12 named numbers
(``coco/<iou_type>_mAP`` ...), the per-class table and the skipped records. ``GT`` may also be a project folder
(then ``PRED`` is optional: the project's own predictions).
"""
from __future__ import annotations

import json
from pathlib import Path

from explorer.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("gt", help="COCO ground-truth JSON, or a project folder")
    parser.add_argument("pred", nargs="?", help="COCO results JSON (optional when GT is a project folder)")
    parser.add_argument("--iou-type", choices=("bbox", "segm"), default="bbox", help="box or mask IoU (default bbox)")
    parser.add_argument("--json", metavar="OUT", help="write the summary, per-class table and problems here")


def run(args) -> int:
    from explorer.evaluation import evaluate_coco
    from explorer.project.folder import MANIFEST, Project

    gt_path = Path(args.gt)
    if gt_path.is_dir():
        if not (gt_path / MANIFEST).is_file():
            raise UserError(f"{gt_path} is a folder but not a project (no {MANIFEST})")
        gt = Project.load(gt_path)
    else:
        gt = gt_path
        if args.pred is None:
            raise UserError("PRED (a COCO results JSON) is required when GT is a COCO JSON file")
    result = evaluate_coco(gt, args.pred, iou_type=args.iou_type)
    if len(result.problems):
        print(result.problems.format())
    print(result.format())
    if args.json:
        out = Path(args.json)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result.to_dict(), indent=1))
        except OSError as e:
            raise UserError(f"cannot write {out}: {e}") from None
        print(f"wrote {out}")
    return 0
