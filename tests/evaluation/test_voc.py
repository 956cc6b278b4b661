"""Pascal VOC AP equals the reference table of rafaelpadilla's test case 1 (to 1e-9)."""
from __future__ import annotations

import pytest

from explorer.errors import UserError
from explorer.evaluation import evaluate_voc, read_voc_txt

EXPECTED = {  # threshold: (every point, 11 point), from ../shared/testdata/README.md
    0.10: (0.3371980676, 0.3333333333),
    0.30: (0.2456866804, 0.2683982683),
    0.50: (0.0222222222, 0.0303030303),
    0.75: (0.0, 0.0),
}


@pytest.mark.parametrize("threshold", sorted(EXPECTED))
def test_rafaelpadilla_case1(testdata, threshold):
    root = testdata / "voc_reference" / "rafaelpadilla_case1"
    gt = read_voc_txt(root / "gts", with_scores=False)
    dt = read_voc_txt(root / "dets", with_scores=True)
    assert (len(gt), len(dt)) == (15, 24)
    every, eleven = EXPECTED[threshold]
    assert evaluate_voc(gt, dt, iou_threshold=threshold, interpolation="all")["object"] == pytest.approx(every, abs=1e-9)
    assert evaluate_voc(gt, dt, iou_threshold=threshold, interpolation="11")["object"] == pytest.approx(eleven, abs=1e-9)


def test_bad_line_names_file_and_line(tmp_path):
    (tmp_path / "a.txt").write_text("object 1 2 3 4\nobject 1 2 x 4\n")
    with pytest.raises(UserError, match=r"a.txt: line 2"):
        read_voc_txt(tmp_path, with_scores=False)
