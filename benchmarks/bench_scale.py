"""Benchmark: every step of a detection project at scale (issue 11), seconds and peak RSS, one column per size.

    python3 benchmarks/bench_scale.py --images 10000 --images 100000      # the issue's table
    python3 benchmarks/bench_scale.py --images 1000000                      # opt-in: 1M images, 20M predictions
    python3 benchmarks/bench_scale.py --images 200 --keep /tmp/scale        # keep the generated files and project
    python3 benchmarks/bench_scale.py --images 100000 --no-app             # every step but the app's page reruns
    python3 benchmarks/bench_scale.py --images 1000000 --keep /tmp/scale --reuse --steps import,match
                                   # only these steps, on the inputs (and project) an earlier --keep run left

For each N it generates (deterministically, seed 0; no pixels) a COCO instances file of N images with ~7 labels
each (80 COCO category ids, ~2% crowd, the generator of ``bench_eval.py``), two runs of COCO results with ~20
predictions per image (run ``b`` is run ``a`` with box jitter and re-drawn scores) and a ``file_name,split`` CSV
(80% train / 20% val), in a subprocess. Then every step runs in its own Python subprocess, so each reported peak
RSS (``VmHWM`` of ``/proc/self/status``; ``ru_maxrss`` elsewhere) is that step's process, imports included:

- ``import``: ``explorer.io.import_project`` of the labels, run ``a`` and the splits; ``add-predictions``:
  ``explorer.io.detection.add_predictions`` of run ``b``;
- ``load`` (``Project.load``), ``matcher build`` (``Matcher.from_project``, after the load in the same process)
  and ``re-match`` (``.match(0.75)`` after a first ``.match(0.5)``, so numba's cache load is not in it); their
  peaks are the process's peak so far (the loaded project is part of what a matcher costs);
- ``evaluate_coco``: ``evaluate_coco(project)`` after a 20-image warm-up of the kernels;
- ``data metrics``: ``compute_metrics`` (box metrics only: there are no pixels); it is set-up for the pages;
- the app: one AppTest process serving the project (like one ``explorer run`` server), for every detection page
  (``explorer.tasks.get("detection").pages``): the first render, a rerun after moving ``iou_threshold`` to a value
  no earlier page used, after changing ``classes`` to a subset no earlier page used, and on Performance by Metric
  after changing the metric; peaks are the app process's peak so far.

Every step records the 1-minute load average when it starts (``os.getloadavg``), printed beside its time: on a
shared machine a figure is only comparable with the load it ran under. Targets are the issue's (100k / 1M).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STEP_TIMEOUT_S = 3600  # a step that hangs fails the benchmark instead of stalling it forever

#: the issue's target of each step ("" when it sets none)
TARGETS = {
    "import": "≤ 600 s, ≤ 12 GB at 1M",
    "add_predictions": "",
    "load": "",
    "matcher": "",
    "rematch": "≤ 0.1 s at 100k",
    "evaluate": "≤ 120 s, linear, at 1M",
    "metrics": "",
    "first": "≤ 10 s at 100k (project opens)",
    "iou": "≤ 1 s at 100k, ≤ 3 s at 1M",
    "classes": "≤ 1 s at 100k, ≤ 3 s at 1M",
    "metric": "≤ 1 s at 100k, ≤ 3 s at 1M",
}


def peak_mb() -> float:
    """This process's peak resident set size so far, MB: Linux's ``VmHWM`` (the high-water mark of this process's
    own address space; ``ru_maxrss`` is not used there because it keeps the parent's RSS at fork across exec),
    elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def load1() -> float:
    return os.getloadavg()[0]


# ---------------------------------------------------------------------------------------------------- generation
def generate_files(n_images: int, out: Path) -> dict:
    """Write ``labels.json``, ``run_a.json``, ``run_b.json`` and ``splits.csv`` of an ``n_images`` set into ``out``;
    return their paths and counts.

    The values are ``bench_eval.generate``'s (its arrays, ``generate_arrays``), written in chunks of
    ``_CHUNK`` records (orjson, compact) instead of one dict per record held at once: at 1M images (27M records)
    the dicts alone would take ~13 GB."""
    import orjson

    sys.path.insert(0, str(HERE))
    from bench_eval import COCO_CATEGORY_IDS, generate_arrays  # the one synthetic COCO generator of the benchmarks

    a = generate_arrays(n_images, seed=0)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / f for k, f in (("labels", "labels.json"), ("run_a", "run_a.json"), ("run_b", "run_b.json"),
                                       ("splits", "splits.csv"))}
    file_names = [f"{i + 1:06d}.jpg" for i in range(n_images)]
    L = len(a["img_of_lab"])
    with open(paths["labels"], "wb") as f:
        f.write(b'{"images":')
        _write_list(f, n_images, lambda s: [{"id": i + 1, "width": w, "height": h, "file_name": file_names[i]}
                                            for i, w, h in zip(range(s.start, s.stop), a["W"][s].tolist(),
                                                               a["H"][s].tolist())])
        f.write(b',"annotations":')
        _write_list(f, L, lambda s: [{"id": i + 1, "image_id": m + 1, "category_id": c, "bbox": b, "area": ar,
                                      "iscrowd": int(k)} for i, m, c, b, ar, k in zip(
            range(s.start, s.stop), a["img_of_lab"][s].tolist(), a["lab_cat"][s].tolist(), a["box"][s].tolist(),
            a["area"][s].tolist(), a["crowd"][s].tolist())])
        f.write(b',"categories":' + orjson.dumps([{"id": c, "name": f"c{c}"} for c in COCO_CATEGORY_IDS]) + b"}")
    P = len(a["pimg"])
    pimg, pcat, box, score = a["pimg"] + 1, a["pcat"], a["pbox"], a["score"]
    _write_results(paths["run_a"], pimg, pcat, box, score)
    # run b: the same detector with more localisation noise and re-drawn scores (deterministic, seed 1)
    rng = np.random.default_rng(1)
    box = box.copy()
    box[:, :2] += rng.normal(0, 0.05, (P, 2)) * box[:, 2:]
    box[:, 2:] *= np.exp(rng.normal(0, 0.05, (P, 2)))
    box = np.round(box, 2)
    score = np.round(np.clip(score + rng.normal(0, 0.1, P), 0.001, 1), 3)
    _write_results(paths["run_b"], pimg, pcat, box, score)
    split = np.where(np.random.default_rng(2).random(n_images) < 0.8, "train", "val")
    with open(paths["splits"], "w") as f:
        f.write("file_name,split\n")
        f.writelines(f"{name},{s}\n" for name, s in zip(file_names, split))
    counts = {"n_images": n_images, "n_labels": L, "n_predictions_per_run": P}
    return {**{k: str(v) for k, v in paths.items()}, **counts}


