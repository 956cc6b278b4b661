"""``explorer metrics PROJECT --metrics-plugin FILE``: the project remembers the plugin (manifest), a rerun
without the flag keeps its metric, and a plugin file that is gone is dropped out loud."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explorer.cli import main
from explorer.io import import_project
from explorer.project.folder import MANIFEST
from metrics import REGISTRY

PLUGIN = '''
from metrics import frame_metric

@frame_metric(name="remembered_red_mean", title="Red mean", range=(0, 255), direction="neutral")
def remembered_red_mean(image):
    """mean(R) over the working image, 0..255."""
    return float(image.bgr[..., 2].mean())
'''


@pytest.fixture
def project(tmp_path):
    for i, red in enumerate((10, 200)):
        (tmp_path / "images").mkdir(exist_ok=True)
        pixels = np.zeros((24, 32, 3), np.uint8)
        pixels[..., 0] = red  # RGB: red channel
        Image.fromarray(pixels).save(tmp_path / "images" / f"im{i}.png")
    project, _ = import_project(tmp_path / "p", images=tmp_path / "images")
    yield project.root
    REGISTRY.unregister("remembered_red_mean")


def _frame(root) -> pd.DataFrame:
    return pd.read_parquet(root / "metrics" / "frame.parquet")


def test_plugin_is_remembered_and_dropped_out_loud(project, tmp_path, capsys):
    plugin = tmp_path / "my_metrics.py"
    plugin.write_text(PLUGIN)
    args = ["metrics", str(project), "--no-progress", "--workers", "1"]
    assert main([*args, "--metrics-plugin", str(plugin)]) == 0
    assert json.loads((project / MANIFEST).read_text())["metrics_plugins"] == [str(plugin.resolve())]
    assert _frame(project)["remembered_red_mean"].tolist() == [10.0, 200.0]
    capsys.readouterr()

    assert main(args) == 0  # no flag: the remembered plugin still runs
    assert _frame(project)["remembered_red_mean"].tolist() == [10.0, 200.0]
    assert f"metrics plugins remembered by the project: {plugin.resolve()}" in capsys.readouterr().out

    plugin.unlink()
    REGISTRY.unregister("remembered_red_mean")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "my_metrics.py: plugin: the metrics plugin this project remembers is gone: its metrics " \
           "remembered_red_mean are dropped from the project" in out
    assert "remembered_red_mean" not in _frame(project).columns
    assert "metrics_plugins" not in json.loads((project / MANIFEST).read_text())
    assert main(args) == 0 and "is gone" not in capsys.readouterr().out  # said once, then forgotten
