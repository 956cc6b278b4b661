"""Evaluation engine: COCO-exact detection / instance-segmentation evaluation, matching at any IoU threshold,
curves and tables, the detection confusion matrix, and Pascal VOC AP. Never imports Streamlit.

Definitions (matching, FP reasons, AP/AR, confusion matrix) are in ``docs/evaluation.md``.
"""
from explorer.evaluation.coco import CocoEvaluation, evaluate_coco, summary_keys
from explorer.evaluation.matcher import FP_REASONS, Matcher, MatchResult

__all__ = ["CocoEvaluation", "evaluate_coco", "summary_keys", "FP_REASONS", "Matcher", "MatchResult"]
