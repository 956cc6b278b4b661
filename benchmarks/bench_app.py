"""Benchmark: a full rerun of each model-quality page after moving the IoU slider, on a 100k-prediction project.

Builds (deterministically, seed 0) a box-only detection project — 5,000 images, 10 classes, ~80k labels and
exactly 100,000 predictions, no pixels — computes its box metrics with the metrics engine, then drives the real
app with ``streamlit.testing.v1.AppTest``: for every model-quality page it moves ``iou_threshold`` to new values
(each a cache miss: re-matching, summaries, importance and buckets are recomputed) and times ``AppTest.run()``.
Target (SPEC §6): at most 1 s per rerun.

    python benchmarks/bench_app.py [--out DIR] [--moves 4]

Prints a table: page, first render, median and max rerun after a slider move.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
PAGES = ["model_metrics.py", "performance_by_metric.py", "failures.py", "confusion_matrix.py"]
TARGET_S = 1.0


def make_project(out: Path, *, n_images: int = 5_000, n_predictions: int = 100_000, n_classes: int = 10,
                 seed: int = 0):
    """A synthetic box-only detection project whose misses depend on object size (as a real detector's do)."""
    from explorer.project.folder import Project

    rng = np.random.default_rng(seed)
    width, height = 640.0, 480.0
    per_image = rng.poisson(16, n_images)
    n_labels = int(per_image.sum())
    image_of_label = np.repeat(np.arange(1, n_images + 1), per_image)
    w = np.exp(rng.uniform(np.log(6), np.log(300), n_labels))
    h = w * np.exp(rng.normal(0, 0.3, n_labels))
    h = np.minimum(h, height - 1)
    x = rng.uniform(0, width - w)
    y = rng.uniform(0, height - h)
    cls = rng.integers(1, n_classes + 1, n_labels)
    labels = pd.DataFrame({"label_id": np.arange(1, n_labels + 1), "image_id": image_of_label, "category_id": cls,
                           "x": x, "y": y, "w": w, "h": h, "area": w * h, "iscrowd": False, "segmentation": None})

    # detections of labels: probability grows with relative area; localisation noise shrinks with size
    rel = (w * h) / (width * height)
    p = 1 / (1 + np.exp(-(1.5 * (np.log10(rel) + 2.5))))
    hit = rng.random(n_labels) < p
    n_hit = int(hit.sum())
    noise = rng.normal(0, 0.08, (n_hit, 4)) * np.stack([w[hit], h[hit], w[hit], h[hit]], axis=1)
    det = pd.DataFrame({
        "image_id": image_of_label[hit],
        "category_id": np.where(rng.random(n_hit) < 0.05, rng.integers(1, n_classes + 1, n_hit), cls[hit]),
        "x": x[hit] + noise[:, 0], "y": y[hit] + noise[:, 1],
        "w": np.maximum(w[hit] + noise[:, 2], 2), "h": np.maximum(h[hit] + noise[:, 3], 2),
        "score": np.clip(rng.beta(5, 2, n_hit), 0.01, 1.0),
    })
    n_fp = n_predictions - n_hit
    if n_fp < 0:
        raise ValueError(f"{n_hit} detections already exceed {n_predictions} predictions; lower the label count")
    fw = np.exp(rng.uniform(np.log(6), np.log(200), n_fp))
    fh = fw * np.exp(rng.normal(0, 0.3, n_fp))
    fp = pd.DataFrame({
        "image_id": rng.integers(1, n_images + 1, n_fp), "category_id": rng.integers(1, n_classes + 1, n_fp),
        "x": rng.uniform(0, width - fw), "y": rng.uniform(0, height - np.minimum(fh, height - 1)),
        "w": fw, "h": np.minimum(fh, height - 1), "score": np.clip(rng.beta(2, 5, n_fp), 0.01, 1.0),
    })
    predictions = pd.concat([det, fp], ignore_index=True)
    predictions.insert(0, "pred_id", np.arange(1, len(predictions) + 1))
    predictions["area"] = predictions["w"] * predictions["h"]
    predictions["segmentation"] = None

    images = pd.DataFrame({"image_id": np.arange(1, n_images + 1),
                           "file_name": [f"img_{i:05d}.jpg" for i in range(1, n_images + 1)],
                           "width": width, "height": height,
                           "split": np.where(rng.random(n_images) < 0.7, "train", "val")})
    categories = pd.DataFrame({"category_id": np.arange(1, n_classes + 1),
                               "name": [f"class_{i}" for i in range(1, n_classes + 1)], "supercategory": "thing"})
    return Project.create(out, task="detection", images=images, categories=categories, labels=labels,
                          predictions=predictions, name="bench-100k")


def time_pages(project_dir: Path, *, moves: int, pages=PAGES) -> list[dict]:
    """Time each page; every page gets IoU values no earlier page used, so each move is a cache miss."""
    from streamlit.testing.v1 import AppTest

    os.environ["EXPLORER_PROJECTS"] = str(project_dir)
    rows = []
    pages_dir = REPO / "pages"
    fresh = [round(0.55 + 0.05 * i, 2) for i in range(9)] + [round(0.45 - 0.05 * i, 2) for i in range(9)]
    for n, page in enumerate(pages):
        values = fresh[(n * moves) % len(fresh):][:moves]
        if not (pages_dir / page).is_file():
            print(f"  {page}: not present in this checkout, skipped", file=sys.stderr)
            continue
        at = AppTest.from_file(str(REPO / "explorer" / "app.py"), default_timeout=600)
        at.run()
        at.switch_page(f"../pages/{page}")
        t0 = time.perf_counter()
        at.run()
        first = time.perf_counter() - t0
        if at.exception:
            raise RuntimeError(f"{page} raised: {at.exception[0].message}")
        reruns = []
        for value in values:
            at.slider(key="iou_threshold").set_value(value)
            t0 = time.perf_counter()
            at.run()
            reruns.append(time.perf_counter() - t0)
            if at.exception:
                raise RuntimeError(f"{page} at IoU {value} raised: {at.exception[0].message}")
        rows.append({"page": page, "first_s": first, "median_rerun_s": statistics.median(reruns),
                     "max_rerun_s": max(reruns)})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="project folder to (re)use; default: a temporary folder")
    parser.add_argument("--pages", nargs="*", default=PAGES, help="page files to time (default: all four)")
    parser.add_argument("--moves", type=int, default=4, help="slider moves per page (each to a new IoU, at most 4)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_app_")) / "project"
    from explorer.datametrics.engine import compute_metrics
    from explorer.project.folder import Project

    t0 = time.perf_counter()
    if (out / "project.json").is_file():
        project = Project.load(out)
    else:
        project = make_project(out)
        compute_metrics(project, progress=False)
    print(f"project: {len(project.images):,} images, {len(project.labels):,} labels, "
          f"{len(project.predictions):,} predictions ({time.perf_counter() - t0:.1f} s to build + box metrics)")
    rows = time_pages(out, moves=args.moves, pages=args.pages)
    print(f"\n{'page':<28}{'first render':>14}{'median rerun':>14}{'max rerun':>12}  target ≤ {TARGET_S:.1f} s")
    for r in rows:
        ok = "ok" if r["max_rerun_s"] <= TARGET_S else "SLOW"
        print(f"{r['page']:<28}{r['first_s']:>13.3f}s{r['median_rerun_s']:>13.3f}s{r['max_rerun_s']:>11.3f}s  {ok}")
    return 0 if all(r["max_rerun_s"] <= TARGET_S for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
