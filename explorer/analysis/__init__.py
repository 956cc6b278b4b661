"""Which data metrics drive model performance: importance (normalised MI), correlation, performance by metric.

Generic over the outcome: detection passes ``is_tp`` over predictions or ``detected`` over labels,
classification ``correct``. Pure NumPy/pandas/scikit-learn; no Streamlit.
"""
from explorer.analysis.buckets import (
    RATE_COLUMNS,
    Buckets,
    bucketize,
    overall_performance,
    performance_by_metric,
)
from explorer.analysis.importance import (
    DEFAULT_MAX_SAMPLES,
    binary_entropy,
    metric_correlation,
    metric_importance,
    stratified_subsample,
)
from explorer.analysis.small_samples import (
    MIN_BUCKET_ITEMS,
    MIN_IMAGES,
    MIN_POSITIVES,
    few_bucket_items_note,
    few_images_note,
    few_positives_note,
)

__all__ = [
    "Buckets", "bucketize", "performance_by_metric", "overall_performance", "RATE_COLUMNS",
    "metric_importance", "metric_correlation", "binary_entropy", "stratified_subsample", "DEFAULT_MAX_SAMPLES",
    "MIN_IMAGES", "MIN_BUCKET_ITEMS", "MIN_POSITIVES", "few_images_note", "few_bucket_items_note",
    "few_positives_note",
]