_CHUNK = 200_000


def _write_list(f, n: int, records_of) -> None:
    """Write a JSON list of ``n`` records to ``f``, ``records_of(slice)`` giving the records of each chunk."""
    import orjson

    f.write(b"[")
    for start in range(0, n, _CHUNK):
        body = orjson.dumps(records_of(slice(start, min(n, start + _CHUNK))))[1:-1]
        f.write((b"," if start else b"") + body)
    f.write(b"]")


def _write_results(path: Path, image_id: np.ndarray, category_id: np.ndarray, box: np.ndarray,
                   score: np.ndarray) -> None:
    """A COCO results file: ``{image_id, category_id, bbox, score}`` per row of the arrays."""
    with open(path, "wb") as f:
        _write_list(f, len(image_id), lambda s: [
            {"image_id": m, "category_id": c, "bbox": b, "score": sc} for m, c, b, sc in zip(
                image_id[s].tolist(), category_id[s].tolist(), box[s].tolist(), score[s].tolist())])


# ---------------------------------------------------------------------------------------------------- the steps
def step_import(files: dict, project_dir: Path) -> list[dict]:
    from explorer.io import import_project

    l0, t0 = load1(), time.perf_counter()
    import_project(project_dir, labels=files["labels"], predictions=files["run_a"], splits=files["splits"], run="a")
    return [{"step": "import", "s": time.perf_counter() - t0, "mb": peak_mb(), "load": l0}]


def step_add_predictions(files: dict, project_dir: Path) -> list[dict]:
    from explorer.io.detection import add_predictions
    from explorer.project.folder import Project

    project = Project.load(project_dir)
    l0, t0 = load1(), time.perf_counter()
    add_predictions(project, files["run_b"], run="b", replace=True)  # (a kept project may have it)
    return [{"step": "add_predictions", "s": time.perf_counter() - t0, "mb": peak_mb(), "load": l0}]


def step_match(files: dict, project_dir: Path) -> list[dict]:
    from explorer.evaluation import Matcher
    from explorer.project.folder import Project

    rows = []
    l0, t0 = load1(), time.perf_counter()
    project = Project.load(project_dir)
    rows.append({"step": "load", "s": time.perf_counter() - t0, "mb": peak_mb(), "load": l0})
    l0, t0 = load1(), time.perf_counter()
    matcher = Matcher.from_project(project)
    rows.append({"step": "matcher", "s": time.perf_counter() - t0, "mb": peak_mb(), "load": l0})
    matcher.match(0.5)  # first call: numba's on-disk cache is loaded here, not in the timed re-match
    l0, t0 = load1(), time.perf_counter()
    matcher.match(0.75)
    rows.append({"step": "rematch", "s": time.perf_counter() - t0, "mb": peak_mb(), "load": l0})
    return rows


