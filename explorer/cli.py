"""The ``explorer`` command line: ``explorer COMMAND [options]``.

Each command lives in ``explorer/commands/<module>.py`` with ``add_arguments(parser)`` and ``run(args) -> int``;
it is imported only when used, so ``explorer --help`` is instant. A ``UserError``, or an ``OSError`` of the
file system (permission denied, disk full), is printed as a one-line message (exit code 2), never as a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from explorer import __version__
from explorer.errors import UserError

# command -> (module, one-line help)
COMMANDS = {
    "import": ("explorer.commands.import_project", "build a project from images, labels and predictions"),
    "add-predictions": ("explorer.commands.add_predictions", "add a model's predictions to a project as a new run"),
    "add-attributions": ("explorer.commands.add_attributions", "add per-image attribution maps (Grad-CAM, saliency) to a project"),
    "metrics": ("explorer.commands.metrics", "compute (and cache) data metrics for a project or an image folder"),
    "evaluate": ("explorer.commands.evaluate", "COCO-evaluate predictions against labels (pycocotools-exact)"),
    "errors": ("explorer.commands.errors", "what each error type costs: TIDE-style ΔAP at one IoU threshold"),
    "suspects": ("explorer.commands.suspects", "suspected label errors, ranked, as CSV plus a COCO JSON for relabelling"),
    "export": ("explorer.commands.export", "export all metrics (JSON), metric tables (CSV/Parquet) or a COCO subset"),
    "compare": ("explorer.commands.compare", "compare two runs of a project: mAP difference with its interval, fixed and broken objects"),
    "slices": ("explorer.commands.slices", "the weakest slices of the data metrics (one or two metric ranges), with intervals"),
    "run": ("explorer.commands.run", "launch the app (the bundled sample data when no project is given)"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: explorer [--version] COMMAND [options]",
        "",
        "Data-quality and model-quality explorer for computer vision.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()),
        "",
        "Run 'explorer COMMAND --help' for a command's options.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        print(f"explorer {__version__}")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print(f"explorer: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"explorer {name}", description=help_[0].upper() + help_[1:] + ".")
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except UserError as e:
        print(f"explorer {name}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the file system refused (permissions, disk full, read-only): the user's to fix
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"explorer {name}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"explorer {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
