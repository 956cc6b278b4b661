"""Evaluation engine: COCO-exact detection / instance-segmentation evaluation, matching at any IoU threshold,
curves and tables, the detection confusion matrix, and Pascal VOC AP. Never imports Streamlit.

Definitions (matching, FP reasons, AP/AR, confusion matrix) are in ``docs/evaluation.md``.
"""
from explorer.evaluation.coco import CocoEvaluation, evaluate_coco, summary_keys
from explorer.evaluation.matcher import FP_REASONS, Matcher, MatchResult

__all__ = ["CocoEvaluation", "evaluate_coco", "summary_keys", "FP_REASONS", "Matcher", "MatchResult"]
from explorer.evaluation.tables import best_f1, detection_summary, f1_by_confidence, per_class_table, pr_curves
from explorer.evaluation.confusion import ConfusionMatrix, detection_confusion_matrix

__all__ += ["best_f1", "detection_summary", "f1_by_confidence", "per_class_table", "pr_curves", "ConfusionMatrix",
            "detection_confusion_matrix"]
__all__ += ["evaluate_voc", "read_voc_txt"]


def __getattr__(name):  # VOC (and its numba kernel) loads on first use: `explorer evaluate` starts in < 1 s
    if name in ("evaluate_voc", "read_voc_txt"):
        from explorer.evaluation import voc

        return getattr(voc, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
