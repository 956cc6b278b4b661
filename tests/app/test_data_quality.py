"""Data Quality page (AppTest on the real app and the bundled detection sample): the histogram the page draws
equals NumPy's binning of the metric, the IQR outlier counts equal a direct count, and the sidebar's class and
split filters and the page's outlier filter select exactly the expected rows."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import explorer
from explorer.datametrics.engine import compute_metrics, load_metrics
from explorer.project.folder import Project
from explorer.resources import pages_dir
from explorer.ui.state import PROJECTS_ENV

APP = Path(explorer.__file__).resolve().parent / "app.py"
PAGE = os.path.relpath(pages_dir() / "data_quality.py", APP.parent)
BINS = 30  # the page's default number of bins
TIMEOUT = 120


def open_page(project: Path) -> AppTest:
    os.environ[PROJECTS_ENV] = str(project)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def pick(at: AppTest, name: str, level: str) -> AppTest:
    at.selectbox(key="dq_metric").set_value(f"{name}@{level}").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def drawn_histogram(at: AppTest) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges) of the bars the page sent to the browser."""
    charts = [c for c in at.get("plotly_chart")]
    assert charts, "the page drew no histogram"
    bars = json.loads(charts[0].proto.spec)["data"][0]
    edges = np.array([lo for lo, _ in bars["customdata"]] + [bars["customdata"][-1][1]], dtype=float)
    return np.asarray(bars["y"], dtype=np.int64), edges


def metric_value(at: AppTest, label_start: str) -> int:
    [m] = [m for m in at.metric if m.label.startswith(label_start)]
    return int(str(m.value).replace(",", ""))


def caption_count(at: AppTest, pattern: str) -> int:
    for c in at.caption:
        match = re.search(pattern, c.value)
        if match:
            return int(match.group(1).replace(",", ""))
    raise AssertionError(f"no caption matches {pattern!r}: {[c.value for c in at.caption]}")


def direct_values(project: Project, tables, name: str, level: str, *, image_ids=None, classes=None) -> np.ndarray:
    """The metric over the rows the page should use, computed straight from the tables."""
    if image_ids is None:
        image_ids = project.images["image_id"].to_numpy()
    if level == "F":
        return tables.frame[name].reindex(image_ids).to_numpy(float)
    objects = project.labels if level == "O" else project.predictions
    rows = objects[objects["image_id"].isin(image_ids)]
    if classes is not None:
        rows = rows[rows["category_id"].isin(classes)]
    table = tables.labels if level == "O" else tables.predictions
    return table[name].reindex(rows["label_id" if level == "O" else "pred_id"]).to_numpy(float)


def tukey_counts(values: np.ndarray) -> tuple[int, int]:
    """(moderate, severe) by a direct count with NumPy percentiles."""
    v = values[np.isfinite(values)]
    q1, q3 = np.percentile(v, [25, 75])
    iqr = q3 - q1
    severe = int(((v < q1 - 3 * iqr) | (v > q3 + 3 * iqr)).sum())
    beyond_inner = int(((v < q1 - 1.5 * iqr) | (v > q3 + 1.5 * iqr)).sum())
    return beyond_inner - severe, severe


@pytest.fixture(scope="module")
def detection(detection_project):
    project = Project.load(detection_project)
    return detection_project, project, load_metrics(project)


def level_metrics(tables, level: str) -> list[str]:
    return tables.catalog.loc[tables.catalog["level"] == level, "name"].tolist()


@pytest.mark.parametrize("level, preferred", [("F", "brightness"), ("O", "relative_area"), ("P", "confidence")])
def test_histogram_and_outliers_equal_direct_computation(detection, level, preferred):
    path, project, tables = detection
    names = level_metrics(tables, level)
    assert names, f"the detection sample has no {level} metric"
    name = preferred if preferred in names else names[0]
    at = pick(open_page(path), name, level)

    values = direct_values(project, tables, name, level)
    finite = values[np.isfinite(values)]
    expected_counts, expected_edges = np.histogram(finite, bins=BINS)
    counts, edges = drawn_histogram(at)
    assert counts.tolist() == expected_counts.tolist()
    np.testing.assert_allclose(edges, expected_edges, rtol=0, atol=1e-12 * max(1.0, abs(expected_edges).max()))
    moderate, severe = tukey_counts(values)
    assert metric_value(at, "Moderate outliers") == moderate
    assert metric_value(at, "Severe outliers") == severe
    assert metric_value(at, "Missing values") == int((~np.isfinite(values)).sum())


