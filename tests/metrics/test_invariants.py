"""Registry-driven: every registered built-in metric goes through the same invariants on a real project run."""
from __future__ import annotations

import math

import numpy as np
import pytest

from explorer.datametrics.engine import compute_metrics, load_metrics, metrics_for
from metrics import DIRECTIONS, LEVELS, REGISTRY

from .helpers import make_project, standard_labels, standard_predictions, write_images

BUILTINS = sorted((m for m in REGISTRY if m.source == "builtin"), key=lambda m: m.name)
TABLE = {"F": "frame", "O": "labels", "P": "predictions"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same project twice, the second with image, label and prediction rows in another order."""
    tmp = tmp_path_factory.mktemp("invariants")
    names = write_images(tmp / "images", 5)
    a = make_project(tmp / "a", names, images_root=tmp / "images", labels=standard_labels(),
                     predictions=standard_predictions())
    b = make_project(tmp / "b", names, images_root=tmp / "images",
                     labels=standard_labels().iloc[::-1].reset_index(drop=True),
                     predictions=standard_predictions().iloc[[2, 0, 1]].reset_index(drop=True), order=[3, 1, 4, 0, 2])
    compute_metrics(a, progress=False, workers=1)
    compute_metrics(b, progress=False, workers=1)
    return load_metrics(a), load_metrics(b), a


@pytest.mark.parametrize("metric", BUILTINS, ids=lambda m: m.name)
def test_metric_unit_is_documented(metric):
    assert metric.title and metric.description, "title and docstring formula are required"
    assert set(metric.levels) <= set(LEVELS) and metric.direction in DIRECTIONS
    assert metric.range[0] < metric.range[1]
    assert metric.version >= 1 and metric.key.startswith(f"{metric.name}-v{metric.version}-")


@pytest.mark.parametrize("metric", BUILTINS, ids=lambda m: m.name)
def test_metric_invariants(runs, metric):
    a, b, _ = runs
    for level in metric.levels:
        table_a = getattr(a, TABLE[level])
        table_b = getattr(b, TABLE[level])
        assert metric.name in table_a.columns, f"{metric.name} missing from the {TABLE[level]} table"
        col = table_a[metric.name]
        assert col.dtype == np.float64
        values = col.to_numpy()
        finite = values[np.isfinite(values)]
        assert len(finite) > 0, "every built-in has a defined value on this project"
        assert not np.isinf(values).any()
        lo, hi = metric.range
        assert (finite >= lo).all() and (finite <= hi).all(), (metric.name, finite.min(), finite.max())
        # row order of the input tables does not change any value (joined by id)
        np.testing.assert_array_equal(col.sort_index().to_numpy(), table_b[metric.name].sort_index().to_numpy())
        row = a.catalog[(a.catalog["name"] == metric.name) & (a.catalog["level"] == level)]
        assert len(row) == 1 and row["display_name"].iat[0] == f"{metric.title} ({level})"


def test_tables_have_one_row_per_id_and_metrics_for_joins_frame_metrics(runs):
    a, _, project = runs
    assert sorted(a.frame.index) == sorted(project.images["image_id"])
    assert sorted(a.labels.index) == sorted(project.labels["label_id"])
    assert sorted(a.predictions.index) == sorted(project.predictions["pred_id"])
    joined = metrics_for(project, "labels")
    assert list(joined.index) == list(a.labels.index)
    image_of = project.labels.set_index("label_id")["image_id"]
    for label_id, row in joined.iterrows():
        assert row["brightness"] == a.frame.loc[image_of[label_id], "brightness"]
        assert row["relative_area"] == a.labels.loc[label_id, "relative_area"]
    preds = metrics_for(project, "predictions")
    assert "confidence" in preds and "entropy" in preds
    assert math.isclose(preds.loc[101, "confidence"], 0.6)


def test_units_reach_the_catalogue(tmp_path):
    """A metric's declared unit is in the catalogue every page and export reads (one vocabulary)."""
    from explorer.datametrics.engine import compute_metrics, load_metrics

    names = write_images(tmp_path / "images", 4)
    project = make_project(tmp_path / "p", names, images_root=tmp_path / "images", labels=standard_labels(),
                           predictions=standard_predictions())
    compute_metrics(project, progress=False)
    catalog = load_metrics(project).catalog.set_index(["name", "level"])
    assert catalog.loc[("object_area", "O"), "unit"] == "px²"
    assert catalog.loc[("image_width", "F"), "unit"] == "px"
    assert catalog.loc[("entropy", "F"), "unit"] == "bits"
    assert catalog.loc[("brightness", "F"), "unit"] == ""
