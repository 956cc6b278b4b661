"""Benchmark: every step of a detection project at scale (issue 11), seconds and peak RSS, one column per size.

    python3 benchmarks/bench_scale.py --images 10000 --images 100000      # the issue's table
    python3 benchmarks/bench_scale.py --images 1000000                      # opt-in: 1M images, 20M predictions
    python3 benchmarks/bench_scale.py --images 200 --keep /tmp/scale        # keep the generated files and project
    python3 benchmarks/bench_scale.py --images 100000 --no-app             # every step but the app's page reruns
    python3 benchmarks/bench_scale.py --images 1000000 --keep /tmp/scale --reuse --steps import,match
                                   # only these steps, on the inputs (and project) an earlier --keep run left
    python3 benchmarks/bench_scale.py --images 100000 --keep /tmp/scale --reuse --steps memory
                                   # opt-in: resident memory of each structure the app's core keeps

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
- ``memory`` (opt-in, ``--steps memory``): in one process, the structures the first Metrics render and one IoU
  move make — the project, the shared Matcher, a match, the three outcome tables, the run's ``CocoState`` and its
  accumulation, the error cost, then a match and tables at another IoU — each with the resident memory it
  added (``/proc`` ``RssAnon``: the process's own pages, and ``RssFile``: mapped files' pages, which the kernel
  can drop), printed under the table with the anon bytes per prediction;
- the app: one AppTest process serving the project (like one ``explorer run`` server). ``project opens``: from
  the process's start (Streamlit and the package imported, as a server's first session does) to the landing page
  fully rendered (the project loaded, the sidebar and the task's first page drawn); then for every detection
  page (``explorer.tasks.get("detection").pages``, or the ``--pages`` named): the first render, a rerun after
  moving ``iou_threshold`` to a value no earlier page used, after changing ``classes`` to a subset no earlier page
  used, and on Performance by Metric after changing the metric; peaks are the app process's peak so far.

Every step records the 1-minute load average when it starts (``os.getloadavg``), printed beside its time, and
the CPU seconds the process spent in it (every thread; ``getrusage``): on a shared machine a wall time is only
comparable with the load it ran under, the CPU time much less so. A step that fails or times out is reported on
stderr and left blank in the table ("failed"); the table is printed anyway (exit status 1). Targets are the
issue's (100k / 1M).
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
PROCESS_START = time.perf_counter()  # (a step process: "project opens" counts from here)
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
    "open": "≤ 10 s at 100k",
    "first": "",
    "iou": "≤ 1 s at 100k, ≤ 3 s at 1M",
    "classes": "≤ 1 s at 100k, ≤ 3 s at 1M",
    "metric": "≤ 1 s at 100k, ≤ 3 s at 1M",
    **{step: "" for step in ("mem_load", "mem_prepare", "mem_matcher", "mem_match", "mem_labels", "mem_predictions",
                             "mem_images", "mem_state", "mem_evaluation", "mem_tide")},
    "mem_move": "app process ≤ 12 GB at 1M",
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


def cpu_s() -> float:
    """CPU seconds (user + system, every thread) this process has used so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Timed:
    """``with Timed("step", rows, page=...) as t:`` appends one row: wall and CPU seconds of the block, the peak
    RSS so far and the 1-minute load average at its start."""

    def __init__(self, step: str, rows: list, **extra):
        self.step, self.rows, self.extra = step, rows, extra

    def __enter__(self):
        self.l0, self.c0, self.t0 = load1(), cpu_s(), time.perf_counter()
        return self

    def __exit__(self, kind, *_):
        if kind is None:
            self.rows.append({"step": self.step, **self.extra, "s": time.perf_counter() - self.t0,
                              "cpu": cpu_s() - self.c0, "mb": peak_mb(), "load": self.l0})


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

    rows = []
    with Timed("import", rows):
        import_project(project_dir, labels=files["labels"], predictions=files["run_a"], splits=files["splits"],
                       run="a")
    return rows


def step_add_predictions(files: dict, project_dir: Path) -> list[dict]:
    from explorer.io.detection import add_predictions
    from explorer.project.folder import Project

    project = Project.load(project_dir)
    rows = []
    with Timed("add_predictions", rows):
        add_predictions(project, files["run_b"], run="b", replace=True)  # (a kept project may have it)
    return rows


