"""``percentile_interval`` takes the columns without NaN in one ``np.quantile`` call and the others through
``np.nanquantile``: the same numbers as ``nanquantile`` of each column's finite replicates, NaN where none."""
from __future__ import annotations

import numpy as np

from explorer.analysis.intervals import percentile_interval


def test_percentile_interval_equals_nanquantile_per_column():
    rng = np.random.default_rng(5)
    for trial in range(200):
        b, k = int(rng.integers(1, 50)), int(rng.integers(1, 9))
        reps = np.round(rng.random((b, k)), int(rng.integers(1, 4)))  # ties
        reps[rng.random((b, k)) < rng.choice([0.0, 0.2, 1.0])] = np.nan
        reps[rng.random((b, k)) < 0.05] = np.inf  # not finite: left out like NaN
        for confidence in (0.95, 0.8):
            a = (1 - confidence) / 2
            lo, hi = percentile_interval(reps, confidence=confidence)
            for j in range(k):
                col = reps[:, j][np.isfinite(reps[:, j])]
                want = np.nanquantile(col, [a, 1 - a]) if len(col) else [np.nan, np.nan]
                np.testing.assert_array_equal([lo[j], hi[j]], want)
            lo1, hi1 = percentile_interval(reps[:, 0], confidence=confidence)
            np.testing.assert_array_equal([lo1, hi1], [lo[0], hi[0]])