def step_evaluate(files: dict, project_dir: Path) -> list[dict]:
    sys.path.insert(0, str(HERE))
    from bench_eval import generate
    from explorer.evaluation import evaluate_coco
    from explorer.project.folder import Project

    evaluate_coco(*generate(20, seed=1), iou_type="bbox")  # kernels compiled / loaded from the cache
    project = Project.load(project_dir)
    l0, t0 = load1(), time.perf_counter()
    evaluate_coco(project)
    return [{"step": "evaluate", "s": time.perf_counter() - t0, "mb": peak_mb(), "load": l0}]


def step_metrics(files: dict, project_dir: Path) -> list[dict]:
    from explorer.datametrics.engine import compute_metrics

    l0, t0 = load1(), time.perf_counter()
    compute_metrics(project_dir, progress=False)
    return [{"step": "metrics", "s": time.perf_counter() - t0, "mb": peak_mb(), "load": l0}]


def step_app(files: dict, project_dir: Path) -> list[dict]:
    """Every detection page in one app process: first render, then a rerun after each control change."""
    from streamlit.testing.v1 import AppTest

    import explorer
    from explorer import tasks
    from explorer.project.folder import Project
    from explorer.resources import pages_dir
    from explorer.ui.state import PROJECTS_ENV

    os.environ[PROJECTS_ENV] = str(project_dir)
    app = Path(explorer.__file__).resolve().parent / "app.py"
    names = list(Project.load(project_dir).category_names.values())
    fresh_iou = [0.55, 0.6, 0.65, 0.7, 0.8, 0.85, 0.9, 0.45, 0.4, 0.35]
    rows = []

    def timed_run(at, step: str, page: str) -> None:
        l0, t0 = load1(), time.perf_counter()
        at.run()
        seconds = time.perf_counter() - t0
        if at.exception:
            raise RuntimeError(f"{page} ({step}) raised: {at.exception[0].message}")
        rows.append({"step": step, "page": page, "s": seconds, "mb": peak_mb(), "load": l0})

    for k, page in enumerate(tasks.get("detection").pages):
        at = AppTest.from_file(str(app), default_timeout=STEP_TIMEOUT_S)
        at.run()
        at.switch_page(os.path.relpath(pages_dir() / page.file, app.parent))
        timed_run(at, "first", page.file)
        at.slider(key="iou_threshold").set_value(fresh_iou[k % len(fresh_iou)])
        timed_run(at, "iou", page.file)
        at.multiselect(key="classes").set_value(names[: 2 + k % max(1, len(names) - 2)])  # a subset per page
        timed_run(at, "classes", page.file)
        if page.file == "performance_by_metric.py":
            box = at.selectbox(key="pbm_metric")
            current = box.value
            box.set_value(next(o for o in box.options if o != current))
            timed_run(at, "metric", page.file)
    return rows


def step_generate(spec: dict, out: Path) -> dict:
    return generate_files(spec["n_images"], out)


STEPS = {"import": step_import, "add_predictions": step_add_predictions, "match": step_match,
         "evaluate": step_evaluate, "metrics": step_metrics, "app": step_app}


