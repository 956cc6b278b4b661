"""``explorer errors`` (files and project) and the export's ``error_cost``: the same numbers as the API."""
from __future__ import annotations

import json

import pytest

from explorer.analysis.tide import DELTA_KEYS, error_cost, error_cost_from_matcher
from explorer.cli import main
from explorer.evaluation import Matcher
from explorer.errors import UserError
from explorer.project.folder import Project
from explorer.project.selection import Selection


def test_errors_on_files(testdata, tmp_path, capsys):
    case = testdata / "coco_reference" / "rafaelpadilla_sampled"
    out = tmp_path / "errors.json"
    assert main(["errors", str(case / "gt.json"), str(case / "dt.json"), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data["delta_ap"]) == set(DELTA_KEYS)
    expected = error_cost_from_matcher(Matcher.from_coco(case / "gt.json", case / "dt.json"), 0.5)
    assert data["ap"] == expected.ap
    assert data["delta_ap"] == {k: expected.delta_ap[k] for k in DELTA_KEYS}
    assert data["iou_threshold"] == 0.5 and data["background_threshold"] == 0.1
    assert "AP @ 0.50: " + f"{expected.ap:.4f}" in capsys.readouterr().out
    assert main(["errors", str(case / "gt.json"), str(case / "dt.json"), "--iou-threshold", "0.75",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["iou_threshold"] == 0.75


def test_errors_on_a_project_and_in_the_export(detection_project, tmp_path):
    out = tmp_path / "errors.json"
    assert main(["errors", str(detection_project), "--run", "weaker", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    project = Project.load(detection_project, run="weaker")
    sel = Selection(iou_threshold=0.5, run="weaker")
    expected = error_cost(project, sel)
    assert data["delta_ap"] == {k: expected.delta_ap[k] for k in DELTA_KEYS}
    assert [r["category_id"] for r in data["per_class"]] == expected.per_class["category_id"].tolist()

    from explorer import tasks

    section = tasks.get("detection").export_section(project, sel)
    assert section["error_cost"]["delta_ap"] == data["delta_ap"]
    assert section["error_cost"]["ap"] == pytest.approx(section["mAP"], abs=1e-12)  # the headline AP at t
    assert len(section["suspects"]) > 0 and section["suspects"][0]["score"] >= section["suspects"][-1]["score"]


def test_errors_refuses_bad_input(tmp_path, testdata):
    case = testdata / "coco_reference" / "rafaelpadilla_sampled"
    with pytest.raises(UserError, match="PRED"):
        from explorer.commands import errors
        import argparse

        parser = argparse.ArgumentParser()
        errors.add_arguments(parser)
        errors.run(parser.parse_args([str(case / "gt.json")]))
    assert main(["errors", str(case / "gt.json"), str(case / "dt.json"), "--iou-threshold", "1.5"]) == 2
