"""``explorer add-predictions PROJECT FILE --run NAME [--format coco|yolo] [--replace]``: add a model's predictions.

The file (a COCO results JSON, or a folder of YOLO txt files with a confidence column) is read and validated as
``explorer import --predictions`` reads it (bad records are skipped and reported, the full report goes to
``<project>/import_report_<run>.json``) and becomes the project's run NAME. An existing run name is refused
unless ``--replace``. When the project's data metrics were computed, they are brought up to date (the per-image
cache keeps the frame metrics; only the new predictions' metrics are computed; the same plugin metrics as
before) unless ``--no-metrics``.
"""
from __future__ import annotations

import json
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("project", help="project folder built by 'explorer import'")
    parser.add_argument("predictions", metavar="FILE", help="COCO results JSON, or a folder of YOLO txt files with a confidence column")
    parser.add_argument("--run", required=True, metavar="NAME", help="name of the new run, e.g. the model")
    parser.add_argument("--format", choices=("coco", "yolo"), help="predictions format (default: guessed: .json file = coco, folder = yolo)")
    parser.add_argument("--replace", action="store_true", help="replace the predictions of an existing run NAME")
    parser.add_argument("--no-metrics", action="store_true", help="do not update computed data metrics")
    parser.add_argument("--show", type=int, default=20, metavar="N", help="print the first N problems (default 20)")


def run(args) -> int:
    from explorer.io.detection import add_predictions
    from explorer.project.folder import Project
    from explorer.project.lock import project_lock

    with project_lock(args.project, "add-predictions"):  # one writer per project; released before the metrics run
        project = Project.load(args.project)
        replaced = args.run in project.runs
        view, report = add_predictions(project, args.predictions, run=args.run, format=args.format,
                                       replace=args.replace)
    verb = "replaced" if replaced else "added"
    print(f"{verb} run {view.run!r} of project {view.name!r}: {len(view.predictions)} predictions; "
          f"runs: {', '.join(view.runs)}")
    report.print_problems(Path(view.root) / f"import_report_{view.run}.json", limit=args.show)
    catalog = view.metrics_dir / "catalog.json"
    if catalog.is_file() and not args.no_metrics:
        from explorer.datametrics.engine import compute_metrics

        # the same metric set as before: the plugin files the catalogue lists
        plugins = json.loads(catalog.read_text()).get("plugins", [])
        stats = compute_metrics(view, plugins=plugins, progress=False)
        print(f"data metrics updated for every run ({stats.seconds:.1f} s)")
    return 0
