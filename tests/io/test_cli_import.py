"""``explorer import`` on good and bad input: what it prints, exit codes, and no traceback."""
from __future__ import annotations

import json
import subprocess
import sys

from explorer.cli import main
from io_helpers import base_coco, write_coco_inputs


def test_cli_import_good_input(tmp_path, capsys):
    root, labels, preds = write_coco_inputs(tmp_path)
    csv = tmp_path / "splits.csv"
    csv.write_text("file_name,split\na.png,train\nsub/b.png,val\n")
    out = tmp_path / "proj"
    code = main(["import", "--images", str(root), "--labels", str(labels), "--predictions", str(preds),
                 "--splits", str(csv), "--name", "demo", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert f"imported detection project 'demo' into {out}: 2 images, 2 categories, 4 labels, 3 predictions" in text
    assert "splits: train 1, val 1" in text and "no problems found" in text
    assert json.loads((out / "project.json").read_text())["name"] == "demo"
    # a second import into the same folder needs --overwrite
    assert main(["import", "--labels", str(labels), "--out", str(out)]) == 2
    assert "already a project; pass --overwrite" in capsys.readouterr().err
    assert main(["import", "--labels", str(labels), "--out", str(out), "--overwrite"]) == 0


def test_cli_import_partly_bad_input_prints_summary(tmp_path, capsys):
    coco = base_coco()
    coco["annotations"] += [{"id": 100 + k, "image_id": 9, "category_id": 3, "bbox": [0, 0, 1, 1], "area": 1} for k in range(4)]
    root, labels, preds = write_coco_inputs(tmp_path, coco)
    out = tmp_path / "proj"
    code = main(["import", "--images", str(root), "--labels", str(labels), "--out", str(out), "--show", "2"])
    text = capsys.readouterr().out
    assert code == 0
    assert "4 labels" in text and "skipped 4 record(s): 4 unknown_image" in text
    assert f"{labels}: annotations[4] (id=100): unknown image_id 9 (not in 'images')" in text
    assert "... and 2 more (all of them are in the project's import_report.json)" in text
    assert f"full report: {out / 'import_report.json'}" in text
    assert len(json.loads((out / "import_report.json").read_text())["problems"]) == 4


def test_cli_user_errors_are_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [}')
    cases = [
        (["--labels", str(bad)], f"explorer import: error: {bad}: malformed JSON at line 1, column 13"),
        (["--labels", str(tmp_path / "nope.json")], "labels nope"),
        (["--images", str(tmp_path / "nodir")], "image folder"),
        (["--labels", str(bad), "--task", "training", "--format", "coco"], "--format applies to detection labels only"),
        (["--labels", str(bad), "--option", "oops"], "--option 'oops': expected KEY=VALUE"),
    ]
    for args, expected in cases:
        proc = subprocess.run([sys.executable, "-m", "explorer", "import", *args, "--out", str(tmp_path / "p")],
                              capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("explorer import: error: "), proc.stderr
        if expected != "labels nope":
            assert expected in lines[0], lines[0]
        else:
            assert "nope.json" in lines[0]


def test_unknown_task_module_is_a_user_error(tmp_path, monkeypatch):
    import pytest

    from explorer.errors import UserError
    from explorer.io import import_project

    # simulate an installation without that importer (in the real sys.modules, which `import` statements read)
    monkeypatch.setitem(sys.modules, "explorer.io.regression", None)
    with pytest.raises(UserError, match=r"importing regression projects is not available in this installation \(explorer.io.regression is missing\)"):
        import_project(tmp_path / "p", task="regression", labels="x.csv")
    with pytest.raises(UserError, match="unknown task 'tracking'"):
        import_project(tmp_path / "p", task="tracking")
