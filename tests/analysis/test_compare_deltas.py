"""Compare's per-bucket deltas read from the two matches (rows kept per run, buckets kept per rated rows) equal
the outcome-table path (``rated(detection_outcomes(...))``) exactly, over labels and predictions, object and frame
metrics, classes, splits and both thresholds; an IoU move reuses the kept buckets; a one-valued metric is one
bucket."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.analysis import compare
from explorer.analysis.compare import _bucket_deltas_of_tables, bucket_deltas, run_bucket_deltas
from explorer.project.folder import Project
from explorer.project.selection import Selection


@pytest.mark.parametrize("sel", [Selection(iou_threshold=0.5), Selection(iou_threshold=0.75, classes=(1, 3)),
                                 Selection(split="val", iou_threshold=0.6, confidence_threshold=0.4)])
def test_match_path_equals_the_outcome_tables(detection_project, sel):
    project = Project.load(detection_project)
    views = [project.for_run("baseline"), project.for_run("weaker")]
    cases = [("labels", "relative_area"), ("labels", "object_count"), ("predictions", "confidence"),
             ("predictions", "box_aspect_ratio")]
    for target, metric in cases:
        assert all(compare._rated_side(v, sel, target, metric) is not None for v in views)  # the match path
        for n in (3, 10):
            got = run_bucket_deltas(project, sel, "baseline", "weaker", metric, target=target, n_buckets=n)
            ref = _bucket_deltas_of_tables(views, sel, metric, target, n, "quantile")
            assert len(got) > 0
            pd.testing.assert_frame_equal(got, ref, check_exact=True)


def test_iou_move_reuses_the_buckets_of_the_same_rated_rows(detection_project):
    project = Project.load(detection_project)
    compare._DELTA_BUCKETS.clear()
    first = run_bucket_deltas(project, Selection(iou_threshold=0.5), "baseline", "weaker", "relative_area",
                              target="labels", n_buckets=4)
    moved = run_bucket_deltas(project, Selection(iou_threshold=0.8), "baseline", "weaker", "relative_area",
                              target="labels", n_buckets=4)
    assert len(compare._DELTA_BUCKETS) == 1  # labels: the same rated rows at every IoU, one bucketing
    assert first["range"].tolist() == moved["range"].tolist() and first["n_a"].tolist() == moved["n_a"].tolist()
    assert (moved["rate_a"] < first["rate_a"]).all()  # a stricter IoU detects fewer labels in every bucket
    run_bucket_deltas(project, Selection(iou_threshold=0.8, classes=(2,)), "baseline", "weaker", "relative_area",
                      target="labels", n_buckets=4)
    assert len(compare._DELTA_BUCKETS) == 2


def test_one_valued_metric_is_one_bucket():
    out = bucket_deltas([2.0, 2.0, 2.0], [True, False, True], [2.0, 2.0], [True, True], kind="labels", n_buckets=4)
    assert out["range"].tolist() == ["[2, 2]"]
    assert out["n_a"].tolist() == [3] and out["n_b"].tolist() == [2]
    np.testing.assert_array_equal(out["delta"], [1 - 2 / 3])
