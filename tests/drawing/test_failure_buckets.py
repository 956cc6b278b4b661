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
    # failures first: missed labels (FN), then false detections, then true positives, each by the value
    assert sort_rows(table, values, descending=True)["id"].tolist() == [12, 11, 13, 103, 101, 102, 100]
    assert sort_rows(table, values, descending=False)["id"].tolist() == [13, 11, 12, 101, 103, 102, 100]
    assert sort_rows(table, values, descending=True, failures_first=False)["id"].tolist() == [100, 12, 103, 11, 101, 13, 102]
    assert sort_rows(table, values, descending=False, failures_first=False)["id"].tolist() == [13, 101, 11, 103, 12, 100, 102]
    only_preds = metric_values(table, predictions=pd.Series([0.9], index=[100]), labels=None)
    assert np.isnan(only_preds[4:]).all()


def test_outcome_tiles_draw_outcome_colours(tiny_project, tiny_match):
    preds, labels = tiny_match
    table = bucket_table(preds, labels)
    tiles = outcome_tiles(tiny_project, table, metric_title="Score", metric_values=table["score"].to_numpy())
    assert [t.key for t in tiles] == ["prediction:100", "prediction:101", "prediction:102", "prediction:103",
                                      "label:11", "label:12", "label:13"]
    assert [t.items[-1].colour for t in tiles] == [TP_COLOUR] + [FP_COLOUR] * 3 + [FN_COLOUR] * 3
    # a wrong-class false detection names the true class and its IoU; a missed label what was near it
    assert tiles[1].caption.startswith("FP · false detection (wrong class) · cat · score 0.80 · true class dog, IoU 0.81 ·")
    assert tiles[2].caption.startswith("FP · false detection (wrong class) · dog · score 0.70 · true class cat, IoU 1.00 ·")
    assert tiles[3].caption.startswith("FP · false detection (background) · cat · score 0.30 · best IoU same class 0.00, "
                                       "other class 0.00 ·")
    assert tiles[4].caption.startswith("FN · missed · dog · near miss 0.81 with cat ·")
    assert tiles[5].caption.startswith("FN · missed · cat · near miss 1.00 with dog ·")
    assert tiles[6].caption.startswith("FN · missed · dog · nothing near ·")
    # predictions below the confidence threshold are not "near"
    table.attrs["confidence_threshold"] = 0.75
    assert outcome_tiles(tiny_project, table.iloc[[5]])[0].caption.startswith("FN · missed · cat · nothing near")
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


def test_nearest_other_is_the_best_overlap_of_the_other_record(tiny_project, tiny_match):
    from explorer.analysis.failure_buckets import nearest_other

    table = bucket_table(*tiny_match)
    near = nearest_other(table, tiny_project.labels, tiny_project.predictions)
    got = dict(zip(table["id"], zip(near["near_id"].astype(object).where(near["near_id"].notna(), None),
                                    near["near_iou"].round(4))))
    # 100 (cat) has no label of another class over it; 101 (cat) overlaps dog label 11: 18²/20² = 0.81
    assert got == {100: (None, 0.0), 101: (11, 0.81), 102: (12, 1.0), 103: (None, 0.0),
                   11: (101, 0.81), 12: (102, 1.0), 13: (None, 0.0)}


