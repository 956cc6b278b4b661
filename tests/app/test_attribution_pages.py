"""Attribution maps in the app (AppTest on the bundled classification sample, which ships its model's maps):
the sidebar's opacity slider, the heat-map overlay on the gallery's thumbnails (the exact PNG the page sends),
and the attribution metrics on Data Quality and Metric Importance with the core's numbers."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from explorer.datametrics.engine import load_metrics
from explorer.project.folder import Project

from .apptest import open_page

ENTROPY = "Attribution entropy (normalised) (F)"


@pytest.fixture(scope="module")
def sample(explorer_home) -> Path:
    from explorer.samples import build_sample, list_samples

    (spec,) = [s for s in list_samples() if s["name"] == "classification"]
    return build_sample(spec, progress=False)


def test_the_sample_has_a_map_per_image_and_its_metrics(sample):
    project = Project.load(sample)
    assert project.manifest["attributions"]["count"] == len(project.images) == 360
    tables = load_metrics(project)
    assert tables.frame["attribution_entropy"].notna().all() and tables.frame["attribution_spread"].notna().all()
    # the map of image 0000.png is the model's x ⊙ w_c: recompute its entropy from the shipped file
    from metrics.attribution import entropy

    shipped = np.load(Path(__file__).resolve().parents[2] / "sample_data/classification/attributions/0000.npy")
    image_id = int(project.images.loc[project.images["file_name"] == "0000.png", "image_id"].iloc[0])
    assert tables.frame.loc[image_id, "attribution_entropy"] == entropy(shipped)


def test_data_quality_histogram_of_attribution_entropy(monkeypatch, sample):
    at = open_page(monkeypatch, sample, "data_quality.py")
    assert at.slider(key="attribution_opacity").value == 0.5  # the sidebar slider: the project has maps
    at.selectbox(key="dq_metric").set_value("attribution_entropy@F").run()
    assert not at.exception, at.exception
    values = load_metrics(Project.load(sample)).frame["attribution_entropy"].to_numpy(float)
    expected, _ = np.histogram(values, bins=30)
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert np.asarray(bars["y"], dtype=np.int64).tolist() == expected.tolist()


def test_metric_importance_lists_the_attribution_metrics(monkeypatch, sample):
    from explorer import tasks
    from explorer.analysis.importance import metric_importance
    from explorer.project.selection import Selection

    at = open_page(monkeypatch, sample, "model_metrics.py")
    tables = [d.value for d in at.dataframe if "display_name" in d.value.columns and "importance" in d.value]
    assert tables, "no importance table on the page"
    shown = tables[0].set_index("display_name")
    project = Project.load(sample)
    rows = tasks.get("classification").outcome_table(project, Selection(), "images")
    rows = rows[rows["correct"].notna()]
    core = metric_importance(rows[["attribution_entropy", "attribution_spread"]], rows["correct"].to_numpy(bool))
    core = core.set_index("metric")
    assert shown.loc[ENTROPY, "importance"] == core.loc["attribution_entropy", "importance"]
    assert shown.loc["Attribution spread (area share of 50 % mass) (F)", "importance"] == \
        core.loc["attribution_spread", "importance"]


def _thumbnails(project: Project, opacity: float) -> dict[str, int]:
    """``{media file id: image_id}`` of every image's gallery thumbnail (no boxes, 300 px) as the app must send
    it: the image decoded under the engine's guards, the map blended at ``opacity``, PNG-encoded, then as
    Streamlit serves it (its media id is a hash of the served bytes, so equal ids = equal pictures)."""
    from streamlit.elements.lib.image_utils import _ensure_image_size_and_format
    from streamlit.elements.lib.layout_utils import LayoutConfig
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    from explorer.datametrics.worker import read_image_file
    from explorer.drawing.attribution import overlay
    from explorer.drawing.render import render_tile
    from explorer.io.attributions import load_map
    from metrics.image import decode_full

    out = {}
    for image_id, name in zip(project.images["image_id"], project.images["file_name"]):
        image = decode_full(read_image_file(str(project.image_path(name))))
        if opacity:
            image = overlay(image, load_map(project, int(image_id)), opacity)
        ok, png = cv2.imencode(".png", render_tile(image, (), focus=None, max_side=300))
        # st.image serves a PNG without alpha as JPEG (quality 90): the id is that of the served bytes
        served = _ensure_image_size_and_format(png.tobytes(), LayoutConfig(width="stretch"), "JPEG")
        out[_calculate_file_id(served, "image/jpeg")] = int(image_id)
    return out


def _shown_ids(at) -> list[str]:
    urls = [img.url for element in at.get("image") for img in element.proto.imgs]
    assert urls, "no thumbnail on the page"
    return [Path(u).stem for u in urls]


def test_classification_gallery_shows_the_overlay_and_the_slider_controls_it(monkeypatch, sample):
    project = Project.load(sample)
    at = open_page(monkeypatch, sample, "classification.py")
    with_maps, plain = _thumbnails(project, 0.5), _thumbnails(project, 0.0)
    shown = _shown_ids(at)
    assert all(s in with_maps for s in shown), "a thumbnail without the heat-map at the default opacity"
    at.slider(key="attribution_opacity").set_value(0.0).run()
    assert not at.exception, at.exception
    assert all(s in plain for s in _shown_ids(at)), "opacity 0 must show the plain image"
    at.slider(key="attribution_opacity").set_value(0.8).run()
    strong = _thumbnails(project, 0.8)
    assert all(s in strong for s in _shown_ids(at))
