"""The app on a damaged project shows the file and its repair as an error, never a traceback."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from explorer.ui.state import PROJECTS_ENV

from tests.app.apptest import APP
from tests.metrics.helpers import make_project, standard_labels, standard_predictions, write_images


@pytest.mark.parametrize("damaged", ["project.json", "images.parquet", "labels.parquet"])
def test_app_names_a_damaged_project_file(tmp_path, monkeypatch, damaged):
    names = write_images(tmp_path / "images", 3)
    project = make_project(tmp_path / "project", names, images_root=tmp_path / "images", labels=standard_labels())
    path = project.root / damaged
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damaged != "project.json" else data[:40])
    monkeypatch.setenv(PROJECTS_ENV, str(project.root))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert errors and any(damaged in e and "explorer import" in e for e in errors), errors


@pytest.mark.parametrize("page, table", [("data_quality.py", "frame"), ("performance_by_metric.py", "frame"),
                                         # these pages read the metric vocabulary outside their own error
                                         # handling: the app shows the UserError (was a traceback)
                                         ("failures.py", "labels"), ("confusion_matrix.py", "predictions"),
                                         ("suspects.py", "labels")])
def test_app_pages_name_a_damaged_metric_table(tmp_path, monkeypatch, page, table):
    from explorer.datametrics.engine import compute_metrics
    from tests.app.apptest import open_page

    names = write_images(tmp_path / "images", 3)
    project = make_project(tmp_path / "project", names, images_root=tmp_path / "images", labels=standard_labels(),
                           predictions=standard_predictions())
    compute_metrics(project, progress=False, workers=1)
    path = project.metrics_dir / f"{table}.parquet"
    path.write_bytes(path.read_bytes()[:100])
    at = open_page(monkeypatch, project.root, page)  # fails on any exception
    errors = [e.value for e in [*at.error, *at.info, *at.warning]]  # pages say it as an error or a notice
    assert any(f"{table}.parquet" in e and "explorer metrics" in e for e in errors), errors


def test_gallery_shows_bad_images_as_named_placeholders(tmp_path, monkeypatch):
    import numpy as np
    import pandas as pd

    from explorer.datametrics.engine import compute_metrics
    from explorer.project.folder import Project
    from tests.app.apptest import open_page
    from tests.robustness.badfiles import write_bad, write_valid

    images = tmp_path / "images"
    valid = write_valid(images, 2)
    bad = write_bad(images)  # the FIFO too: the gallery must not block on it
    names = valid + sorted(bad)
    table = pd.DataFrame({"image_id": np.arange(1, len(names) + 1), "file_name": names, "width": 64.0,
                          "height": 48.0, "split": "train"})
    categories = pd.DataFrame({"category_id": [1], "name": ["cat"], "supercategory": [None]})
    project = Project.create(tmp_path / "project", task="detection", images=table, categories=categories,
                             images_root=images)
    compute_metrics(project, progress=False, workers=1)
    at = open_page(monkeypatch, project.root, "data_quality.py", timeout=60)  # fails on any exception
    shown = " ".join(w.value for w in at.warning)
    for name in ("zero", "pipe", "big", "giga"):
        assert name in shown, shown
