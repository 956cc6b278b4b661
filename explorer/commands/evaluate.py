"""``explorer evaluate GT PRED | PROJECT [--run NAME] [--iou-type bbox|segm] [--json OUT]``: COCO-evaluate predictions
(pycocotools-exact).

Prints the 12-line summary in pycocotools' layout and, with ``--json``, writes the 12 named numbers
(``coco/<iou_type>_mAP`` ...), the per-class table and the skipped records. ``GT`` may also be a project folder:
then ``PRED`` is optional (default: the predictions of the project's run ``--run``, its first run when not given).
"""
from __future__ import annotations

import json
from pathlib import Path

from explorer.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("gt", help="COCO ground-truth JSON, or a project folder")
    parser.add_argument("pred", nargs="?", help="COCO results JSON (optional when GT is a project folder)")
    parser.add_argument("--run", metavar="NAME", help="with a project folder: the run to evaluate (default: the first)")
    parser.add_argument("--iou-type", choices=("bbox", "segm"), default="bbox", help="box or mask IoU (default bbox)")
    parser.add_argument("--protocol", choices=("coco", "voc07", "voc12"), default="coco",
                        help="coco (12 numbers, default), voc07 (VOC2007 11-point AP) or voc12 (VOC2010+ every-point AP)")
    parser.add_argument("--json", metavar="OUT", help="write the summary, per-class table and problems here")
    # pycocotools' COCOeval.params (explorer.evaluation.coco.CocoParams); defaults = pycocotools' defaults
    parser.add_argument("--iou-thresholds", metavar="T[,T...]", help="IoU thresholds (iouThrs), e.g. 0.5,0.75; "
                        "default 0.50:0.05:0.95")
    parser.add_argument("--max-dets", metavar="M[,M...]", help="detections per image (maxDets), e.g. 1,10,300; default 1,10,100")
    parser.add_argument("--area-range", metavar="LABEL=LO:HI", action="append",
                        help="an area range (areaRng/areaRngLbl), repeatable, e.g. all=0:1e10 tiny=0:256; "
                             "default all, small, medium, large")
    parser.add_argument("--class-agnostic", action="store_true", help="class-agnostic evaluation (useCats=0)")


def _numbers(text: str | None, flag: str, kind=float):
    if text is None:
        return None
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{flag} expects comma-separated numbers, got {text!r}") from None


def coco_params(args) -> dict:
    """``evaluate_coco`` keyword arguments from the ``--iou-thresholds/--max-dets/--area-range/--class-agnostic`` flags."""
    areas = None
    for item in getattr(args, "area_range", None) or []:
        label, _, rng = item.partition("=")
        lo, _, hi = rng.partition(":")
        try:
            areas = {**(areas or {}), label: (float(lo), float(hi))}
        except ValueError:
            raise UserError(f"--area-range expects LABEL=LO:HI, got {item!r}") from None
    return {"iou_thresholds": _numbers(getattr(args, "iou_thresholds", None), "--iou-thresholds"),
            "max_dets": _numbers(getattr(args, "max_dets", None), "--max-dets", int), "area_ranges": areas,
            "use_cats": False if getattr(args, "class_agnostic", False) else None}


def run(args) -> int:
    from explorer.evaluation import evaluate_coco

    gt_path = Path(args.gt)
    project = None
    if gt_path.is_dir():  # the project layer (pandas, Parquet) only for a project: a COCO file needs neither
        from explorer.project.folder import MANIFEST, Project

        if not (gt_path / MANIFEST).is_file():
            raise UserError(f"{gt_path} is a folder but not a project (no {MANIFEST})")
        if args.run is not None and args.pred is not None:
            raise UserError("give either PRED or --run: --run names one of the project's own prediction sets")
        gt = project = Project.load(gt_path, run=args.run)
    else:
        gt = gt_path
        if args.pred is None:
            raise UserError("PRED (a COCO results JSON) is required when GT is a COCO JSON file")
        if args.run is not None:
            raise UserError("--run needs a project folder as GT (a COCO JSON file has no runs)")
    if getattr(args, "protocol", "coco") != "coco":
        from explorer.evaluation.voc import evaluate_voc_inputs

        if args.iou_type != "bbox":
            raise UserError(f"--protocol {args.protocol} evaluates boxes only (got --iou-type {args.iou_type})")
        params = coco_params(args)
        coco_only = [flag for flag, key in (("--max-dets", "max_dets"), ("--area-range", "area_ranges"),
                                            ("--class-agnostic", "use_cats")) if params[key] is not None]
        thresholds = params["iou_thresholds"] or [0.5]
        if coco_only or len(thresholds) != 1:
            raise UserError(f"--protocol {args.protocol} takes one IoU threshold (--iou-thresholds T, default 0.5) "
                            f"and none of the COCO options; got {', '.join(coco_only) or f'{len(thresholds)} thresholds'}")
        result = evaluate_voc_inputs(gt, args.pred, protocol=args.protocol, iou_threshold=thresholds[0])
    else:
        result = evaluate_coco(gt, args.pred, iou_type=args.iou_type, **coco_params(args))
    if len(result.problems):
        print(result.problems.format())
    if project is not None and args.pred is None and gt.run is not None:
        print(f"run {gt.run!r} of project {gt.name!r}")
    print(result.format())
    if args.json:
        out = Path(args.json)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            data = result.to_dict()
            if project is not None and args.pred is None:
                data["run"] = gt.run  # which of the project's prediction sets these numbers are
            out.write_text(json.dumps(data, indent=1))
        except OSError as e:
            raise UserError(f"cannot write {out}: {e}") from None
        print(f"wrote {out}")
    return 0
