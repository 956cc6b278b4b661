"""Classification page with a class filter, on the bundled classification sample: the class filter selects images by
true class and never changes a class's own numbers — the shown precision of the selected class K equals
scikit-learn's on the whole split, and the "predicted as K but wrong" gallery shows K's false positives."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support
from streamlit.testing.v1 import AppTest

from explorer.project.folder import Project

from .apptest import open_page


@pytest.fixture(scope="module")
def sample(explorer_home) -> Path:
    from explorer.samples import build_sample, list_samples

    (spec,) = [s for s in list_samples() if s["name"] == "classification"]
    return build_sample(spec, progress=False)


def _truth_and_prediction(project: Project, split: str | None = None):
    """True and predicted category ids of every labelled image with a prediction, read from the project's tables
    (not through the evaluation code under test)."""
    rows = project.labels[["image_id", "category_id"]].merge(
        project.predictions[["image_id", "category_id"]], on="image_id", suffixes=("_true", "_pred"))
    if split is not None:
        ids = project.images.loc[project.images["split"] == split, "image_id"]
        rows = rows[rows["image_id"].isin(ids)]
    return rows["category_id_true"].to_numpy(), rows["category_id_pred"].to_numpy()


def _sklearn_per_class(y_true, y_pred, labels):
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=np.nan)


def _exact(at: AppTest, label: str) -> float:
    (m,) = [m for m in at.metric if m.label == label]
    return float(m.proto.help.rsplit("exact value ", 1)[1])


def _column_with(at: AppTest, text: str):
    """The column whose markdown starts with ``text`` (the gallery's own, which holds its nested columns)."""
    found = [c for c in at.columns if any(m.value.startswith(text) for m in c.markdown)]
    assert found, f"no column with markdown {text!r}"
    return found[-1]


def _per_class_tables(at: AppTest):
    """The per-class table(s) of the page (it also shows the splits side by side)."""
    return [t for t in at.dataframe if "name" in t.value.columns and "precision" in t.value.columns]


def _fp_class(project: Project) -> int:
    """The sample's class with the most false positives (predicted as it, of another class)."""
    y_true, y_pred = _truth_and_prediction(project)
    wrong = y_pred[y_true != y_pred]
    return int(np.bincount(wrong).argmax())


def test_one_class_selected_shows_its_real_precision_and_false_positives(monkeypatch, sample):
    project = Project.load(sample)
    k = _fp_class(project)
    name = project.category_names[k]
    labels = project.categories["category_id"].to_numpy()
    y_true, y_pred = _truth_and_prediction(project)
    precision, recall, _, _ = _sklearn_per_class(y_true, y_pred, labels)
    position = int(np.flatnonzero(labels == k)[0])
    n_false_positives = int(np.sum((y_pred == k) & (y_true != k)))
    assert n_false_positives > 0 and precision[position] < 0.5  # the sample plants them

    at = open_page(monkeypatch, sample, "classification.py")
    at.multiselect(key="classes").set_value([name])
    at.run()
    assert not at.exception, at.exception

    # the page says what the filter selects
    assert any("true class" in i.value and name in i.value for i in at.info)
    (table,) = _per_class_tables(at)
    shown = table.value.set_index("name")
    assert shown.loc[name, "precision"] == precision[position]  # not 1.0
    assert shown.loc[name, "recall"] == recall[position]
    assert shown.loc[name, "false_positives"] == n_false_positives
    # every class's row is the whole split's, whatever the filter
    names = [project.category_names[int(c)] for c in labels]
    np.testing.assert_array_equal(shown.loc[names, "precision"].to_numpy(), precision)
    # the mean over the selection {K} is K's own precision
    assert _exact(at, "Macro precision") == precision[position]
    assert _exact(at, "Accuracy") == np.mean(y_pred[y_true == k] == k)

    # "predicted as K but wrong": non-empty, one tile per false positive (first page), each of another true class
    fp = _column_with(at, "**Predicted as")
    assert at.selectbox(key="cls_fp_class").value == k
    assert any(c.value == f"{n_false_positives:,} image(s) predicted as {name} but of another class" for c in fp.caption)
    tiles = fp.get("image")
    assert len(tiles) == min(n_false_positives, 8)
    captions = [c for im in tiles for c in im.captions]
    # captions: "<file> · true <class> · predicted <class> · score <s>" (Markdown-escaped)
    true_names = [c.split(" · true ", 1)[1].split(" · ", 1)[0] for c in captions]
    assert len(true_names) == len(captions) and name not in true_names, captions


def test_filter_on_a_split_and_two_classes(monkeypatch, sample):
    project = Project.load(sample)
    labels = project.categories["category_id"].to_numpy()
    chosen = [int(labels[0]), _fp_class(project)]
    names = [project.category_names[c] for c in chosen]
    y_true, y_pred = _truth_and_prediction(project, "val")
    macro = precision_recall_fscore_support(y_true, y_pred, labels=chosen, average="macro", zero_division=np.nan)
    precision = _sklearn_per_class(y_true, y_pred, labels)[0]

    at = open_page(monkeypatch, sample, "classification.py")
    at.selectbox(key="split").set_value("val")
    at.multiselect(key="classes").set_value(names)
    at.run()
    assert not at.exception, at.exception
    (table,) = _per_class_tables(at)
    shown = table.value.set_index("name")
    np.testing.assert_array_equal(shown.loc[[project.category_names[int(c)] for c in labels], "precision"], precision)
    assert abs(_exact(at, "Macro precision") - macro[0]) <= 1e-12
    assert abs(_exact(at, "Macro F1") - macro[2]) <= 1e-12
    selected = np.isin(y_true, chosen)
    assert _exact(at, "Accuracy") == np.mean(y_true[selected] == y_pred[selected])
    # the confusion matrix: the two selected classes, then "other"
    heat = at.get("plotly_chart")[0].proto.spec
    assert '"other"' in heat
