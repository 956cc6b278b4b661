"""Segmentation "why and where": the per-image IoU gallery is worst-first, a by-metric bucket opens exactly its
images, the palette keeps classes apart (and a class its colour), and the splits table sits beside the split."""
from __future__ import annotations

import re

import numpy as np

from explorer.evaluation import segmentation as seg
from explorer.project.folder import Project
from explorer.ui.segmentation import _lab, palette

from .apptest import open_page


def captions(at) -> list[str]:
    return [re.sub(r"\\(.)", r"\1", i.caption) for e in at.get("image") for i in e.proto.imgs]


def test_palette_is_distinct_and_stable():
    colours = palette(60)
    assert colours.shape == (60, 3) and colours.dtype == np.uint8
    assert palette(4).tolist() == colours[:4].tolist() == [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40]]
    lab = _lab(colours)
    distance = np.sqrt(((lab[:, None] - lab[None]) ** 2).sum(-1))
    np.fill_diagonal(distance, np.inf)
    assert distance.min() > 10  # CIELAB ΔE: every pair of the first 60 classes is clearly apart
    white = _lab(np.array([[255, 255, 255]], np.uint8))[0]
    assert np.sqrt(((lab - white) ** 2).sum(-1)).min() > 10  # and apart from the ignore colour
    assert len({tuple(c) for c in palette(300).tolist()}) == 256  # beyond 256 classes the colours repeat


def test_worst_first_gallery_buckets_and_splits(monkeypatch, sample_projects):
    root = sample_projects["segmentation"]
    project = Project.load(root)
    out = seg.outcomes(project)
    files = project.images.set_index("image_id")["file_name"]
    at = open_page(monkeypatch, root, "segmentation.py")
    worst = out.sort_values(["miou", "image_id"], kind="stable")
    gallery = [c for c in captions(at) if "· pixel accuracy " in c]
    first = worst.iloc[0]
    assert gallery[0] == f"{files[first.image_id]} · mIoU {first.miou:.4f} · pixel accuracy {first.pixel_accuracy:.4f}"
    assert sorted(c.split(" · ")[0] for c in gallery) == sorted(files.reindex(worst["image_id"].head(8)))

    splits = next(d.value for d in at.main.dataframe if "shown" in d.value.columns)
    assert list(splits["split"]) == ["all", "train", "val", "test"] and list(splits["shown"]) == ["◀ selected", "", "", ""]
    for split, value in zip(splits["split"], splits["mIoU"]):
        ids = None if split == "all" else project.images.loc[project.images["split"] == split, "image_id"]
        assert value == seg.evaluate_project(project, image_ids=ids).summary["mIoU"]

    at.selectbox(key="split").set_value("test").run()
    splits = next(d.value for d in at.main.dataframe if "shown" in d.value.columns)
    assert list(splits["shown"]) == ["", "", "", "◀ selected"]
    test_ids = project.images.loc[project.images["split"] == "test", "image_id"]
    test = out[out["image_id"].isin(test_ids)]
    metric = at.selectbox(key="seg_metric").value
    from explorer.datametrics.tables import metrics_for
    from explorer.tasks.segmentation import miou_by_bucket

    values = metrics_for(project, "images")[metric].reindex(test["image_id"]).to_numpy()
    table, buckets = miou_by_bucket(values, test["miou"].to_numpy())
    at.selectbox(key=f"seg_bucket_pick.{metric}.{len(table)}").set_value(0).run()
    assert not at.exception, at.exception
    opened = [c for c in captions(at) if "(F) " in c]  # the bucket gallery names the metric (its title)
    expected = test[buckets.index == 0].sort_values(["miou", "image_id"])
    assert sorted(c.split(" · ")[0] for c in opened) == sorted(files.reindex(expected["image_id"].head(8)))
