"""``explorer export PROJECT --out DIR``: all metrics as JSON, metric tables as CSV/Parquet, the selection as COCO.

``--what all`` (default) writes ``all_metrics.json``, ``tables/{images,labels,predictions}.{csv,parquet}`` (image-based
tasks) and, for tasks with boxes or masks (detection, segmentation: ``Task.coco_subset``), ``coco_subset.json``. ``--split`` and ``--classes`` select what the
tables and the COCO subset hold (the JSON always has every split plus "all"; ``--classes`` restricts it too).
"""
from __future__ import annotations

from pathlib import Path

WHAT = ("all", "json", "tables", "coco")


def add_arguments(parser) -> None:
    parser.add_argument("project", help="project folder built by 'explorer import'")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--what", choices=WHAT, default="all", help="what to export (default: all)")
    parser.add_argument("--split", default=None, help="only this split in the tables and COCO subset (default: all)")
    parser.add_argument("--classes", nargs="+", default=None, metavar="CLASS", help="class names or ids (default: all)")
    parser.add_argument("--run", metavar="NAME", help="the project's run (set of predictions) to export (default: the first)")
    parser.add_argument("--iou-threshold", type=float, default=0.5, help="detection IoU threshold (default 0.5)")
    parser.add_argument("--confidence-threshold", type=float, default=0.0, help="confidence threshold (default 0)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="outcome option of the task, repeatable: regression tolerance=0.5, segmentation "
                             "target_iou=0.75 (default: the task's, as on the pages)")
    parser.add_argument("--formats", nargs="+", choices=("csv", "parquet"), default=["csv", "parquet"],
                        help="table formats (default: csv parquet)")


def run(args) -> int:
    from explorer import tasks
    from explorer.errors import UserError
    from explorer.export.all_metrics import export_all_metrics, export_coco
    from explorer.export.tables import export_tables
    from explorer.project.folder import Project

    project = Project.load(args.project).for_run(args.run)
    task = tasks.get(project.task)
    if not 0.0 < args.iou_threshold <= 1.0:
        raise UserError(f"--iou-threshold must be in (0, 1], got {args.iou_threshold}")
    out = Path(args.out)
    outcome = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        try:
            outcome[key.strip()] = float(value)
        except ValueError:
            raise UserError(f"--option {item!r}: expected KEY=NUMBER, e.g. tolerance=0.5") from None
        if not sep or key.strip() not in task.option_defaults:
            raise UserError(f"--option {item!r}: {task.name} projects take "
                            f"{', '.join(task.option_defaults) or 'no options'}")
    options = {"classes": args.classes, "iou_threshold": args.iou_threshold,
               "confidence_threshold": args.confidence_threshold, "options": outcome}
    written = []
    if args.what in ("all", "json"):
        export_all_metrics(project, out, **options)
        written.append(out / "all_metrics.json")
    if args.what in ("all", "tables") and task.image_based:
        written += export_tables(project, out / "tables", formats=args.formats, split=args.split, **options)
    if args.what == "coco" or (args.what == "all" and task.coco_subset):
        written.append(export_coco(project, out, split=args.split, classes=args.classes))
    for path in written:
        print(f"wrote {path}")
    return 0
