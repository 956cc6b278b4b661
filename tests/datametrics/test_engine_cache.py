"""The engine recomputes only what changed: counted with ``MetricsStats``, never by timing."""
from __future__ import annotations

import textwrap

import cv2
import numpy as np
import pandas as pd

from explorer.datametrics.engine import compute_frame_metrics, compute_metrics, load_metrics
from explorer.project.folder import Project

from tests.metrics.helpers import boxes_frame, make_project, standard_labels, standard_predictions, write_images

N = 5
N_FRAME_IMAGE_METRICS = 13  # brightness ... overexposed_fraction (kind="image", level F)


def build(tmp_path, labels=None):
    names = write_images(tmp_path / "images", N)
    project = make_project(tmp_path / "project", names, images_root=tmp_path / "images",
                           labels=standard_labels() if labels is None else labels, predictions=standard_predictions())
    return project, names


def test_first_run_computes_everything_second_run_nothing(tmp_path):
    project, _ = build(tmp_path)
    first = compute_metrics(project, progress=False, workers=1)
    assert first.images_decoded == N and first.frame_images_computed == N
    assert first.frame_values_computed == N * N_FRAME_IMAGE_METRICS
    assert first.box_images_computed == {"O": 3, "P": 3}  # images 1, 2, 4 have labels; 1, 2, 3 predictions
    assert first.box_values_computed == {"O": 5 * 3, "P": 3 * 3}  # 3 in-box metrics per box
    before = load_metrics(project)
    second = compute_metrics(project, progress=False, workers=1)
    assert second.images_decoded == 0 and second.frame_values_computed == 0
    assert second.box_images_computed == {"O": 0, "P": 0}
    after = load_metrics(project)
    pd.testing.assert_frame_equal(before.frame, after.frame)
    pd.testing.assert_frame_equal(before.labels, after.labels)


def test_edited_image_is_the_only_one_recomputed(tmp_path):
    project, names = build(tmp_path)
    compute_metrics(project, progress=False, workers=1)
    before = load_metrics(project).frame
    cv2.imwrite(str(tmp_path / "images" / names[0]), np.full((48, 64, 3), 7, np.uint8))  # image_id 1
    stats = compute_metrics(project, progress=False, workers=1)
    assert stats.images_decoded == 1 and stats.frame_images_computed == 1
    assert stats.box_images_computed == {"O": 1, "P": 1}  # its boxes are re-measured on the new pixels
    after = load_metrics(project).frame
    assert after.loc[1, "brightness"] == 7 / 255 and after.loc[1, "contrast"] == 0.0
    pd.testing.assert_frame_equal(before.drop(index=1).drop(columns="uniqueness"),
                                  after.drop(index=1).drop(columns="uniqueness"))


def test_new_image_is_the_only_one_computed(tmp_path):
    project, names = build(tmp_path)
    compute_metrics(project, progress=False, workers=1)
    extra = write_images(tmp_path / "more", 1, seed=9)[0]
    (tmp_path / "images" / "new.png").write_bytes((tmp_path / "more" / extra).read_bytes())
    images = pd.concat([project.images, pd.DataFrame({"image_id": [99], "file_name": ["new.png"], "width": [64.0],
                                                      "height": [48.0], "split": ["val"]})], ignore_index=True)
    project = Project.create(project.root, task="detection", images=images, categories=project.categories,
                             labels=project.labels, predictions=project.predictions, images_root=tmp_path / "images")
    stats = compute_metrics(project, progress=False, workers=1)
    assert stats.images == N + 1 and stats.images_decoded == 1 and stats.frame_images_computed == 1
    assert stats.box_images_computed == {"O": 0, "P": 0}
    assert np.isfinite(load_metrics(project).frame.loc[99, "sharpness"])


def test_edited_labels_recompute_only_that_images_box_metrics(tmp_path):
    project, _ = build(tmp_path)
    compute_metrics(project, progress=False, workers=1)
    labels = project.labels.copy()
    labels.loc[labels["label_id"] == 13, ["w", "area"]] = [10.0, 300.0]  # the only label of image 2
    project = Project.create(project.root, task="detection", images=project.images, categories=project.categories,
                             labels=labels, predictions=project.predictions, images_root=tmp_path / "images")
    stats = compute_metrics(project, progress=False, workers=1)
    assert stats.images_decoded == 1
    assert stats.frame_values_computed == 0
    assert stats.box_images_computed == {"O": 1, "P": 0}
    assert stats.box_values_computed == {"O": 3, "P": 0}
    assert load_metrics(project).labels.loc[13, "object_area"] == 300.0


def test_new_metric_and_changed_version_are_computed_for_every_image(tmp_path):
    project, _ = build(tmp_path)
    compute_metrics(project, progress=False, workers=1)
    plugin = tmp_path / "plugin_v1.py"
    plugin.write_text(textwrap.dedent('''
        from metrics import frame_metric

        @frame_metric(name="cache_test_green", title="Green mean", range=(0, 255), version=1)
        def cache_test_green(image):
            """mean(G) of the working image."""
            return float(image.bgr[..., 1].mean())
    '''))
    stats = compute_metrics(project, plugins=[plugin], progress=False, workers=1)
    assert stats.images_decoded == N
    assert stats.frame_values_computed == N  # only the new metric
    assert stats.box_images_computed == {"O": 0, "P": 0}
    again = compute_metrics(project, plugins=[plugin], progress=False, workers=1)
    assert again.frame_values_computed == 0
    # the same metric, version bumped in another file: recomputed for every image
    from metrics import REGISTRY

    REGISTRY.unregister("cache_test_green")
    plugin2 = tmp_path / "plugin_v2.py"
    plugin2.write_text(plugin.read_text().replace("version=1", "version=2"))
    bumped = compute_metrics(project, plugins=[plugin2], progress=False, workers=1)
    assert bumped.frame_values_computed == N
    REGISTRY.unregister("cache_test_green")


