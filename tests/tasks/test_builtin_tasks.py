"""Every built-in task on its bundled sample, through the registry only: the headline numbers are the export
section's, and each declared outcome is a boolean column of the outcome table over its target's rows."""
from __future__ import annotations

import json

import pytest

from explorer import tasks
from explorer.export.all_metrics import to_jsonable
from explorer.project.folder import Project
from explorer.project.selection import Selection

SAMPLES = ("detection", "classification", "segmentation", "regression", "training")


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_through_the_registry(sample_projects, name):
    project = Project.load(sample_projects[name])
    task = tasks.get(project.task)
    assert task.name == name
    sel = Selection(split=project.splits[0] if project.splits else None, iou_threshold=0.6)
    headline = to_jsonable(task.evaluate(project, sel))
    section = to_jsonable(task.export_section(project, sel))
    json.dumps(section, allow_nan=False)  # JSON as it is
    assert headline and {k: section[k] for k in headline} == headline  # the export holds the headline numbers
    for outcome in task.outcomes:
        table = task.outcome_table(project, sel, outcome.target)
        assert table.index.name == tasks.TARGET_ID[outcome.target]
        assert str(table[outcome.column].dtype) in ("bool", "boolean"), table[outcome.column].dtype
        assert table[outcome.column].notna().any(), f"{name}: no defined {outcome.column}"
        if outcome.target == "images" and sel.split is not None:
            split_of = project.images.set_index("image_id")["split"]
            assert (split_of.loc[table.index] == sel.split).all()
