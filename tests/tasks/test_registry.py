"""The task registry: every built-in task is registered with existing pages and known controls, and nothing in
the package dispatches on a task name with ``importlib`` (the registry is the only dispatch)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from explorer import tasks
from explorer.errors import UserError
from explorer.resources import pages_dir

REPO = Path(__file__).resolve().parents[2]
BUILTIN = ("detection", "classification", "segmentation", "regression", "training")


def test_every_builtin_task_is_registered_in_order():
    assert tasks.names()[:len(BUILTIN)] == BUILTIN
    for name in BUILTIN:
        assert tasks.get(name).name == name
    with pytest.raises(UserError, match="unknown task 'tracking'; expected one of detection, classification"):
        tasks.get("tracking")


@pytest.mark.parametrize("name", BUILTIN)
def test_task_declaration_is_consistent(name):
    task = tasks.get(name)
    assert task.pages, "a task needs at least one page"
    for page in task.pages:
        assert (pages_dir() / page.file).is_file(), f"{name}: page {page.file} is not in pages/"
    assert len({p.url_path for p in task.pages}) == len(task.pages)
    assert set(task.controls) <= set(tasks.CONTROLS), task.controls
    targets = task.outcome_targets
    assert set(targets) <= set(tasks.TARGETS) and len(set(targets)) == len(targets)
    for outcome in task.outcomes:
        assert task.outcome(outcome.target) is outcome and outcome.column and outcome.rate and outcome.miss_rate
    for fn in (task.importer, task.evaluate, task.outcome_table, task.export_section):
        assert callable(fn)
    # an image-based task has Data Quality; every task has Export
    assert ("data_quality.py" in [p.file for p in task.pages]) == task.image_based
    assert "export.py" in [p.file for p in task.pages]


def test_outcomes_and_controls_as_issued():
    det = tasks.get("detection")
    assert [(o.target, o.column, o.rate, o.miss_rate) for o in det.outcomes] == [
        ("labels", "detected", "TPR", "FNR"), ("predictions", "is_tp", "precision", "FDR")]
    assert tasks.get("classification").outcome("images").column == "correct"
    assert tasks.get("segmentation").option_defaults == {"target_iou": 0.5}
    assert "tolerance" in tasks.get("regression").option_defaults
    assert tasks.get("training").outcomes == ()
    assert {n: tasks.get(n).controls for n in BUILTIN} == {
        "detection": ("run", "iou_threshold", "confidence_threshold"),
        "classification": ("run", "confidence_threshold"),
        "segmentation": ("run",), "regression": ("run",), "training": ()}


def test_register_refuses_a_second_task_of_the_same_name():
    det = tasks.get("detection")
    with pytest.raises(ValueError, match="already registered"):
        tasks.register(tasks.Task(**{**det.__dict__, "title": "another"}))
    assert tasks.register(det) is det  # the same object again is fine (a module imported twice)


def _python_files():
    for folder in ("explorer", "pages"):
        yield from sorted((REPO / folder).rglob("*.py"))


def test_no_importlib_dispatch_on_task_names():
    """No ``import_module`` of a name built at run time (``f"explorer.ui.{task}"``) and no table mapping task names
    to module paths: a task's code is reached through ``explorer.tasks.get(name)`` only."""
    offenders = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module":
                arg = node.args[0] if node.args else None
                if isinstance(arg, (ast.JoinedStr, ast.BinOp)) or (
                        isinstance(arg, ast.Call) and getattr(arg.func, "attr", "") == "format"):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: import_module of a built name")
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
                values = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
                if len(keys & set(BUILTIN)) >= 2 and any(v.startswith("explorer.") for v in values):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: task name -> module table")
    assert not offenders, "\n".join(offenders)


def test_builtin_order_does_not_depend_on_which_task_module_was_imported_first():
    """A caller importing ``explorer.tasks.regression`` before the registry loads the others still sees the
    built-ins in ``BUILTIN_ORDER`` (a fresh process, so nothing is loaded yet)."""
    import subprocess
    import sys

    code = ("import explorer.tasks.regression, explorer.tasks.training\n"
            "from explorer import tasks\n"
            "print(','.join(tasks.names()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out.split(",")[:len(BUILTIN)] == list(BUILTIN)


def test_threads_asking_at_once_all_find_the_builtin_tasks():
    """The app serves sessions from threads: eight threads calling ``get`` in a fresh process while the first of
    them is still importing the task modules all get the task (a flag set before the imports finished made the
    other seven see an empty registry: "unknown task 'detection'; expected one of ")."""
    import subprocess
    import sys

    code = ("import threading\n"
            "from explorer import tasks\n"
            "barrier, got = threading.Barrier(8), []\n"
            "def ask():\n"
            "    barrier.wait()\n"
            "    try:\n"
            "        got.append(tasks.get('detection').name)\n"
            "    except Exception as e:\n"
            "        got.append(repr(e))\n"
            "threads = [threading.Thread(target=ask) for _ in range(8)]\n"
            "[t.start() for t in threads]\n"
            "[t.join() for t in threads]\n"
            "print('|'.join(got))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out.split("|") == ["detection"] * 8
