"""Compare's kept changes: every fixed/broken object of all classes and images, kept per (sources, thresholds) and
filtered per selection, gives the very frames the direct computation over the selection gives (boxes from the
Matcher or from the predictions tables alike)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explorer.analysis.compare import object_changes
from explorer.analysis.intervals import match_source
from explorer.analysis.outcomes import match, matcher
from explorer.project.folder import Project
from explorer.project.selection import Selection


@pytest.mark.parametrize("t,c", [(0.5, 0.0), (0.75, 0.0), (0.6, 0.4)])
def test_kept_changes_filtered_equal_the_selection_computed_directly(detection_project, t, c):
    project = Project.load(detection_project)
    pa, pb = project.for_run("baseline"), project.for_run("weaker")
    sel = Selection(iou_threshold=t, confidence_threshold=c)
    ma, mb = match(pa, sel), match(pb, sel)
    ids = sorted(project.category_names)
    images = project.images["image_id"].to_numpy()
    sources = (match_source(pa), match_source(pb))
    for classes, image_ids in ((None, None), (ids[:1], None), (ids[1:], images[::2]), (None, images[:7])):
        kept = object_changes(ma, mb, matcher(pa), matcher(pb), "A", "B", classes=classes, image_ids=image_ids,
                              sources=sources)
        direct = object_changes(ma, mb, pa.predictions, pb.predictions, "A", "B", classes=classes,
                                image_ids=image_ids)
        for got, ref in zip(kept, direct):
            pd.testing.assert_frame_equal(got, ref, check_exact=True)
    fixed, broken = object_changes(ma, mb, matcher(pa), matcher(pb), "A", "B", sources=sources)
    assert len(fixed) and len(broken)  # the sample's runs differ: the check above compared real rows
    assert set(np.unique(fixed["kind"])) <= {"label", "false detection"}
