"""The bundled sample projects: raw inputs in ``sample_data/<name>/`` built into projects on first use.

Each sample folder holds a ``sample.json``::

    {"name": "detection", "title": "Shapes detection (synthetic)", "task": "detection",
     "import": {"images": "images", "labels": "labels.json", "predictions": "predictions.json",
                "run": "baseline", "format": "coco", "splits": "splits.csv"},
     "more_runs": [{"run": "weaker", "predictions": "predictions-weaker.json"}]}

``import`` holds keyword arguments of ``explorer.io.import_project`` with paths relative to the sample folder;
``more_runs`` (optional) lists further prediction files added in order as runs of the project
(``explorer.io.detection.add_predictions``, what ``explorer add-predictions`` does).
Built projects go to ``$EXPLORER_HOME/samples/<name>`` (default ``~/.cache/cv-explorer``) and are rebuilt when
the sample's files change (a content hash is kept in ``source.hash``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from explorer.resources import sample_data_dir


def home() -> Path:
    """Where the explorer keeps built sample projects and caches."""
    return Path(os.environ.get("EXPLORER_HOME", Path.home() / ".cache" / "cv-explorer"))


def list_samples() -> list[dict]:
    """The bundled samples' descriptions (``sample.json`` plus ``dir``), detection first."""
    out = []
    for spec_path in sorted(sample_data_dir().glob("*/sample.json")):
        spec = json.loads(spec_path.read_text())
        spec["dir"] = spec_path.parent
        out.append(spec)
    return sorted(out, key=lambda s: (s.get("task") != "detection", s["name"]))


def _content_hash(folder: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _resolve_paths(options: dict, folder: Path) -> dict:
    resolved = {}
    for key, value in options.items():
        if isinstance(value, str) and (folder / value).exists():
            resolved[key] = str(folder / value)
        else:
            resolved[key] = value
    return resolved


def _announce(spec: dict, folder: Path, out: Path, *, rebuild: bool) -> None:
    """Say which sample project is being built, where, and why it takes a while (first run only)."""
    images = folder / spec.get("import", {}).get("images", "images")
    n = sum(1 for p in images.rglob("*") if p.is_file()) if images.is_dir() else 0
    why = (f"importing {n} images and computing their data metrics (sharpness, brightness, object sizes, …) "
           "once; later runs reuse it" if n else "importing its files once; later runs reuse it")
    verb = "rebuilding (its files changed)" if rebuild else "building"
    print(f"explorer: {verb} the sample project {spec['name']!r} ({spec.get('title', spec['name'])}) in {out}: "
          f"{why}", flush=True)


def build_sample(spec: dict, *, out: Path | None = None, progress: bool = True) -> Path:
    """Build (or reuse, when unchanged) one sample project and compute its data metrics; return its folder."""
    from explorer.io import import_project
    from explorer.datametrics.engine import compute_metrics

    folder = Path(spec["dir"])
    out = Path(out) if out is not None else home() / "samples" / spec["name"]
    digest = _content_hash(folder)
    stamp = out / "source.hash"
    if stamp.is_file() and stamp.read_text() == digest and (out / "project.json").is_file():
        return out
    if progress:
        _announce(spec, folder, out, rebuild=stamp.is_file())
    if out.exists():
        shutil.rmtree(out)
    options = _resolve_paths(spec.get("import", {}), folder)
    project, report = import_project(out, task=spec.get("task", "detection"), name=spec.get("title", spec["name"]), **options)
    if len(report):
        print(f"sample {spec['name']}: {report.format()}")
    for extra in spec.get("more_runs", []):
        from explorer.io.detection import add_predictions

        project, report = add_predictions(project, folder / extra["predictions"], run=extra["run"],
                                          format=extra.get("format"))
        if len(report):
            print(f"sample {spec['name']}, run {extra['run']}: {report.format()}")
    if project.images_root is not None and len(project.images):
        compute_metrics(project, progress=progress)  # every run's predictions
    stamp.write_text(digest)
    return out


def ensure_samples(progress: bool = True) -> list[Path]:
    """Build every bundled sample project that is missing or stale; return their folders."""
    return [build_sample(spec, progress=progress) for spec in list_samples()]
