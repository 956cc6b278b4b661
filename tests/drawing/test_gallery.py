"""AppTest of the paginated gallery widget on a real project with real (and one missing) image files."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script(project_root: str, mode: str) -> str:
    return f'''
import streamlit as st
from explorer.project.folder import Project
from explorer.drawing.tiles import image_boxes
from explorer.analysis.failure_buckets import bucket_table
from explorer.drawing.failure_tiles import outcome_tiles
from explorer.ui.gallery import show_gallery
import pandas as pd

project = Project.load({project_root!r})
if {mode!r} == "pages":
    from explorer.drawing.tiles import Tile
    from explorer.ui.gallery import Pages
    asked = st.session_state.setdefault("asked", [])
    def tiles(a, b):
        asked.append((a, b))
        return [Tile(1, caption=f"item {{i}}", key=f"item:{{i}}") for i in range(a, b)]
    shown = show_gallery(Pages(1_000_000, tiles), key="p", project=project, per_page=4, columns=4)
elif {mode!r} == "boxes":
    boxes = image_boxes(project, [1, 2, 3], labels=True)
    shown = show_gallery(boxes, key="g", project=project, per_page=2, columns=2)
else:
    table = bucket_table(
        pd.DataFrame({{"pred_id": [100, 101], "image_id": [1, 1], "category_id": [1, 1], "score": [0.9, 0.8],
                      "is_tp": [True, False], "label_id": pd.array([10, None], dtype="Int64"), "iou": [1.0, 0.0],
                      "fp_reason": [None, "background"], "ignored": [False, False]}}),
        pd.DataFrame({{"label_id": [13], "image_id": [3], "category_id": [2], "iscrowd": [False],
                      "detected": [False], "pred_id": pd.array([None], dtype="Int64"), "iou": [float("nan")], "ignored": [False]}}))
    shown = show_gallery(table, key="f", project=project, per_page=3, columns=3,
                         make_tiles=lambda rows: outcome_tiles(project, rows))
st.session_state["shown"] = [t.key for t in shown]
'''


def test_box_gallery_paginates_and_reports_missing_image(tiny_project):
    at = AppTest.from_string(_script(str(tiny_project.root), "boxes"), default_timeout=60).run()
    assert not at.exception
    assert at.session_state["shown"] == ["image:1", "image:2"]
    assert len(at.get("image")) == 2
    at.number_input(key="g:page").set_value(2).run()
    assert not at.exception
    assert at.session_state["shown"] == ["image:3"]
    assert any("gone.png" in w.value and "missing" in w.value for w in at.warning)


def test_outcome_gallery_shows_one_tile_per_row(tiny_project):
    at = AppTest.from_string(_script(str(tiny_project.root), "outcomes"), default_timeout=60).run()
    assert not at.exception
    assert at.session_state["shown"] == ["prediction:100", "prediction:101", "label:13"]
    assert len(at.get("image")) == 2
    assert len(at.warning) == 1  # the missed label lies on the missing image


def test_pages_gallery_makes_only_the_page_shown(tiny_project):
    at = AppTest.from_string(_script(str(tiny_project.root), "pages"), default_timeout=60).run()
    assert not at.exception
    assert at.session_state["shown"] == ["item:0", "item:1", "item:2", "item:3"]
    at.number_input(key="p:page").set_value(250_000).run()
    assert not at.exception
    assert at.session_state["shown"] == [f"item:{i}" for i in range(999_996, 1_000_000)]
    assert at.session_state["asked"] == [(0, 4), (999_996, 1_000_000)]  # one page made per run, nothing else
