"""Reading a project's tables no more than a page needs: run positions from Arrow's run-end encoding, Parquet row
filters, metric tables read per level when first used and ``metrics_for`` reading only its two levels (a run's
predictions by their id range) — each equal to the plain definition it replaces."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.datametrics.engine import compute_metrics
from explorer.datametrics.tables import load_metrics, metrics_for
from explorer.errors import UserError
from explorer.project.files import parquet_columns, read_parquet
from explorer.project.folder import Project, _run_rows

from tests.metrics.helpers import boxes_frame, make_project, standard_labels, standard_predictions


def factorized_rows(column: pd.Series) -> dict[str, np.ndarray]:
    """The definition: each run's row positions, runs in order of first appearance, missing values in none."""
    codes, names = pd.factorize(column)
    return {str(name): np.flatnonzero(codes == k) for k, name in enumerate(names)}


@pytest.mark.parametrize("values, dtype", [
    (["a"] * 3 + ["b"] * 2, "str"),  # grouped, as the project stores them: slices
    (["a", "a", "b", "b", "a", "c", "b"], "str"),  # interleaved: positions
    (["only"], "str"),
    ([], "str"),
    (["a", None, "a", "b", None], "str"),  # a missing run belongs to no run
    (["x", "y", "x"], object),
])
def test_run_rows_equal_the_factorized_positions(values, dtype):
    column = pd.Series(values, dtype=dtype)
    got = _run_rows(pd.DataFrame({"run": column}))
    want = factorized_rows(column)
    assert list(got) == list(want)
    for name, rows in got.items():
        positions = np.arange(len(column))[rows]
        np.testing.assert_array_equal(positions, want[name])
        contiguous = len(want[name]) and (np.diff(want[name]) == 1).all()
        assert isinstance(rows, slice) == bool(contiguous), (name, rows)


def test_run_rows_of_many_alternating_segments():
    column = pd.Series(np.tile(np.array(["a", "b", "c"], dtype=object), 10_000), dtype="str")
    got, want = _run_rows(pd.DataFrame({"run": column})), factorized_rows(column)
    assert list(got) == ["a", "b", "c"]
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_read_parquet_filters_keep_the_rows_in_range_in_file_order(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.permutation(1000) + 1
    df = pd.DataFrame({"pred_id": ids, "v": rng.random(1000), "name": [f"n{i}" for i in ids]})
    path = tmp_path / "t.parquet"
    df.to_parquet(path, index=False, row_group_size=64)
    got = read_parquet(path, repair="-", filters=[("pred_id", ">=", 200), ("pred_id", "<=", 420)])
    want = pd.read_parquet(path)
    want = want[(want["pred_id"] >= 200) & (want["pred_id"] <= 420)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(read_parquet(path, repair="-"), pd.read_parquet(path))
    assert parquet_columns(path, repair="-") == ["pred_id", "v", "name"]


@pytest.fixture
def two_run_metrics(tmp_path) -> Project:
    """A boxes-only project (no images) with runs ``default`` and ``b`` and its computed data metrics."""
    project = make_project(tmp_path / "p", [f"{i}.png" for i in range(4)], images_root=None,
                           labels=standard_labels(), predictions=standard_predictions())
    run_b = boxes_frame([(1, 1, 1, 2, 2, 18, 18, 0.8), (2, 2, 5, 6, 4, 30, 30, 0.7), (3, 4, 1, 40, 30, 20, 20, 0.5),
                         (4, 4, 5, 0, 0, 5, 5, 0.2)], id_col="pred_id", score=True)
    project.add_predictions(run_b, run="b")
    compute_metrics(project.root, progress=False, workers=1)
    return Project.load(project.root)


def test_metric_tables_read_each_level_when_first_used(two_run_metrics):
    project = two_run_metrics
    folder = project.metrics_dir
    full = {lv: pd.read_parquet(folder / f"{file}.parquet").set_index(col)
            for lv, file, col in (("F", "frame", "image_id"), ("O", "labels", "label_id"),
                                  ("P", "predictions", "pred_id"))}
    tables = load_metrics(project)
    assert tables._tables == {}  # the catalogue comes from the footers
    assert set(tables.catalog["level"]) == {"F", "O", "P"}
    for name, lv in zip(tables.catalog["name"], tables.catalog["level"]):
        assert name in full[lv].columns
    # some ids of a level, read by their id range only, equal the rows of the whole table
    ids = project.for_run("b").predictions["pred_id"].to_numpy()
    want = full["P"][full["P"].index.isin(ids)]
    assert len(want) == 4
    pd.testing.assert_frame_equal(tables.rows("P", ids), want)
    assert tables._tables == {}
    pd.testing.assert_frame_equal(tables.predictions, full["P"])
    assert list(tables._tables) == ["P"]
    pd.testing.assert_frame_equal(tables.rows("P", ids[::-1]), want)  # now from the loaded table, table order
    pd.testing.assert_frame_equal(tables.frame, full["F"])
    pd.testing.assert_frame_equal(tables.labels, full["O"])
    assert tables.labels is tables.level("O")  # read once


@pytest.mark.parametrize("run", ["default", "b"])
def test_metrics_for_equals_own_rows_joined_to_their_images(two_run_metrics, run):
    view = two_run_metrics.for_run(run)
    folder = view.metrics_dir
    frame = pd.read_parquet(folder / "frame.parquet").set_index("image_id")
    for target, file, col in (("labels", "labels", "label_id"), ("predictions", "predictions", "pred_id")):
        own = pd.read_parquet(folder / f"{file}.parquet").set_index(col)
        source = getattr(view, target)
        own = own[own.index.isin(source[col])]
        images = source.set_index(col)["image_id"].reindex(own.index).to_numpy()
        want = pd.concat([own, frame.reindex(images).set_axis(own.index)], axis=1)
        got = metrics_for(view, target)
        pd.testing.assert_frame_equal(got, want)
        assert len(got) == (len(source))
    pd.testing.assert_frame_equal(metrics_for(view, "images"), frame)


def test_a_truncated_metric_table_is_named_when_the_tables_are_opened(two_run_metrics):
    path = two_run_metrics.metrics_dir / "predictions.parquet"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserError, match=r"predictions\.parquet: damaged or truncated Parquet table .*explorer metrics"):
        load_metrics(two_run_metrics)
