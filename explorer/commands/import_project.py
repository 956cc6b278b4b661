"""``explorer import``: build a project folder from images, labels and predictions.

Prints what was kept, then a summary of what was skipped or flagged and why (the first ``--show`` messages;
all of them are written to ``<project>/import_report.json``). Exit 0 when a project was written; a user
error (unusable input, nothing valid, or nothing kept of an input the user named: a predictions file whose
records were all rejected, an image folder matching no label, a data.yaml split that cannot be found) is one
paragraph on stderr and exit 2, and no project is written.
"""
from __future__ import annotations

from pathlib import Path

from explorer import tasks
from explorer.errors import UserError
from explorer.project.folder import MANIFEST


def add_arguments(parser) -> None:
    parser.add_argument("--images", metavar="DIR", help="image folder (recursive); omit for an evaluation-only project")
    parser.add_argument("--labels", metavar="FILE_OR_DIR", help="COCO JSON file, YOLO labels folder or VOC Annotations folder")
    parser.add_argument("--predictions", metavar="FILE_OR_DIR", help="COCO results JSON, a folder of YOLO txt files with a confidence column, or VOC devkit "
                        "result files comp4_det_test_<class>.txt (a file or their folder)")
    parser.add_argument("--run", metavar="NAME", help="name of the predictions' run, e.g. the model (default: 'default'; "
                        "add more runs with 'explorer add-predictions'); training logs: the MLflow run to read")
    parser.add_argument("--format", choices=("coco", "yolo", "voc"), help="label format (default: guessed from the files)")
    parser.add_argument("--splits", metavar="CSV|folders", help="CSV 'file_name,split', 'folders' (first folder level under --images), or a VOC "
                        "ImageSets/Main folder (default: YOLO data.yaml's train/val/test, VOC's ImageSets/Main beside Annotations)")
    parser.add_argument("--task", choices=tasks.names(), default="detection", help="task type (default: detection)")
    parser.add_argument("--classes", metavar="FILE", help="YOLO/VOC class names: data.yaml or classes.txt (default: found beside the labels)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="extra task option, repeatable")
    parser.add_argument("--attributions", metavar="DIR", help="per-image attribution maps (Grad-CAM, saliency: "
                        "PNG/NPY/NPZ named like the images); image-based tasks")
    parser.add_argument("--attributions-key", metavar="KEY", help="the NPZ array to read (default: the first)")
    parser.add_argument("--name", help="project name shown in the app (default: the folder name)")
    parser.add_argument("--out", required=True, metavar="PROJECT", help="project folder to create")
    parser.add_argument("--overwrite", action="store_true", help="replace the tables of an existing project folder")
    parser.add_argument("--show", type=int, default=20, metavar="N", help="print the first N problems (default 20)")


def _task_options(args) -> dict:
    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--option {item!r}: expected KEY=VALUE")
        key = key.strip().replace("-", "_")
        if key in ("run", "format", "splits", "name", "images", "labels", "predictions", "overwrite", "task"):
            raise UserError(f"--option {item!r}: {key!r} has its own flag, use --{key} instead")
        options[key] = value
    if args.classes is not None:
        options["classes"] = args.classes
    return options


def run(args) -> int:
    from explorer.io import import_project

    out = Path(args.out)
    if (out / MANIFEST).is_file() and not args.overwrite:  # said early; checked again under the lock
        raise UserError(f"{out} is already a project; pass --overwrite to replace its tables, or choose another --out")
    project, report = import_project(
        out, task=args.task, images=args.images, labels=args.labels, predictions=args.predictions,
        format=args.format, splits=args.splits, name=args.name, run=args.run, overwrite=args.overwrite,
        attributions=args.attributions, attributions_key=args.attributions_key, **_task_options(args),
    )
    counts = ", ".join(f"{len(getattr(project, t))} {t}" for t in ("images", "categories", "labels", "predictions"))
    if not tasks.get(args.task).image_based:  # a training log: its rows (and runs), not empty image tables
        counts = ", ".join(f"{n} {what}" for what, n in report.kept.items())
    print(f"imported {args.task} project {project.name!r} into {out}: {counts}"
          + (f" (run {project.run!r})" if project.has_predictions else ""))
    if project.manifest.get("attributions"):
        print(f"attribution maps: {project.manifest['attributions']['count']} images")
    if project.splits:
        per_split = project.images["split"].value_counts()
        print("splits: " + ", ".join(f"{s} {int(per_split[s])}" for s in project.splits))
    report.print_problems(out / "import_report.json", limit=args.show)
    return 0
