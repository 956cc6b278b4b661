"""``explorer suspects PROJECT --out suspects.csv``: the queue as CSV (best first) and a COCO JSON beside it."""
from __future__ import annotations

import json

import pandas as pd

from explorer.analysis.suspects import suspects
from explorer.cli import main
from explorer.project.folder import Project
from explorer.project.selection import Selection


def test_suspects_csv_and_coco(detection_project, tmp_path):
    out = tmp_path / "out" / "suspects.csv"
    assert main(["suspects", str(detection_project), "--run", "baseline", "--out", str(out)]) == 0
    csv = pd.read_csv(out)
    assert csv.columns[:6].tolist() == ["image_id", "file_name", "label_id", "pred_id", "reason", "score"]
    expected = suspects(Project.load(detection_project, run="baseline"), Selection(run="baseline"))
    assert len(csv) == len(expected)
    assert csv["score"].is_monotonic_decreasing
    assert csv["pred_id"].astype("Int64").tolist() == expected["pred_id"].tolist()
    coco = json.loads((tmp_path / "out" / "suspects.coco.json").read_text())
    assert [s["pred_id"] for s in coco["suspects"]] == [None if pd.isna(v) else int(v) for v in expected["pred_id"]]
    assert {a["image_id"] for a in coco["annotations"]} <= {i["id"] for i in coco["images"]}
    assert {i["id"] for i in coco["images"]} == set(expected["image_id"])


def test_suspects_needs_a_project(tmp_path):
    assert main(["suspects", str(tmp_path), "--out", str(tmp_path / "s.csv")]) == 2
