"""``explorer metrics`` on a bare folder and a project, plugins from a user's file, registry rules."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from explorer.cli import main
from metrics.registry import MetricError
from explorer.datametrics.engine import load_metrics
from metrics import REGISTRY, Metric, register

from .helpers import make_project, standard_labels, standard_predictions, write_images

PLUGIN = '''
import numpy as np
from metrics import box_metric, frame_metric

@frame_metric(name="plugin_red_mean", title="Red mean", range=(0, 255), direction="neutral")
def plugin_red_mean(image):
    """mean(R) over the working image, 0..255."""
    return float(image.bgr[..., 2].mean())

@box_metric(name="plugin_box_perimeter", title="Box perimeter", range=(0, float("inf")))
def plugin_box_perimeter(table):
    """2 (w + h) in pixels."""
    return 2 * (table.column("w") + table.column("h"))
'''


def test_bare_folder_one_row_per_readable_image(tmp_path, capsys):
    names = write_images(tmp_path / "images", 4, ext=".jpg")
    (tmp_path / "images" / "sub").mkdir()
    (tmp_path / "images" / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "f.parquet"
    rc = main(["metrics", str(tmp_path / "images"), "--out", str(out), "--no-progress", "--workers", "1"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "sub/broken.jpg" in printed and "could not be decoded" in printed
    table = pd.read_parquet(out)
    assert list(table["file_name"]) == names
    assert table.columns[0] == "file_name"
    numeric = table.drop(columns="file_name")
    assert all(dt == np.float64 for dt in numeric.dtypes)
    assert {"brightness", "sharpness", "uniqueness", "image_width"} <= set(numeric.columns)
    assert "object_count" not in numeric.columns  # needs labels
    assert (table["image_width"] == 64).all() and (table["image_height"] == 48).all()


def test_bare_folder_needs_out_and_errors_are_messages(tmp_path, capsys):
    write_images(tmp_path / "images", 1)
    assert main(["metrics", str(tmp_path / "images"), "--no-progress"]) == 2
    assert "give --out" in capsys.readouterr().err
    assert main(["metrics", str(tmp_path / "nowhere"), "--out", "x.parquet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["metrics", str(tmp_path / "empty"), "--out", str(tmp_path / "x.parquet")]) == 2
    assert "no images" in capsys.readouterr().err


def test_project_with_plugin_metrics_reaches_tables_and_catalog(tmp_path):
    names = write_images(tmp_path / "images", 3)
    project = make_project(tmp_path / "p", names, images_root=tmp_path / "images", labels=standard_labels(),
                           predictions=standard_predictions())
    plugin = tmp_path / "my_metrics.py"
    plugin.write_text(PLUGIN)
    try:
        rc = main(["metrics", str(project.root), "--metrics-plugin", str(plugin), "--no-progress", "--workers", "1"])
        assert rc == 0
        tables = load_metrics(project)
        red = np.asarray([pd.read_parquet(project.root / "metrics" / "frame.parquet")["plugin_red_mean"]]).ravel()
        assert np.isfinite(red).all() and tables.frame["plugin_red_mean"].between(0, 255).all()
        assert tables.labels.loc[10, "plugin_box_perimeter"] == 80.0
        assert tables.predictions.loc[100, "plugin_box_perimeter"] == 80.0
        catalog = json.loads((project.root / "metrics" / "catalog.json").read_text())
        entries = {(m["name"], m["level"]): m for m in catalog["metrics"]}
        assert entries[("plugin_red_mean", "F")]["display_name"] == "Red mean (F)"
        assert entries[("plugin_box_perimeter", "O")]["description"] == "2 (w + h) in pixels."
        assert entries[("plugin_box_perimeter", "P")]["source"] == str(plugin.resolve())
        # a run without the flag keeps them: the project remembers its plugin (tests/commands/test_metrics_plugin.py)
        assert main(["metrics", str(project.root), "--no-progress", "--workers", "1"]) == 0
        assert "plugin_red_mean" in load_metrics(project).frame.columns
    finally:
        REGISTRY.unregister("plugin_red_mean")
        REGISTRY.unregister("plugin_box_perimeter")


def test_broken_plugin_is_named(tmp_path, capsys):
    names = write_images(tmp_path / "images", 1)
    project = make_project(tmp_path / "p", names, images_root=tmp_path / "images")
    bad = tmp_path / "bad_plugin.py"
    bad.write_text("raise RuntimeError('boom')\n")
    assert main(["metrics", str(project.root), "--metrics-plugin", str(bad), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "bad_plugin.py" in err and "RuntimeError: boom" in err


def test_duplicate_registration_is_an_error():
    with pytest.raises(MetricError, match="'brightness' is already registered"):
        register(Metric(name="brightness", title="x", levels=("F",), fn=lambda image: 0.0, needs=("pixels",)))


@pytest.mark.parametrize("kwargs, message", [
    ({"levels": ("X",)}, "levels must be"),
    ({"direction": "up"}, "direction must be"),
    ({"needs": ("gpu",)}, "needs must be"),
    ({"levels": ("F", "O")}, "cannot also be"),
    ({"range": (1, 0)}, "lo <= hi"),
])
def test_metric_definition_is_validated(kwargs, message):
    base = {"name": "tmp_metric", "title": "t", "levels": ("F",), "fn": lambda t: 0.0}
    with pytest.raises(MetricError, match=message):
        Metric(**{**base, **kwargs})


def test_failing_plugin_metric_is_reported_and_other_metrics_survive(tmp_path):
    names = write_images(tmp_path / "images", 2)
    project = make_project(tmp_path / "p", names, images_root=tmp_path / "images")
    plugin = tmp_path / "fails.py"
    plugin.write_text(textwrap.dedent('''
        from metrics import frame_metric

        @frame_metric(name="always_fails", title="Fails")
        def always_fails(image):
            """1 / 0."""
            return 1 / 0
    '''))
    from explorer.datametrics.engine import compute_metrics

    try:
        stats = compute_metrics(project, plugins=[plugin], progress=False, workers=1)
        failed = [p for p in stats.problems.problems if p.kind == "metric_failed"]
        assert len(failed) == 2 and "ZeroDivisionError" in failed[0].message and failed[0].file == names[0]
        frame = load_metrics(project).frame
        assert frame["always_fails"].isna().all() and frame["brightness"].notna().all()
    finally:
        REGISTRY.unregister("always_fails")


@pytest.mark.parametrize("bare_folder", [False, True])
def test_plugin_metrics_run_in_worker_processes(tmp_path, bare_folder):
    """Workers (fork server) cannot import a plugin's module by name: plugin metrics travel by reference and the
    values equal an in-process run."""
    names = write_images(tmp_path / "images", 30)
    plugin = tmp_path / "pool_plugin.py"
    plugin.write_text(PLUGIN.replace("plugin_red_mean", "pool_red_mean").replace("plugin_box_perimeter",
                                                                                  "pool_box_perimeter"))
    try:
        values = []
        for workers in ("1", "2"):
            if bare_folder:
                out = tmp_path / f"frame_{workers}.parquet"
                assert main(["metrics", str(tmp_path / "images"), "--out", str(out), "--metrics-plugin",
                             str(plugin), "--no-progress", "--workers", workers]) == 0
                values.append(pd.read_parquet(out)["pool_red_mean"].to_numpy())
            else:
                project = make_project(tmp_path / f"p{workers}", names, images_root=tmp_path / "images",
                                       labels=standard_labels(), predictions=standard_predictions())
                assert main(["metrics", str(project.root), "--metrics-plugin", str(plugin), "--no-progress",
                             "--workers", workers]) == 0
                values.append(load_metrics(project).frame["pool_red_mean"].to_numpy())
        assert len(values[1]) == 30 and np.isfinite(values[1]).all()
        np.testing.assert_array_equal(values[0], values[1])
    finally:
        REGISTRY.unregister("pool_red_mean")
        REGISTRY.unregister("pool_box_perimeter")


@pytest.mark.parametrize("bare_folder", [False, True])
def test_plugin_table_frame_metric_gets_a_dataframe(tmp_path, bare_folder):
    """Built-in table F metrics read plain columns (so a bare folder needs no pandas); a plugin's is promised
    ``FrameTable.images`` as a DataFrame, in a project and in a bare folder alike."""
    names = write_images(tmp_path / "images", 3)
    plugin = tmp_path / "table_plugin.py"
    plugin.write_text(textwrap.dedent('''
        from metrics import frame_metric

        @frame_metric(name="plugin_half_width", title="Half width", needs=("size",), kind="table")
        def plugin_half_width(table):
            """width / 2, through DataFrame methods."""
            return table.images.eval("width / 2").fillna(-1.0).to_numpy()
    '''))
    try:
        if bare_folder:
            from explorer.datametrics.engine import compute_frame_metrics

            frame, stats = compute_frame_metrics(tmp_path / "images", plugins=[plugin], progress=False, workers=1)
        else:
            project = make_project(tmp_path / "p", names, images_root=tmp_path / "images")
            assert main(["metrics", str(project.root), "--metrics-plugin", str(plugin), "--no-progress",
                         "--workers", "1"]) == 0
            frame = load_metrics(project).frame
        assert list(frame["plugin_half_width"]) == [32.0, 32.0, 32.0]
    finally:
        REGISTRY.unregister("plugin_half_width")