def step_match(files: dict, project_dir: Path) -> list[dict]:
    from explorer.evaluation import Matcher
    from explorer.project.folder import Project

    rows = []
    with Timed("load", rows):
        project = Project.load(project_dir)
    with Timed("matcher", rows):
        matcher = Matcher.from_project(project)
    matcher.match(0.5)  # first call: numba's on-disk cache is loaded here, not in the timed re-match
    with Timed("rematch", rows):
        matcher.match(0.75)
    return rows


def rss_mb() -> dict:
    """This process's resident memory now, MB: ``anon`` (its own pages: what runs out) and ``file`` (pages of
    mapped files — Parquet, the Matcher's saved arrays — which the kernel can drop and read again), from
    ``/proc/self/status`` (zeros where it does not exist)."""
    try:
        with open("/proc/self/status") as f:
            kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if k in ("RssAnon", "RssFile")}
    except OSError:
        kb = {}
    return {"anon": kb.get("RssAnon", 0) / 1024, "file": kb.get("RssFile", 0) / 1024}


def step_memory(files: dict, project_dir: Path) -> list[dict]:
    """What the app's core keeps for the first Metrics render and one IoU move, structure by structure, in one
    process (like one ``explorer run`` server): each row is one structure made (kept only as the core's bounded
    caches keep it: an older one they drop frees its share), with the resident memory it added (``anon``/``file`` MB: ``/proc`` RSS deltas) beside its time and peak."""
    import gc

    from explorer.analysis import outcomes, tide
    from explorer.evaluation import Matcher, coco
    from explorer.project.folder import Project
    from explorer.project.selection import Selection

    rows = []

    def made(step: str, make):  # what ``make`` returns stays only as long as the core's caches keep it
        before = rss_mb()
        with Timed(step, rows):
            value = make()
        after = rss_mb()
        rows[-1].update(anon=after["anon"] - before["anon"], file=after["file"] - before["file"],
                        anon_total=after["anon"], file_total=after["file"])
        print(f"memory {step}: +{rows[-1]['anon']:.0f} MB anon, +{rows[-1]['file']:.0f} MB file (now "
              f"{after['anon']:.0f} / {after['file']:.0f} MB) in {rows[-1]['s']:.1f} s", file=sys.stderr, flush=True)
        return value

    project = made("mem_load", lambda: Project.load(project_dir))
    # a first open completes the Matcher's saved folder when it lacks arrays (it then holds them in memory):
    # discarded, so the row below is an app's open of a project opened before
    made("mem_prepare", lambda: Matcher.from_project(project) and None)
    gc.collect()
    made("mem_matcher", lambda: outcomes.matcher(project))
    sel = Selection(iou_threshold=0.5)
    made("mem_match", lambda: outcomes.match(project, sel))
    for target in ("labels", "predictions", "images"):
        made(f"mem_{target}", lambda: outcomes.detection_outcomes(project, sel, target))
    made("mem_state", lambda: coco.project_state(project))
    made("mem_evaluation", lambda: coco.project_evaluation(project))
    made("mem_tide", lambda: tide.error_cost(project, sel))
    moved = Selection(iou_threshold=0.75)
    made("mem_move", lambda: [outcomes.match(project, moved)] + [
        outcomes.detection_outcomes(project, moved, target) for target in ("labels", "predictions", "images")])
    return rows


def format_memory(counts: dict[int, dict], rows_by_n: dict[int, list[dict]]) -> str:
    """The ``memory`` step's rows per size: resident MB each structure added (anon = the process's own, file =
    mapped pages) and the anon bytes per prediction of the run; empty when the step did not run."""
    lines = []
    for n, rows in rows_by_n.items():
        mem = [r for r in rows if "anon" in r]
        if not mem:
            continue
        per = max(counts[n]["n_predictions_per_run"], 1)
        lines += [f"memory at N={n:,} (one process; resident MB added by each structure, kept as the caches keep it)",
                  f"{'structure':<48}{'+anon MB':>10}{'+file MB':>10}{'anon B/pred':>12}{'anon MB':>9}{'s':>8}"]
        lines += [f"{TITLES[r['step']]:<48}{r['anon']:>10.0f}{r['file']:>10.0f}{r['anon'] * 2**20 / per:>12.1f}"
                  f"{r['anon_total']:>9.0f}{r['s']:>8.2f}" for r in mem]
    return "\n".join(lines)