# ---------------------------------------------------------------------------------------------------- driver
def run_step(name: str, files: dict, project_dir: Path) -> list[dict]:
    """Run step ``name`` in a fresh interpreter (so its peak RSS is its own); return its rows."""
    out = project_dir.parent / f"step_{name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_step", name, "--_files", json.dumps(files),
           "--_project", str(project_dir), "--_out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(cmd, env=env, timeout=STEP_TIMEOUT_S, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"step {name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(out.read_text())


def measure(n_images: int, work: Path, *, app: bool = True, steps=None, reuse: bool = False) -> tuple[dict, list[dict]]:
    """Generate the set of ``n_images`` under ``work`` (``reuse``: the inputs an earlier run kept there, when
    they are complete) and run every step, or the ``steps`` named (the app's only when ``app``); return the
    counts and the rows. The project is rebuilt only when ``import`` runs; the other steps use the one there."""
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    saved = work / "inputs" / "files.json"
    if reuse and saved.is_file() and all(Path(p).is_file() for k, p in json.loads(saved.read_text()).items()
                                         if k in ("labels", "run_a", "run_b", "splits")):
        files = json.loads(saved.read_text())
        print(f"[N={n_images:,}] reusing the inputs in {saved.parent}", file=sys.stderr)
    else:
        files = run_step("generate", {"n_images": n_images}, work / "inputs")  # its memory is not this process's
        saved.write_text(json.dumps(files))
        print(f"[N={n_images:,}] generated {files['n_images']:,} images, {files['n_labels']:,} labels, 2 × "
              f"{files['n_predictions_per_run']:,} predictions in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    project_dir = work / "project"
    steps = list(STEPS) if steps is None else steps
    if "import" in steps and project_dir.exists():
        shutil.rmtree(project_dir)
    rows = []
    for name in STEPS:
        if (name == "app" and not app) or name not in steps:
            continue
        t0 = time.perf_counter()
        rows += run_step(name, files, project_dir)
        print(f"[N={n_images:,}] {name} done in {time.perf_counter() - t0:.1f} s (load {load1():.2f})",
              file=sys.stderr)
    return files, rows


def row_titles(rows_by_n: dict[int, list[dict]]) -> list[tuple[str, str | None, str]]:
    """(step, page, title) in the order of the first size's rows."""
    first = next(iter(rows_by_n.values()))
    titles = {"import": "import (labels + run a)", "add_predictions": "add-predictions (run b)",
              "load": "Project.load", "matcher": "Matcher.from_project", "rematch": "re-match .match(0.75)",
              "evaluate": "evaluate_coco(project)", "metrics": "data metrics (boxes; page set-up)",
              "first": "first render", "iou": "rerun: iou_threshold moved", "classes": "rerun: classes changed",
              "metric": "rerun: metric changed"}
    out = []
    for r in first:
        page = r.get("page")
        title = titles[r["step"]] if page is None else f"{page.removesuffix('.py')}: {titles[r['step']]}"
        out.append((r["step"], page, title))
    return out


def format_table(counts: dict[int, dict], rows_by_n: dict[int, list[dict]]) -> str:
    """One row per step, per size three columns (seconds, peak MB, 1-min load average at the step's start)."""
    sizes = list(rows_by_n)
    titles = row_titles(rows_by_n)
    width = max(len(t) for _, _, t in titles) + 2
    head = f"{'step':<{width}}" + "".join(f"{'N=' + format(n, ','):>12}{'peak MB':>9}{'load':>6}" for n in sizes)
    lines = [", ".join(f"N={n:,}: {c['n_images']:,} images, {c['n_labels']:,} labels, 2 runs × "
                       f"{c['n_predictions_per_run']:,} predictions" for n, c in counts.items()),
             head + "  target", "-" * (len(head) + 30)]
    opened = False
    for step, page, title in titles:
        line = f"{title:<{width}}"
        target = "" if step == "first" and opened else TARGETS[step]  # opening the project = the first page
        opened = opened or step == "first"
        for n in sizes:
            r = next((r for r in rows_by_n[n] if r["step"] == step and r.get("page") == page), None)
            line += " " * 27 if r is None else f"{r['s']:>11.3f}s{r['mb']:>9.0f}{r['load']:>6.2f}"
        lines.append(line + "  " + target)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, action="append", help="number of images (repeatable; default "
                        "10000 and 100000; 1000000 only when asked)")
    parser.add_argument("--keep", type=Path, help="folder to keep the generated inputs and projects in "
                        "(default: a temporary folder, removed afterwards)")
    parser.add_argument("--no-app", action="store_true", help="skip the AppTest page reruns (at 10k images they "
                        "take ~2 minutes, mostly the Export page; at 100k far longer)")
    parser.add_argument("--steps", type=lambda v: v.split(","), help=f"comma-separated steps to run (default "
                        f"all: {','.join(STEPS)}); steps after import use the project an earlier run kept")
    parser.add_argument("--reuse", action="store_true", help="reuse the generated inputs an earlier --keep run "
                        "left in the folder (generation takes minutes at 1M images)")
    parser.add_argument("--_step", help=argparse.SUPPRESS)
    parser.add_argument("--_files", help=argparse.SUPPRESS)
    parser.add_argument("--_project", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.steps or ()) - set(STEPS))
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; the steps: {', '.join(STEPS)}")
    if (args.reuse or args.steps) and args.keep is None:
        parser.error("--reuse and --steps work on the folder of an earlier run: pass --keep FOLDER")
    if args._step:  # a child process: one step
        step = step_generate if args._step == "generate" else STEPS[args._step]
        rows = step(json.loads(args._files), args._project)
        args._out.write_text(json.dumps(rows))
        return 0
    sizes = args.images or [10_000, 100_000]
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        counts, rows_by_n = {}, {}
        for n in sizes:
            counts[n], rows_by_n[n] = measure(n, work / f"n{n}", app=not args.no_app, steps=args.steps,
                                              reuse=args.reuse)
        print(f"machine: {os.cpu_count()} cores; python3 {' '.join(['benchmarks/bench_scale.py', *sys.argv[1:]])}")
        print(format_table(counts, rows_by_n))
        ok = all(math.isfinite(r["s"]) for rows in rows_by_n.values() for r in rows)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