def test_pool_and_in_process_give_identical_tables(tmp_path):
    names = write_images(tmp_path / "images", 30, size=(32, 40))
    labels = boxes_frame([(i, 1 + i % 30, 1, i % 7, i % 5, 8 + i % 4, 6) for i in range(60)], id_col="label_id")
    a = make_project(tmp_path / "a", names, images_root=tmp_path / "images", labels=labels)
    b = make_project(tmp_path / "b", names, images_root=tmp_path / "images", labels=labels)
    sa = compute_metrics(a, progress=False, workers=1)
    sb = compute_metrics(b, progress=False, workers=2)
    assert sa.frame_images_computed == sb.frame_images_computed == 30
    ma, mb = load_metrics(a), load_metrics(b)
    pd.testing.assert_frame_equal(ma.frame, mb.frame)
    pd.testing.assert_frame_equal(ma.labels, mb.labels)


def test_project_without_images_keeps_box_metrics_and_says_why_pixels_are_missing(tmp_path):
    names = [f"img_{i:03d}.png" for i in range(N)]
    project = make_project(tmp_path / "p", names, images_root=None, labels=standard_labels(),
                           predictions=standard_predictions())
    stats = compute_metrics(project, progress=False)
    assert stats.images_decoded == 0
    tables = load_metrics(project)
    assert "brightness" not in tables.frame.columns and "box_brightness" not in tables.labels.columns
    assert tables.unavailable[("brightness", "F")].startswith("needs pixels")
    assert tables.unavailable[("uniqueness", "F")].startswith("needs pixels")
    assert tables.frame.loc[1, "object_count"] == 3 and tables.frame.loc[1, "image_width"] == 64
    assert tables.labels.loc[10, "relative_area"] == 400 / (64 * 48)
    assert set(tables.catalog["name"]) >= {"relative_area", "object_density", "confidence"}
    assert "brightness" not in set(tables.catalog["name"])


def test_unreadable_and_missing_images_are_reported_by_name_and_the_rest_computed(tmp_path):
    project, names = build(tmp_path)
    (tmp_path / "images" / names[1]).write_bytes(b"this is not a PNG")  # image_id 2
    (tmp_path / "images" / names[2]).unlink()  # image_id 3
    stats = compute_metrics(project, progress=False, workers=1)
    messages = {(p.file, p.kind) for p in stats.problems.problems}
    assert (names[1], "unreadable_image") in messages and (names[2], "unreadable_image") in messages
    assert stats.unreadable == 2
    frame = load_metrics(project).frame
    assert frame.loc[[2, 3], "brightness"].isna().all()
    assert frame.loc[[1, 4, 5], "brightness"].notna().all()
    assert frame.loc[2, "image_width"] == 64  # from the images table
    assert np.isnan(load_metrics(project).labels.loc[13, "box_brightness"])


def test_interrupted_run_keeps_its_streamed_results(tmp_path):
    """Results are streamed to a journal; a run killed before commit loses nothing already computed."""
    from explorer.datametrics.cache import MetricCache

    project, _ = build(tmp_path)
    compute_metrics(project, progress=False, workers=1)
    root = project.root / "cache" / "metrics"
    full = MetricCache(root)
    frame = full.table("frame")
    (root / "frame.parquet").unlink()  # as if the run had died before committing...
    partial = MetricCache(root)
    partial.append("frame", frame)  # ...after streaming these rows to its journal
    partial.close()
    assert list(root.glob("journal-frame-*.parquet"))
    stats = compute_metrics(project, progress=False, workers=1)
    assert stats.frame_values_computed == 0


def test_bare_folder_with_a_cache_dir(tmp_path):
    write_images(tmp_path / "images", 3)
    _, first = compute_frame_metrics(tmp_path / "images", progress=False, workers=1, cache_dir=tmp_path / "c")
    _, second = compute_frame_metrics(tmp_path / "images", progress=False, workers=1, cache_dir=tmp_path / "c")
    assert first.images_decoded == 3 and second.images_decoded == 0


def test_prediction_metrics_cover_every_run_whichever_run_the_view_shows(tmp_path):
    project, _ = build(tmp_path)
    compute_metrics(project, progress=False, workers=1)
    one_run = load_metrics(project).predictions
    # the weaker model repeats prediction 100 exactly: it must not become a "duplicate" of the first model's box
    weaker = project.add_predictions(boxes_frame([(1, 1, 1, 1, 1, 20, 20, 0.8), (2, 5, 1, 0, 0, 64, 48, 0.2)],
                                                 id_col="pred_id", score=True), run="weaker")
    assert weaker.run == "weaker" and list(weaker.predictions["pred_id"]) == [103, 104]
    compute_metrics(weaker, progress=False, workers=1)
    both = load_metrics(weaker).predictions
    assert list(both.index) == [100, 101, 102, 103, 104]
    pd.testing.assert_frame_equal(both.loc[[100, 101, 102]], one_run)  # the first run's values are unchanged
    assert list(both["object_area"]) == [400.0, 840.0, 64.0, 400.0, 3072.0]
    assert list(both["duplicate_iou"].loc[[100, 103]]) == [0.0, 0.0] and both.loc[103, "occlusion_iou"] == 0.0
    assert both.loc[103, "box_brightness"] == one_run.loc[100, "box_brightness"]  # same box, same pixels
    compute_metrics(Project.load(project.root), progress=False, workers=1)  # from the first run's view
    pd.testing.assert_frame_equal(load_metrics(project).predictions, both)
