"""The kernels run as plain Python on small inputs and compiled (numba) otherwise: both give the same bits,
and both equal pycocotools. Also: starting the CLI, or evaluating a tiny file, never imports numba or scipy."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.evaluation.random_coco import random_coco, run_pycocotools


_RUN = """
import hashlib, json, sys
from explorer.evaluation import Matcher, evaluate_coco
from explorer.evaluation.confusion import detection_confusion_matrix
from explorer.evaluation import kernels
from tests.evaluation.random_coco import random_coco
gt, dt = random_coco(int(sys.argv[1]), iou_type="bbox")
r = evaluate_coco(gt, dt, iou_type="bbox")
m = Matcher.from_coco(gt, dt)
res = m.match(0.6, confidence_threshold=0.2)
cm = detection_confusion_matrix(m, 0.5)
h = lambda b: hashlib.sha256(b).hexdigest()
print(json.dumps({"compiled": kernels.prange is not range, "stats": r.stats.tolist(),
                  "precision": h(r.precision.tobytes()), "recall": h(r.recall.tobytes()),
                  "predictions": h(res.predictions.to_json().encode()), "labels": h(res.labels.to_json().encode()),
                  "confusion": h(cm.matrix.to_json().encode())}))
"""


def _run(seed: int, mode: str) -> dict:
    # a fresh process per mode: once compiled, a process's kernels stay compiled
    env = {**os.environ, "EXPLORER_KERNELS": mode}
    out = subprocess.run([sys.executable, "-c", _RUN, str(seed)], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[2], check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("seed", [0])
def test_python_and_compiled_kernels_give_the_same_bits(seed):
    py, jit = _run(seed, "python"), _run(seed, "numba")
    assert (py.pop("compiled"), jit.pop("compiled")) == (False, True)
    assert py == jit
    gt, dt = random_coco(seed, iou_type="bbox")
    assert py["stats"] == run_pycocotools(gt, dt, iou_type="bbox").stats.tolist()


def _modules_after(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\nprint(json.dumps(sorted(m for m in "
                          "('numba', 'scipy', 'pandas', 'sklearn', 'streamlit', 'duckdb', 'matplotlib') "
                          "if m in sys.modules)))"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cli_help_imports_nothing_heavy():
    assert _modules_after("from explorer.cli import main\nmain(['--help'])") == []


def test_evaluating_a_tiny_file_never_imports_numba_or_scipy(tmp_path):
    gt, dt = random_coco(1, iou_type="bbox")
    gt = {**gt, "images": gt["images"][:2]}
    keep = {i["id"] for i in gt["images"]}
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in keep]
    dt = [d for d in dt if d["image_id"] in keep]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    code = (f"import contextlib, io\nfrom explorer.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['evaluate', {str(tmp_path / 'gt.json')!r}, {str(tmp_path / 'dt.json')!r}]) == 0")
    assert _modules_after(code) == []  # no pandas either (lazy explorer.evaluation, columnar inputs)