def test_caption_tags_never_overlap():
    from explorer.drawing.render import DrawItem, _put_caption, draw_annotations

    # three boxes at the same corner: their tags are stacked, not drawn over each other
    image = np.full((120, 160, 3), 90, np.uint8)
    items = [DrawItem(40, 40, 30, 30, caption=f"tag {i}") for i in range(3)]
    taken: list = []
    for i in range(3):
        _put_caption(image.copy(), f"tag {i}", 40, 40, (0, 0, 255), font_scale=0.4, taken=taken)
    assert len(taken) == 3 and taken[0][3] <= 40  # the first one above the box
    for i, a in enumerate(taken):
        for b in taken[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    assert draw_annotations(image, items).shape == image.shape


def test_sorted_window_is_the_stable_lexsort_window():
    from explorer.analysis.failure_buckets import sort_key, sorted_window

    rng = np.random.default_rng(7)
    for n in (0, 1, 7, 50, 3000):
        rank = rng.integers(0, 4, n)
        values = rng.choice([0.1, 0.2, 0.5, np.nan, 0.9], n)  # heavy ties and missing values
        values[: n // 3] = rng.random(n // 3)
        for descending in (True, False):
            key = sort_key(values, descending=descending)
            full = np.lexsort((key, rank))
            for start, stop in ((0, 12), (5, 17), (n // 2, n // 2 + 12), (max(n - 3, 0), n + 5), (0, n)):
                np.testing.assert_array_equal(sorted_window(rank, key, start, stop), full[start:stop])


def test_bucket_source_rows_counts_and_frame(tiny_match):
    from explorer.analysis.failure_buckets import BucketSource

    preds, labels = tiny_match
    source = BucketSource(preds, labels, confidence_threshold=0.25)
    bucket = source.bucket()
    assert len(bucket) == 7 and bucket.counts() == outcome_counts(bucket_table(preds, labels))
    page = bucket.take([5, 0]).frame()
    assert page["id"].tolist() == [12, 100] and page["outcome"].tolist() == ["FN", "TP"]
    assert page.attrs["confidence_threshold"] == 0.25
    chosen = source.bucket(label_ids=[10, 11], pred_ids=[103])
    assert chosen.column("id").tolist() == [103, 10, 11] and chosen.column("score")[:2].tolist() == [0.3, 0.9]
    values = source.aligned("m", pd.Series([5.0, 1.0, 3.0], index=[100, 101, 103]), None)
    assert values[bucket.rows].tolist()[:2] == [5.0, 1.0] and np.isnan(values[bucket.rows][4:]).all()


def test_bucket_source_reads_the_matchs_reason_codes_like_its_reason_column(tiny_project):
    from explorer.analysis.failure_buckets import BucketSource
    from explorer.evaluation import Matcher

    for iou in (0.3, 0.5, 0.9):
        m = Matcher.from_project(tiny_project).match(iou)
        assert m.fp_code is not None and len(m.fp_code) == len(m.predictions)
        fast = BucketSource(m.predictions, m.labels, fp_code=m.fp_code).bucket()
        plain = BucketSource(m.predictions, m.labels).bucket()
        assert fast.counts() == plain.counts() == outcome_counts(bucket_table(m.predictions, m.labels))
        pd.testing.assert_frame_equal(fast.frame(), plain.frame())
        assert fast.frame()["fp_reason"].tolist() == plain.frame()["fp_reason"].tolist()


def test_bucket_source_of_rows_is_the_source_of_those_rows(tiny_project):
    """``BucketSource.of_rows`` (columns gathered at some rows of a match) holds what a source of the same rows cut
    out of the frames holds, except that a label's score is its matched prediction's among all predictions."""
    from explorer.analysis.failure_buckets import Bucket, BucketSource
    from explorer.evaluation import Matcher

    for iou in (0.3, 0.5):
        m = Matcher.from_project(tiny_project).match(iou)
        p, lab = m.predictions, m.labels
        pred_rows, label_rows = np.arange(1, len(p), 2), np.arange(len(lab))
        got = BucketSource.of_rows(p, lab, pred_rows=pred_rows, label_rows=label_rows, fp_code=m.fp_code)
        cut = BucketSource(p.iloc[pred_rows], lab.iloc[label_rows])
        rows = np.arange(len(pred_rows) + len(label_rows))
        a, b = Bucket(got, rows).frame(), Bucket(cut, rows).frame()
        scores = dict(zip(p["pred_id"], p["score"]))
        partner = lab["pred_id"].iloc[label_rows]
        expected = [scores.get(int(i), np.nan) if pd.notna(i) else np.nan for i in partner]
        np.testing.assert_array_equal(a["score"].to_numpy()[len(pred_rows):], expected)
        assert np.isfinite(expected).any()  # a detected label among them: its score came from an uncut row
        pd.testing.assert_frame_equal(a.drop(columns="score"), b.drop(columns="score"), check_exact=True)
        np.testing.assert_array_equal(a["score"].to_numpy()[:len(pred_rows)], p["score"].to_numpy()[pred_rows])
        assert got.n_pred == len(pred_rows) and Bucket(got, rows).counts() == Bucket(cut, rows).counts()


def test_nearest_other_is_the_brute_force_best_overlap():
    # random boxes on a coarse grid (many exact IoU ties) on 6 images: each row's best candidate by a plain loop —
    # labels: any prediction scoring >= min_score, predictions: a label of another class; ties: the first in
    # table order; nothing overlapping (IoU 0): <NA>; an id missing from its table: <NA>
    from explorer.analysis.failure_buckets import _box_iou, nearest_other

    rng = np.random.default_rng(7)

    def boxes(n, id_name):
        xy, wh = rng.integers(0, 5, (n, 2)) * 4.0, rng.integers(1, 4, (n, 2)) * 4.0
        return pd.DataFrame({id_name: rng.permutation(n) * 3 + 1, "image_id": rng.integers(1, 7, n),
                             "category_id": rng.integers(1, 4, n), "x": xy[:, 0], "y": xy[:, 1], "w": wh[:, 0],
                             "h": wh[:, 1]})

    labels, preds = boxes(40, "label_id"), boxes(90, "pred_id").assign(score=lambda d: rng.random(len(d)).round(1))
    rows = pd.concat([pd.DataFrame({"record": "label", "id": labels["label_id"], "image_id": labels["image_id"],
                                    "category_id": labels["category_id"]}),
                      pd.DataFrame({"record": "prediction", "id": preds["pred_id"], "image_id": preds["image_id"],
                                    "category_id": preds["category_id"]}),
                      pd.DataFrame({"record": ["label"], "id": [999_999], "image_id": [1], "category_id": [1]})],
                     ignore_index=True).sample(frac=1.0, random_state=1)
    box = ["x", "y", "w", "h"]
    for min_score in (0.0, 0.5):
        got = nearest_other(rows, labels, preds, min_score=min_score)
        assert got.index.equals(rows.index)
        for r, near_id, near_class, near_iou in zip(rows.itertuples(), got["near_id"], got["near_class"],
                                                    got["near_iou"]):
            own, cand = (labels, preds[preds["score"] >= min_score]) if r.record == "label" else (preds, labels)
            me = own[own.iloc[:, 0].to_numpy() == r.id][box].to_numpy(float)
            best, best_iou = None, 0.0
            for c in cand[cand["image_id"].to_numpy() == r.image_id].itertuples(index=False):
                if not len(me) or (r.record == "prediction" and c.category_id == r.category_id):
                    continue
                iou = _box_iou(me, np.array([[c.x, c.y, c.w, c.h]]))[0]
                if iou > best_iou:  # strictly better: a tie keeps the first
                    best, best_iou = c, iou
            if best is None:
                assert pd.isna(near_id) and pd.isna(near_class) and near_iou == 0.0
            else:
                assert (near_id, near_class, near_iou) == (best[0], best.category_id, best_iou)
