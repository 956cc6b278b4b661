"""Training Curves on real-format logs (tests/io/fixtures/training): several MLflow runs overlaid with their names,
params and tags; one chart per logged series (MMEngine's coco/bbox_mAP, loss_cls, lr…); smoothing and log scale
change the figures, not the judged numbers; the rule and its parameters are on the page."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer.analysis import training
from explorer.io.training_logs import import_project
from explorer.project.folder import Project
from explorer.ui.text import plain

from .apptest import open_page

FIXTURES = Path(__file__).resolve().parents[1] / "io" / "fixtures" / "training"


@pytest.fixture(scope="module")
def projects(tmp_path_factory, explorer_home):
    root = tmp_path_factory.mktemp("training_pages")
    return {name: import_project(root / name, log=FIXTURES / path)[0].root for name, path in (
        ("mlflow", "mlflow/mlruns"), ("mmengine", "mmengine/20240305_101500/vis_data/scalars.json"))}


def _metric(at, label):
    (m,) = [m for m in at.metric if m.label == label]
    return m.value


def _y(trace) -> list[float]:
    """A trace's y values (Plotly sends arrays as base64 ``bdata``)."""
    import base64

    y = trace["y"]
    return np.frombuffer(base64.b64decode(y["bdata"]), y["dtype"]).tolist() if isinstance(y, dict) else list(y)


def _figures(at):
    import json

    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_mlflow_runs_overlaid_with_names_params_and_rule(monkeypatch, projects):
    at = open_page(monkeypatch, projects["mlflow"], "training_curves.py")
    log = training.training_log(Project.load(projects["mlflow"]))
    assert at.multiselect(key="tc_runs").value == ["baseline-lr0.01", "wider-lr0.001"]
    assert _metric(at, "Best epoch") == "2"  # the first run's
    loss = _figures(at)[0]
    names = [t["name"] for t in loss["data"]]
    assert names == ["baseline-lr0.01 · training loss (train/loss)", "wider-lr0.001 · training loss (train/loss)",
                     "baseline-lr0.01 · validation loss (val/loss)", "wider-lr0.001 · validation loss (val/loss)"]
    caption = " ".join(c.value for c in at.caption)
    assert "Rule: " + plain(training.rule_text(patience=2, monitor="val_loss")) in caption
    assert "2 consecutive evaluations" in caption and "mean over its validation interval" in caption
    tables = [d.value for d in at.dataframe]
    runs = next(t for t in tables if "format" in t.columns)
    assert runs["run"].tolist() == ["baseline-lr0.01", "wider-lr0.001"] and runs["params"].tolist() == [2, 2]
    assert any("param" in t.columns and dict(zip(t["param"], t["value"])).get("lr") == "0.001" for t in tables)

    at.selectbox(key="tc_run").set_value("wider-lr0.001")
    at.run()
    assert _metric(at, "Best epoch") == f"{training.summarize(log, axis='epoch', run='wider-lr0.001').best_x:.4g}" == "4"
    at.multiselect(key="tc_runs").set_value(["wider-lr0.001"])
    at.run()
    assert [t["name"] for t in _figures(at)[0]["data"]] == ["training loss (train/loss)", "validation loss (val/loss)"]


def test_series_charts_smoothing_and_log_scale(monkeypatch, projects):
    at = open_page(monkeypatch, projects["mmengine"], "training_curves.py")
    assert _metric(at, "Best coco/bbox\\_mAP") == "0.241" and _metric(at, "Best epoch") == "2"
    logged = at.multiselect(key="tc_series").value
    assert logged[:5] == ["lr", "data_time", "loss", "loss_cls", "loss_bbox"] and "coco/bbox_mAP" in logged
    figs = _figures(at)
    titles = [f["layout"]["title"]["text"] for f in figs]
    assert titles[0] == "Loss" and "coco/bbox_mAP" in titles and "lr" in titles  # lr on a chart of its own
    (map_fig,) = [f for f in figs if f["layout"]["title"]["text"] == "coco/bbox_mAP"]
    assert _y(map_fig["data"][0]) == [0.152, 0.241, 0.236]

    at.slider(key="tc_smooth").set_value(0.5)
    at.toggle(key="tc_log").set_value(True)
    at.run()
    assert not at.exception
    (map_fig,) = [f for f in _figures(at) if f["layout"]["title"]["text"] == "coco/bbox_mAP"]
    raw, smooth = map_fig["data"]
    assert _y(raw) == [0.152, 0.241, 0.236] and raw["opacity"] == 0.25
    np.testing.assert_allclose(_y(smooth), training.ema(np.array([0.152, 0.241, 0.236]), 0.5), rtol=0, atol=1e-12)
    assert map_fig["layout"]["yaxis"]["type"] == "log"
    assert _metric(at, "Best epoch") == "2"  # smoothing is for the eye: the judged numbers stay the logged ones
    at.multiselect(key="tc_series").set_value(["lr"])
    at.run()
    assert [f["layout"]["title"]["text"] for f in _figures(at)] == ["Loss", "lr"]
