"""cv-explorer: data-quality and model-quality explorer for computer vision.

The public API is imported lazily, so ``import explorer`` stays cheap and never pulls in Streamlit::

    import explorer
    result = explorer.evaluate_coco("gt.json", "dt.json", iou_type="bbox")
    result.summary["coco/bbox_mAP_50"]
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> "module:attribute"; resolved on first access (PEP 562)
_LAZY = {
    "Project": "explorer.project.folder:Project",
    "UserError": "explorer.errors:UserError",
    "evaluate_coco": "explorer.evaluation:evaluate_coco",
    "Matcher": "explorer.evaluation:Matcher",
    "evaluate_voc": "explorer.evaluation:evaluate_voc",
    "import_project": "explorer.io:import_project",
    "compute_metrics": "explorer.datametrics.engine:compute_metrics",
    "compute_frame_metrics": "explorer.datametrics.engine:compute_frame_metrics",
    "evaluate_classification": "explorer.evaluation.classification:evaluate_classification",
    "evaluate_segmentation": "explorer.evaluation.segmentation:evaluate_segmentation",
    "evaluate_regression": "explorer.evaluation.regression:evaluate_regression",
    "export_all_metrics": "explorer.export.all_metrics:export_all_metrics",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'explorer' has no attribute {name!r}")
    module_name, attr = target.split(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value
