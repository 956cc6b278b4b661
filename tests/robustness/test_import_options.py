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
