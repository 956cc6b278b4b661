"""Attribution metrics through the data-metrics engine: exact values in the tables, the catalogue, the cache key."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
from helpers import boxes_frame, make_project, write_images  # noqa: E402

from explorer.datametrics.engine import compute_metrics, load_metrics, metrics_for  # noqa: E402
from explorer.io.attributions import add_attributions  # noqa: E402
from explorer.project.folder import Project  # noqa: E402


@pytest.fixture()
def project(tmp_path):
    names = write_images(tmp_path / "images", 3)  # 64 x 48 px
    labels = boxes_frame([(10, 1, 1, 0, 0, 32, 24), (11, 1, 1, 0, 0, 64, 48), (12, 2, 1, 0, 0, 16, 12),
                          (13, 2, 5, 32, 24, 32, 24), (14, 3, 1, 0, 0, 10, 10)], id_col="label_id")
    preds = boxes_frame([(100, 1, 1, 16, 0, 32, 48, 0.9), (101, 2, 1, 0, 0, 64, 48, 0.5)], id_col="pred_id",
                        score=True)
    project = make_project(tmp_path / "proj", names, images_root=tmp_path / "images", labels=labels,
                           predictions=preds)
    maps = tmp_path / "maps"
    maps.mkdir()
    np.save(maps / "img_000.npy", np.ones((4, 4)))                      # uniform
    np.save(maps / "img_001.npy", np.array([[8.0, 0.0], [0.0, -3.0]]))  # all the mass in the top-left cell
    add_attributions(project, maps)
    return Project.load(project.root), maps


def test_values_catalogue_and_joins(project):
    project, _ = project
    compute_metrics(project, progress=False, workers=1)
    tables = load_metrics(project)
    # O: energy pointing game of each label; image 3 has no map: NaN
    energy = tables.labels["attribution_in_box"]
    np.testing.assert_array_equal(energy.loc[[10, 11, 12, 13]].to_numpy(), [0.25, 1.0, 0.25, 0.0])
    assert np.isnan(energy.loc[14])
    np.testing.assert_array_equal(tables.predictions["attribution_in_box"].loc[[100, 101]].to_numpy(), [0.5, 1.0])
    # F: entropy 1 / 0 and spread 1/2 / 1/4; NaN without a map
    np.testing.assert_array_equal(tables.frame["attribution_entropy"].loc[[1, 2]].to_numpy(), [1.0, 0.0])
    np.testing.assert_array_equal(tables.frame["attribution_spread"].loc[[1, 2]].to_numpy(), [0.5, 0.25])
    assert tables.frame.loc[3, ["attribution_entropy", "attribution_spread"]].isna().all()
    cat = tables.catalog.set_index(["name", "level"])
    assert cat.loc[("attribution_in_box", "O"), "display_name"] == "Attribution mass inside the box (O)"
    assert cat.loc[("attribution_in_box", "P"), "direction"] == "higher_is_better"
    assert cat.loc[("attribution_entropy", "F"), "unit"] == "bits/bit"
    assert cat.loc[("attribution_spread", "F"), "hi"] == 1.0
    # F metrics join to labels like any other
    joined = metrics_for(project, "labels")
    assert joined.loc[12, "attribution_entropy"] == 0.0 and joined.loc[12, "attribution_in_box"] == 0.25


def test_cache_is_keyed_by_the_map_fingerprint(project):
    project, maps = project
    compute_metrics(project, progress=False, workers=1)
    cache = project.root / "cache" / "attributions"
    stamp = {f: (cache / f).stat().st_mtime_ns for f in ("frame.parquet", "boxes.parquet")}
    compute_metrics(project, progress=False, workers=1)  # nothing changed: the cache is not rewritten
    assert {f: (cache / f).stat().st_mtime_ns for f in stamp} == stamp
    assert len(pd.read_parquet(cache / "frame.parquet")) == 2
    # a new map for image 1 (same file name, new content): its values follow, the old item is dropped
    np.save(maps / "img_000.npy", np.array([[0.0, 0.0], [0.0, 1.0]]))
    add_attributions(project, maps, replace=True)
    project = Project.load(project.root)
    compute_metrics(project, progress=False, workers=1)
    tables = load_metrics(project)
    np.testing.assert_array_equal(tables.labels["attribution_in_box"].loc[[10, 11]].to_numpy(), [0.0, 1.0])
    assert tables.frame.loc[1, "attribution_entropy"] == 0.0 and tables.frame.loc[1, "attribution_spread"] == 0.25
    assert len(pd.read_parquet(cache / "frame.parquet")) == 2
    assert pd.read_parquet(cache / "boxes.parquet")["item"].nunique() == 4  # O and P box sets of 2 images


def test_a_project_without_maps_has_no_attribution_columns(tmp_path):
    names = write_images(tmp_path / "images", 2)
    project = make_project(tmp_path / "proj", names, images_root=tmp_path / "images")
    compute_metrics(project, progress=False, workers=1)
    tables = load_metrics(project)
    assert not [c for c in tables.frame.columns if c.startswith("attribution")]
    assert not tables.catalog["name"].str.startswith("attribution").any()


def test_a_damaged_stored_map_is_named_and_costs_only_its_image(project):
    project, _ = project
    (project.root / "attributions" / "2.npy").write_bytes(b"garbage")
    stats = compute_metrics(project, progress=False, workers=1)
    bad = [p for p in stats.problems.problems if p.kind == "bad_map"]
    assert len(bad) == 1 and bad[0].file.endswith("attributions/2.npy")
    tables = load_metrics(project)
    assert tables.frame.loc[1, "attribution_entropy"] == 1.0 and np.isnan(tables.frame.loc[2, "attribution_entropy"])
