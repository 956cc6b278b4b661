"""Start-up stays light: ``explorer --help`` and ``explorer evaluate`` on a small COCO file load no heavy module.

Run as the user runs them (``python -m explorer ...`` in a fresh process), then read ``sys.modules`` at exit: a
module count, not a wall-clock time, so the test holds on a loaded machine. pandas (with pyarrow) is most of a
heavy start (~0.5 s), numba's kernel cache ~1 s (a kernel judges "small" by its rows, not by a flat buffer of
every coordinate: a tiny segm file stays in Python), Streamlit seconds.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "pyarrow", "numba", "llvmlite", "scipy", "sklearn", "streamlit", "cv2", "plotly", "duckdb", "dask")

# run the CLI as `python -m explorer`, then print which modules it loaded (an atexit hook: main() exits)
_PROBE = """
import atexit, json, runpy, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr))
sys.argv = ["explorer", *json.loads(sys.argv[1])]
runpy.run_module("explorer", run_name="__main__")
"""


def _run(*args: str) -> tuple[str, set[str]]:
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(args))], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stderr.splitlines() if x.startswith("MODULES "))
    return out.stdout, set(json.loads(line[len("MODULES "):]))


def test_help_loads_neither_numpy_nor_anything_heavy():
    text, modules = _run("--help")
    assert "evaluate" in text and "usage: explorer" in text
    assert modules.isdisjoint(HEAVY + ("numpy",)), modules & set(HEAVY + ("numpy",))


def test_command_help_loads_nothing_heavy():
    text, modules = _run("evaluate", "--help")
    assert "--iou-type" in text
    assert modules.isdisjoint(HEAVY), modules & set(HEAVY)


@pytest.mark.parametrize("case, iou_type", [("tiny_segm", "bbox"), ("tiny_segm", "segm")])
def test_evaluating_a_tiny_coco_file_loads_nothing_heavy(testdata, case, iou_type):
    root = testdata / "coco_reference"
    expected = json.loads((root / "EXPECTED.json").read_text())[f"{case}/{iou_type}"]
    text, modules = _run("evaluate", str(root / case / "gt.json"), str(root / case / "dt.json"), "--iou-type", iou_type)
    assert modules.isdisjoint(HEAVY), modules & set(HEAVY)
    mean_ap = f"{expected[f'coco/{iou_type}_mAP']:0.3f}"
    assert f" Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = {mean_ap}" in text