def test_relative_area_has_outliers_and_the_outlier_filter_selects_them(detection):
    path, project, tables = detection
    at = pick(open_page(path), "relative_area", "O")
    moderate, severe = tukey_counts(direct_values(project, tables, "relative_area", "O"))
    assert severe > 0  # small and large shapes: a skewed distribution with a long right tail
    at.radio(key="dq_show").set_value("IQR outliers").run()
    assert caption_count(at, r"([\d,]+) label\(s\) match") == moderate + severe
    at.radio(key="dq_outlier_kind").set_value("severe").run()
    assert caption_count(at, r"([\d,]+) label\(s\) match") == severe
    assert caption_count(at, r"showing 1–\d+ of ([\d,]+)") == severe
    assert len(at.get("image")) == min(severe, 12)  # one drawn tile per severe outlier on the first page
    assert not at.exception


def test_class_filter_restricts_object_metrics(detection):
    path, project, tables = detection
    at = pick(open_page(path), "relative_area", "O")
    first_id, first_name = next(iter(project.category_names.items()))
    at.multiselect(key="classes").set_value([first_name]).run()
    values = direct_values(project, tables, "relative_area", "O", classes=[first_id])
    counts, _ = drawn_histogram(at)
    assert counts.sum() == np.isfinite(values).sum() == (project.labels["category_id"] == first_id).sum()
    expected, _ = np.histogram(values[np.isfinite(values)], bins=BINS)
    assert counts.tolist() == expected.tolist()


def test_split_filter_restricts_frame_metrics(detection):
    path, project, tables = detection
    assert "val" in project.splits
    name = "brightness" if "brightness" in level_metrics(tables, "F") else level_metrics(tables, "F")[0]
    at = pick(open_page(path), name, "F")
    at.selectbox(key="split").set_value("val").run()
    val_ids = project.images.loc[project.images["split"] == "val", "image_id"].to_numpy()
    values = direct_values(project, tables, name, "F", image_ids=val_ids)
    expected, _ = np.histogram(values[np.isfinite(values)], bins=BINS)
    assert drawn_histogram(at)[0].tolist() == expected.tolist()
    assert caption_count(at, r"([\d,]+) images · split 'val'") == len(val_ids)


def test_project_without_images_says_frame_metrics_are_absent(tmp_path, explorer_home):
    images = pd.DataFrame({"image_id": [1, 2, 3], "file_name": ["a.jpg", "b.jpg", "c.jpg"],
                           "width": [100.0, 200.0, 100.0], "height": [100.0, 100.0, 50.0], "split": [None] * 3})
    categories = pd.DataFrame({"category_id": [3, 7], "name": ["cat", "dog"], "supercategory": ["animal"] * 2})
    labels = pd.DataFrame({"label_id": [1, 2, 3, 4], "image_id": [1, 1, 2, 3], "category_id": [3, 7, 3, 7],
                           "x": [0.0, 10, 20, 5], "y": [0.0, 10, 20, 5], "w": [10.0, 50, 30, 40],
                           "h": [10.0, 50, 30, 20], "area": [100.0, 2500, 900, 800], "iscrowd": [False] * 4,
                           "segmentation": [None] * 4})
    project = Project.create(tmp_path / "no_images", task="detection", images=images, categories=categories,
                             labels=labels)
    compute_metrics(project, progress=False)
    tables = load_metrics(project)
    at = open_page(project.root)
    assert any("no images" in i.value for i in at.info), [i.value for i in at.info]
    options = at.selectbox(key="dq_metric").options
    assert options and not any(o.endswith("(F)") and "Brightness" in o for o in options)
    o_names = level_metrics(tables, "O")
    assert o_names
    at = pick(at, o_names[0], "O")
    values = direct_values(project, tables, o_names[0], "O")
    assert drawn_histogram(at)[0].sum() == np.isfinite(values).sum()


