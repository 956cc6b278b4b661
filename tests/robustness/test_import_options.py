"""``explorer.import_project(...)``: any wrong call is a ``UserError`` listing the known options, for every task."""
from __future__ import annotations

import pytest

import explorer
from explorer import tasks
from explorer.errors import UserError
from explorer.io import COMMON_OPTIONS
from explorer.project.folder import MANIFEST

from tests.robustness.badfiles import write_valid


@pytest.mark.parametrize("task", tasks.names())
def test_unknown_option_lists_the_known_ones(tmp_path, task):
    with pytest.raises(UserError) as e:
        explorer.import_project(tmp_path / "out", task=task, colour="red")
    message = str(e.value)
    assert "colour" in message
    for option in (*COMMON_OPTIONS, *tasks.get(task).import_options):
        assert option in message
    assert not (tmp_path / "out").exists()  # a refused call leaves nothing behind


@pytest.mark.parametrize("task", tasks.names())
@pytest.mark.parametrize("call", [
    lambda out, task: explorer.import_project(out, task, task=task),  # a positional option
    lambda out, task: explorer.import_project(out, task=task, images=123),
    lambda out, task: explorer.import_project(out, task=task, labels=["a.json"]),
    lambda out, task: explorer.import_project(out, task=task, run=7),
    lambda out, task: explorer.import_project(123, task=task),
])
def test_wrongly_typed_or_positional_options_are_user_errors(tmp_path, task, call):
    with pytest.raises(UserError):
        call(tmp_path / "out", task)


def test_task_must_be_a_name(tmp_path):
    with pytest.raises(UserError, match="task must be a task name"):
        explorer.import_project(tmp_path / "out", task=["detection"])


def test_overwrite_false_refuses_an_existing_project(tmp_path):
    write_valid(tmp_path / "images", 3)
    explorer.import_project(tmp_path / "out", images=tmp_path / "images")
    assert (tmp_path / "out" / MANIFEST).is_file()
    with pytest.raises(UserError, match="already a project"):
        explorer.import_project(tmp_path / "out", images=tmp_path / "images", overwrite=False)
    project, _ = explorer.import_project(tmp_path / "out", images=tmp_path / "images")  # the default replaces
    assert len(project.images) == 3


@pytest.mark.parametrize("option, value", [("num_classes", "1e30"), ("num_classes", "-3"), ("num_classes", "99999999999"),
                                           ("num_classes", True), ("ignore_index", "nan"), ("ignore_index", "70000")])
def test_segmentation_integer_options_out_of_range_are_user_errors(tmp_path, option, value):
    # --option values arrive as text: 1e30 was a ValueError traceback, 99999999999 a list of 1e11 class names
    import numpy as np
    from PIL import Image

    (tmp_path / "labels").mkdir()
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(tmp_path / "labels" / "a.png")
    with pytest.raises(UserError, match=f"option {option} must be an integer"):
        explorer.import_project(tmp_path / "out", task="segmentation", labels=tmp_path / "labels", **{option: value})
    project, _ = explorer.import_project(tmp_path / "ok", task="segmentation", labels=tmp_path / "labels",
                                         num_classes="3", ignore_index="255")
    assert project.categories["name"].tolist() == ["class_0", "class_1", "class_2"]


def test_an_empty_predictions_folder_is_a_user_error_not_a_run_without_predictions(tmp_path):
    import json

    names = write_valid(tmp_path / "images", 2)
    coco = {"images": [{"id": i + 1, "file_name": n, "width": 64, "height": 48} for i, n in enumerate(names)],
            "annotations": [], "categories": [{"id": 1, "name": "cat"}]}
    (tmp_path / "gt.json").write_text(json.dumps(coco))
    (tmp_path / "preds").mkdir()
    with pytest.raises(UserError, match="holds no .txt prediction files"):
        explorer.import_project(tmp_path / "out", images=tmp_path / "images", labels=tmp_path / "gt.json",
                                predictions=tmp_path / "preds")
