"""Frame-metric throughput: ``explorer metrics DIR --out`` against a plain ``cv2.imread`` loop and CleanVision.

Generates N (default 1,500) realistic 640×480 JPEGs deterministically from the two real photos shipped with
scikit-learn (``load_sample_images``: china.jpg, flower.jpg) by random crops, flips, scales and exposure
changes, into a temporary folder (never committed). Then, in one run, on the same files:

1. ``cv2.imread`` of every file in this process (decode only, full resolution);
2. ``explorer metrics DIR --out F.parquet`` as a subprocess — the whole process: interpreter start, imports,
   pool start, all frame metrics, Parquet output;
3. CleanVision ``Imagelab.find_issues`` with its comparable checks: dark, light, blurry, low_information,
   odd_aspect_ratio, odd_size (and near_duplicates, timed separately: it hashes images too).

Usage: ``python benchmarks/bench_metrics.py [--images N] [--skip-cleanvision] [--keep DIR] [--repeat R]``.
``--keep DIR`` generates into DIR and keeps it; a later run with the same DIR and N reuses the files (the
generator is deterministic). ``--repeat R`` times the ``cv2.imread`` loop and ``explorer metrics`` R times,
interleaved, and reports each ratio and the median (the machine may be noisy).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def generate(folder: Path, n: int, *, seed: int = 0) -> list[Path]:
    """``n`` 640×480 JPEGs (quality 90) from random crops/flips/scales/exposures of the scikit-learn photos.

    A folder that already holds exactly these ``n`` files (from an earlier ``--keep`` run) is reused."""
    expected = [folder / f"img_{i:05d}.jpg" for i in range(n)]
    if folder.is_dir() and sorted(folder.iterdir()) == expected:
        return expected
    from sklearn.datasets import load_sample_images

    photos = [cv2.cvtColor(img, cv2.COLOR_RGB2BGR) for img in load_sample_images().images]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        scale = rng.uniform(0.45, 1.0)  # crop a window covering 45-100 % of the photo's height
        ch = int(h * scale)
        cw = min(w, int(ch * 4 / 3))
        y0 = rng.integers(0, h - ch + 1)
        x0 = rng.integers(0, w - cw + 1)
        crop = photo[y0:y0 + ch, x0:x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        img = cv2.resize(crop, (640, 480), interpolation=cv2.INTER_LINEAR if ch < 480 else cv2.INTER_AREA)
        gain = rng.choice([rng.uniform(0.15, 0.5), rng.uniform(0.8, 1.2), rng.uniform(1.5, 2.5)])
        img = np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        if rng.random() < 0.2:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(1.5, 4.0))
        path = folder / f"img_{i:05d}.jpg"
        cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def time_imread(paths: list[Path]) -> float:
    start = time.perf_counter()
    for p in paths:
        img = cv2.imread(str(p))
        assert img is not None
    return time.perf_counter() - start


def time_explorer(folder: Path, out: Path, workers: int | None) -> tuple[float, float]:
    """``(wall s, CPU s)`` of the whole ``explorer metrics`` process; CPU = user + system of it and its workers
    (they are its children and joined), which outside load changes far less than the wall clock."""
    cmd = [sys.executable, "-m", "explorer.cli", "metrics", str(folder), "--out", str(out), "--no-progress"]
    if workers:
        cmd += ["--workers", str(workers)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return wall, usage.ru_utime + usage.ru_stime


def time_cleanvision(folder: Path, issue_types: dict) -> float:
    import contextlib
    import io

    from cleanvision import Imagelab

    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):  # its progress bars
        lab = Imagelab(data_path=str(folder))
        lab.find_issues(issue_types, verbose=False)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=None, help="explorer worker processes (default all cores)")
    parser.add_argument("--skip-cleanvision", action="store_true")
    parser.add_argument("--keep", type=Path, default=None,
                        help="generate into this folder and keep it (reused when it already holds the N images)")
    parser.add_argument("--repeat", type=int, default=1, help="time imread loop and explorer R times, interleaved")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench_metrics_"))
    folder = args.keep or tmp / "images"
    try:
        t0 = time.perf_counter()
        paths = generate(folder, args.images)
        print(f"generated {len(paths)} 640x480 JPEGs in {time.perf_counter() - t0:.1f} s ({folder})")
        time_imread(paths[:50])  # warm the page cache and cv2 once, for every contender alike
        n = len(paths)
        cores = os.cpu_count()
        reads, ours, cpu, loads = [], [], [], [os.getloadavg()[0]]
        for _ in range(max(1, args.repeat)):
            reads.append(time_imread(paths))
            wall, seconds = time_explorer(folder, tmp / "frame.parquet", args.workers)
            ours.append(wall)
            cpu.append(seconds)
            loads.append(os.getloadavg()[0])
        t_read, t_ours = float(np.median(reads)), float(np.median(ours))
        if len(reads) > 1:
            print("runs (imread s, explorer s, ratio): "
                  + ", ".join(f"({a:.2f}, {b:.2f}, {a / b:.2f}x)" for a, b in zip(reads, ours)))
        print(f"load average (1 min) during the runs: {min(loads):.2f}-{max(loads):.2f} on {os.cpu_count()} cores; "
              f"explorer CPU (user+sys, process + workers) median {np.median(cpu):.2f} s")
        rows = [("cv2.imread loop (decode only, 1 process)", t_read),
                (f"explorer metrics DIR --out (whole process, {args.workers or cores} workers)", t_ours)]
        t_cv = t_cv_dup = None
        if not args.skip_cleanvision:
            checks = {k: {} for k in ("dark", "light", "blurry", "low_information", "odd_aspect_ratio", "odd_size")}
            t_cv = time_cleanvision(folder, checks)
            rows.append(("CleanVision dark/light/blurry/low_information/odd_aspect_ratio/odd_size", t_cv))
            t_cv_dup = time_cleanvision(folder, {**checks, "near_duplicates": {}})
            rows.append(("CleanVision same + near_duplicates", t_cv_dup))
        print(f"\n{n} images, {cores} cores")
        for name, t in rows:
            print(f"  {name:<75} {t:7.2f} s  {n / t:8.0f} images/s")
        ratio = float(np.median([a / b for a, b in zip(reads, ours)]))
        print(f"\nexplorer vs cv2.imread loop (wall clock):           {ratio:5.2f}x"
              + (f"  (median of {len(reads)} interleaved runs)" if len(reads) > 1 else ""))
        workers = args.workers or cores
        print(f"explorer per process vs cv2.imread (÷ {workers} workers):   {t_read / (t_ours * workers):5.2f}x")
        if t_cv is not None:
            print(f"explorer vs CleanVision (6 comparable checks):       {t_cv / t_ours:5.2f}x")
            print(f"explorer vs CleanVision (+ near_duplicates):         {t_cv_dup / t_ours:5.2f}x")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