def test_gallery_order_is_stable_with_missing_values_last():
    from explorer.ui.data_quality import gallery_order

    values = np.array([3.0, np.nan, 1.0, 3.0, 2.0, np.inf])
    keep = np.array([True, True, True, True, True, True])
    assert gallery_order(values, keep, descending=False).tolist() == [2, 4, 0, 3, 1, 5]
    assert gallery_order(values, keep, descending=True).tolist() == [0, 3, 4, 2, 1, 5]
    assert gallery_order(values, keep & (values > 1.5), descending=False).tolist() == [4, 0, 3, 5]


PLUGIN = '''
from metrics import frame_metric

@frame_metric(name="greenness", title="Greenness", range=(0, 1), direction="neutral")
def greenness(image):
    """Green share of the image: mean(G) / (mean(R) + mean(G) + mean(B))."""
    b, g, r = image.bgr.reshape(-1, 3).mean(axis=0)
    return float(g / (r + g + b))
'''


def test_plugin_metric_from_a_user_file_appears_in_the_app(tmp_path, detection_project):
    """The README's plugin example, run through the CLI on a copy of the sample, is offered and drawn by the page."""
    import shutil

    from explorer.cli import main
    from metrics import REGISTRY

    project_dir = tmp_path / "with_plugin"
    shutil.copytree(detection_project, project_dir, ignore=shutil.ignore_patterns("cache"))
    plugin = tmp_path / "my_metrics.py"
    plugin.write_text(PLUGIN)
    try:
        assert main(["metrics", str(project_dir), "--metrics-plugin", str(plugin), "--no-progress"]) == 0
        at = open_page(project_dir)
        options = at.selectbox(key="dq_metric").options
        assert any("Greenness (F)" in str(o) for o in options), options
        at = pick(at, "greenness", "F")
        counts, edges = drawn_histogram(at)
        values = load_metrics(Project.load(project_dir)).frame["greenness"].to_numpy()
        expected, _ = np.histogram(values, bins=edges)
        assert counts.tolist() == expected.tolist() and counts.sum() == 240
    finally:
        REGISTRY.unregister("greenness")


def test_metric_rows_are_the_isin_and_reindex_rows(detection_project):
    # the rows a metric is shown over, by id look-ups, equal the former pandas isin / reindex formulation for every
    # metric and level, with and without a split and a class subset (one class, two, and an absent one)
    from explorer.datametrics.catalog import LEVEL_ID
    from explorer.ui import data_quality as dq

    project = Project.load(detection_project)
    tables = load_metrics(project)
    images = project.images["image_id"].to_numpy()
    cats = sorted(project.category_names)

    def former(choice, image_ids, classes):
        metric = {"F": tables.frame, "O": tables.labels, "P": tables.predictions}[choice.level][choice.name]
        if choice.level == "F":
            ids = image_ids
            if classes is not None:
                holders = np.union1d(*(t.loc[t["category_id"].isin(classes), "image_id"].to_numpy()
                                       for t in (project.labels, project.predictions)))
                ids = ids[np.isin(ids, holders)]
            return pd.DataFrame({"item_id": ids.astype(np.int64), "image_id": ids.astype(np.int64),
                                 "category_id": np.full(len(ids), -1, np.int64),
                                 "value": metric.reindex(ids).to_numpy(np.float64)})
        objects = project.labels if choice.level == "O" else project.predictions
        keep = objects["image_id"].isin(image_ids)
        if classes is not None:
            keep &= objects["category_id"].isin(classes)
        rows = objects.loc[keep]
        ids = rows[LEVEL_ID[choice.level]].to_numpy(np.int64)
        return pd.DataFrame({"item_id": ids, "image_id": rows["image_id"].to_numpy(np.int64),
                             "category_id": rows["category_id"].to_numpy(np.int64),
                             "value": metric.reindex(ids).to_numpy(np.float64)})

    choices = dq.metric_choices(tables)
    assert {c.level for c in choices} == {"F", "O", "P"}
    for choice in choices:
        for image_ids in (images, images[::3]):
            for classes in (None, tuple(cats[:1]), tuple(cats[:2]), (10**6,)):
                got = dq.metric_rows(project, tables, choice, image_ids=image_ids, classes=classes)
                pd.testing.assert_frame_equal(got, former(choice, image_ids, classes))
