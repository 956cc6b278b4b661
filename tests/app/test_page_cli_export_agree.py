"""One selection, three entry points: the Metrics page's headline, ``explorer evaluate`` and ``explorer export``
give the same numbers (run "weaker", split "val", IoU 0.50 and 0.75)."""
from __future__ import annotations

import json

import pytest

from explorer.cli import main

from .apptest import open_page


def _exact(at, prefix: str) -> float:
    (metric,) = [m for m in at.metric if m.label.startswith(prefix)]
    return float(metric.proto.help.rsplit("exact value ", 1)[1])


@pytest.mark.parametrize("iou", [0.5, 0.75])
def test_page_cli_and_export_agree(monkeypatch, detection_project, tmp_path, iou):
    assert main(["export", str(detection_project), "--run", "weaker", "--what", "json", "--iou-threshold", str(iou),
                 "--out", str(tmp_path / "export")]) == 0
    (path,) = (tmp_path / "export").rglob("*.json")
    exported = json.loads(path.read_text())["splits"]["val"]["evaluation"]
    assert main(["evaluate", str(detection_project), "--run", "weaker", "--json", str(tmp_path / "e.json")]) == 0
    cli = json.loads((tmp_path / "e.json").read_text())["summary"]

    at = open_page(monkeypatch, detection_project, "model_metrics.py")
    at.selectbox(key="run").set_value("weaker").run()
    at.selectbox(key="split").set_value("val").run()
    at.slider(key="iou_threshold").set_value(iou).run()
    assert not at.exception, at.exception
    assert _exact(at, "mAP @ IoU") == exported["mAP"]
    assert _exact(at, "mAR @ IoU") == exported["mAR"]
    if iou == 0.5:
        assert exported["mAP_50"] == exported["mAP"]
    # the COCO summary (all images of the run) of the export's "all" split equals explorer evaluate's
    whole = json.loads(path.read_text())["splits"]["all"]["evaluation"]["coco"]
    assert whole == {k: v for k, v in cli.items() if k in whole}