def step_evaluate(files: dict, project_dir: Path) -> list[dict]:
    sys.path.insert(0, str(HERE))
    from bench_eval import generate
    from explorer.evaluation import evaluate_coco
    from explorer.project.folder import Project

    evaluate_coco(*generate(20, seed=1), iou_type="bbox")  # kernels compiled / loaded from the cache
    project = Project.load(project_dir)
    rows = []
    with Timed("evaluate", rows):
        evaluate_coco(project)
    return rows


def step_metrics(files: dict, project_dir: Path) -> list[dict]:
    from explorer.datametrics.engine import compute_metrics

    rows = []
    with Timed("metrics", rows):
        compute_metrics(project_dir, progress=False)
    return rows


def step_app(files: dict, project_dir: Path, pages: list[str] | None = None,
             timeout: float = STEP_TIMEOUT_S) -> list[dict]:
    """One app process: the project opening (imports included), then every detection page (or ``pages``): first
    render, then a rerun after each control change."""
    rows = []
    opening = Timed("open", rows)
    opening.l0, opening.c0, opening.t0 = load1(), 0.0, PROCESS_START  # from the process's start
    with opening:
        from streamlit.testing.v1 import AppTest

        import explorer
        from explorer.ui.state import PROJECTS_ENV

        os.environ[PROJECTS_ENV] = str(project_dir)
        app = Path(explorer.__file__).resolve().parent / "app.py"
        at = AppTest.from_file(str(app), default_timeout=timeout)
        at.run()  # a fresh session: the landing page (the task's first page)
    if at.exception:
        raise RuntimeError(f"opening the project raised: {at.exception[0].message}")

    from explorer import tasks
    from explorer.resources import pages_dir

    names = list(at.multiselect(key="classes").options)  # the project's class names, as the sidebar lists them
    fresh_iou = [0.55, 0.6, 0.65, 0.7, 0.8, 0.85, 0.9, 0.45, 0.4, 0.35]

    def timed_run(at, step: str, page: str) -> None:
        with Timed(step, rows, page=page):
            at.run()
        if at.exception:
            raise RuntimeError(f"{page} ({step}) raised: {at.exception[0].message}")

    all_pages = [page.file for page in tasks.get("detection").pages]
    unknown = sorted(set(pages or ()) - set(all_pages))
    if unknown:
        raise RuntimeError(f"not detection pages: {', '.join(unknown)} (the pages: {', '.join(all_pages)})")
    for k, page in enumerate(all_pages):
        if pages is not None and page not in pages:
            continue
        at = AppTest.from_file(str(app), default_timeout=timeout)
        at.run()
        at.switch_page(os.path.relpath(pages_dir() / page, app.parent))
        timed_run(at, "first", page)
        at.slider(key="iou_threshold").set_value(fresh_iou[k % len(fresh_iou)])
        timed_run(at, "iou", page)
        at.multiselect(key="classes").set_value(names[: 2 + k % max(1, len(names) - 2)])  # a subset per page
        timed_run(at, "classes", page)
        if page == "performance_by_metric.py":
            box = at.selectbox(key="pbm_metric")
            current = box.value
            box.set_value(next(o for o in box.options if o != current))
            timed_run(at, "metric", page)
    return rows


def step_generate(spec: dict, out: Path) -> dict:
    return generate_files(spec["n_images"], out)


STEPS = {"import": step_import, "add_predictions": step_add_predictions, "match": step_match,
         "evaluate": step_evaluate, "metrics": step_metrics, "memory": step_memory, "app": step_app}


