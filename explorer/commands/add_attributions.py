"""``explorer add-attributions PROJECT DIR [--key KEY] [--replace]``: add per-image attribution maps to a project.

The maps under DIR (PNG 8/16-bit grey, NPY, NPZ; any resolution; matched to the images by relative path or
stem — ``explorer.io.attributions``) are validated and stored in ``<project>/attributions/``; a bad or unmatched
file is reported by name (the full report goes to ``<project>/import_report_attributions.json``) and the valid
ones are kept. A project that already has maps refuses unless ``--replace``. When the project's data metrics
were computed they are brought up to date (attribution metrics added; the per-image cache keeps the rest)
unless ``--no-metrics``.
"""
from __future__ import annotations

import json
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("project", help="project folder built by 'explorer import'")
    parser.add_argument("maps", metavar="DIR", help="folder of attribution maps (PNG/NPY/NPZ named like the images)")
    parser.add_argument("--key", metavar="KEY", help="the NPZ array to read (default: the archive's first)")
    parser.add_argument("--replace", action="store_true", help="replace the project's existing maps")
    parser.add_argument("--no-metrics", action="store_true", help="do not update computed data metrics")
    parser.add_argument("--show", type=int, default=20, metavar="N", help="print the first N problems (default 20)")


def run(args) -> int:
    from explorer import tasks
    from explorer.errors import UserError
    from explorer.io.attributions import add_attributions
    from explorer.project.files import atomic_text
    from explorer.project.folder import Project
    from explorer.project.lock import project_lock

    with project_lock(args.project, "add-attributions"):  # one writer per project; released before the metrics run
        project = Project.load(args.project)
        if not tasks.get(project.task).image_based:
            raise UserError(f"attribution maps apply to image-based tasks, not to a {project.task} project")
        report = add_attributions(project, args.maps, key=args.key, replace=args.replace)
        full = Path(project.root) / "import_report_attributions.json"
        atomic_text(full, json.dumps(report.to_dict(), indent=1))
    print(f"stored {report.kept['attributions']} attribution maps of {len(project.images)} images in project "
          f"{project.name!r}")
    report.print_problems(full, limit=args.show)
    catalog = project.metrics_dir / "catalog.json"
    if catalog.is_file() and not args.no_metrics:
        from explorer.datametrics.engine import compute_metrics

        plugins = json.loads(catalog.read_text()).get("plugins", [])  # the same metric set as before
        stats = compute_metrics(project, plugins=plugins, progress=False)
        print(f"data metrics updated ({stats.seconds:.1f} s)")
    return 0
