"""Evaluation engine: COCO-exact detection / instance-segmentation evaluation, matching at any IoU threshold,
curves and tables, the detection confusion matrix, and Pascal VOC AP. Never imports Streamlit.

Definitions (matching, FP reasons, AP/AR, confusion matrix) are in ``docs/evaluation.md``.

The public names load on first use (PEP 562): ``from explorer.evaluation import evaluate_coco`` imports the COCO
engine only — no pandas, numba or scipy — so ``explorer evaluate`` on a small file starts in well under 1 s.
"""
from __future__ import annotations

import importlib

# public name -> module that defines it (relative to this package)
_LAZY = {
    "CocoEvaluation": ".coco", "evaluate_coco": ".coco", "summary_keys": ".coco",
    "FP_REASONS": ".matcher", "Matcher": ".matcher", "MatchResult": ".matcher",
    "best_f1": ".tables", "detection_summary": ".tables", "f1_by_confidence": ".tables", "per_class_table": ".tables",
    "pr_curves": ".tables",
    "ConfusionMatrix": ".confusion", "detection_confusion_matrix": ".confusion",
    "evaluate_voc": ".voc", "read_voc_txt": ".voc",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