# ---------------------------------------------------------------------------------------------------- driver
def run_step(name: str, files: dict, project_dir: Path, *, pages: list[str] | None = None,
             timeout: float = STEP_TIMEOUT_S) -> list[dict]:
    """Run step ``name`` in a fresh interpreter (so its peak RSS is its own); return its rows (``RuntimeError``
    when it fails or runs over ``timeout`` seconds)."""
    out = project_dir.parent / f"step_{name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_step", name, "--_files", json.dumps(files),
           "--_project", str(project_dir), "--_out", str(out), "--step-timeout", str(timeout)]
    if pages is not None:
        cmd += ["--pages", ",".join(pages)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"step {name} ran over {timeout:.0f} s (--step-timeout)") from None
    if proc.returncode != 0:
        raise RuntimeError(f"step {name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(out.read_text())


def measure(n_images: int, work: Path, *, app: bool = True, steps=None, reuse: bool = False,
            pages: list[str] | None = None, timeout: float = STEP_TIMEOUT_S) -> tuple[dict, list[dict], list[str]]:
    """Generate the set of ``n_images`` under ``work`` (``reuse``: the inputs an earlier run kept there, when
    they are complete) and run every step, or the ``steps`` named (the app's only when ``app``); return the
    counts, the rows and the names of the steps that failed (reported on stderr; the steps after one go on).
    The project is rebuilt only when ``import`` runs; the other steps use the one there."""
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    saved = work / "inputs" / "files.json"
    if reuse and saved.is_file() and all(Path(p).is_file() for k, p in json.loads(saved.read_text()).items()
                                         if k in ("labels", "run_a", "run_b", "splits")):
        files = json.loads(saved.read_text())
        print(f"[N={n_images:,}] reusing the inputs in {saved.parent}", file=sys.stderr)
    else:
        # its memory is not this process's
        files = run_step("generate", {"n_images": n_images}, work / "inputs", timeout=timeout)
        saved.write_text(json.dumps(files))
        print(f"[N={n_images:,}] generated {files['n_images']:,} images, {files['n_labels']:,} labels, 2 × "
              f"{files['n_predictions_per_run']:,} predictions in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    project_dir = work / "project"
    steps = [s for s in STEPS if s not in OPT_IN] if steps is None else steps
    if "import" in steps and project_dir.exists():
        shutil.rmtree(project_dir)
    rows, failed = [], []
    for name in STEPS:
        if (name == "app" and not app) or name not in steps:
            continue
        t0 = time.perf_counter()
        try:
            rows += run_step(name, files, project_dir, pages=pages if name == "app" else None, timeout=timeout)
        except RuntimeError as e:
            failed.append(name)
            print(f"[N={n_images:,}] {e}", file=sys.stderr)
            continue
        print(f"[N={n_images:,}] {name} done in {time.perf_counter() - t0:.1f} s (load {load1():.2f})",
              file=sys.stderr)
    return files, rows, failed


TITLES = {"import": "import (labels + run a)", "add_predictions": "add-predictions (run b)",
          "load": "Project.load", "matcher": "Matcher.from_project", "rematch": "re-match .match(0.75)",
          "evaluate": "evaluate_coco(project)", "metrics": "data metrics (boxes; page set-up)",
          "open": "project opens in the app (landing page)", "first": "first render",
          "iou": "rerun: iou_threshold moved", "classes": "rerun: classes changed", "metric": "rerun: metric changed",
          "mem_load": "memory: Project.load", "mem_prepare": "memory: a Matcher opened and dropped (saves)",
          "mem_matcher": "memory: the shared Matcher (opened)",
          "mem_match": "memory: one match (IoU 0.5)", "mem_labels": "memory: labels outcome table",
          "mem_predictions": "memory: predictions outcome table", "mem_images": "memory: images outcome table",
          "mem_state": "memory: the run's CocoState", "mem_evaluation": "memory: its accumulation (all)",
          "mem_tide": "memory: error cost (tide)", "mem_move": "memory: IoU move to 0.75 (match + 3 tables)"}
OPT_IN = ("memory",)  # steps that run only when named (``--steps``)
MEMORY_ROWS = ("mem_load", "mem_prepare", "mem_matcher", "mem_match", "mem_labels", "mem_predictions", "mem_images",
               "mem_state", "mem_evaluation", "mem_tide", "mem_move")
#: the rows each step gives (its pages' rows aside), in order: a failed step's rows are shown as failed
STEP_ROWS = {"import": ["import"], "add_predictions": ["add_predictions"], "match": ["load", "matcher", "rematch"],
             "evaluate": ["evaluate"], "metrics": ["metrics"], "memory": list(MEMORY_ROWS), "app": ["open"]}


def row_titles(rows_by_n: dict[int, list[dict]]) -> list[tuple[str, str | None, str]]:
    """(step, page, title) of every row any size has, in order of appearance (the first size's first)."""
    out, seen = [], set()
    for rows in rows_by_n.values():
        for r in rows:
            key = (r["step"], r.get("page"))
            if key in seen:
                continue
            seen.add(key)
            page = r.get("page")
            title = TITLES[r["step"]] if page is None else f"{page.removesuffix('.py')}: {TITLES[r['step']]}"
            out.append((r["step"], page, title))
    return out


def format_table(counts: dict[int, dict], rows_by_n: dict[int, list[dict]],
                 failed_by_n: dict[int, list[str]] | None = None) -> str:
    """One row per step, per size four columns (wall seconds, CPU seconds, peak MB, 1-min load average at the
    step's start); a size where the step failed shows "failed", one where it did not run stays blank."""
    failed_by_n = failed_by_n or {}
    sizes = list(rows_by_n)
    titles = row_titles(rows_by_n)
    for n in sizes:  # a step that failed at every size still gets its rows
        for step in failed_by_n.get(n, ()):
            for row_step in STEP_ROWS[step]:
                if all(t[0] != row_step for t in titles):
                    titles.append((row_step, None, TITLES[row_step]))
    width = max([len(t) for _, _, t in titles] + [4]) + 2
    cell = 35
    head = f"{'step':<{width}}" + "".join(f"{'N=' + format(n, ','):>12}{'cpu s':>9}{'peak MB':>8}{'load':>6}"
                                          for n in sizes)
    lines = [", ".join(f"N={n:,}: {c['n_images']:,} images, {c['n_labels']:,} labels, 2 runs × "
                       f"{c['n_predictions_per_run']:,} predictions" for n, c in counts.items()),
             head + "  target", "-" * (len(head) + 30)]
    for step, page, title in titles:
        line = f"{title:<{width}}"
        for n in sizes:
            r = next((r for r in rows_by_n[n] if r["step"] == step and r.get("page") == page), None)
            owner = next(k for k, v in STEP_ROWS.items() if step in v) if page is None else "app"
            if r is not None:
                line += f"{r['s']:>11.3f}s{r.get('cpu', math.nan):>8.2f}s{r['mb']:>8.0f}{r['load']:>6.2f}"
            elif owner in failed_by_n.get(n, ()):
                line += f"{'failed':>12}" + " " * (cell - 12)
            else:
                line += " " * cell
        lines.append(line + "  " + TARGETS[step])
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, action="append", help="number of images (repeatable; default "
                        "10000 and 100000; 1000000 only when asked)")
    parser.add_argument("--keep", type=Path, help="folder to keep the generated inputs and projects in "
                        "(default: a temporary folder, removed afterwards)")
    parser.add_argument("--no-app", action="store_true", help="skip the app (the project opening and the page "
                        "reruns: at 100k images they take several minutes)")
    parser.add_argument("--pages", type=lambda v: v.split(","), help="comma-separated page files of the app step "
                        "(default: every detection page), e.g. data_quality.py,performance_by_metric.py")
    parser.add_argument("--steps", type=lambda v: v.split(","), help=f"comma-separated steps to run (default "
                        f"all: {','.join(STEPS)}); steps after import use the project an earlier run kept")
    parser.add_argument("--reuse", action="store_true", help="reuse the generated inputs an earlier --keep run "
                        "left in the folder (generation takes minutes at 1M images)")
    parser.add_argument("--step-timeout", type=float, default=STEP_TIMEOUT_S, help="seconds a step may take "
                        f"before it is reported as failed (default {STEP_TIMEOUT_S})")
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
        spec, project = json.loads(args._files), args._project
        if args._step == "generate":
            rows = step_generate(spec, project)
        elif args._step == "app":
            rows = step_app(spec, project, pages=args.pages, timeout=args.step_timeout)
        else:
            rows = STEPS[args._step](spec, project)
        args._out.write_text(json.dumps(rows))
        return 0
    sizes = args.images or [10_000, 100_000]
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        counts, rows_by_n, failed_by_n = {}, {}, {}
        for n in sizes:
            counts[n], rows_by_n[n], failed_by_n[n] = measure(
                n, work / f"n{n}", app=not args.no_app, steps=args.steps, reuse=args.reuse, pages=args.pages,
                timeout=args.step_timeout)
        print(f"machine: {os.cpu_count()} cores; python3 {' '.join(['benchmarks/bench_scale.py', *sys.argv[1:]])}")
        print(format_table(counts, rows_by_n, failed_by_n))
        memory = format_memory(counts, rows_by_n)
        if memory:
            print(memory)
        ok = not any(failed_by_n.values()) and all(math.isfinite(r["s"]) for rows in rows_by_n.values()
                                                   for r in rows)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
