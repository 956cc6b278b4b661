"""Small-sample honesty (SPEC §3): the thresholds below which the app says a number rests on few samples.

One place for the rule so every page words it the same way. Each ``*_note`` returns the sentence to show next
to the number, or ``None`` when the sample is large enough.
"""
from __future__ import annotations

MIN_IMAGES = 30  # images in the current selection (headline numbers, per-class tables)
MIN_BUCKET_ITEMS = 10  # labels or predictions in one bucket (performance by metric)
MIN_POSITIVES = 50  # positive outcomes behind a metric-importance estimate


def few_images_note(n_images: int) -> str | None:
    """Note for numbers computed over ``n_images`` images."""
    if n_images < MIN_IMAGES:
        return f"Only {n_images} image(s) in this selection (fewer than {MIN_IMAGES}): treat these numbers as rough."
    return None


def few_bucket_items_note(n_items: int, what: str = "items") -> str | None:
    """Note for a bucket holding ``n_items`` labels or predictions."""
    if n_items < MIN_BUCKET_ITEMS:
        return f"only {n_items} {what} (fewer than {MIN_BUCKET_ITEMS}): rate is unreliable"
    return None


def few_positives_note(n_positive: int) -> str | None:
    """Note for an importance estimate resting on ``n_positive`` positive outcomes."""
    if n_positive < MIN_POSITIVES:
        return f"only {n_positive} positive outcome(s) (fewer than {MIN_POSITIVES}): importance is a rough estimate"
    return None
