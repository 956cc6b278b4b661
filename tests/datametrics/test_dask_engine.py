"""``--engine dask``: the per-image work on a real two-worker Dask ``LocalCluster`` writes byte-identical files,
shares the local engine's cache, and loads the plugin files on the workers."""
from __future__ import annotations

import shutil
import textwrap

import cv2
import numpy as np
import pandas as pd
import pytest

from explorer.cli import main
from explorer.datametrics.cache import SCHEMAS, UNIQUE, MetricCache
from explorer.datametrics.dask_engine import dask_executor
from explorer.datametrics.engine import compute_frame_metrics, compute_metrics, load_metrics, write_frame_metrics
from explorer.errors import UserError

from tests.metrics.helpers import boxes_frame, make_project, write_images

N = 30
N_FRAME_IMAGE_METRICS = 13  # brightness ... overexposed_fraction (kind="image", level F)
N_BOX_IMAGE_METRICS = 3  # in-box metrics per box (tests/datametrics/test_engine_cache.py)

PLUGIN = '''
from metrics import box_metric, frame_metric

@frame_metric(name="dask_test_green", title="Green mean", range=(0, 255))
def dask_test_green(image):
    """mean(G) of the working image."""
    return float(image.bgr[..., 1].mean())

@box_metric(name="dask_test_box_red", title="Box red mean", needs=("pixels", "boxes"), kind="image")
def dask_test_box_red(image, boxes):
    """mean(R) inside each box (xyxy, px)."""
    return [float(image.bgr[int(y0):int(y1), int(x0):int(x1), 2].mean()) for x0, y0, x1, y1 in boxes]
'''


@pytest.fixture(scope="module")
def dask():
    """The CLI's LocalCluster (two worker processes of one thread, 127.0.0.1, no dashboard), once per module."""
    with dask_executor() as executor:
        yield executor


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """One plugin file for the module: a metric name is registered once per process (here and on the workers)."""
    path = tmp_path_factory.mktemp("plugin") / "plugin.py"
    path.write_text(PLUGIN)
    return path


@pytest.fixture()
def project(tmp_path, plugin):
    """30 images (one corrupt, one missing), 60 labels, two runs of predictions, the plugin file."""
    names = write_images(tmp_path / "images", N, size=(32, 40))
    (tmp_path / "images" / names[3]).write_bytes(b"not a PNG")  # image_id 4
    (tmp_path / "images" / names[4]).unlink()  # image_id 5
    labels = boxes_frame([(i, 1 + i % N, 1, i % 7, i % 5, 8 + i % 4, 6) for i in range(60)], id_col="label_id")
    first = boxes_frame([(100 + i, 1 + i % N, 5, i % 9, 2, 10, 7 + i % 3, 0.5) for i in range(40)],
                        id_col="pred_id", score=True)
    p = make_project(tmp_path / "project", names, images_root=tmp_path / "images", labels=labels,
                     predictions=first)
    p.add_predictions(boxes_frame([(1 + i, 1 + (3 * i) % N, 1, 1, i % 6, 12, 9, 0.25) for i in range(25)],
                                  id_col="pred_id", score=True), run="weaker")
    return p.root, plugin


def _outputs(root) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted((root / "metrics").iterdir())}


def _cache(root) -> dict[str, pd.DataFrame]:
    cache = MetricCache(root / "cache" / "metrics")
    return {kind: cache.table(kind).sort_values(UNIQUE[kind]).reset_index(drop=True) for kind in SCHEMAS}


def _counts(stats) -> tuple:
    return (stats.images, stats.images_decoded, stats.frame_values_computed, stats.frame_images_computed,
            stats.box_images_computed, stats.box_values_computed, stats.unreadable, stats.problems.to_dict())


def test_project_with_two_runs_and_a_plugin_is_byte_identical_to_the_local_engine(project, dask):
    root, plugin = project
    local = compute_metrics(root, plugins=[plugin], progress=False, workers=1)
    local_files, local_cache = _outputs(root), _cache(root)
    shutil.rmtree(root / "metrics")
    shutil.rmtree(root / "cache")
    remote = compute_metrics(root, plugins=[plugin], progress=False, executor=dask)
    assert _counts(remote) == _counts(local)
    assert remote.images_decoded == N - 2 and remote.unreadable == 2
    assert remote.frame_values_computed == (N - 2) * (N_FRAME_IMAGE_METRICS + 1)  # + the plugin's
    assert set(local_files) == {"frame.parquet", "labels.parquet", "predictions.parquet", "catalog.json",
                                "problems.json"}
    assert _outputs(root) == local_files  # every byte, problems.json and catalog.json included
    for kind, table in _cache(root).items():
        pd.testing.assert_frame_equal(table, local_cache[kind])

    tables = load_metrics(root)
    assert len(tables.predictions) == 65  # both runs
    image = cv2.imread(str(root.parent / "images" / "img_000.png"))
    assert tables.frame.loc[1, "dask_test_green"] == float(image[..., 1].mean())  # the plugin ran on a worker
    assert tables.labels.loc[0, "dask_test_box_red"] == float(image[0:6, 0:8, 2].mean())  # label 0: 0,0 8x6
    assert np.isnan(tables.frame.loc[4, "brightness"]) and np.isnan(tables.frame.loc[5, "brightness"])

    # one cache for both engines: neither recomputes what the other computed
    again = compute_metrics(root, plugins=[plugin], progress=False, executor=dask)
    assert again.images_decoded == again.frame_values_computed == 0
    assert again.box_values_computed == {"O": 0, "P": 0}
    back = compute_metrics(root, plugins=[plugin], progress=False, workers=1)
    assert back.images_decoded == 0
    assert _outputs(root) == local_files


