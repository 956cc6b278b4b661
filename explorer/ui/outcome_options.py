"""The task's outcome controls, drawn on every page whose numbers they change (UI).

A task names the outcome options it reads (``Task.option_defaults``: segmentation ``target_iou``, regression
``tolerance``); each option has one session key (``explorer.ui.state.OPTION_KEYS``), which
``explorer.ui.state.selection()`` puts into ``Selection.options`` for every page, and one widget (``WIDGETS``),
kept across pages by ``explorer.ui.persist.keep``. Metric Importance and Performance by Metric call
``outcome_controls(sel)``; setting the option on one of them changes the other, the outcome tables and the export
of the selection. Options without a widget here (a plugin task's) are left to the task's own page.
"""
from __future__ import annotations

from typing import Callable

from explorer import tasks


def _target_iou(sel, where):
    from explorer.ui.segmentation import target_iou_control

    return target_iou_control(sel, where)


def _tolerance(sel, where):
    from explorer.ui.regression import tolerance_control

    return tolerance_control(sel, where)


#: option name -> ``draw(sel, where) -> value in force``
WIDGETS: dict[str, Callable] = {"target_iou": _target_iou, "tolerance": _tolerance}


def outcome_controls(sel, where=None) -> dict:
    """Draw the widget of every outcome option of the selection's task; returns ``{option: value in force}``."""
    return {name: WIDGETS[name](sel, where) for name in tasks.get(sel.project.task).option_defaults
            if name in WIDGETS}
