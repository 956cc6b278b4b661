"""Benchmark: our COCO evaluation vs hotcoco vs faster-coco-eval vs pycocotools, and a single-threshold re-match.

    python3 benchmarks/bench_eval.py                 # the full 5,000-image set (pycocotools takes ~1 min per input)
    python3 benchmarks/bench_eval.py --images 500    # a 10x smaller set, same generator
    python3 benchmarks/bench_eval.py --profile       # + where our time goes (phases and a cProfile top list)
    python3 benchmarks/bench_eval.py --iou-type bbox # boxes only (default: bbox and segm)

The set is generated deterministically: ~7 labels and ~20 predictions per image (5,000 images: ~35k labels,
~100k predictions), 80 non-contiguous category ids (COCO's), ~2% crowd regions, scores rounded to 3 decimals,
image sizes 320-640 px; for ``segm`` every label and prediction also carries a polygon (the octagon inscribed
in its box, cut at a quarter of each side). Every tool is timed twice, to its 12 summary numbers: from the loaded dict + results
list ("dicts"; our time includes input validation and conversion), and from the same two JSON files written to a
temporary folder ("files"; JSON parsing included). Ours, hotcoco and faster-coco-eval: best of ``--repeat`` runs;
pycocotools: one run. Our 12 numbers must agree to 1e-12 with pycocotools (asserted); the peers' agreement is
printed. The 1-minute load average is printed beside each time: on a shared machine a time is only comparable with
its load; the CPU seconds of the same run (``time.process_time``: every thread of the process) are printed too.

Fairness: every tool does the same work in the same process, timed from its inputs to its 12 numbers — load
(``COCO(dict or path)`` + ``loadRes``, for us ``evaluate_coco``'s reading and validation), evaluate,
accumulate, summarize (stdout silenced for all). Each tool runs once on a 60-image set before any timing
(warm-up, not timed: imports, our numba kernels from their on-disk cache, hotcoco's and faster-coco-eval's module
load); the cost of ours is printed as "warm-up". The reference tools mutate their inputs, so from dicts each of
their runs gets fresh deep copies (copying not timed); ours reads the same objects and changes nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# measure the checkout this file is in, not whichever copy of the package is installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

COCO_CATEGORY_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
                     31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
                     56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
                     85, 86, 87, 88, 89, 90]


def octagons(box: np.ndarray) -> list:
    """``(n, 4)`` xywh -> one polygon per box, ``[[x1, y1, ..., x8, y8]]``: the octagon inscribed in the box
    whose corners are cut at a quarter of each side (rounded to 2 decimals, as the boxes)."""
    x, y, w, h = box.T
    a, b = 0.25, 0.75
    pts = np.stack([x + a * w, y, x + b * w, y, x + w, y + a * h, x + w, y + b * h,
                    x + b * w, y + h, x + a * w, y + h, x, y + b * h, x, y + a * h], 1)
    return [[p] for p in np.round(pts, 2).tolist()]


def generate(n_images: int, *, seed: int = 0, segm: bool = False) -> tuple[dict, list]:
    """A realistic detection set: labels of mixed sizes, a detector with localisation noise, confusions,
    duplicates and background false positives (all vectorised, deterministic). ``segm``: each label and
    prediction also has a polygon ``segmentation`` (``octagons``)."""
    a = generate_arrays(n_images, seed=seed)
    W, H, img_of_lab, lab_cat, crowd, box, area = (a[k] for k in ("W", "H", "img_of_lab", "lab_cat", "crowd", "box", "area"))
    pimg, pcat, pbox, score = a["pimg"], a["pcat"], a["pbox"], a["score"]
    cats = np.array(COCO_CATEGORY_IDS)
    L = len(img_of_lab)
    images = [{"id": int(i + 1), "width": int(W[i]), "height": int(H[i]), "file_name": f"{i + 1:06d}.jpg"}
              for i in range(n_images)]
    anns = [{"id": int(i + 1), "image_id": int(img_of_lab[i] + 1), "category_id": int(lab_cat[i]),
             "bbox": box[i].tolist(), "area": float(area[i]), "iscrowd": int(crowd[i])} for i in range(L)]
    results = [{"image_id": int(pimg[i] + 1), "category_id": int(pcat[i]), "bbox": pbox[i].tolist(),
                "score": float(score[i])} for i in range(len(pimg))]
    if segm:
        for a, poly in zip(anns, octagons(box)):
            a["segmentation"] = poly
        for r, poly in zip(results, octagons(pbox)):
            r["segmentation"] = poly
    gt = {"images": images, "annotations": anns, "categories": [{"id": int(c), "name": f"c{c}"} for c in cats]}
    return gt, results


def generate_tables(n_images: int, *, seed: int = 0):
    """``generate``'s set as project tables ``(images, categories, labels, predictions)`` (pandas), without
    building a dict per record (for sets of millions of predictions)."""
    import pandas as pd

    a = generate_arrays(n_images, seed=seed)
    L, P = len(a["img_of_lab"]), len(a["pimg"])
    images = pd.DataFrame({"image_id": np.arange(1, n_images + 1), "width": a["W"].astype(float),
                           "height": a["H"].astype(float)})
    categories = pd.DataFrame({"category_id": COCO_CATEGORY_IDS, "name": [f"c{c}" for c in COCO_CATEGORY_IDS]})
    labels = pd.DataFrame({"label_id": np.arange(1, L + 1), "image_id": a["img_of_lab"] + 1, "category_id": a["lab_cat"],
                           **dict(zip("xywh", a["box"].T)), "area": a["area"], "iscrowd": a["crowd"]})
    preds = pd.DataFrame({"pred_id": np.arange(1, P + 1), "image_id": a["pimg"] + 1, "category_id": a["pcat"],
                          **dict(zip("xywh", a["pbox"].T)), "area": a["pbox"][:, 2] * a["pbox"][:, 3],
                          "score": a["score"]})
    return images, categories, labels, preds


def generate_arrays(n_images: int, *, seed: int = 0) -> dict:
    """The arrays behind ``generate`` (0-based image positions, COCO category ids)."""
    rng = np.random.default_rng(seed)
    cats = np.array(COCO_CATEGORY_IDS)
    W = rng.integers(320, 641, n_images)
    H = rng.integers(320, 641, n_images)
    n_lab = rng.poisson(7, n_images)
    img_of_lab = np.repeat(np.arange(n_images), n_lab)
    L = len(img_of_lab)
    w = np.clip(np.exp(rng.normal(3.6, 0.9, L)), 2, None)
    h = np.clip(w * np.exp(rng.normal(0, 0.4, L)), 2, None)
    w, h = np.minimum(w, W[img_of_lab] - 1), np.minimum(h, H[img_of_lab] - 1)
    x = rng.random(L) * (W[img_of_lab] - w)
    y = rng.random(L) * (H[img_of_lab] - h)
    lab_cat = cats[np.minimum(rng.zipf(1.5, L) - 1, len(cats) - 1)]
    crowd = rng.random(L) < 0.02
    box = np.round(np.stack([x, y, w, h], 1), 2)
    area = np.round(box[:, 2] * box[:, 3] * rng.uniform(0.6, 1.0, L), 2)  # mask area < box area
    # predictions: ~2 per label (noisy copies, some confused class) + background noise
    n_copy = rng.integers(0, 4, L)
    src = np.repeat(np.arange(L), n_copy)
    P1 = len(src)
    noise = rng.normal(0, 0.12, (P1, 4)) * np.repeat(box[src, 2:], 2, axis=1)
    pbox = box[src] + noise
    pbox[:, 2:] = np.abs(pbox[:, 2:]) + 1
    pcat = np.where(rng.random(P1) < 0.1, cats[rng.integers(0, len(cats), P1)], lab_cat[src])
    pimg = img_of_lab[src]
    n_bg = max(0, int(round(20 * n_images)) - P1)
    bimg = rng.integers(0, n_images, n_bg)
    bw = np.clip(np.exp(rng.normal(3.3, 1.0, n_bg)), 2, None)
    bh = np.clip(bw * np.exp(rng.normal(0, 0.4, n_bg)), 2, None)
    bbox = np.stack([rng.random(n_bg) * W[bimg], rng.random(n_bg) * H[bimg], bw, bh], 1)
    pbox = np.round(np.concatenate([pbox, bbox]), 2)
    pimg = np.concatenate([pimg, bimg])
    pcat = np.concatenate([pcat, cats[rng.integers(0, len(cats), n_bg)]])
    score = np.round(np.concatenate([rng.beta(4, 2, P1), rng.beta(1.5, 4, n_bg)]), 3)
    return {"W": W, "H": H, "img_of_lab": img_of_lab, "lab_cat": lab_cat, "crowd": crowd, "box": box, "area": area,
            "pimg": pimg, "pcat": pcat, "pbox": pbox, "score": score}


def run_ours(gt, results, iou_type="bbox"):
    from explorer.evaluation import evaluate_coco

    r = evaluate_coco(gt, results, iou_type=iou_type)
    return np.asarray(r.stats)  # pycocotools' array, -1 where undefined (summary holds NaN there)


def run_pycocotools(gt, results, iou_type="bbox"):
    """``gt``: dict or JSON path; ``results``: list or JSON path (as ``COCO(file)`` / ``loadRes(file)`` take)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(gt, dict):
            coco_gt = COCO()
            coco_gt.dataset = gt
            coco_gt.createIndex()
        else:
            coco_gt = COCO(str(gt))
        ev = COCOeval(coco_gt, coco_gt.loadRes(results if isinstance(results, list) else str(results)), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.array(ev.stats)


def run_faster_coco_eval(gt, results, iou_type="bbox"):
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt if isinstance(gt, dict) else str(gt))
        ev = COCOeval_faster(coco_gt, coco_gt.loadRes(results if isinstance(results, list) else str(results)),
                             iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.array(ev.stats[:12])


def run_hotcoco(gt, results, iou_type="bbox"):
    """hotcoco (Rust; pycocotools' API): ``COCO`` takes a dict or a path, ``loadRes`` a list or a path."""
    from hotcoco import COCO, COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt if isinstance(gt, dict) else str(gt))
        ev = COCOeval(coco_gt, coco_gt.loadRes(results if isinstance(results, list) else str(results)), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.array(ev.stats[:12])


PEERS = {"hotcoco": run_hotcoco, "faster-coco-eval": run_faster_coco_eval, "pycocotools": run_pycocotools}


def timed(fn, gt, results, iou_type, *, copies: bool):
    """Run ``fn`` on fresh deep copies (the reference tools mutate their inputs); copying is not timed.
    Returns (wall seconds, CPU seconds of the process, 12 numbers)."""
    g, r = (copy.deepcopy(gt), copy.deepcopy(results)) if copies else (gt, results)
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(g, r, iou_type)
    return time.perf_counter() - t0, time.process_time() - c0, out


def best_of(fn, gt, results, iou_type, *, repeat: int, copies: bool):
    """(best wall seconds, the 1-minute load average when that run started, 12 numbers, that run's CPU seconds)."""
    runs = []
    for _ in range(repeat):
        load = os.getloadavg()[0]
        t, cpu, out = timed(fn, gt, results, iou_type, copies=copies)
        runs.append((t, load, out, cpu))
    return min(runs, key=lambda r: r[0])


def profile_ours(gt, results, files: tuple[Path, Path]) -> None:
    """Where our time goes: the input phase (``load_inputs``: parsing, validation, conversion to arrays) vs
    ``evaluate_data`` (layout + IoUs, greedy matching, accumulation) vs the 12 numbers, then cProfile's top
    functions by own time, from dicts and from files."""
    import cProfile
    import pstats

    from explorer.evaluation.coco import evaluate_data, load_inputs

    for what, (g, r) in (("dicts", (gt, results)), ("files", (str(files[0]), str(files[1])))):
        t0 = time.perf_counter()
        data = load_inputs(g, r, iou_type="bbox")
        t1 = time.perf_counter()
        ev = evaluate_data(data, iou_type="bbox")
        t2 = time.perf_counter()
        ev.stats
        t3 = time.perf_counter()
        print(f"\nours from {what}: inputs {t1 - t0:.3f} s, evaluate_data {t2 - t1:.3f} s, stats {t3 - t2:.3f} s "
              f"(load {os.getloadavg()[0]:.2f})")
        prof = cProfile.Profile()
        prof.enable()
        run_ours(g, r)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(14)
        lines = out.getvalue().splitlines()
        head = next(k for k, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        print(f"cProfile of ours from {what} (top by own time; profiling overhead included):")
        print("\n".join(line[:150] for line in lines[head:] if line.strip()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=5000, help="number of images (default 5000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of ours, hotcoco and faster-coco-eval (best kept)")
    ap.add_argument("--iou-type", choices=("bbox", "segm", "both"), default="both", help="default both")
    ap.add_argument("--skip-pycocotools", action="store_true", help="do not run pycocotools (the slow one)")
    ap.add_argument("--profile", action="store_true", help="print where our time goes (phases, cProfile)")
    args = ap.parse_args(argv)
    iou_types = ("bbox", "segm") if args.iou_type == "both" else (args.iou_type,)

    from explorer.evaluation import Matcher

    t0 = time.perf_counter()
    for iou_type in iou_types:
        # compiles (or loads from the on-disk cache) every kernel: 60 images, above the plain-Python cut (300 items)
        run_ours(*generate(60, seed=1, segm=iou_type == "segm"), iou_type)
    warm = time.perf_counter() - t0
    for name, fn in PEERS.items():  # the same warm-up for every peer (imports, first calls), not timed
        if not (name == "pycocotools" and args.skip_pycocotools):
            for iou_type in iou_types:
                fn(*generate(60, seed=1, segm=iou_type == "segm"), iou_type)
    folder = Path(tempfile.mkdtemp(prefix="bench_eval_"))
    times: dict[tuple, tuple[float, float]] = {}  # (tool, iou type, input) -> (seconds, load)
    cpu: dict[tuple, float] = {}  # (tool, iou type, input) -> CPU seconds of the best run
    numbers: dict[tuple, np.ndarray] = {}
    columns = [(iou_type, kind) for iou_type in iou_types for kind in ("dicts", "files")]
    for iou_type in iou_types:
        gt, results = generate(args.images, segm=iou_type == "segm")
        print(f"{iou_type} set: {len(gt['images'])} images, {len(gt['annotations'])} labels "
              f"({sum(a['iscrowd'] for a in gt['annotations'])} crowd), {len(results)} predictions, "
              f"{len(gt['categories'])} categories; {os.cpu_count()} cores")
        files = (folder / f"gt_{iou_type}.json", folder / f"results_{iou_type}.json")
        files[0].write_text(json.dumps(gt))
        files[1].write_text(json.dumps(results))
        for kind, (g, r) in {"dicts": (gt, results), "files": files}.items():
            t, load, numbers["ours", iou_type, kind], cpu["ours", iou_type, kind] = best_of(
                run_ours, g, r, iou_type, repeat=args.repeat, copies=False)
            times["ours", iou_type, kind] = (t, load)
            for name, fn in PEERS.items():
                if name == "pycocotools" and args.skip_pycocotools:
                    continue
                # the reference tools mutate their inputs: each run gets fresh deep copies (not timed)
                t, load, numbers[name, iou_type, kind], cpu[name, iou_type, kind] = best_of(
                    fn, g, r, iou_type, repeat=1 if name == "pycocotools" else args.repeat, copies=kind == "dicts")
                times[name, iou_type, kind] = (t, load)
        same = np.abs(numbers["ours", iou_type, "files"] - numbers["ours", iou_type, "dicts"]).max()
        assert same <= 1e-12, f"our {iou_type} numbers from files differ from ours from dicts by {same}"
        if not args.skip_pycocotools:
            ref = numbers["pycocotools", iou_type, "dicts"]
            for (name, it, kind), v in numbers.items():
                if it != iou_type:
                    continue
                diff = np.abs(v - ref).max()
                if name == "ours":
                    assert diff <= 1e-12, f"{iou_type} numbers from {kind} differ from pycocotools by {diff}"
                print(f"{name + ' ' + iou_type + ' from ' + kind:<32} 12 numbers vs pycocotools: max |diff| = "
                      f"{diff:.1e}{'' if diff <= 1e-12 else '  (NOT equal)'}")
        if iou_type == "bbox":
            t0 = time.perf_counter()
            from explorer.evaluation.inputs import from_coco

            matcher = Matcher.from_data(from_coco(gt, results, iou_type="bbox"))
            build = time.perf_counter() - t0
            rematch_times = []
            for t in (0.5, 0.55, 0.6, 0.65, 0.7):
                t0 = time.perf_counter()
                matcher.match(t)
                rematch_times.append(time.perf_counter() - t0)
            n_pred = len(results)
            if args.profile:
                profile_ours(gt, results, files)
        for f in files:
            f.unlink()
    folder.rmdir()

    print(f"\nkernel warm-up (numba compile or cache load): {warm:.2f} s")
    tools = ["ours"] + [n for n in PEERS if (n, *columns[0]) in times]
    print(f"{'tool':<18}" + "".join(f"{it + ' ' + kind + ' s':>17}{'load':>6}{'ours/it':>8}" for it, kind in columns))
    for name in tools:
        line = f"{name:<18}"
        for col in columns:
            t, load = times[(name, *col)]
            line += f"{t:>17.3f}{load:>6.2f}{times[('ours', *col)][0] / t:>8.2f}"
        print(line)
    print("ours/it < 1: ours is faster than that tool (ours/hotcoco is the issue's target: < 1 in every column)")
    for peer, target in (("hotcoco", 1.0), ("pycocotools", 1 / 50)):
        if (peer, *columns[0]) in times:
            ratios = {f"{it} {kind}": times[("ours", it, kind)][0] / times[(peer, it, kind)][0] for it, kind in columns}
            met = all(r < target for r in ratios.values())
            print(f"ours/{peer}: " + ", ".join(f"{k} {r:.3f}" for k, r in ratios.items())
                  + f"  (target < {target:g}: {'met' if met else 'NOT met'})")
    print(f"\nCPU seconds of those runs (every thread; less sensitive to the machine's load than wall time)")
    print(f"{'tool':<18}" + "".join(f"{it + ' ' + kind + ' cpu s':>17}{'ours/it':>8}" for it, kind in columns))
    for name in tools:
        print(f"{name:<18}" + "".join(f"{cpu[(name, *col)]:>17.3f}{cpu[('ours', *col)] / cpu[(name, *col)]:>8.2f}"
                                      for col in columns))
    if "bbox" in iou_types:
        print(f"\nMatcher build (all same-image IoUs, any class): {build * 1000:.0f} ms")
        print(f"re-match of {n_pred} predictions at a new IoU threshold: {min(rematch_times) * 1000:.1f} ms "
              f"(best of {len(rematch_times)}; median {np.median(rematch_times) * 1000:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
