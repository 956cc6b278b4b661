"""Bucket tables, counts, metric sorting and outcome tiles on a hand-checkable case."""
from __future__ import annotations

import numpy as np
import pandas as pd

from explorer.analysis.failure_buckets import bucket_table, metric_values, outcome_counts, sort_rows
from explorer.drawing.failure_tiles import outcome_tiles
from explorer.drawing.render import FN_COLOUR, FP_COLOUR, TP_COLOUR, render_tile
from explorer.drawing.tiles import image_boxes, tiles_from_boxes


def test_whole_selection_bucket(tiny_match):
    preds, labels = tiny_match
    table = bucket_table(preds, labels)
    assert table[["record", "id", "outcome"]].values.tolist() == [
        ["prediction", 100, "TP"], ["prediction", 101, "FP"], ["prediction", 102, "FP"], ["prediction", 103, "FP"],
        ["label", 11, "FN"], ["label", 12, "FN"], ["label", 13, "FN"]]
    counts = outcome_counts(table)
    assert counts["TP"] == 1 and counts["FP"] == 3 and counts["FN"] == 3 and counts["ignored"] == 0
    assert counts["FP:wrong_class"] == 2 and counts["FP:background"] == 1 and counts["FP:duplicate"] == 0
    assert table.loc[table["id"] == 100, "fp_reason"].isna().all()
    assert bucket_table(preds, labels, classes=[2])["id"].tolist() == [102, 11, 13]
    assert bucket_table(preds, labels, image_ids=[2])["id"].tolist() == [102, 103, 12]


def test_explicit_bucket_counts_detected_labels_as_tp(tiny_match):
    preds, labels = tiny_match
    table = bucket_table(preds, labels, label_ids=[10, 11], pred_ids=[103])
    assert table["record"].tolist() == ["prediction", "label", "label"] and table["id"].tolist() == [103, 10, 11]
    assert table["outcome"].tolist() == ["FP", "TP", "FN"]
    assert table["score"].tolist()[:2] == [0.3, 0.9] and np.isnan(table["score"].iloc[2])
    assert table["partner_id"].astype(object).where(table["partner_id"].notna(), None).tolist() == [None, 100, None]
    assert table["iou"].tolist()[:2] == [0.0, 1.0]  # FP: best same-class IoU; detected label: IoU of its match


def test_ignored_rows_are_kept_and_counted(tiny_match):
    preds, labels = tiny_match
    preds = preds.assign(ignored=[False, False, False, True])
    counts = outcome_counts(bucket_table(preds, labels))
    assert counts["ignored"] == 1 and counts["FP"] == 2


def test_metric_values_and_sorting(tiny_match):
    preds, labels = tiny_match
    table = bucket_table(preds, labels)
    values = metric_values(table, predictions=pd.Series([5.0, 1.0, 3.0], index=[100, 101, 103]),
                           labels=pd.Series([2.0, 4.0, 0.5], index=[11, 12, 13]))
    np.testing.assert_array_equal(values, [5.0, 1.0, np.nan, 3.0, 2.0, 4.0, 0.5])
    assert sort_rows(table, values, descending=True)["id"].tolist() == [100, 12, 103, 11, 101, 13, 102]
    assert sort_rows(table, values, descending=False)["id"].tolist() == [13, 101, 11, 103, 12, 100, 102]
    only_preds = metric_values(table, predictions=pd.Series([0.9], index=[100]), labels=None)
    assert np.isnan(only_preds[4:]).all()


def test_outcome_tiles_draw_outcome_colours(tiny_project, tiny_match):
    preds, labels = tiny_match
    table = bucket_table(preds, labels)
    tiles = outcome_tiles(tiny_project, table, metric_title="Score", metric_values=table["score"].to_numpy())
    assert [t.key for t in tiles] == ["prediction:100", "prediction:101", "prediction:102", "prediction:103",
                                      "label:11", "label:12", "label:13"]
    assert [t.items[-1].colour for t in tiles] == [TP_COLOUR] + [FP_COLOUR] * 3 + [FN_COLOUR] * 3
    assert tiles[1].caption.startswith(
        "FP · false detection (wrong class) · cat · score 0.80 · best IoU same class 0.00, other class 0.81")
    assert tiles[4].caption.startswith("FN · missed · dog")
    assert tiles[0].focus == (4.0, 4.0, 10.0, 10.0)
    # the TP tile shows the label it matched, captioned, as its partner
    assert any(it.caption == "cat" for it in tiles[0].items[:-1])
    image = np.full((48, 64, 3), 100, np.uint8)
    thumb = render_tile(image, tiles[0].items, focus=tiles[0].focus, max_side=96)
    assert (thumb == TP_COLOUR).all(axis=2).any()


def test_box_table_tiles_keep_images_without_boxes(tiny_project):
    boxes = image_boxes(tiny_project, [2, 3, 1], labels=True, predictions=True, min_score=0.5)
    assert boxes["image_id"].tolist() == [2, 2, 3, 1, 1, 1, 1]
    tiles = tiles_from_boxes(boxes, image_ids=[2, 3, 1, 99])
    assert [t.image_id for t in tiles] == [2, 3, 1, 99]
    assert [len(t.items) for t in tiles] == [2, 1, 4, 0]
