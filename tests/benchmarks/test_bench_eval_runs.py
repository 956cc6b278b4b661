"""The COCO evaluation benchmark (benchmarks/bench_eval.py) keeps running: on a small set it times ours, hotcoco,
faster-coco-eval and pycocotools from dicts and from files, bbox and segm, in one process, asserts our 12 numbers
equal pycocotools' (it fails otherwise) and prints the table and the ratios. In process (``main(argv)``); the
times are the benchmark's business (CI machines vary), the test checks that every cell and ratio is there."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_eval_times_every_tool_and_prints_the_ratios(capsys):
    spec = importlib.util.spec_from_file_location("bench_eval", REPO / "benchmarks" / "bench_eval.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--images", "120", "--repeat", "1", "--iou-type", "both"]) == 0
    out = capsys.readouterr().out
    for iou_type in ("bbox", "segm"):
        for kind in ("dicts", "files"):
            line = next(ln for ln in out.splitlines() if ln.startswith(f"ours {iou_type} from {kind} "))
            assert line.endswith("max |diff| = 0.0e+00"), line  # the same bits as pycocotools
    table = out.split("bbox dicts s")[1].split("ours/it < 1")[0].splitlines()[1:]
    for tool in ("ours", "hotcoco", "faster-coco-eval", "pycocotools"):
        row = next(ln for ln in table if ln.startswith(f"{tool} "))
        assert len(re.findall(r"\d+\.\d{3} +\d+\.\d{2} +\d+\.\d{2}", row)) == 4, row  # time, load, ratio x 4 columns
    for peer in ("hotcoco", "pycocotools"):
        ratios = next(ln for ln in out.splitlines() if ln.startswith(f"ours/{peer}: "))
        assert len(re.findall(r"(bbox|segm) (dicts|files) \d+\.\d{3}", ratios)) == 4, ratios
    assert re.search(r"re-match of \d+ predictions at a new IoU threshold: \d+\.\d ms", out)