def test_bare_folder_file_is_byte_identical_and_the_cache_dir_is_shared(tmp_path, dask):
    folder = tmp_path / "images"
    write_images(folder, N, ext=".jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    local, remote = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    ref = write_frame_metrics(folder, local, progress=False, workers=1)
    got = write_frame_metrics(folder, remote, progress=False, executor=dask)
    assert remote.read_bytes() == local.read_bytes()
    assert _counts(got) == _counts(ref) and got.unreadable == 1 and got.frame_images_computed == N

    table, first = compute_frame_metrics(folder, progress=False, executor=dask, cache_dir=tmp_path / "c")
    _, second = compute_frame_metrics(folder, progress=False, workers=1, cache_dir=tmp_path / "c")
    assert first.images_decoded == N and second.images_decoded == 0
    pd.testing.assert_frame_equal(table, pd.read_parquet(local))


def test_cli_engine_dask_on_a_scheduler_address(project, tmp_path, dask, capsys):
    root, plugin = project
    address = dask.client.scheduler.address
    assert main(["metrics", str(root), "--metrics-plugin", str(plugin), "--no-progress", "--workers", "1"]) == 0
    local_files = _outputs(root)
    shutil.rmtree(root / "metrics")
    shutil.rmtree(root / "cache")
    assert main(["metrics", str(root), "--metrics-plugin", str(plugin), "--no-progress", "--engine", "dask",
                 "--scheduler", address]) == 0
    assert _outputs(root) == local_files
    assert "30 images" in capsys.readouterr().out

    out = tmp_path / "bare.parquet"
    assert main(["metrics", str(root.parent / "images"), "--out", str(out), "--no-progress", "--engine", "dask",
                 "--scheduler", address]) == 0
    ref, _ = compute_frame_metrics(root.parent / "images", progress=False, workers=1)
    pd.testing.assert_frame_equal(pd.read_parquet(out), ref)


def test_cli_refuses_scheduler_without_dask_and_workers_with_a_scheduler(project, capsys):
    root, _ = project
    assert main(["metrics", str(root), "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert "--scheduler is for --engine dask" in capsys.readouterr().err
    assert main(["metrics", str(root), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:8786",
                 "--workers", "2"]) == 2
    assert "--workers sizes the local Dask cluster" in capsys.readouterr().err
    assert main(["metrics", str(root / "images"), "--engine", "dask"]) == 2  # before any cluster starts
    assert "does not exist" in capsys.readouterr().err


def test_plugin_file_missing_or_different_on_the_workers_is_named(project, tmp_path, dask):
    from metrics import REGISTRY, load_plugin

    root, _ = project
    gone = tmp_path / "gone_plugin.py"
    gone.write_text(PLUGIN.replace("dask_test_", "dask_gone_"))
    load_plugin(gone)  # the caller has it; then it disappears before the workers look
    gone.unlink()
    with pytest.raises(UserError, match=r"on Dask worker .*gone_plugin.py not found .*same path on every worker"):
        compute_metrics(root, plugins=[gone], progress=False, executor=dask)

    edited = tmp_path / "edited_plugin.py"
    edited.write_text(PLUGIN.replace("dask_test_", "dask_edited_"))
    load_plugin(edited)
    assert REGISTRY.get("dask_edited_green").key  # the caller's code, hashed now
    edited.write_text(PLUGIN.replace("dask_test_", "dask_edited_").replace("[..., 1]", "[..., 0]"))
    with pytest.raises(UserError, match=r"metric code differs from the caller's for dask_edited_green-v1-"):
        compute_metrics(root, plugins=[edited], progress=False, executor=dask)
    for name in ("dask_gone_green", "dask_gone_box_red", "dask_edited_green", "dask_edited_box_red"):
        REGISTRY.unregister(name)
